"""A self-contained smoke data set: the smoke-sized synthetic benchmarks written and prepared under
one folder, with a config overlay (`base.yaml`) that points every path there. Used by the tests
and the training benchmark, so that neither depends on the working directory."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"got10k": "got10k", "lasher": "lasher", "depthtrack": "depthtrack", "visevent": "visevent"}


def config_files(root: Path) -> list[Path]:
    """The config layers of the smoke data in `root`: default, smoke overlay, absolute paths."""
    return [REPO / "config" / "config.yaml", REPO / "config" / "smoke.yaml", root / "base.yaml"]


def build_smoke_data(root: Path, benchmarks: tuple[str, ...] = ("got10k", "lasher")) -> list[Path]:
    """Synthesise and prepare every split of `benchmarks` under `root`; returns the config layers."""
    from srtrack.datasets import READERS
    from srtrack import prepare
    from srtrack.synth.__main__ import main as synth_main

    synthetic = root / "synthetic"
    overlay = {"study": {"output_dir": str(root / "results")}, "synth": {"root": str(synthetic)},
               "datasets": {name: {"root": str(synthetic / path) if name in benchmarks else None}
                            for name, path in ROOTS.items()}}
    root.mkdir(parents=True, exist_ok=True)
    (root / "base.yaml").write_text(yaml.safe_dump(overlay))
    args = [arg for path in config_files(root) for arg in ("--config", str(path))]
    if synth_main([*args, "--only", *benchmarks]) != 0:
        raise RuntimeError("synth failed")
    for name in benchmarks:
        for split in READERS[name].splits:
            if prepare.main([*args, "--dataset", name, "--split", split,
                             "--out", str(root / f"results/data/{name}-{split}")]) != 0:
                raise RuntimeError(f"prepare {name} {split} failed")
    return config_files(root)
