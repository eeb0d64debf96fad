"""ViPT-style visual prompt tuning on the one-stream tracker (Zhu et al., CVPR 2023, arXiv 2303.10826;
github.com/jiawen-zhu/ViPT `lib/models/vipt/vit_ce_prompt.py`, `vipt_deep`).

The X image gets its own patch embedding; before every block a prompt block (two 1x1 convs to 8
channels, a spatial-softmax "fovea" on the RGB half, a 1x1 conv back) turns the current tokens and
the previous prompt into a new prompt that is added to the tokens. Only the prompt modules train
(`if "prompt" not in name: requires_grad = False` in ViPT). The exact placement of the norms in ViPT
differs by one layer index in places; this reconstruction keeps one LayerNorm per prompt block.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from srtrack.models.backbones import LayerNorm, OneStreamViT, make_patch_embed

PROMPT_CHANNELS = 8


class Fovea(nn.Module):
    """Spatial softmax per channel, used as a mask on its input."""

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        mask = torch.softmax(x.reshape(b, c, h * w), dim=-1).reshape(b, c, h, w)
        return mask * x


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
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        half = x.shape[1] // 2
        return self.conv1x1(self.fovea(self.conv0_0(x[:, :half])) + self.conv0_1(x[:, half:]))


class PromptedViT(OneStreamViT):
    """One-stream ViT over 6-channel inputs with deep modality prompts."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.patch_embed_prompt = make_patch_embed(self.patch_size, self.embed_dim)
        self.prompt_blocks = nn.ModuleList(PromptBlock(self.embed_dim) for _ in range(self.depth))
        self.prompt_norms = nn.ModuleList(LayerNorm(self.embed_dim) for _ in range(self.depth))

    def _prompt(self, i: int, tokens: Tensor, prompt: Tensor, grid: int) -> Tensor:
        def as_map(t: Tensor) -> Tensor:
            return self.prompt_norms[i](t).transpose(1, 2).reshape(t.shape[0], -1, grid, grid)  # (B, C, g, g)

        out = self.prompt_blocks[i](torch.cat([as_map(tokens), as_map(prompt)], dim=1))  # (B, C, g, g)
        return out.flatten(2).transpose(1, 2)  # (B, g * g, C)

    def forward(self, template: Tensor, search: Tensor) -> Tensor:
        """(B, 6, Hz, Wz), (B, 6, Hx, Wx) -> normalised tokens (B, N_z + N_x, C)."""
        gz, gx = self.template_grid, self.search_grid
        z, x = self.patch_embed(template[:, :3]), self.patch_embed(search[:, :3])  # (B, N_z, C), (B, N_x, C)
        prompt_z = self._prompt(0, z, self.patch_embed_prompt(template[:, 3:]), gz)
        prompt_x = self._prompt(0, x, self.patch_embed_prompt(search[:, 3:]), gx)
        tokens = torch.cat([z + prompt_z + self.pos_embed_z, x + prompt_x + self.pos_embed_x], dim=1)
        n_z = z.shape[1]
        for i, block in enumerate(self.blocks):
            if i > 0:
                prompt_z = self._prompt(i, tokens[:, :n_z], prompt_z, gz)
                prompt_x = self._prompt(i, tokens[:, n_z:], prompt_x, gx)
                tokens = tokens + torch.cat([prompt_z, prompt_x], dim=1)
            tokens = block(tokens)
        return self.norm(tokens)
