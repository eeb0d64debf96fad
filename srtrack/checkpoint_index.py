"""What a checkpoint file names, read from its index without loading a tensor or running anything:
the pickle of a PyTorch zip file, the tensor names of a checkpoint. Torch-free (the Snakefile's
pre-flight reads it)."""

from __future__ import annotations

import json
import pickletools
import struct
import zipfile
from pathlib import Path


def zip_pickle(path: Path) -> bytes | None:
    """The pickle (`data.pkl`) of a PyTorch zip checkpoint, None for a zip without one;
    zipfile.BadZipFile for a file that is no zip (the legacy format is one pickle after another)."""
    with zipfile.ZipFile(path) as archive:
        name = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
        return archive.read(name) if name is not None else None


def tensor_names(path: Path) -> set[str]:
    """The key strings of a checkpoint: a safetensors header, or the strings of a PyTorch zip file's
    pickle (its state-dict keys among them), found by walking its opcodes."""
    if zipfile.is_zipfile(path):
        data = zip_pickle(path)
        if data is None:
            raise ValueError("a zip file without data.pkl")
        return {arg for op, arg, _ in pickletools.genops(data) if isinstance(arg, str) and "UNICODE" in op.name}
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if 0 < length < 100 * 2 ** 20:
            header = json.loads(handle.read(length))
            return {k for k in header if k != "__metadata__"}
    raise ValueError("neither a safetensors file nor a PyTorch zip checkpoint")
