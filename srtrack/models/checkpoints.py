"""Load tracker weights (ours, OSTrack, DropTrack, ViPT, SRTrack, timm/MAE ViT) into a tracker, with a report.

Layouts, detected by key signature (files read by srtrack/models/files.py):

| layout | files | keys | into |
|---|---|---|---|
| `srtrack` | our `model.pth` (older ones without the network record too) | our two-stream names (`blocks_x`, `blocks_fusion`) or exactly the model's | as they are |
| `ostrack` | OSTrack, DropTrack and ViPT `.pth.tar` (`net`) | `backbone.blocks.*`, `box_head.*` (ViPT: + `backbone.prompt_*`, `patch_embed_prompt`) | one-stream trackers as they are; two-stream ones by the official mapping below |
| `srtrack_release` | SRTrack-trained `.pth.tar` | `backbone.patch_embed_rgb/_event`, `blocks_rgb/_event.*`, `blocks_cross.*`, `norm_rgb/_event` | two-stream trackers: `event` -> `x`, `cross` -> `fusion` |
| `vit` | timm / MAE / DropMAE ViT | `patch_embed.*`, `blocks.*`, `pos_embed` with a class token | position embeddings resampled from `pos_embed`; the head stays initialised |

Documented extras, ignored and listed: `cls_token`, a ViT's `pos_embed` (the trackers use
`pos_embed_z` / `pos_embed_x`), classifier and MAE decoder weights, and DropTrack's
`temporal_pos_embed_z/x` when the network was built without them (`model.temporal_pos_embed:
ignore`). LoRA matrices and ViPT prompt modules missing from a file keep their initialisation (LoRA's
zero B makes the model start equal to the pretrained one).

One stream into two (the official `build_siamtrack*`, method notes section 2): `patch_embed` ->
`patch_embed_rgb` and `patch_embed_x`; `blocks.i` -> `blocks_rgb.i` and `blocks_x.i`; blocks
2/5/8/11 (`fusion_layers`) -> `blocks_fusion.0..3`; `norm` -> `norm_rgb` and `norm_x`.

Position embeddings: `pos_embed_from` (a second file) replaces the first file's `pos_embed_z/x`, as
the released OSTrack-384 takes DropTrack-384's. Embeddings of another grid size are resampled:
`ostrack` (default) with plain bicubic interpolation, `align_corners=False`, no antialiasing, as
OSTrack's `finetune_track`; `timm` with timm's `resample_abs_pos_embed` (antialiased when shrinking).
Any key outside the documented sets is an error unless `strict=False`; every loaded, renamed,
missing, unexpected, ignored and resampled key is reported.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from timm.layers import resample_abs_pos_embed
from torch import Tensor, nn

from srtrack.errors import CheckpointError
from srtrack.models.backbones import TwoStreamViT, fusion_layers
from srtrack.models.files import CheckpointFile, read_checkpoint
from srtrack.models.peft import LoRALinear
from srtrack.models.trackers import Tracker

DOCUMENTED_EXTRAS = re.compile(
    r"^(backbone\.)?(cls_token|pos_embed|head\..*|fc_norm\..*|decoder.*|mask_token)$")
TEMPORAL = re.compile(r"^backbone\.temporal_pos_embed_[zx]$")
PEFT_KEYS = re.compile(r"\.lora_[AB]$|^backbone\.(prompt_|patch_embed_prompt\.)")
POSITION_KEYS = ("backbone.pos_embed_z", "backbone.pos_embed_x")
# the released two-stream names -> ours
RELEASE_NAMES = (("backbone.patch_embed_event.", "backbone.patch_embed_x."), ("backbone.blocks_event.", "backbone.blocks_x."),
                 ("backbone.blocks_cross.", "backbone.blocks_fusion."), ("backbone.norm_event.", "backbone.norm_x."))


@dataclass
class LoadReport:
    """What a load did; printed, written next to the run and logged to MLflow."""

    source: str
    source_format: str
    loaded: list[str] = field(default_factory=list)
    renamed: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    resampled: list[str] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    pos_embed_from: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def summary(self) -> str:
        """One paragraph for the log: counts, the renaming and everything that was not a plain load."""
        parts = [f"{self.source} ({self.source_format}): {len(self.loaded)} tensors loaded"]
        parts += [f"{pattern} ({n})" for pattern, n in self.renamed.items()]
        for what in ("missing", "unexpected", "ignored", "resampled"):
            keys = getattr(self, what)
            if keys:
                parts.append(f"{what}: " + ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else ""))
        if self.pos_embed_from:
            parts.append(f"pos_embed_z/x from {self.pos_embed_from}")
        if self.placeholders:
            parts.append(f"{len(self.placeholders)} Python object(s) in the file read as inert placeholders: "
                         + ", ".join(self.placeholders[:4]) + (" ..." if len(self.placeholders) > 4 else ""))
        return "; ".join(parts)


def detect_format(state: dict[str, Tensor], path: Path) -> str:
    if any(k.startswith(("backbone.blocks_x.", "backbone.blocks_fusion.")) for k in state):
        return "srtrack"
    if any(k.startswith(("backbone.blocks_event.", "backbone.patch_embed_event.")) for k in state):
        return "srtrack_release"
    if any(k.startswith("backbone.blocks.") for k in state):
        return "ostrack"
    if "patch_embed.proj.weight" in state and any(k.startswith("blocks.") for k in state):
        return "vit"
    raise CheckpointError(f"{path}: unknown checkpoint layout (expected OSTrack/DropTrack/ViPT `backbone.blocks.*`, "
                          f"SRTrack `backbone.blocks_rgb.*` / `blocks_event.*`, or ViT `blocks.*` keys; first keys: "
                          f"{sorted(state)[:5]})")


def resample(pos: Tensor, grid: int, mode: str, prefix: int = 0) -> Tensor:
    """(1, prefix + g0 * g0, C) position embeddings -> (1, grid * grid, C), without the prefix tokens."""
    if mode == "timm":
        old = int(round((pos.shape[1] - prefix) ** 0.5))
        return resample_abs_pos_embed(pos, [grid, grid], [old, old], num_prefix_tokens=prefix)[:, prefix:]
    patches = pos[:, prefix:]
    old = int(round(patches.shape[1] ** 0.5))
    as_map = patches.transpose(1, 2).reshape(1, -1, old, old)
    out = torch.nn.functional.interpolate(as_map.float(), size=(grid, grid), mode="bicubic", align_corners=False)
    return out.to(pos.dtype).flatten(2).transpose(1, 2)


def _has_class_token(pos_embed: Tensor) -> bool:
    n = pos_embed.shape[1]
    return int(round((n - 1) ** 0.5)) ** 2 == n - 1


class _Mapping:
    """The source's weights under the model's names, with what happened to each key."""

    def __init__(self, model: Tracker, fmt: str, resample_mode: str):
        self.model, self.fmt, self.mode = model, fmt, resample_mode
        self.weights: dict[str, Tensor] = {}
        self.ignored: list[str] = []
        self.resampled: list[str] = []
        self.renamed: Counter[str] = Counter()

    def add(self, state: dict[str, Tensor]) -> None:
        has_temporal = getattr(self.model.backbone, "temporal_pos_embed", False)
        for key, value in state.items():
            key = key if self.fmt != "vit" else f"backbone.{key}"
            if (DOCUMENTED_EXTRAS.match(key) or (TEMPORAL.match(key) and not has_temporal)) \
                    and key not in POSITION_KEYS:
                self.ignored.append(key)
                continue
            self.weights[key] = value
        if self.fmt == "vit":
            self._positions_from_vit(state)

    def _positions_from_vit(self, state: dict[str, Tensor]) -> None:
        source = state.get("pos_embed")
        if source is None:
            return
        prefix = 1 if _has_class_token(source) else 0
        for key, grid in self._grids().items():
            if key not in self.weights:
                self.weights[key] = resample(source, grid, self.mode, prefix)
                self.resampled.append(key)

    def _grids(self) -> dict[str, int]:
        backbone = self.model.backbone
        return {"backbone.pos_embed_z": backbone.template_grid, "backbone.pos_embed_x": backbone.search_grid}

    def replace_positions(self, other: dict[str, Tensor], path: Path) -> None:
        """`pos_embed_z/x` from a second file (the released OSTrack-384 initialisation)."""
        for key in POSITION_KEYS:
            if key not in other:
                raise CheckpointError(f"{path}: model.pos_embed_from has no {key} (expected an OSTrack/DropTrack file)")
            self.weights[key] = other[key]

    def fit_positions(self) -> None:
        for key, grid in self._grids().items():
            if key in self.weights and self.weights[key].shape[1] != grid * grid:
                self.weights[key] = resample(self.weights[key], grid, self.mode)
                self.resampled.append(key)

    def to_model_names(self) -> dict[str, Tensor]:
        """Rename to the model's layout (two-stream mapping, released two-stream names)."""
        two_stream = isinstance(self.model.backbone, TwoStreamViT)
        if self.fmt == "srtrack" and two_stream:
            return dict(self.weights)
        if self.fmt in ("srtrack", "srtrack_release"):
            if not two_stream:
                raise CheckpointError("a two-stream SRTrack checkpoint cannot initialise the one-stream "
                                      f"{type(self.model.backbone).__name__}; use an srtrack_* model")
            return {self._release_name(k): v for k, v in self.weights.items()}
        if not two_stream:
            return dict(self.weights)
        depth = self.model.backbone.depth
        out = {}
        for key, value in self.weights.items():
            targets = two_stream_names(key, depth)
            if targets != [key]:
                self.renamed[f"{_group(key)} -> {' + '.join(_group(t) for t in targets)}"] += 1
            out.update({target: value for target in targets})
        return out

    def _release_name(self, key: str) -> str:
        for old, new in RELEASE_NAMES:
            if key.startswith(old):
                self.renamed[f"{old}* -> {new}*"] += 1
                return new + key[len(old):]
        return key


