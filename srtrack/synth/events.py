"""A simple event-camera model and the event-frame rendering VisEvent ships.

Each pixel remembers the log intensity at its last event; when the current log intensity differs
from it by at least the contrast threshold C (per-pixel C varies a little, as in real sensors), the
pixel fires an ON or OFF event and its memory is reset. Background activity noise fires random
events, more of them in low light. One event frame per video frame collects the events since the
previous frame: white background, ON events red and OFF events blue (BGR), as VisEvent's
`event_imgs` are rendered. The model sees the true scene intensity, so low light and motion blur
that ruin the RGB frame do not hide the target's edges from it.
"""

from __future__ import annotations

import numpy as np

EPS = 0.05  # offset inside the log, keeps dark pixels from exploding
ON_COLOUR = (0, 0, 255)  # BGR red
OFF_COLOUR = (255, 0, 0)  # BGR blue


class EventCamera:
    """Stateful DVS model over a stream of intensity images in [0, 1]."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, int], *, threshold: float = 0.15,
                 threshold_sigma: float = 0.02, noise_rate: float = 0.002):
        self.rng = rng
        self.threshold = np.clip(rng.normal(threshold, threshold_sigma, size=shape), 0.05, None).astype(np.float32)
        self.noise_rate = noise_rate
        self.reference: np.ndarray | None = None

    def step(self, intensity: np.ndarray, *, low_light: bool = False) -> np.ndarray:
        """Events since the previous call as an int8 map: +1 ON, -1 OFF, 0 none (first call: none)."""
        log_i = np.log(intensity.astype(np.float32) + EPS)
        if self.reference is None:
            self.reference = log_i
            return np.zeros(intensity.shape, np.int8)
        diff = log_i - self.reference
        events = np.zeros(intensity.shape, np.int8)
        events[diff >= self.threshold] = 1
        events[diff <= -self.threshold] = -1
        fired = events != 0
        self.reference = np.where(fired, log_i, self.reference)
        rate = self.noise_rate * (3.0 if low_light else 1.0)
        noise = self.rng.random(intensity.shape) < rate
        events[noise] = self.rng.choice(np.array([-1, 1], np.int8), size=int(noise.sum()))
        return events


def render_event_frame(events: np.ndarray) -> np.ndarray:
    """(H, W) int8 events -> (H, W, 3) uint8 BGR event frame, VisEvent style."""
    frame = np.full((*events.shape, 3), 255, np.uint8)
    frame[events > 0] = ON_COLOUR
    frame[events < 0] = OFF_COLOUR
    return frame
