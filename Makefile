# The two entry points of the README. Both create .venv (scripts/setup.sh) on first use.
VENV := .venv
RUN := PATH="$(CURDIR)/$(VENV)/bin:$$PATH"

.PHONY: setup demo test rulegraph rgb-tracker

setup:
	bash scripts/setup.sh

# The main job: the whole DAG on the embedded default (config/config.yaml), 2 cores.
demo: setup
	@# a lock left by a killed run is stale when no snakemake runs (snakemake would ask for --unlock)
	@if [ -d .snakemake/locks ] && ! pgrep -f "[b]in/snakemake" >/dev/null; then $(RUN) snakemake --unlock >/dev/null 2>&1 || true; fi
	$(RUN) snakemake --cores 2

# Rebuild the shipped RGB tracker of the embedded default with the DAG's own pretrain rule, then export it.
RGB_TRACKER := checkpoints/embedded-default-rgb.safetensors
RGB_TRACKER_CONFIG := config/config.yaml config/rgb-tracker.yaml
rgb-tracker: setup
	$(RUN) snakemake --cores 2 results/pretrain/model.pth --configfile $(RGB_TRACKER_CONFIG)
	$(RUN) python -m srtrack.export $(foreach f,$(RGB_TRACKER_CONFIG),--config $(f)) --checkpoint results/pretrain/model.pth --out $(RGB_TRACKER)

# Every test, the slow integration tests included.
test: setup
	$(RUN) pytest

# The README's rule graph (needs graphviz: apt-get install graphviz).
rulegraph: setup
	$(RUN) snakemake --rulegraph --configfile config/config.yaml | dot -Tpng -Gdpi=110 -o docs/images/rulegraph.png