def _group(key: str) -> str:
    """`backbone.blocks_rgb.3.attn.qkv.weight` -> `backbone.blocks_rgb.N.*` (for the renaming report)."""
    m = re.match(r"^(backbone\.[A-Za-z_]+\.)(\d+\.)?", key)
    return (m[1] + ("N." if m[2] else "") if m else key) + "*"


def two_stream_names(key: str, depth: int) -> list[str]:
    """Where a one-stream parameter goes in the two-stream backbone (both streams, maybe a fusion block).

    Used for pretrained weights and for prior-sensitivity statistics alike.
    """
    fusion = {layer: j for j, layer in enumerate(fusion_layers(depth))}
    if key.startswith("backbone.patch_embed."):
        rest = key[len("backbone.patch_embed."):]
        return [f"backbone.patch_embed_rgb.{rest}", f"backbone.patch_embed_x.{rest}"]
    if m := re.match(r"^backbone\.blocks\.(\d+)\.(.*)$", key):
        index, rest = int(m[1]), m[2]
        names = [f"backbone.blocks_rgb.{index}.{rest}", f"backbone.blocks_x.{index}.{rest}"]
        return names + ([f"backbone.blocks_fusion.{fusion[index]}.{rest}"] if index in fusion else [])
    if key.startswith("backbone.norm."):
        rest = key[len("backbone.norm."):]
        return [f"backbone.norm_rgb.{rest}", f"backbone.norm_x.{rest}"]
    return [key]


