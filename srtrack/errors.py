"""The one exception hierarchy of srtrack, and the problem records that data validation collects.

Every error names the thing, where it is (file, line or dotted config key) and what was expected,
so that a user can fix the input without reading our code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence


class SrtrackError(Exception):
    """Base class of every error srtrack raises on purpose."""


class ConfigError(SrtrackError):
    """The configuration is invalid: wrong type, unknown key, missing value or missing path."""


class CheckpointError(SrtrackError):
    """A checkpoint file cannot be read or does not fit the model."""


class ResumeError(SrtrackError):
    """A run cannot be resumed from its checkpoint."""


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding about an input file: where it is and what was expected."""

    severity: Severity
    path: Path | None
    message: str
    line: int | None = None  # 1-based, as editors show it

    def __str__(self) -> str:
        where = "" if self.path is None else f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        return f"{self.severity}: {where}{self.message}"


class DatasetFormatError(SrtrackError):
    """A benchmark on disk does not have the expected layout; carries every problem found."""

    def __init__(self, problems: Sequence[Problem] | Problem | str, path: Path | None = None):
        if isinstance(problems, str):
            problems = [Problem("error", path, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


LINES_PER_FILE = 20  # line-level problems listed per file and severity; the rest are counted


@dataclass
class ProblemLog:
    """Collects problems so that one pass reports all of them instead of stopping at the first.

    A file with many bad lines gets its first LINES_PER_FILE listed and one line counting the rest,
    so a broken million-line file does not print a million lines.
    """

    items: list[Problem] = field(default_factory=list)
    _per_file: dict = field(default_factory=dict, repr=False)

    def _add(self, severity: Severity, path: Path | None, message: str, line: int | None) -> None:
        if path is None or line is None:
            self.items.append(Problem(severity, path, message, line))
            return
        key = (severity, path)
        count, summary = self._per_file.get(key, (0, None))
        count += 1
        if count <= LINES_PER_FILE:
            self.items.append(Problem(severity, path, message, line))
        else:
            problem = Problem(severity, path, f"... and {count - LINES_PER_FILE} more line(s) with problems, not listed")
            if summary is None:
                summary = len(self.items)
                self.items.append(problem)
            else:
                self.items[summary] = problem
        self._per_file[key] = (count, summary)

    def error(self, path: Path | None, message: str, line: int | None = None) -> None:
        self._add("error", path, message, line)

    def warning(self, path: Path | None, message: str, line: int | None = None) -> None:
        self._add("warning", path, message, line)

    def extend(self, problems: Sequence[Problem]) -> None:
        self.items.extend(problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "warning"]
