"""Checkpoint files: read any tracker file safely, and write ours so that it says what network it holds.

Reading (`read_checkpoint`). Released OSTrack-family files (`OSTrack_ep0300.pth.tar`,
`DropTrack_k700_800E_alldata.pth.tar`, ViPT and SRTrack weights) are pytracking-style dicts that hold
Python objects of the training code beside `net` (`settings`, `stats`, `constructor`), which
`torch.load(weights_only=True)` refuses. We read them as they are, with torch's weights-only
unpickler and nothing else: the file's pickle program is scanned first (`pickletools`, which only
parses it), and every class or function it names beyond tensors, storages and plain containers gets
an inert placeholder, an empty class that stores its arguments and state and has no behaviour. So
only tensors and containers are built and nothing in the file is ever called. Names in modules that
torch blocks outright (`os`, `subprocess`, ...) are refused with an error, and never advised around.

A `.safetensors` file (the shipped RGB tracker of the embedded default, `export_tracker`) is read
with the safetensors parser, which holds no code at all; our `srtrack` record travels as JSON in its
metadata (`srtrack` key).

Writing (`save_tracker`). `model.pth` is `{"net": state_dict, "srtrack": {"format", "network", ...}}`:
the network section is a `NetworkSpec` (srtrack/models/spec.py) as plain data, so evaluation and
retention rebuild the very network from the file; files without it (older runs, released weights)
are described by the configuration instead.
"""

from __future__ import annotations

import io
import json
import pickletools
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from srtrack import __version__
from srtrack.checkpoint_index import zip_pickle
from srtrack.errors import CheckpointError

FORMAT = "srtrack-checkpoint/1"
WEIGHT_KEYS = ("net", "model", "state_dict")
_UNSUPPORTED = re.compile(r"GLOBAL (\S+) was not an allowed global")


@dataclass
class CheckpointFile:
    """What a checkpoint file holds: the weights, and the network it describes (ours only)."""

    path: Path
    state: dict[str, Tensor]
    network: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    placeholders: list[str] = field(default_factory=list)


class Inert:
    """A stand-in for a class or function named in a checkpoint: it keeps what it is given, does nothing."""

    qualified_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "Inert":
        instance = object.__new__(cls)
        instance.__dict__["_args"] = args
        return instance

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_state"] = state

    def __repr__(self) -> str:
        return f"<placeholder for {self.qualified_name}>"


def _placeholder(name: str) -> type[Inert]:
    return type(name.rsplit(".", 1)[-1], (Inert,), {"qualified_name": name, "__module__": "srtrack.placeholder"})


def named_globals(path: Path) -> set[str]:
    """`module.name` of every GLOBAL the file's pickle names, without unpickling anything."""
    try:
        data = zip_pickle(path) or b""
    except zipfile.BadZipFile:
        data = path.read_bytes()  # the legacy format: a sequence of pickles; the scan reads the first
    names = set()
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
            if opcode.name in ("GLOBAL", "INST") and isinstance(arg, str):
                names.add(arg.replace(" ", "."))
    except Exception:  # a truncated or foreign pickle: torch.load reports it below
        pass
    return names


def _torch_load(path: Path, placeholders: dict[str, type[Inert]]) -> Any:
    """torch's weights-only unpickler, with the placeholders allowed under their file names."""
    with torch.serialization.safe_globals([(cls, name) for name, cls in placeholders.items()]):
        return torch.load(path, map_location="cpu", weights_only=True)


def load_safely(path: Path) -> tuple[Any, list[str]]:
    """The file's object tree (see the module docstring) and the names that became placeholders."""
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty (0 bytes; an interrupted copy?)")
    from torch._weights_only_unpickler import _get_allowed_globals

    allowed = set(_get_allowed_globals())
    placeholders = {name: _placeholder(name) for name in sorted(named_globals(path) - allowed)}
    for _ in range(64):  # names the scan could not see (legacy files): one more placeholder per try
        try:
            return _torch_load(path, placeholders), sorted(placeholders)
        except Exception as exc:
            missing = _UNSUPPORTED.search(str(exc))
            # torch prints builtins names without their module
            name = None if missing is None else missing[1] if "." in missing[1] else f"builtins.{missing[1]}"
            if name is None or name in placeholders:
                raise CheckpointError(_read_error(path, exc)) from None
            placeholders[name] = _placeholder(name)
    raise CheckpointError(f"{path}: names too many Python objects to read")