def load_pretrained(model: Tracker, source: Path | CheckpointFile, *, strict: bool = True,
                    pos_embed_from: Path | None = None, resample_mode: str = "ostrack") -> LoadReport:
    """Map a file's weights onto `model` in place and report what happened (see the module docstring).

    Raises:
        CheckpointError: unreadable file, unknown layout, a shape that cannot be adapted, or (with
            `strict`) keys missing or unexpected beyond the documented ones.
    """
    checkpoint = source if isinstance(source, CheckpointFile) else read_checkpoint(source)
    path, state = checkpoint.path, checkpoint.state
    fmt = detect_format(state, path)
    mapping = _Mapping(model, fmt, resample_mode)
    mapping.add(state)
    if pos_embed_from is not None:
        mapping.replace_positions(read_checkpoint(pos_embed_from).state, pos_embed_from)
    mapping.fit_positions()
    weights = mapping.to_model_names()
    target = model.state_dict()
    report = LoadReport(str(path), fmt, renamed=dict(mapping.renamed), ignored=sorted(mapping.ignored),
                        resampled=sorted(mapping.resampled), placeholders=checkpoint.placeholders,
                        pos_embed_from=str(pos_embed_from) if pos_embed_from else None)
    report.unexpected = sorted(k for k in weights if k not in target)
    missing = sorted(k for k in target if k not in weights)
    # documented: a ViT file has no tracking head, and PEFT modules (LoRA, prompts) start fresh
    allowed_missing = {k for k in missing if (fmt == "vit" and k.startswith("box_head.")) or PEFT_KEYS.search(k)}
    report.missing = missing
    wrong_shape = [f"{k}: file {tuple(v.shape)}, model {tuple(target[k].shape)}" for k, v in weights.items()
                   if k in target and v.shape != target[k].shape]
    if wrong_shape:
        more = f"\n  ... and {len(wrong_shape) - 20} more" if len(wrong_shape) > 20 else ""
        raise CheckpointError(f"{path}: {len(wrong_shape)} tensor shape(s) do not fit the model (another ViT size?):\n  "
                              + "\n  ".join(wrong_shape[:20]) + more)
    undocumented = report.unexpected + [k for k in missing if k not in allowed_missing]
    if strict and undocumented:
        raise CheckpointError(f"{path}: {len(report.unexpected)} unexpected and {len(missing) - len(allowed_missing)} "
                              f"missing key(s) beyond the documented ones (pass strict=False to load anyway):\n  "
                              + "\n  ".join(undocumented[:40]))
    merged = {**target, **{k: v.to(target[k].dtype) for k, v in weights.items() if k in target}}
    model.load_state_dict(merged, strict=True)
    report.loaded = sorted(k for k in weights if k in target)
    return report


