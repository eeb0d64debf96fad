"""ViPT visual prompt tuning on the one-stream tracker (Zhu et al., CVPR 2023, arXiv 2303.10826;
github.com/jiawen-zhu/ViPT `lib/models/vipt/vit_ce_prompt.py`, `vipt_deep`), as released.

The X image gets its own patch embedding (`patch_embed_prompt`). Before the first block a prompt
block (two 1x1 convs to 8 channels, a spatial-softmax "fovea" with a learned sharpness `smooth`,
init 10, on the RGB half, a 1x1 conv back) turns the RGB tokens and the X tokens, both normalised by
`prompt_norms[0]`, into a prompt that is added to the RGB tokens; then the position embeddings. Before
every later block i the current tokens (search tokens back on their full grid, zeros where candidate
elimination removed them) are normalised by `prompt_norms[i - 1]`, the previous prompt by
`prompt_norms[i]`, block i's prompt block makes the new prompt, and the prompt of the tokens still in
the sequence is added. Only the prompt modules train (`if "prompt" not in name: requires_grad =
False` in ViPT). Parameter names are ViPT's, so its released weights load as they are.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from srtrack.models.backbones import LayerNorm, OneStreamViT, make_patch_embed

PROMPT_CHANNELS = 8


class Fovea(nn.Module):
    """Spatial softmax of `smooth` x the input per channel, used as a mask on the input."""

    def __init__(self):
        super().__init__()
        self.smooth = nn.Parameter(torch.zeros(1) + 10.0)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        flat = x.reshape(b, c, h * w)
        return (torch.softmax(flat * self.smooth, dim=-1) * flat).reshape(b, c, h, w)


class PromptBlock(nn.Module):
    """(B, 2C, H, W) = [tokens ; prompt] as maps -> (B, C, H, W) new prompt."""

    def __init__(self, channels: int, hidden: int = PROMPT_CHANNELS):
        super().__init__()
        self.conv0_0 = nn.Conv2d(channels, hidden, 1)
        self.conv0_1 = nn.Conv2d(channels, hidden, 1)
        self.conv1x1 = nn.Conv2d(hidden, channels, 1)
        self.fovea = Fovea()
        for conv in (self.conv0_0, self.conv0_1, self.conv1x1):
            nn.init.xavier_uniform_(conv.weight)

    def forward(self, x: Tensor) -> Tensor:
        half = x.shape[1] // 2
        return self.conv1x1(self.fovea(self.conv0_0(x[:, :half])) + self.conv0_1(x[:, half:]))


def as_map(tokens: Tensor) -> Tensor:
    """(B, g * g, C) -> (B, C, g, g)."""
    grid = int(round(tokens.shape[1] ** 0.5))
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, grid, grid)


def as_tokens(feature: Tensor) -> Tensor:
    """(B, C, g, g) -> (B, g * g, C)."""
    return feature.flatten(2).transpose(1, 2)


class PromptedViT(OneStreamViT):
    """One-stream ViT over 6-channel inputs with deep modality prompts."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.patch_embed_prompt = make_patch_embed(self.patch_size, self.embed_dim)
        self.prompt_blocks = nn.ModuleList(PromptBlock(self.embed_dim) for _ in range(self.depth))
        self.prompt_norms = nn.ModuleList(LayerNorm(self.embed_dim) for _ in range(self.depth))

    def _prompt(self, i: int, tokens: Tensor, prompt: Tensor) -> Tensor:
        """Prompt block i on the (normalised) tokens and the (normalised) previous prompt."""
        return as_tokens(self.prompt_blocks[i](torch.cat([as_map(tokens), as_map(prompt)], dim=1)))

    def forward(self, template: Tensor, search: Tensor) -> Tensor:
        """(B, 6, Hz, Wz), (B, 6, Hx, Wx) -> normalised tokens (B, N_z + N_x, C)."""
        z, x = self.patch_embed(template[:, :3]), self.patch_embed(search[:, :3])  # (B, N_z, C), (B, N_x, C)
        norm = self.prompt_norms[0]
        prompt_z = self._prompt(0, norm(z), norm(self.patch_embed_prompt(template[:, 3:])))
        prompt_x = self._prompt(0, norm(x), norm(self.patch_embed_prompt(search[:, 3:])))
        tokens = self.positions(z + prompt_z, x + prompt_x)
        ce = self.eliminator(tokens)
        n_z = z.shape[1]
        for i in range(self.depth):
            if i > 0:
                full = self.prompt_norms[i - 1](ce.restore(tokens))
                prompt_z = self._prompt(i, full[:, :n_z], self.prompt_norms[i](prompt_z))
                prompt_x = self._prompt(i, full[:, n_z:], self.prompt_norms[i](prompt_x))
                tokens = tokens + torch.cat([prompt_z, ce.kept(prompt_x)], dim=1)
            tokens = self.run_block(i, tokens, ce)
        return ce.restore(self.norm(tokens))
