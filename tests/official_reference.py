"""Reference forwards of the released backbones, written in plain torch from the official definitions
(OSTrack `vit_ce.py` / `attn_blocks.py`, DropTrack's temporal embeddings, SRTrack `vit_siam*.py`, ViPT
`vit_ce_prompt.py`), on state dicts with the official key names. Tests compare our models with them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def linear(state: dict, prefix: str, x: Tensor) -> Tensor:
    return F.linear(x, state[f"{prefix}.weight"], state.get(f"{prefix}.bias"))


def layer_norm(state: dict, prefix: str, x: Tensor) -> Tensor:
    return F.layer_norm(x, x.shape[-1:], state[f"{prefix}.weight"], state[f"{prefix}.bias"], eps=1e-6)


def patch_embed(state: dict, prefix: str, image: Tensor) -> Tensor:
    out = F.conv2d(image, state[f"{prefix}.proj.weight"], state[f"{prefix}.proj.bias"], stride=16)
    return out.flatten(2).transpose(1, 2)


def attention(state: dict, prefix: str, x: Tensor, heads: int) -> tuple[Tensor, Tensor]:
    """OSTrack's Attention: softmax((q k^T) * scale), returned with the weights."""
    b, n, c = x.shape
    qkv = linear(state, f"{prefix}.qkv", x).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    attn = ((q @ k.transpose(-2, -1)) * (c // heads) ** -0.5).softmax(dim=-1)
    out = (attn @ v).transpose(1, 2).reshape(b, n, c)
    return linear(state, f"{prefix}.proj", out), attn


def mlp(state: dict, prefix: str, x: Tensor) -> Tensor:
    return linear(state, f"{prefix}.fc2", F.gelu(linear(state, f"{prefix}.fc1", x)))


def block(state: dict, prefix: str, x: Tensor, heads: int) -> Tensor:
    out, _ = attention(state, f"{prefix}.attn", layer_norm(state, f"{prefix}.norm1", x), heads)
    x = x + out
    return x + mlp(state, f"{prefix}.mlp", layer_norm(state, f"{prefix}.norm2", x))


def ce_block(state: dict, prefix: str, x: Tensor, heads: int, lens_t: int, keep: float, index: Tensor,
             mask_z: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
    """CEBlock.forward with candidate_elimination (box_mask_z given as a boolean template mask)."""
    out, attn = attention(state, f"{prefix}.attn", layer_norm(state, f"{prefix}.norm1", x), heads)
    x = x + out
    lens_s = attn.shape[-1] - lens_t
    lens_keep = math.ceil(keep * lens_s)
    removed = None
    if lens_keep < lens_s:
        bs, hn = attn.shape[:2]
        attn_t = attn[:, :, :lens_t, lens_t:]
        mask = mask_z.unsqueeze(1).unsqueeze(-1).expand(-1, hn, -1, lens_s)
        attn_t = attn_t[mask].view(bs, hn, -1, lens_s).mean(dim=2).mean(dim=1)
        _, indices = torch.sort(attn_t, dim=1, descending=True)
        topk, non_topk = indices[:, :lens_keep], indices[:, lens_keep:]
        keep_index, removed = index.gather(1, topk), index.gather(1, non_topk)
        c = x.shape[-1]
        x = torch.cat([x[:, :lens_t], x[:, lens_t:].gather(1, topk.unsqueeze(-1).expand(-1, -1, c))], dim=1)
        index = keep_index
    return x + mlp(state, f"{prefix}.mlp", layer_norm(state, f"{prefix}.norm2", x)), index, removed


def ctr_point_mask(batch: int, grid: int) -> Tensor:
    """generate_mask_cond, CE_TEMPLATE_RANGE CTR_POINT (8 -> 3, 12 -> 5, 7 -> 3, 14 -> 6)."""
    index = {8: 3, 12: 5, 7: 3, 14: 6, 4: 1}[grid]
    mask = torch.zeros(batch, grid, grid)
    mask[:, index, index] = 1
    return mask.flatten(1).to(torch.bool)


def recover(x: Tensor, index: Tensor, removed: list[Tensor], lens_x: int) -> Tensor:
    if not removed:
        return x
    b, _, c = x.shape
    x = torch.cat([x, torch.zeros(b, lens_x - x.shape[1], c)], dim=1)
    index_all = torch.cat([index, *removed], dim=1)
    return torch.zeros_like(x).scatter_(1, index_all.unsqueeze(-1).expand(b, -1, c).to(torch.int64), x)


def ce_step(state: dict, i: int, tokens: Tensor, heads: int, lens_z: int, ratio: float, index: Tensor,
            mask: Tensor, removed: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Block i of the CE loop of forward_features (the removed indices appended to `removed`)."""
    tokens, index, r = ce_block(state, f"backbone.blocks.{i}", tokens, heads, lens_z, ratio, index, mask)
    if r is not None:
        removed.append(r)
    return tokens, index


def final_tokens(state: dict, tokens: Tensor, lens_z: int, lens_x: int, index: Tensor, removed: list[Tensor]) -> Tensor:
    """The final norm, then the search tokens back in grid order."""
    tokens = layer_norm(state, "backbone.norm", tokens)
    return torch.cat([tokens[:, :lens_z], recover(tokens[:, lens_z:], index, removed, lens_x)], dim=1)


def one_stream(state: dict, z: Tensor, x: Tensor, *, depth: int, heads: int, ce_loc=(), keep: float = 1.0,
               temporal: bool = False) -> Tensor:
    """OSTrack's VisionTransformerCE.forward_features (DropTrack's when `temporal`)."""
    z = patch_embed(state, "backbone.patch_embed", z) + state["backbone.pos_embed_z"]
    x = patch_embed(state, "backbone.patch_embed", x) + state["backbone.pos_embed_x"]
    if temporal:
        z, x = z + state["backbone.temporal_pos_embed_z"], x + state["backbone.temporal_pos_embed_x"]
    lens_z, lens_x = z.shape[1], x.shape[1]
    tokens = torch.cat([z, x], dim=1)
    index = torch.arange(lens_x).repeat(z.shape[0], 1)
    mask = ctr_point_mask(z.shape[0], int(lens_z ** 0.5))
    removed = []
    for i in range(depth):
        tokens, index = ce_step(state, i, tokens, heads, lens_z, keep if i in ce_loc else 1.0, index, mask, removed)
    return final_tokens(state, tokens, lens_z, lens_x, index, removed)


def two_stream(state: dict, z: Tensor, x: Tensor, *, depth: int, heads: int, temporal: bool = False) -> Tensor:
    """SRTrack's VisionTransformerSiam(_DropMAE).forward_features, official key names."""
    def embed(name: str, image_z: Tensor, image_x: Tensor) -> Tensor:
        tz = patch_embed(state, name, image_z) + state["backbone.pos_embed_z"]
        tx = patch_embed(state, name, image_x) + state["backbone.pos_embed_x"]
        if temporal:
            tz, tx = tz + state["backbone.temporal_pos_embed_z"], tx + state["backbone.temporal_pos_embed_x"]
        return torch.cat([tz, tx], dim=1)

    rgb = embed("backbone.patch_embed_rgb", z[:, :3], x[:, :3])
    event = embed("backbone.patch_embed_event", z[:, 3:], x[:, 3:])
    cross = [depth * (j + 1) // 4 - 1 for j in range(4)]
    n = rgb.shape[1]
    for i in range(depth):
        rgb = block(state, f"backbone.blocks_rgb.{i}", rgb, heads)
        event = block(state, f"backbone.blocks_event.{i}", event, heads)
        if i in cross:
            joint = block(state, f"backbone.blocks_cross.{cross.index(i)}", torch.cat([rgb, event], dim=1), heads)
            rgb, event = joint[:, :n], joint[:, n:]
    return (layer_norm(state, "backbone.norm_rgb", rgb) + layer_norm(state, "backbone.norm_event", event)) / 2


def token2feature(tokens: Tensor) -> Tensor:
    b, length, d = tokens.shape
    side = int(length ** 0.5)
    return tokens.permute(0, 2, 1).view(b, d, side, side).contiguous()


def feature2token(x: Tensor) -> Tensor:
    b, c, w, h = x.shape
    return x.view(b, c, w * h).permute(0, 2, 1).contiguous()


def prompt_block(state: dict, prefix: str, x: Tensor) -> Tensor:
    """Prompt_block.forward with Fovea(smooth=True)."""
    c = x.shape[1]
    x0 = F.conv2d(x[:, : c // 2], state[f"{prefix}.conv0_0.weight"], state[f"{prefix}.conv0_0.bias"])
    x1 = F.conv2d(x[:, c // 2:], state[f"{prefix}.conv0_1.weight"], state[f"{prefix}.conv0_1.bias"])
    b, h = x0.shape[:2]
    flat = x0.contiguous().view(b, h, -1)
    fovea = (torch.softmax(flat * state[f"{prefix}.fovea.smooth"], dim=-1) * flat).view_as(x0)
    return F.conv2d(fovea + x1, state[f"{prefix}.conv1x1.weight"], state[f"{prefix}.conv1x1.bias"])


def vipt(state: dict, z: Tensor, x: Tensor, *, depth: int, heads: int, ce_loc=(), keep: float = 1.0) -> Tensor:
    """ViPT's VisionTransformerCE.forward_features, prompt_type vipt_deep."""
    def norm(i: int, t: Tensor) -> Tensor:
        return layer_norm(state, f"backbone.prompt_norms.{i}", t)

    z_rgb, x_rgb = patch_embed(state, "backbone.patch_embed", z[:, :3]), patch_embed(state, "backbone.patch_embed", x[:, :3])
    z_dte = patch_embed(state, "backbone.patch_embed_prompt", z[:, 3:])
    x_dte = patch_embed(state, "backbone.patch_embed_prompt", x[:, 3:])
    z_feat = torch.cat([token2feature(norm(0, z_rgb)), token2feature(norm(0, z_dte))], dim=1)
    x_feat = torch.cat([token2feature(norm(0, x_rgb)), token2feature(norm(0, x_dte))], dim=1)
    z_prompted = feature2token(prompt_block(state, "backbone.prompt_blocks.0", z_feat))
    x_prompted = feature2token(prompt_block(state, "backbone.prompt_blocks.0", x_feat))
    zt = z_rgb + z_prompted + state["backbone.pos_embed_z"]
    xt = x_rgb + x_prompted + state["backbone.pos_embed_x"]
    lens_z, lens_x = zt.shape[1], xt.shape[1]
    tokens = torch.cat([zt, xt], dim=1)
    index = torch.arange(lens_x).repeat(z.shape[0], 1)
    mask = ctr_point_mask(z.shape[0], int(lens_z ** 0.5))
    removed: list[Tensor] = []
    for i in range(depth):
        if i >= 1:
            x_ori = tokens
            full = torch.cat([tokens[:, :lens_z], recover(tokens[:, lens_z:], index, removed, lens_x)], dim=1)
            full = norm(i - 1, full)
            z_prompted, x_prompted = norm(i, z_prompted), norm(i, x_prompted)
            z_new = feature2token(prompt_block(state, f"backbone.prompt_blocks.{i}", torch.cat(
                [token2feature(full[:, :lens_z]), token2feature(z_prompted)], dim=1)))
            x_new = feature2token(prompt_block(state, f"backbone.prompt_blocks.{i}", torch.cat(
                [token2feature(full[:, lens_z:]), token2feature(x_prompted)], dim=1)))
            z_prompted, x_prompted = z_new, x_new
            c = x_new.shape[-1]
            gathered = x_new.gather(1, index.unsqueeze(-1).expand(-1, -1, c))
            tokens = x_ori + torch.cat([z_new, gathered], dim=1)
        tokens, index = ce_step(state, i, tokens, heads, lens_z, keep if i in ce_loc else 1.0, index, mask, removed)
    return final_tokens(state, tokens, lens_z, lens_x, index, removed)


def finetune_track_positions(pos_embed: Tensor, grid: int, patch_start_index: int = 1) -> Tensor:
    """BaseBackbone.finetune_track's resampling of a ViT's pos_embed to a grid x grid region."""
    patch = pos_embed[:, patch_start_index:, :].transpose(1, 2)
    b, e, q = patch.shape
    side = int(q ** 0.5)
    patch = patch.view(b, e, side, side)
    out = F.interpolate(patch, size=(grid, grid), mode="bicubic", align_corners=False)
    return out.flatten(2).transpose(1, 2)
