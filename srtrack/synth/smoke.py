"""A self-contained smoke data set: the smoke-sized synthetic benchmarks written and prepared under
one folder, with a config overlay (`base.yaml`) that points every path there. Used by the tests
and the training benchmark, so that neither depends on the working directory."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def config_files(root: Path) -> list[Path]:
    """The config layers of the smoke data in `root`: default, smoke overlay, absolute paths."""
    return [REPO / "config" / "config.yaml", REPO / "config" / "smoke.yaml", root / "base.yaml"]


def build_smoke_data(root: Path, benchmarks: tuple[str, ...] = ("got10k", "lasher")) -> list[Path]:
    """Synthesise and prepare every split of `benchmarks` under `root`; returns the config layers."""
    from srtrack import layout, prepare
    from srtrack.datasets import READERS
    from srtrack.synth.__main__ import main as synth_main
    from srtrack.synth.benchmarks import BENCHMARKS

    synthetic = root / "synthetic"
    overlay = {"study": {"output_dir": str(root / "results")}, "synth": {"root": str(synthetic)},
               "datasets": {b.name: {"root": layout.synth_dir(synthetic, b.name) if b.name in benchmarks else None}
                            for b in BENCHMARKS}}
    root.mkdir(parents=True, exist_ok=True)
    (root / "base.yaml").write_text(yaml.safe_dump(overlay))
    args = [arg for path in config_files(root) for arg in ("--config", str(path))]
    if synth_main([*args, "--only", *benchmarks]) != 0:
        raise RuntimeError("synth failed")
    for name in benchmarks:
        for split in READERS[name].splits:
            if prepare.main([*args, "--dataset", name, "--split", split,
                             "--out", layout.data_dir(root / "results", name, split)]) != 0:
                raise RuntimeError(f"prepare {name} {split} failed")
    return config_files(root)
