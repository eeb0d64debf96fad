"""Render one synthetic tracking sequence: RGB plus thermal, depth and event-camera intensity.

A scene is a textured background seen by a (possibly panning) camera, a textured target moving on a
smooth random path with scale change and rotation, optional look-alike distractors, an optional
occluder bar passing in front of the target, and optional low light. Each auxiliary modality carries
what RGB lacks: the target is hot in thermal (distractors are not, the occluder is cold), it sits at
its own depth (occluders nearer, distractors farther), and the event camera sees the true intensity
with high dynamic range, so night and motion blur hurt RGB only (see events.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import cv2
import numpy as np

from srtrack.synth.textures import background_texture, object_mask, object_texture, smooth_noise

SPRITE = 64  # side of the square sprite the target texture is drawn on
PAN = 24  # margin of the background canvas that camera pans move over


@dataclass(frozen=True)
class SceneSpec:
    """What happens in a sequence; drawn once per sequence from its rng."""

    n_frames: int
    width: int
    height: int
    night: bool
    n_distractors: int
    occlusion: str  # "none", "partial" or "full"
    out_of_view: bool
    fast_motion: bool
    static_camera: bool

    def attributes(self) -> list[str]:
        """Sequence-level challenge attributes, named as in the README table."""
        names = ["scale_variation"]
        names += ["low_illumination"] * self.night + ["distractor"] * (self.n_distractors > 0)
        names += [f"{self.occlusion}_occlusion"] * (self.occlusion != "none")
        names += ["out_of_view"] * self.out_of_view + ["fast_motion"] * self.fast_motion
        return sorted(names)


@dataclass
class Frame:
    """One rendered frame: images per modality, ground truth and per-frame tags."""

    rgb: np.ndarray  # (H, W, 3) uint8 BGR
    thermal: np.ndarray | None  # (H, W, 3) uint8
    depth: np.ndarray | None  # (H, W) uint16, millimetres
    intensity: np.ndarray  # (H, W) float32, true scene intensity for the event camera
    box: np.ndarray  # (4,) float64 x, y, w, h of the target's part inside the image
    absent: bool
    tags: dict[str, bool] = field(default_factory=dict)


def _path(rng: np.random.Generator, n: int, lo: np.ndarray, hi: np.ndarray, segment: int) -> np.ndarray:
    """A smooth random path: waypoints every `segment` frames, linearly joined, Gaussian-smoothed."""
    k = max(2, n // segment + 2)
    times = np.linspace(0, n - 1, k)
    points = rng.uniform(lo, hi, size=(k, 2))
    path = np.stack([np.interp(np.arange(n), times, points[:, d]) for d in range(2)], axis=1)
    sigma = max(1.0, segment / 4)
    radius = int(3 * sigma)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(path, ((radius, radius), (0, 0)), mode="edge")
    return np.stack([np.convolve(padded[:, d], kernel, mode="valid") for d in range(2)], axis=1)


def _exit_and_return(path: np.ndarray, rng: np.random.Generator, width: int, height: int, size: float) -> np.ndarray:
    """Make the target leave the frame across one edge for a stretch in the middle of the sequence."""
    n = len(path)
    start, length = int(n * rng.uniform(0.3, 0.5)), max(3, int(n * 0.2))
    edge = int(rng.integers(4))
    outside = {0: (-1.5 * size, None), 1: (width + 1.5 * size, None), 2: (None, -1.5 * size), 3: (None, height + 1.5 * size)}[edge]
    ramp = max(2, length // 2)
    weights = np.zeros(n)
    weights[start:start + length] = 1.0
    weights[max(0, start - ramp):start] = np.linspace(0, 1, min(ramp, start))
    weights[start + length:start + length + ramp] = np.linspace(1, 0, len(weights[start + length:start + length + ramp]))
    out = path.copy()
    for d, value in enumerate(outside):
        if value is not None:
            out[:, d] = (1 - weights) * path[:, d] + weights * value
    return out


class SceneRenderer:
    """Renders the frames of one SceneSpec; all randomness comes from the rng given at creation."""

    def __init__(self, spec: SceneSpec, rng: np.random.Generator, *, thermal: bool, depth: bool,
                 thermal_contrast: float = 0.5):
        self.spec, self.rng = spec, rng
        self.want_thermal, self.want_depth = thermal, depth
        w, h = spec.width, spec.height
        self.canvas = background_texture(rng, h + 2 * PAN, w + 2 * PAN)
        self.heat_field = 0.25 + 0.15 * smooth_noise(rng, h + 2 * PAN, w + 2 * PAN, 32)[..., 0]
        rows = np.linspace(0, 1, h + 2 * PAN, dtype=np.float32)[:, None]
        self.depth_field = 7000 - 4000 * rows + 400 * (smooth_noise(rng, h + 2 * PAN, w + 2 * PAN, 16)[..., 0] - 0.5)
        self.texture = object_texture(rng, SPRITE)
        self.mask = object_mask("ellipse" if rng.random() < 0.5 else "rect", SPRITE)
        side = float(rng.uniform(0.10, 0.17) * np.sqrt(w * h))
        aspect = float(np.exp(rng.uniform(-0.4, 0.4)))
        self.base_size = np.array([side * np.sqrt(aspect), side / np.sqrt(aspect)])
        margin = self.base_size.max() * 0.7
        lo, hi = np.array([margin, margin]), np.array([w - margin, h - margin])
        segment = 8 if spec.fast_motion else 25
        self.centres = _path(rng, spec.n_frames, lo, hi, segment)
        if spec.out_of_view:
            self.centres = _exit_and_return(self.centres, rng, w, h, float(self.base_size.max()))
        phase, period = rng.uniform(0, 2 * np.pi), rng.uniform(30, 80)
        t = np.arange(spec.n_frames)
        self.scales = np.exp(0.3 * np.sin(2 * np.pi * t / period + phase))
        self.angles = rng.uniform(-20, 20) + rng.uniform(-1.5, 1.5) * t
        self.pan = np.zeros((spec.n_frames, 2)) if spec.static_camera else _path(
            rng, spec.n_frames, np.array([-PAN + 2, -PAN + 2]), np.array([PAN - 2, PAN - 2]), 40)
        self.target_depth = rng.uniform(1500, 2500) + 150 * np.sin(2 * np.pi * t / period)
        self.target_heat = 0.35 + thermal_contrast
        self.distractors = [self._distractor(lo, hi) for _ in range(spec.n_distractors)]
        self.occluder = self._occluder() if spec.occlusion != "none" else None
        self.gain = float(rng.uniform(0.10, 0.22)) if spec.night else 1.0

    def attributes(self) -> list[str]:
        """The spec's attributes, less occlusion where the sequence was too short to fit the occluder."""
        names = self.spec.attributes()
        return names if self.occluder is not None else [a for a in names if not a.endswith("_occlusion")]

    def _distractor(self, lo: np.ndarray, hi: np.ndarray) -> dict:
        n = self.spec.n_frames
        path = np.repeat(self.rng.uniform(lo, hi, size=(1, 2)), n, axis=0) if self.spec.static_camera else _path(
            self.rng, n, lo, hi, 25)
        tint = self.rng.uniform(0.9, 1.1, size=3).astype(np.float32)
        return {"centres": path, "texture": np.clip(self.texture * tint, 0, 1), "angle": float(self.rng.uniform(-30, 30)),
                "scale": float(self.rng.uniform(0.85, 1.15)), "depth": float(self.rng.uniform(4000, 6000))}

    def _occluder(self) -> dict | None:
        n = self.spec.n_frames
        size = float(self.base_size.max() * self.scales.max())
        width = 1.6 * size if self.spec.occlusion == "full" else 0.45 * size
        speed = float(self.rng.uniform(3.0, 5.0)) * self.rng.choice([-1, 1])  # crosses the target in ~10-20 frames
        # the bar must still be clear of the target at frame 0: trackers initialise there
        t_first = int(np.ceil((width / 2 + size) / abs(speed))) + 1
        if t_first >= n - 1:
            return None
        t_mid = int(self.rng.integers(max(n // 4, t_first), max(max(n // 4, t_first) + 1, 3 * n // 4)))
        vertical = bool(self.rng.random() < 0.5)
        axis = 0 if vertical else 1
        start = self.centres[t_mid, axis] - speed * t_mid
        texture = 0.3 + 0.2 * smooth_noise(self.rng, self.spec.height, self.spec.width, 6, 1)[..., 0]
        clear = width / 2 + size / 2  # bar and target apart
        if abs(start - self.centres[0, axis]) < clear:  # the target moved: the bar would cover it at frame 0
            speed, start = -speed, self.centres[t_mid, axis] + speed * t_mid  # come from the other side
            if abs(start - self.centres[0, axis]) < clear:
                return None
        return {"axis": axis, "start": start, "speed": speed, "width": width, "texture": texture}

    def _warp(self, image: np.ndarray, centre: np.ndarray, size: np.ndarray, angle: float) -> np.ndarray:
        """Place a SPRITE x SPRITE image at `centre` with `size` (w, h) and rotation `angle` (degrees)."""
        rad = np.deg2rad(angle)
        rot = np.array([[np.cos(rad), -np.sin(rad)], [np.sin(rad), np.cos(rad)]])
        linear = rot @ np.diag(size / SPRITE)
        offset = centre - linear @ np.array([SPRITE / 2, SPRITE / 2])
        matrix = np.hstack([linear, offset[:, None]]).astype(np.float32)
        return cv2.warpAffine(image, matrix, (self.spec.width, self.spec.height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def _view(self, field: np.ndarray, t: int) -> np.ndarray:
        dx, dy = (self.pan[t] + PAN).round().astype(int)
        return field[dy:dy + self.spec.height, dx:dx + self.spec.width]

    def _occluder_mask(self, t: int) -> np.ndarray:
        occ = self.occluder
        mask = np.zeros((self.spec.height, self.spec.width), np.float32)
        if occ is None:
            return mask
        centre = occ["start"] + occ["speed"] * t
        lo, hi = int(round(centre - occ["width"] / 2)), int(round(centre + occ["width"] / 2))
        if occ["axis"] == 0:
            mask[:, max(0, lo):max(0, hi)] = 1.0
        else:
            mask[max(0, lo):max(0, hi), :] = 1.0
        return mask

    def _composite(self, t: int, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """RGB in [0, 1], the target's alpha, and the occluder mask at frame t."""
        rgb = self._view(self.canvas, t).copy()
        for d in self.distractors:
            alpha = self._warp(self.mask, d["centres"][t], self.base_size * d["scale"], d["angle"])[..., None]
            rgb = rgb * (1 - alpha) + self._warp(d["texture"], d["centres"][t], self.base_size * d["scale"], d["angle"]) * alpha
        size = self.base_size * self.scales[t]
        alpha = self._warp(self.mask, centre, size, self.angles[t])
        rgb = rgb * (1 - alpha[..., None]) + self._warp(self.texture, centre, size, self.angles[t]) * alpha[..., None]
        occ = self._occluder_mask(t)
        if self.occluder is not None:
            rgb = rgb * (1 - occ[..., None]) + self.occluder["texture"][..., None] * occ[..., None]
        return rgb, alpha, occ

    def frames(self) -> Iterator[Frame]:
        """Render every frame in order."""
        spec = self.spec
        full_area = float(self.mask.mean()) * SPRITE * SPRITE
        for t in range(spec.n_frames):
            rgb, alpha, occ = self._composite(t, self.centres[t])
            intensity = cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_BGR2GRAY)
            if spec.fast_motion and t > 0:  # motion blur: the exposure integrates the path since t-1
                for step in (1 / 3, 2 / 3):
                    between = self.centres[t - 1] + step * (self.centres[t] - self.centres[t - 1])
                    rgb = rgb + self._composite(t, between)[0]
                rgb = rgb / 3
            box, absent, tags = self._ground_truth(alpha, occ, full_area * np.prod(self.base_size * self.scales[t]) / SPRITE ** 2)
            observed = rgb * self.gain
            if spec.night:
                observed = observed + self.rng.normal(0, 0.035, size=observed.shape).astype(np.float32)
            tags["low_illumination"] = spec.night
            tags["fast_motion"] = spec.fast_motion
            yield Frame(
                rgb=_to_uint8(observed),
                thermal=self._thermal(t, alpha, occ) if self.want_thermal else None,
                depth=self._depth(t, alpha, occ) if self.want_depth else None,
                intensity=intensity,
                box=box,
                absent=absent,
                tags=tags,
            )

    def _ground_truth(self, alpha: np.ndarray, occ: np.ndarray, full_area: float) -> tuple[np.ndarray, bool, dict]:
        inside = alpha > 0.5
        area_inside = float(inside.sum())
        visible = float((inside & (occ < 0.5)).sum())
        in_frame = area_inside / max(full_area, 1.0)
        visibility = visible / max(area_inside, 1.0)
        absent = in_frame < 0.1 or visibility < 0.1
        tags = {"out_of_view": in_frame < 0.5, "full_occlusion": bool(area_inside) and visibility < 0.1,
                "partial_occlusion": 0.1 <= visibility < 0.9}
        if absent or not area_inside:
            return np.zeros(4), True, tags
        ys, xs = np.nonzero(inside)
        box = np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], dtype=np.float64)
        return box, False, tags

    def _thermal(self, t: int, alpha: np.ndarray, occ: np.ndarray) -> np.ndarray:
        heat = self._view(self.heat_field, t).copy()
        for d in self.distractors:
            d_alpha = self._warp(self.mask, d["centres"][t], self.base_size * d["scale"], d["angle"])
            heat = heat * (1 - d_alpha) + 0.38 * d_alpha  # look-alikes are at ambient temperature
        glow = cv2.GaussianBlur(alpha, (0, 0), 2.0)
        heat = heat * (1 - glow) + self.target_heat * glow
        heat = heat * (1 - occ) + 0.12 * occ  # a cold occluder blocks the target's heat
        heat = heat + self.rng.normal(0, 0.02, size=heat.shape).astype(np.float32)
        gray = _to_uint8(heat)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)

    def _depth(self, t: int, alpha: np.ndarray, occ: np.ndarray) -> np.ndarray:
        depth = self._view(self.depth_field, t).copy()
        for d in self.distractors:
            d_alpha = self._warp(self.mask, d["centres"][t], self.base_size * d["scale"], d["angle"])
            depth = np.where(d_alpha > 0.5, d["depth"], depth)
        depth = np.where(alpha > 0.5, self.target_depth[t], depth)
        depth = np.where(occ > 0.5, 900.0, depth)  # occluders are nearer than the target
        depth = depth + self.rng.normal(0, 25, size=depth.shape)
        holes = self.rng.random(depth.shape) < 0.01  # sensor drop-outs read as 0
        depth[holes] = 0
        return np.clip(depth, 0, 65535).astype(np.uint16)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
