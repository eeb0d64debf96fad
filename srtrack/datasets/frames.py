"""List the frames of one modality folder: numeric order, one naming scheme, no gaps."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from srtrack.errors import ProblemLog

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "bmp")
# prefix letters + frame number + suffix letters: v000.jpg, 000001.jpg, 00001v.jpg, frame0000.bmp
_FRAME_RE = re.compile(r"^(?P<prefix>[A-Za-z_]*?)(?P<num>\d+)(?P<suffix>[A-Za-z_]*)\.(?P<ext>[A-Za-z]+)$")
_IGNORED = {"Thumbs.db", ".DS_Store", "desktop.ini"}


def frame_naming(path: Path) -> str:
    """A short description of a frame file's naming scheme, e.g. `v%03d.jpg` for v000.jpg."""
    m = _FRAME_RE.match(path.name)
    if m is None:
        return path.name
    return f"{m['prefix']}%0{len(m['num'])}d{m['suffix']}.{m['ext']}"


def list_frames(folder: Path, log: ProblemLog, *, what: str) -> tuple[Path, ...]:
    """Frames of `folder` in numeric order; problems go to `log` (nothing is raised here).

    Checks: the folder exists and holds images, every image follows one naming scheme (prefix,
    digits, suffix, extension) and the frame numbers are consecutive (a gap is a missing frame).

    Args:
        folder: the modality folder, e.g. `<seq>/visible`.
        log: collects errors and warnings.
        what: the modality name used in messages.
    """
    if not folder.is_dir():
        log.error(folder, f"{what} frame folder is missing")
        return ()
    numbered: list[tuple[int, Path]] = []
    schemes: dict[str, list[str]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name in _IGNORED or entry.name.startswith("."):
            continue
        if entry.is_dir() or entry.suffix.lower().lstrip(".") not in IMAGE_EXTENSIONS:
            continue  # annotation files can share the folder (GOT-10k); they are not frames
        # a frame that is no regular file (a FIFO, a broken link) is listed: its header check names it
        m = _FRAME_RE.match(entry.name)
        if m is None:
            log.warning(entry, f"ignored: image without a frame number (expected e.g. 00000001.{entry.suffix.lstrip('.')})")
            continue
        schemes.setdefault(frame_naming(entry), []).append(entry.name)
        numbered.append((int(m["num"]), entry))
    if not numbered:
        log.error(folder, f"no {what} frames (expected image files named by frame number)")
        return ()
    if len(schemes) > 1:
        examples = ", ".join(f"{scheme} (e.g. {names[0]})" for scheme, names in sorted(schemes.items()))
        log.error(folder, f"{what} frames mix naming schemes: {examples}")
    numbered.sort()
    numbers = [n for n, _ in numbered]
    expected = range(numbers[0], numbers[0] + len(numbers))
    if numbers != list(expected):
        present = set(numbers)
        missing = [n for n in range(numbers[0], numbers[-1] + 1) if n not in present]
        duplicates = sorted(n for n, count in Counter(numbers).items() if count > 1)
        detail = []
        if missing:
            detail.append(f"missing frame number(s) {_short(missing)}")
        if duplicates:
            detail.append(f"duplicate frame number(s) {_short(duplicates)}")
        log.error(folder, f"{what} frames are not consecutive: {'; '.join(detail)}")
    return tuple(p for _, p in numbered)


def _short(values: list[int], limit: int = 5) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")
