"""Which sequences make a split: a shipped list, a user's list file, or every sequence on disk."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Literal

from srtrack.errors import ConfigError, ProblemLog

Split = Literal["train", "test"]


@dataclass(frozen=True)
class ListSource:
    """Where a split's sequence names came from; recorded in the index."""

    kind: Literal["builtin", "all", "file"]
    location: str
    sha256: str
    n_names: int


def builtin_list_names() -> list[str]:
    """Names of the shipped lists, e.g. `lasher_test`."""
    folder = resources.files("srtrack.datasets.splits")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt"))


def escapes_root(name: str) -> bool:
    """A sequence name that is not one folder name inside the benchmark root (`..`, a path, absolute)."""
    return name in ("", ".", "..") or "/" in name or "\\" in name or "\x00" in name or Path(name).is_absolute()


def parse_list(text: str, origin: Path, log: ProblemLog) -> list[str]:
    """Sequence names from a list file's text: one per line, blank lines skipped.

    A name must stay inside the benchmark root: no path separators, no `.`/`..`, not absolute.
    Duplicates are errors. Every bad line is logged with its line number.
    """
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(text.splitlines()):
        name = raw.strip()
        if not name:
            continue
        if escapes_root(name):
            log.error(origin, f"sequence name {name!r} escapes the dataset root (expected a folder name)", i + 1)
            continue
        if name in seen:
            log.error(origin, f"duplicate sequence {name!r} (first on line {seen[name]})", i + 1)
            continue
        seen[name] = i + 1
        names.append(name)
    if not names and not log.errors:
        log.error(origin, "list is empty (expected one sequence name per line)")
    return names


def resolve_list(
    benchmark: str,
    split: Split,
    spec: str,
    discover: Callable[[], tuple[list[str], Path]],
    root: Path,
    log: ProblemLog,
    *,
    config_key: str,
) -> tuple[list[str], ListSource]:
    """Resolve a `train_list`/`test_list` config value into sequence names.

    Args:
        benchmark: reader name, used to find the shipped list `<benchmark>_<split>.txt`.
        split: train or test.
        spec: `builtin`, `all`, or a path to a list file (relative paths are relative to `root`).
        discover: the reader's way of listing every sequence on disk (names, and the file or folder
            they came from).
        root: the dataset root.
        log: collects per-line problems.
        config_key: the dotted config key, for error messages.
    """
    if spec == "builtin":
        resource = resources.files("srtrack.datasets.splits").joinpath(f"{benchmark}_{split}.txt")
        if not resource.is_file():
            raise ConfigError(
                f"{config_key}: srtrack ships no {split} list for {benchmark!r} (shipped: "
                f"{', '.join(builtin_list_names())}); set it to 'all' or to a list file"
            )
        text = resource.read_text(encoding="utf-8")
        origin = Path(f"<srtrack builtin>/{benchmark}_{split}.txt")
        kind: Literal["builtin", "all", "file"] = "builtin"
    elif spec == "all":
        names, origin = discover()
        text = "\n".join(names)
        kind = "all"
    else:
        origin = Path(spec) if Path(spec).is_absolute() else root / spec
        if not origin.is_file():
            shipped = resources.files("srtrack.datasets.splits").joinpath(f"{benchmark}_{split}.txt").is_file()
            hint = (f"; srtrack ships the released {split} list of {benchmark}: set {config_key} to builtin"
                    if shipped else "")
            raise ConfigError(f"{config_key}: list file {origin} does not exist (a relative list path is "
                              f"relative to the dataset root){hint}")
        try:
            text = origin.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            log.error(origin, f"not UTF-8 text ({exc.reason} at byte {exc.start}); expected one sequence name per line")
            return [], ListSource("file", str(origin), "", 0)
        kind = "file"
    names = parse_list(text, origin, log)
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()
    return names, ListSource(kind, str(origin), digest, len(names))
