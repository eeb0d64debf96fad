"""Tiny fixture sequences written in each real benchmark layout, independently of srtrack's readers.

Each builder writes one sequence of `n` frames (64x48 images) with a known box track and returns
the sequence folder. The layouts follow the benchmarks as they ship; they are spelled out
here on purpose (not taken from srtrack) so that the tests check the readers against the layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np

WIDTH, HEIGHT = 64, 48


def boxes(n: int) -> np.ndarray:
    """The fixture track: a 20x16 box moving right by one pixel a frame."""
    return np.array([[10 + i, 12, 20, 16] for i in range(n)], dtype=np.float64)


def write_image(path: Path, value: int = 100, *, depth: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if depth:
        image = np.full((HEIGHT, WIDTH), 1000 + value, dtype=np.uint16)
    else:
        image = np.full((HEIGHT, WIDTH, 3), value, dtype=np.uint8)
    assert cv2.imwrite(str(path), image), path


def write_rows(path: Path, rows: np.ndarray | list, sep: str = ",", fmt: str = "{:g}") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [sep.join(fmt.format(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def write_lines(path: Path, values: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(str(v) for v in values) + "\n")


def lasher(root: Path, name: str = "seq1", n: int = 5, naming: str = "prefixed") -> Path:
    seq = root / name
    for i in range(n):
        rgb, ir = (f"v{i:03d}.jpg", f"i{i:03d}.jpg") if naming == "prefixed" else (f"{i + 1:06d}.jpg",) * 2
        write_image(seq / "visible" / rgb)
        write_image(seq / "infrared" / ir, 200)
    for gt in ("visible.txt", "infrared.txt", "init.txt"):
        write_rows(seq / gt, boxes(n).astype(int), fmt="{}")
    write_rows(root / "AttriSeqsTxt" / f"{name}.txt", [[0, 1, 0, 0, 0, 1] + [0] * 13], sep=",", fmt="{}")
    return seq


def rgbt234(root: Path, name: str = "seq1", n: int = 5) -> Path:
    seq = root / name
    for i in range(n):
        write_image(seq / "visible" / f"{i + 1:05d}v.jpg")
        write_image(seq / "infrared" / f"{i + 1:05d}i.jpg", 200)
    write_rows(seq / "visible.txt", boxes(n).astype(int), fmt="{}")
    write_rows(seq / "infrared.txt", (boxes(n) + [1, 0, 0, 0]).astype(int), fmt="{}")
    write_rows(seq / "init.txt", boxes(n).astype(int), fmt="{}")
    return seq


def gtot(root: Path, name: str = "seq1", n: int = 5) -> Path:
    seq = root / name
    for i in range(n):
        write_image(seq / "v" / f"{i + 1:05d}.png")
        write_image(seq / "i" / f"{i + 1:05d}.png", 200)
    b = boxes(n)
    corners = np.c_[b[:, :2], b[:, :2] + b[:, 2:]].astype(int)
    write_rows(seq / "groundTruth_v.txt", corners, sep=" ", fmt="{}")
    write_rows(seq / "groundTruth_i.txt", corners, sep=" ", fmt="{}")
    write_rows(seq / "init.txt", b.astype(int), sep="\t", fmt="{}")
    return seq


def depthtrack(root: Path, name: str = "seq1", n: int = 5) -> Path:
    seq = root / name
    for i in range(n):
        write_image(seq / "color" / f"{i + 1:08d}.jpg")
        write_image(seq / "depth" / f"{i + 1:08d}.png", i, depth=True)
    rows = [",".join(f"{v:g}" for v in row) for row in boxes(n)]
    rows[2] = "nan,nan,nan,nan"  # absent frame, VOT style
    (seq / "groundtruth.txt").write_text("\n".join(rows) + "\n")
    write_lines(seq / "full-occlusion.tag", [int(i == 2) for i in range(n)])
    return seq


def vot_rgbd22(root: Path, name: str = "seq1", n: int = 5) -> Path:
    seq = depthtrack(root, name, n)
    (seq / "sequence").write_text("channels.color=color/%08d.jpg\nchannels.depth=depth/%08d.png\n"
                                  f"width={WIDTH}\nheight={HEIGHT}\nlength={n}\n")
    write_lines(seq / "anchor.value", [1] + [0] * (n - 2) + [-1])
    list_file = root / "list.txt"
    existing = list_file.read_text().split() if list_file.exists() else []
    write_lines(list_file, existing + [name])
    return seq


def visevent(root: Path, name: str = "seq1", n: int = 5) -> Path:
    seq = root / name
    for i in range(n):
        write_image(seq / "vis_imgs" / f"{i + 1:05d}.bmp")
        write_image(seq / "event_imgs" / f"{i + 1:05d}.bmp", 200)
    b = boxes(n) + 0.5  # VisEvent boxes are fractional
    b[3] = 0  # absent frame: zero row, flag 0
    write_rows(seq / "groundtruth.txt", b)
    write_lines(seq / "absent_label.txt", [1, 1, 1, 0, 1][:n] + [1] * max(0, n - 5))
    return seq


def coesot(root: Path, name: str = "seq1", n: int = 5) -> Path:
    seq = root / name
    for i in range(n):
        write_image(seq / f"{name}_aps" / f"frame{i:04d}.png")
        write_image(seq / f"{name}_dvs" / f"frame{i:04d}.png", 200)
    b = boxes(n)
    b[0] = 0  # COESOT sequences may start absent
    write_rows(seq / "groundtruth.txt", b)
    write_lines(seq / "absent.txt", [0] + [1] * (n - 1))
    write_lines(seq / "start_end_index.txt", [0, n - 1])
    return seq


def fe108(root: Path, name: str = "seq1", n: int = 5) -> Path:
    seq = root / name
    for i in range(n):
        write_image(seq / "img" / f"{i + 1:04d}.jpg")
        write_image(seq / "evimg" / f"{i + 1:04d}.jpg", 200)
    write_rows(seq / "groundtruth_rect.txt", boxes(n).astype(int), fmt="{}")
    return seq


def got10k(root: Path, name: str = "seq1", n: int = 5, folder: str = "train") -> Path:
    """A sequence in GOT-10k's `folder` (train, or val for srtrack's test split) under the GOT-10k root."""
    root = root / folder
    seq = root / name
    for i in range(n):
        write_image(seq / f"{i + 1:08d}.jpg")
    b = boxes(n)
    b[1] = 0  # absent frame: absence.label 1
    write_rows(seq / "groundtruth.txt", b.astype(int), fmt="{}")
    write_lines(seq / "absence.label", [int(i == 1) for i in range(n)])
    write_lines(seq / "cover.label", [0 if i == 1 else 8 for i in range(n)])
    existing = (root / "list.txt").read_text().split() if (root / "list.txt").exists() else []
    write_lines(root / "list.txt", existing + [name])
    return seq


BUILDERS: dict[str, Callable[..., Path]] = {
    "got10k": got10k,
    "lasher": lasher,
    "rgbt234": rgbt234,
    "gtot": gtot,
    "depthtrack": depthtrack,
    "vot_rgbd22": vot_rgbd22,
    "visevent": visevent,
    "coesot": coesot,
    "fe108": fe108,
}

# where each fixture marks the target absent (0-based frame indices)
ABSENT_FRAMES: dict[str, list[int]] = {
    "got10k": [1], "lasher": [], "rgbt234": [], "gtot": [], "depthtrack": [2], "vot_rgbd22": [2], "visevent": [3], "coesot": [0],
    "fe108": [],
}
