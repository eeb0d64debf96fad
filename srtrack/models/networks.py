"""A tracker network and its weights from a file, the one way every stage builds one.

* Our own `model.pth` names its network: unless another network is asked for (`name`), that
  network is rebuilt and loaded as it is.
* Any other file (released OSTrack / DropTrack / ViPT / SRTrack weights, an older `model.pth`), or our
  file loaded as another network (the RGB tracker into the RGB-X one), builds `name` (else `default`,
  else `model.name`) as the config describes it and maps the weights (srtrack/models/checkpoints.py);
  released weights also take `model.pos_embed_from`.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from srtrack.config.types import ModelConfig
from srtrack.models.checkpoints import LoadReport, load_own, load_pretrained
from srtrack.models.files import CheckpointFile, read_checkpoint
from srtrack.models.spec import NetworkSpec, spec_from_config
from srtrack.models.trackers import Tracker


def _resolve(model_cfg: ModelConfig, checkpoint: CheckpointFile | None, name: str | None,
             default: str | None, elimination: bool) -> tuple[NetworkSpec, bool]:
    """The network to build, and whether the file is our own file of exactly that network."""
    own = checkpoint.network if checkpoint is not None else None
    if own is not None and name in (None, own["name"]):
        spec, exact = NetworkSpec.from_dict(own), True
    else:
        spec, exact = spec_from_config(model_cfg, name or default or model_cfg.name,
                                       checkpoint.state if checkpoint is not None else None), False
    if not elimination:
        spec = replace(spec, ce_layers=(), ce_keep_ratio=1.0)
    return spec, exact


def resolve_network(model_cfg: ModelConfig, path: Path | None, *, name: str | None = None,
                    default: str | None = None, elimination: bool = True) -> NetworkSpec:
    """The network `network_for` builds for these arguments, without building it."""
    return _resolve(model_cfg, read_checkpoint(path) if path is not None else None, name, default, elimination)[0]


def network_for(model_cfg: ModelConfig, path: Path | None, *, name: str | None = None,
                default: str | None = None, elimination: bool = True) -> tuple[Tracker, NetworkSpec, LoadReport | None]:
    """(tracker with the file's weights, its network, the load report); no file: fresh weights.

    `elimination=False` builds the network without candidate elimination (a training run that does
    not warm it up: the model it saves is then evaluated as it was trained)."""
    checkpoint = read_checkpoint(path) if path is not None else None
    spec, own = _resolve(model_cfg, checkpoint, name, default, elimination)
    model = spec.build()
    if checkpoint is None:
        return model, spec, None
    if own:
        return model, spec, load_own(model, checkpoint)
    report = load_pretrained(model, checkpoint, resample_mode=model_cfg.pos_embed_resample,
                             pos_embed_from=model_cfg.pos_embed_from if checkpoint.network is None else None)
    return model, spec, report


def announce(stage: str, spec: NetworkSpec, report: LoadReport | None) -> None:
    """Print what was built and loaded (the key mapping of a released file included)."""
    loaded = report.summary() if report else "random initialisation"
    print(f"{stage}: {spec.describe()} <- {loaded}", file=sys.stderr)
