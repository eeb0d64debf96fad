"""Run a tracker network over sequences: OSTrack's test-time procedure, batched over sequences.

OSTrack `lib/test/tracker/ostrack.py`: the template is cropped once on the initial box (factor 2);
on every later frame a search region (factor 4) is cropped around the previous box, the score map
is multiplied by a Hann window, the arg-max cell's size and offset give the box, which is mapped
back to the image and clipped (10 px margin). The confidence is the peak of the windowed score map.
Crops and the map back follow `sampler.crop` (srtrack/datasets/processing.py: OSTrack's
`sample_target` and `map_box_back` by default), as in training. The network runs in fp32 as the
official trackers do; `evaluate.precision: bf16` runs it under bf16 autocast on CUDA.

First-frame-absent sequences (VisEvent/COESOT) start at the first present frame; the frames before
it get the row `0,0,0,0` with confidence 0 (the evaluator counts them as misses), the initial frame
gets the initial box with confidence 1, as the OSTrack family writes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from srtrack.config.types import EncodingConfig, SamplerConfig
from srtrack.datasets.encodings import frame_images, load_frame
from srtrack.datasets.processing import crop, crop_window, to_tensor_layout
from srtrack.datasets.sequence import Sequence
from srtrack.models.head import decode_boxes

CLIP_MARGIN = 10


def hann2d(size: int) -> Tensor:
    """OSTrack's centred 2-D Hann window (1, 1, size, size)."""
    hann = 0.5 * (1 - torch.cos(2 * math.pi / (size + 1) * torch.arange(1, size + 1, dtype=torch.float32)))
    return (hann[:, None] * hann[None, :])[None, None]


def uses_bf16(precision: str, device: torch.device) -> bool:
    """bf16 autocast only when asked for (`evaluate.precision: bf16`) and on CUDA; the official trackers run fp32."""
    return precision == "bf16" and device.type == "cuda"


def clip_box(box: np.ndarray, width: int, height: int, margin: int = CLIP_MARGIN) -> np.ndarray:
    """OSTrack's `clip_box`: keep at least `margin` pixels of the box inside the image."""
    x1, y1, x2, y2 = box[0], box[1], box[0] + box[2], box[1] + box[3]
    x1, y1 = min(max(0.0, x1), width - margin), min(max(0.0, y1), height - margin)
    x2, y2 = min(max(margin, x2), width), min(max(margin, y2), height)
    return np.array([x1, y1, max(margin, x2 - x1), max(margin, y2 - y1)])


@dataclass
class TrackState:
    """One sequence being tracked."""

    seq: Sequence
    start: int
    template: Tensor  # (C, Tz, Tz)
    box: np.ndarray  # current box, x, y, w, h
    boxes: list[np.ndarray] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)


class SequenceTracker:
    """Tracks several sequences in lockstep with one network (batched forward passes)."""

    def __init__(self, net: nn.Module, sampler: SamplerConfig, encoding: EncodingConfig, *, template_size: int,
                 search_size: int, device: str | torch.device = "cpu", precision: str = "fp32"):
        self.net = net.eval().to(device)
        self.sampler, self.encoding, self.device = sampler, encoding, torch.device(device)
        self.bf16 = uses_bf16(precision, self.device)
        self.template_size, self.search_size = template_size, search_size
        self.window = hann2d(search_size // 16).to(self.device)

    def frames(self, seq: Sequence, index: int) -> list[np.ndarray]:
        """The frame's images; an RGB-X tracker on an RGB-only sequence gets the RGB image as X too
        (how the RGB ability an RGB-X tracker retains is measured: the plasticity-stability table)."""
        with_x = getattr(self.net, "in_chans", 3) == 6
        images = frame_images(seq, index, lambda path, modality: load_frame(path, modality, self.encoding),
                              with_x=with_x)
        return images * 2 if with_x and len(images) == 1 else images

    def initialize(self, seq: Sequence) -> TrackState:
        """Crop the template at the first present frame; pad the frames before it."""
        present = np.flatnonzero(~seq.absent)
        if not len(present):
            raise ValueError(f"{seq.benchmark}/{seq.name}: the target is never present; nothing to initialise on")
        start = int(present[0])
        box = seq.boxes[start].astype(np.float64)
        window = crop_window(box, self.sampler.template_factor, self.template_size, self.sampler.crop)
        template = torch.from_numpy(to_tensor_layout([crop(im, window) for im in self.frames(seq, start)], 1.0))
        state = TrackState(seq, start, template, box)
        state.boxes = [np.zeros(4)] * start + [box.copy()]
        state.confidences = [0.0] * start + [1.0]
        return state

    @torch.inference_mode()
    def step(self, states: list[TrackState], index: int) -> None:
        """Track frame `index` of every state whose sequence has it (one batched forward)."""
        active = [s for s in states if s.start < index < len(s.seq)]
        if not active:
            return
        windows, searches, sizes = [], [], []
        for state in active:
            images = self.frames(state.seq, index)
            window = crop_window(state.box, self.sampler.search_factor, self.search_size, self.sampler.crop)
            windows.append(window)
            sizes.append(images[0].shape[:2])
            searches.append(torch.from_numpy(to_tensor_layout([crop(im, window) for im in images], 1.0)))
        template = torch.stack([s.template for s in active]).to(self.device)  # (B, C, Tz, Tz)
        search = torch.stack(searches).to(self.device)  # (B, C, Sx, Sx)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.net(template, search)
        score = out["score_map"].float()
        windowed = score * self.window
        boxes = decode_boxes(score, out["size_map"].float(), out["offset_map"].float(), window=self.window)
        peaks = windowed.flatten(1).max(dim=1).values
        for state, window, (height, width), box, peak in zip(active, windows, sizes, boxes.cpu().numpy(),
                                                               peaks.cpu().numpy(), strict=True):
            cx, cy, w, h = box * self.search_size / window.scale  # crop units -> image units
            image_box = np.array([window.x0 + cx - w / 2, window.y0 + cy - h / 2, w, h])
            state.box = clip_box(image_box, width, height)
            state.boxes.append(state.box.copy())
            state.confidences.append(float(peak))

    def run(self, sequences: list[Sequence]) -> list[TrackState]:
        """Track every sequence to its end; returns the states with one box per frame."""
        states = [self.initialize(seq) for seq in sequences]
        for index in range(1, max(len(s) for s in sequences)):
            self.step(states, index)
        return states
