"""`python -m srtrack.export`: our tracker as .safetensors (the shipped RGB tracker), read back safely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from srtrack import export
from srtrack.config import load_config
from srtrack.errors import CheckpointError
from srtrack.io import file_sha256
from srtrack.models.files import read_checkpoint, save_tracker, source_note
from srtrack.models.networks import network_for
from srtrack.models.spec import spec_from_config


@pytest.fixture
def pretrained(tmp_path: Path, tmp_config) -> tuple[list[str], Path]:
    """A pre-training run's folder: model.pth (random ostrack_tiny weights) and its metrics.json."""
    config = tmp_config()
    cfg = load_config(config)
    torch.manual_seed(3)
    spec = spec_from_config(cfg.model, "ostrack_tiny")
    run = tmp_path / "pretrain"
    run.mkdir()
    (run / "model.pth").write_bytes(save_tracker(spec.build(), spec.to_dict(), "c0ffee"))
    (run / "metrics.json").write_text(json.dumps({"run_key": "k123", "steps": 7, "probe_after": {"iou": 0.5}}))
    return [a for path in config for a in ("--config", str(path))], run / "model.pth"


def test_export_keeps_weights_and_network_and_records_provenance(pretrained, tmp_path: Path) -> None:
    args, source = pretrained
    out = tmp_path / "ship" / "rgb.safetensors"
    assert export.main([*args, "--checkpoint", str(source), "--out", str(out)]) == 0
    original, shipped = read_checkpoint(source), read_checkpoint(out)
    assert shipped.network == original.network and shipped.state.keys() == original.state.keys()
    assert all(torch.equal(shipped.state[k], v) for k, v in original.state.items())
    record = json.loads((tmp_path / "ship" / "rgb.json").read_text())
    assert record["sha256"] == file_sha256(out) and record["source_sha256"] == file_sha256(source)
    assert record["run_key"] == "k123" and record["seed"] == 0 and record["rebuild"] == export.REBUILD
    assert set(record["config"]) == set(export.PROVENANCE_SECTIONS) and not {"pretrained", "name"} & set(record["model"])
    assert record["network"] == "ostrack_tiny"
    assert shipped.meta["provenance"]["source_sha256"] == record["source_sha256"]
    # what a run that starts from the file records of it (no run of the store wrote it)
    assert source_note(out) == (f"rgb.safetensors: exported by srtrack.export from model.pth (sha256 "
                                f"{record['source_sha256'][:12]}), run key k123, 7 steps of ostrack_tiny, seed 0; "
                                f"rebuild: {export.REBUILD}")
    assert source_note(source) == ("model.pth: an external checkpoint (not written by a run of this store; its "
                                   "sha256 is on the run)")
    # the file starts a run as our own network, with every weight loaded as it is
    model, spec, report = network_for(load_config([Path(a) for a in args[1::2]]).model, out)
    assert spec.name == "ostrack_tiny" and not report.missing and not report.unexpected
    assert all(torch.equal(model.state_dict()[k], v) for k, v in original.state.items())


def test_export_refuses_foreign_files_and_names(pretrained, tmp_path: Path, capsys) -> None:
    args, source = pretrained
    released = tmp_path / "released.pth"
    torch.save({"net": read_checkpoint(source).state}, released)
    assert export.main([*args, "--checkpoint", str(released), "--out", str(tmp_path / "x.safetensors")]) == 1
    assert "not an srtrack tracker file" in capsys.readouterr().err
    assert export.main([*args, "--checkpoint", str(source), "--out", str(tmp_path / "x.pth")]) == 2
    assert "must end in .safetensors" in capsys.readouterr().err


def test_a_broken_safetensors_file_is_a_checkpoint_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(CheckpointError, match="cannot be read as safetensors"):
        read_checkpoint(broken)
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "missing.safetensors")
