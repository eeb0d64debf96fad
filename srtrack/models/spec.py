"""What network a tracker is: one plain record, resolved once from the config (and the weights it
starts from), saved inside every `model.pth` we write, and rebuilt from there.

| field | meaning | from |
|---|---|---|
| `name` | registered tracker (srtrack/models/trackers.py) | `model.name` and the method (naming.py) |
| `template_size`, `search_size` | crop sizes | `model.template_size`, `model.search_size` |
| `drop_path_rate` | stochastic depth in training | `model.drop_path_rate` |
| `temporal_pos_embed` | DropTrack's temporal embeddings are part of the network | `model.temporal_pos_embed` and whether the starting weights carry them |
| `ce_layers`, `ce_keep_ratio` | candidate elimination (one-stream trackers only) | `model.candidate_elimination` |
| `lora` | rank_qkv, rank_proj, alpha (LoRA trackers only) | `model.lora` |
| `dims` | width / depth / heads overrides (tests and sweeps) | not in the config |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from srtrack.config.types import ModelConfig

TEMPORAL_KEYS = ("backbone.temporal_pos_embed_z", "backbone.temporal_pos_embed_x")


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    template_size: int
    search_size: int
    drop_path_rate: float = 0.1
    temporal_pos_embed: bool = False
    ce_layers: tuple[int, ...] = ()
    ce_keep_ratio: float = 1.0
    lora: dict[str, float] | None = None
    dims: dict[str, int] = field(default_factory=dict)

    def build(self):
        """A fresh (randomly initialised) tracker of this network."""
        from srtrack.models.trackers import ONE_STREAM, create_tracker

        kwargs: dict[str, Any] = {"drop_path_rate": self.drop_path_rate, "temporal_pos_embed": self.temporal_pos_embed,
                                  **self.dims, **(self.lora or {})}
        if self.name in ONE_STREAM:
            kwargs.update(ce_layers=self.ce_layers, ce_keep_ratio=self.ce_keep_ratio)
        return create_tracker(self.name, template_size=self.template_size, search_size=self.search_size, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ce_layers"] = list(self.ce_layers)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NetworkSpec":
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown network field(s) {unknown} (a newer srtrack wrote this file?)")
        return cls(**{**data, "ce_layers": tuple(data.get("ce_layers", ()))})

    def describe(self) -> str:
        """One line for logs and reports."""
        extras = [f"{self.template_size}/{self.search_size}"]
        if self.temporal_pos_embed:
            extras.append("temporal embeddings")
        if self.ce_layers and self.ce_keep_ratio < 1:
            extras.append(f"CE {list(self.ce_layers)} keep {self.ce_keep_ratio}")
        if self.lora:
            extras.append("LoRA " + ", ".join(f"{k} {v}" for k, v in self.lora.items()))
        return f"{self.name} ({'; '.join(extras)})"


def spec_from_config(model: ModelConfig, name: str, weights: dict | None = None, **dims: int) -> NetworkSpec:
    """The network `name` as the config describes it; `weights` (a state dict it will start from)
    decides whether DropTrack's temporal embeddings are part of it."""
    from srtrack.models.trackers import ONE_STREAM

    temporal = model.temporal_pos_embed == "from_checkpoint" and weights is not None and \
        all(k in weights for k in TEMPORAL_KEYS)
    one_stream = name in ONE_STREAM
    lora = {"rank_qkv": model.lora.rank_qkv, "rank_proj": model.lora.rank_proj, "alpha": model.lora.alpha} \
        if "lora" in name else None
    return NetworkSpec(name, model.template_size, model.search_size, model.drop_path_rate, temporal,
                       model.candidate_elimination.layers if one_stream else (),
                       model.candidate_elimination.keep_ratio if one_stream else 1.0, lora, dict(dims))
