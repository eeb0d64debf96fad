"""`python -m srtrack.trax_tracker ini`: the tracker's entry in a VOT workspace's trackers.ini."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from conftest import DEFAULT_CONFIG
from srtrack import trax_tracker


def test_the_entry_runs_this_interpreter_on_absolute_paths_and_replaces_its_own_section(tmp_path: Path,
                                                                                         monkeypatch, capsys) -> None:
    checkpoint = tmp_path / "model.pth"
    checkpoint.write_bytes(b"weights")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "trackers.ini").write_text("[theirs]\nlabel = theirs\nprotocol = trax\ncommand = their_tracker\n")
    monkeypatch.chdir(tmp_path)  # relative paths on the command line: the entry holds them absolute
    for modality in ("rgbt", "rgbd"):  # the second call replaces the first entry
        assert trax_tracker.main(["ini", "--config", str(DEFAULT_CONFIG), "--set", "evaluate.batch=1", "--checkpoint",
                                  "model.pth", "--modality", modality, "--workspace", "ws", "--name", "mine"]) == 0
    entries = configparser.ConfigParser(interpolation=None)
    entries.read(workspace / "trackers.ini")
    assert entries.sections() == ["theirs", "mine"] and entries["theirs"]["command"] == "their_tracker"
    command = shlex.split(entries["mine"]["command"])
    assert command[1:4] == ["-m", "srtrack.trax_tracker", "run"] and Path(command[0]).is_absolute()
    assert command[command.index("--checkpoint") + 1] == str(checkpoint.resolve())
    assert command[command.index("--modality") + 1] == "rgbd" and "evaluate.batch=1" in command
    assert entries["mine"]["protocol"] == "trax" and int(entries["mine"]["timeout"]) >= 30
    # a missing checkpoint or a broken config: an error now, nothing written
    assert trax_tracker.main(["ini", "--config", str(DEFAULT_CONFIG), "--checkpoint", "gone.pth", "--modality",
                              "rgbd", "--workspace", "other"]) != 0
    assert "gone.pth" in capsys.readouterr().err and not (tmp_path / "other").exists()
    assert trax_tracker.main(["ini", "--config", str(DEFAULT_CONFIG), "--set", "evaluate.batch=-3", "--checkpoint",
                              "model.pth", "--modality", "rgbd", "--workspace", "other"]) == 2
    assert not (tmp_path / "other").exists()
