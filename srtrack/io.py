"""Atomic file writes: a reader never sees a half-written artifact, even after kill -9."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def json_sha256(data: Any) -> str:
    """SHA-256 of data's canonical JSON (sorted keys; non-JSON values by str)."""
    import hashlib

    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`.

    The file gets the permissions a plain open() would give (mkstemp's are 0600, which would hide
    results from the rest of a research group on a shared cluster).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_umask())
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None:  # a failed write() names no file; the message must
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, from its `st_mode`, for messages."""
    import stat

    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def require_file(path: Path, what: str) -> None:
    """Refuse, before anything reads it, an input path that is not a readable regular file: missing,
    a broken or looping link, a folder, a pipe or device (ConfigError, a wrong argument), or
    unreadable (FileSystemError). `what` names the argument, e.g. `--checkpoint`."""
    import stat

    from srtrack.errors import ConfigError, FileSystemError, describe_os_error

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        broken = f" (a link to the missing {os.readlink(path)})" if os.path.islink(path) else ""
        raise ConfigError(f"{what} {path}: file not found{broken}") from None
    except OSError as exc:
        raise ConfigError(f"{what} {describe_os_error(exc, path)}") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{what} {path}: is {file_kind(mode)}, expected a file")
    if not os.access(path, os.R_OK):
        raise FileSystemError(f"{what} {path}: permission denied (cannot read the file)")


def prepare_output_dir(path: Path, what: str = "--out") -> None:
    """Create an output folder and prove it can be written, before a stage works for hours towards
    it: a file in its place is a ConfigError, a folder that cannot be created or written into (read-only,
    full, no permission) a FileSystemError naming the folder and the cause."""
    from srtrack.errors import ConfigError, FileSystemError, describe_os_error

    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path}: is a file, expected a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"{what} {path}: a part of the path is a file, expected folders") from None
    except OSError as exc:
        raise FileSystemError(f"cannot create {what} {describe_os_error(exc, path)}") from None
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise FileSystemError(f"cannot write into {what} {describe_os_error(exc, path)}") from None


STAGING_PREFIX = ".staging-"


class Publication:
    """A stage's result files, written into a staging folder inside `out` and moved into `out` only
    when every one of them was written (`with Publication(out, last="metrics.json") as pub:` then
    `pub.dir / name`). On failure the staging folder is removed: `out` keeps what it had and shows
    nothing partial. Moves within one folder need no space, so a full disk cannot break them half-way.
    `last` is moved last: the file that marks the stage done (Snakemake's output, the index)."""

    def __init__(self, out: Path, last: str | None = None):
        self.out, self.last = out, last
        self.dir = out

    def __enter__(self) -> "Publication":
        self.out.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(dir=self.out, prefix=STAGING_PREFIX))
        os.chmod(self.dir, 0o777 & ~_umask())
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        import shutil

        try:
            if exc_type is None:
                self._publish()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _publish(self) -> None:
        files = sorted((p for p in self.dir.rglob("*") if p.is_file()),
                       key=lambda p: (p.relative_to(self.dir).as_posix() == self.last, p.as_posix()))
        for path in files:
            target = self.final(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)

    def final(self, path: Path) -> Path:
        """Where a file written into the staging folder is once published."""
        return self.out / Path(path).relative_to(self.dir)


class FolderBusy(Exception):
    """Another live process holds the folder (see `hold_folder`)."""


@contextlib.contextmanager
def hold_folder(folder: Path, what: str) -> Iterator[None]:
    """Hold `folder` for this process while the block runs: a second process that asks (a second
    driver's job after a restart, the same command in another terminal) gets FolderBusy naming the
    holder, instead of writing the same files. An advisory lock of `<folder>/.lock`, which the kernel
    releases when the holder dies, so a killed run never leaves the folder locked."""
    import fcntl
    import socket
    import time

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise FolderBusy(f"{folder}: {holder} is {what} there; wait for it or stop it (two would write the same "
                             "files)") from None
        except OSError:  # a filesystem without locks: go on unprotected rather than not at all
            yield
            return
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()} (since {time.strftime('%Y-%m-%d %H:%M:%S')})")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