def load_own(model: Tracker, checkpoint: CheckpointFile) -> LoadReport:
    """Our own file of exactly this network: every key, as it is."""
    if set(checkpoint.state) != set(model.state_dict()):
        extra, lacking = sorted(set(checkpoint.state) - set(model.state_dict())), \
            sorted(set(model.state_dict()) - set(checkpoint.state))
        raise CheckpointError(f"{checkpoint.path}: its weights do not fit the network it names (extra {extra[:5]}, "
                              f"missing {lacking[:5]})")
    model.load_state_dict(checkpoint.state, strict=True)
    return LoadReport(str(checkpoint.path), "srtrack", loaded=sorted(checkpoint.state),
                      placeholders=checkpoint.placeholders)


def prior_for_model(prior: dict[str, Tensor], model: Tracker) -> dict[str, Tensor]:
    """Rename prior statistics (`<param>.<statistic>`, computed on the one-stream RGB tracker) to
    `model`'s parameters: on a two-stream model each one-stream parameter's statistics go to every
    copy its pretrained weights went to (both streams, a fusion block), as in `load_pretrained`."""
    if not isinstance(model.backbone, TwoStreamViT):
        return with_lora_prior(dict(prior), model)
    depth = model.backbone.depth
    mapped = {}
    for key, value in prior.items():
        param, statistic = key.rsplit(".", 1)
        for target in two_stream_names(param, depth):
            mapped[f"{target}.{statistic}"] = value
    return with_lora_prior(mapped, model)


def with_lora_prior(prior: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """Give the LoRA matrices of every adapted weight W the prior of W (SRFT on a LoRA tracker).

    The low-rank update B A of a frozen W lives in W's output space (columns of B, d_out x r) and input
    space (rows of A, r x d_in), so B gets W's output-side eigenvectors and A its input-side ones,
    with the identity on the rank side: SRFT's projection then removes kappa of B's update along
    P_out and of A's along P_in. This one-sided constraint is stronger than the two-sided one SRFT
    puts on W itself (it also removes P_out x (not P_in) directions); the method notes do not say how
    SRFT composes with LoRA, so it is our choice, documented in docs/method.md.
    """
    out = dict(prior)
    for name, module in model.named_modules():
        weight = f"{name}.weight"
        if not isinstance(module, LoRALinear) or f"{weight}.out_vectors" not in prior:
            continue
        eye, ones = torch.eye(module.lora_A.shape[0]), torch.ones(module.lora_A.shape[0])
        out.update({f"{name}.lora_B.out_vectors": prior[f"{weight}.out_vectors"],
                    f"{name}.lora_B.out_values": prior[f"{weight}.out_values"],
                    f"{name}.lora_B.in_vectors": eye, f"{name}.lora_B.in_values": ones,
                    f"{name}.lora_A.out_vectors": eye, f"{name}.lora_A.out_values": ones,
                    f"{name}.lora_A.in_vectors": prior[f"{weight}.in_vectors"],
                    f"{name}.lora_A.in_values": prior[f"{weight}.in_values"]})
    return out
