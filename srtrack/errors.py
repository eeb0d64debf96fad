"""The one exception hierarchy of srtrack, and the problem records that data validation collects.

Every error names the thing, where it is (file, line or dotted config key) and what was expected,
so that a user can fix the input without reading our code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence


EXIT_DATA_ERROR = 1  # bad data, a filesystem fault, a server that does not answer
EXIT_CONFIG_ERROR = 2  # a configuration or argument to fix


class SrtrackError(Exception):
    """Base class of every error srtrack raises on purpose."""


class ConfigError(SrtrackError):
    """The configuration is invalid: wrong type, unknown key, missing value or missing path."""


class CheckpointError(SrtrackError):
    """A checkpoint file cannot be read or does not fit the model."""


class ResumeError(SrtrackError):
    """A run cannot be resumed from its checkpoint."""


class FileSystemError(SrtrackError):
    """A file or folder cannot be read or written: full disk, read-only or missing folder, not a file."""


class TrackingServerUnavailable(SrtrackError):
    """The MLflow tracking server does not answer (refused credentials are a ConfigError)."""


MESSAGE_CHARS = 2000  # a problem's message is cut beyond this (a 50 MB line must not flood the terminal)
QUOTE_CHARS = 60  # characters of a bad line shown around its first bad field


def quote(text: str, column: int = 0) -> str:
    """`text` in quotes for a message: whole if short, else a window around the 0-based `column`, with
    the line's length and the column (1-based) so that an editor can find it."""
    if len(text) <= QUOTE_CHARS:
        return repr(text)
    start = max(0, min(column - QUOTE_CHARS // 3, len(text) - QUOTE_CHARS))
    window = text[start:start + QUOTE_CHARS]
    return (f"{'...' if start else ''}{window!r}{'...' if start + QUOTE_CHARS < len(text) else ''} "
            f"({len(text):,} characters; column {column + 1})")


def shown(text: str) -> str:
    """`text` with every non-ASCII character escaped (`\\u0430`), so that a look-alike letter in a key
    (Cyrillic a for Latin a) does not print exactly like the real key."""
    return text if text.isascii() else text.encode("ascii", "backslashreplace").decode("ascii")


def lookalike_note(text: str) -> str:
    """For a message about `text`: which non-ASCII characters it holds (a look-alike letter typed into
    a key), or "" for plain ASCII."""
    import unicodedata

    odd = sorted({c for c in text if not c.isascii()})
    if not odd:
        return ""
    names = ", ".join(f"{ascii(c)[1:-1]} is {unicodedata.name(c, 'an unnamed character')}" for c in odd[:5])
    return f" (non-ASCII character(s) shown escaped: {names})"


def describe_os_error(exc: OSError, path: object = None) -> str:
    """`<path>: <cause>` for an OSError, naming the path even where the OS did not (a failed write)."""
    import errno

    where = exc.filename if exc.filename is not None else path if path is not None else "a file"
    cause = exc.strerror or str(exc)
    name = errno.errorcode.get(exc.errno or 0)
    hint = {errno.ENOSPC: "free space on that filesystem or write elsewhere",
            errno.EDQUOT: "your disk quota is used up",
            errno.EROFS: "the filesystem is mounted read-only",
            errno.EACCES: "you lack permission there",
            errno.ELOOP: "a symbolic link points back to itself"}.get(exc.errno or 0)
    return f"{where}: {cause}" + (f" ({name}{'; ' + hint if hint else ''})" if name else "")


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
        message = self.message if len(self.message) <= MESSAGE_CHARS else \
            f"{self.message[:MESSAGE_CHARS]}... (message cut at {MESSAGE_CHARS:,} of {len(self.message):,} characters)"
        return f"{self.severity}: {where}{message}"


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
