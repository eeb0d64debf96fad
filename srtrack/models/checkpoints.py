"""Load pretrained weights (OSTrack, DropTrack, timm/MAE ViT) into the trackers, with a report.

Sources, detected by key signature:

* `ostrack`: pytracking-style `.pth.tar` of OSTrack (`OSTrack_ep0300.pth.tar`) or DropTrack
  (`DropTrack_k700_800E_alldata.pth.tar`), weights under `net`, keys `backbone.*` and `box_head.*`.
  `backbone.cls_token`, `backbone.pos_embed` and DropTrack's temporal embeddings are documented
  extras: the trackers use `pos_embed_z` / `pos_embed_x` instead.
* `vit`: a timm or MAE/DropMAE ViT (`model` or top-level keys `patch_embed.*`, `blocks.*`,
  `pos_embed` with a class token). The template/search position embeddings are resampled from
  `pos_embed` (as OSTrack's `finetune_track` does); the head is not in the file and stays freshly
  initialised; classifier and MAE decoder weights are documented extras.

LoRA matrices and ViPT prompt modules are not in any pretrained file: they are reported missing and
keep their initialisation (LoRA's zero B makes the model start equal to the pretrained one).

Mapping into the two-stream SRTrack backbone follows the official code (method notes section 2):
`patch_embed` -> `patch_embed_rgb` and `patch_embed_x`; `blocks.i` -> `blocks_rgb.i` and `blocks_x.i`;
blocks 2/5/8/11 (`fusion_layers`) -> `blocks_fusion.0..3`; `norm` -> `norm_rgb` and `norm_x`.
Position embeddings of another size are resampled with timm's `resample_abs_pos_embed` and reported.
Files load with `torch.load(weights_only=True)` only; any key outside the documented sets is an
error unless `strict=False`, and every loaded, missing, unexpected and resampled key is reported.
"""

from __future__ import annotations

import json
import pickle
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from timm.layers import resample_abs_pos_embed
from torch import Tensor, nn

from srtrack.errors import CheckpointError
from srtrack.models.peft import LoRALinear
from srtrack.models.backbones import TwoStreamViT, fusion_layers
from srtrack.models.trackers import Tracker

DOCUMENTED_EXTRAS = re.compile(
    r"^(backbone\.)?(cls_token|pos_embed|temporal_pos_embed.*|pos_embed_t.*|head\..*|fc_norm\..*|decoder.*|mask_token)$")


PEFT_KEYS = re.compile(r"\.lora_[AB]$|^backbone\.(prompt_|patch_embed_prompt\.)")


@dataclass
class LoadReport:
    """What a load did; written next to the run and logged to MLflow."""

    source: str
    source_format: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    resampled: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """The weights of a checkpoint file, safely (no arbitrary unpickling)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        raise CheckpointError(
            f"{path}: cannot be read with torch.load(weights_only=True): it stores Python objects beyond "
            f"tensors ({type(exc).__name__}: {str(exc).splitlines()[0]}). If you trust the file, re-save its "
            f"weights once: torch.save(torch.load(p, weights_only=False)['net'], 'weights.pth')") from None
    for key in ("net", "model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict (optionally under 'net', 'model' or 'state_dict')")
    return obj


def detect_format(state: dict[str, Tensor], path: Path) -> str:
    if any(k.startswith("backbone.blocks.") for k in state):
        return "ostrack"
    if "patch_embed.proj.weight" in state and any(k.startswith("blocks.") for k in state):
        return "vit"
    raise CheckpointError(f"{path}: unknown checkpoint layout (expected OSTrack/DropTrack `backbone.blocks.*` "
                          f"or ViT `blocks.*` keys; first keys: {sorted(state)[:5]})")


def _one_stream_names(state: dict[str, Tensor], fmt: str, model: Tracker) -> tuple[dict[str, Tensor], list[str], list[str]]:
    """Bring a source to one-stream tracker names; returns (weights, ignored keys, resampled keys)."""
    prefixed = state if fmt == "ostrack" else {f"backbone.{k}": v for k, v in state.items()}
    backbone = model.backbone
    weights, ignored, resampled = {}, [], []
    for key, value in prefixed.items():
        if DOCUMENTED_EXTRAS.match(key) and key not in ("backbone.pos_embed_z", "backbone.pos_embed_x"):
            ignored.append(key)
        else:
            weights[key] = value
    grids = {"backbone.pos_embed_z": backbone.template_grid, "backbone.pos_embed_x": backbone.search_grid}
    for key, grid in grids.items():
        if key not in weights and "backbone.pos_embed" in prefixed:  # MAE/timm: resample the ViT's own
            source = prefixed["backbone.pos_embed"]
            prefix = 1 if _has_class_token(source) else 0
            weights[key] = resample_abs_pos_embed(source, [grid, grid], num_prefix_tokens=prefix)[:, prefix:]
            resampled.append(key)
        elif key in weights and weights[key].shape[1] != grid * grid:
            old = int(round(weights[key].shape[1] ** 0.5))
            weights[key] = resample_abs_pos_embed(weights[key], [grid, grid], [old, old], num_prefix_tokens=0)
            resampled.append(key)
    return weights, ignored, resampled


def _has_class_token(pos_embed: Tensor) -> bool:
    n = pos_embed.shape[1]
    return int(round((n - 1) ** 0.5)) ** 2 == n - 1


def checkpoint_filter_fn(state: dict[str, Tensor], model: Tracker, fmt: str) -> tuple[dict[str, Tensor], list[str], list[str]]:
    """Map a source state dict onto `model`'s names (one- or two-stream); see the module docstring."""
    weights, ignored, resampled = _one_stream_names(state, fmt, model)
    if not isinstance(model.backbone, TwoStreamViT):
        return weights, ignored, resampled
    depth = model.backbone.depth
    mapped = {target: value for key, value in weights.items() for target in two_stream_names(key, depth)}
    return mapped, ignored, resampled


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


def load_pretrained(model: Tracker, path: Path, *, strict: bool = True) -> LoadReport:
    """Load `path` into `model` in place and report what happened.

    Raises:
        CheckpointError: unreadable file, unknown layout, a shape that cannot be adapted, or (with
            `strict`) keys missing or unexpected beyond the documented ones.
    """
    state = read_state_dict(path)
    fmt = detect_format(state, path)
    weights, ignored, resampled = checkpoint_filter_fn(state, model, fmt)
    target = model.state_dict()
    report = LoadReport(str(path), fmt, ignored=sorted(ignored), resampled=sorted(resampled))
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
    merged = {**target, **{k: v for k, v in weights.items() if k in target}}
    model.load_state_dict(merged, strict=True)
    report.loaded = sorted(k for k in weights if k in target)
    return report


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


def load_tracker_weights(model: Tracker, path: Path) -> LoadReport:
    """Weights saved from this very architecture (srtrack.tune's model.pth) load as they are; anything
    else (an OSTrack/DropTrack or ViT file, a one-stream tracker into a two-stream one) goes through
    `load_pretrained`'s mapping."""
    state = read_state_dict(path)
    if set(state) == set(model.state_dict()):
        model.load_state_dict(state, strict=True)
        return LoadReport(str(path), "srtrack", loaded=sorted(state))
    return load_pretrained(model, path)