def _read_error(path: Path, exc: Exception) -> str:
    # torch's message starts with advice to load with weights_only=False: keep only its reason
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if lines and lines[0].startswith("Weights only load failed"):
        lines = [re.sub(r"^WeightsUnpickler error: ", "", line) for line in lines[1:] if "documentation" not in line]
    text = lines[0] if lines else type(exc).__name__
    if "is blocked" in text or "Trying to call reduce" in text:
        return (f"{path}: refused: the file asks to run code ({text}); a tracker checkpoint holds tensors, "
                f"and srtrack never runs anything from a file")
    with open(path, "rb") as handle:
        broken_zip = handle.read(4) == b"PK\x03\x04" and not zipfile.is_zipfile(path)
    if broken_zip or isinstance(exc, (EOFError, zipfile.BadZipFile)) or "zip archive" in text \
            or "central directory" in text or "EOF" in text or "truncated" in text.lower():
        return f"{path}: cannot be read: the file is truncated or not a PyTorch checkpoint ({type(exc).__name__}: {text})"
    return f"{path}: cannot be read as a PyTorch checkpoint ({type(exc).__name__}: {text})"


SAFETENSORS_SUFFIX = ".safetensors"
META_KEY = "srtrack"


def load_safetensors(path: Path) -> tuple[dict[str, Any], list[str]]:
    """A `.safetensors` tracker as `{"net": tensors, "srtrack": record}` (the record from its metadata)."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with safe_open(str(path), framework="pt") as handle:
            state = {key: handle.get_tensor(key) for key in handle.keys()}
            text = (handle.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: cannot be read as safetensors ({exc})") from None
    try:
        meta = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: its metadata entry {META_KEY!r} is not JSON ({exc})") from None
    return {"net": state, META_KEY: meta}, []


def source_note(path: Path) -> str:
    """Where a checkpoint that no run of this store wrote comes from, in one line for a run's tag: an
    exported srtrack file's provenance (its source, run key, steps, seed and the command that rebuilds
    it, read from the metadata alone), else an external file."""
    provenance = None
    if path.name.endswith(SAFETENSORS_SUFFIX):
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                provenance = json.loads((handle.metadata() or {}).get(META_KEY) or "{}").get("provenance")
        except (SafetensorError, OSError, json.JSONDecodeError):
            provenance = None
    if not isinstance(provenance, dict):
        return f"{path.name}: an external checkpoint (not written by a run of this store; its sha256 is on the run)"
    return (f"{path.name}: exported by srtrack.export from {provenance.get('source')} (sha256 "
            f"{str(provenance.get('source_sha256'))[:12]}), run key {provenance.get('run_key')}, "
            f"{provenance.get('steps')} steps of {provenance.get('network')}, seed {provenance.get('seed')}; "
            f"rebuild: {provenance.get('rebuild')}")


def read_checkpoint(path: Path) -> CheckpointFile:
    """The weights of a tracker file (under `net`, `model` or `state_dict`, or the file itself) and,
    for our own files, the network they hold."""
    obj, placeholders = load_safetensors(path) if path.name.endswith(SAFETENSORS_SUFFIX) else load_safely(path)
    meta = obj.get(META_KEY) if isinstance(obj, dict) and isinstance(obj.get(META_KEY), dict) else {}
    state = obj
    for key in WEIGHT_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            state = obj[key]
            break
    if not isinstance(state, dict) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors (optionally under "
                              f"{', '.join(repr(k) for k in WEIGHT_KEYS)})")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{path}: {len(bad)} tensor(s) hold NaN or infinite values (first: {bad[0]}); "
                              f"the weights are broken (a diverged run?)")
    network = meta.get("network") if meta.get("format") == FORMAT else None
    return CheckpointFile(path, dict(state), network, dict(meta), placeholders)


def save_tracker(model: torch.nn.Module, network: dict[str, Any], config_sha256: str) -> bytes:
    """The bytes of our `model.pth`: the weights and what network they are (to be written atomically)."""
    buffer = io.BytesIO()
    torch.save({"net": model.state_dict(),
                "srtrack": {"format": FORMAT, "network": network, "in_chans": int(getattr(model, "in_chans", 3)),
                            "config_sha256": config_sha256, "srtrack_version": __version__}}, buffer)
    return buffer.getvalue()


def export_tracker(checkpoint: CheckpointFile, provenance: dict[str, Any]) -> bytes:
    """The bytes of a `.safetensors` copy of our tracker file: the same tensors and `srtrack` record,
    plus `provenance` (how it was made) in the record."""
    from safetensors.torch import save

    if checkpoint.network is None:
        raise CheckpointError(f"{checkpoint.path}: not an srtrack tracker file (no network record); only our own "
                              "model.pth files are exported")
    meta = {**checkpoint.meta, "provenance": provenance}
    state = {key: value.contiguous() for key, value in checkpoint.state.items()}
    return save(state, metadata={META_KEY: json.dumps(meta, sort_keys=True)})
