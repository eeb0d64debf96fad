"""Hostile but realistic inputs through the real CLIs: one clear message, exit 1 (data) or 2
(configuration), and nothing partial left behind. The benchmark-layout cases are in
tests/datasets/test_malformed.py; the parsers get arbitrary bytes at the end."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import DEFAULT_CONFIG


# nine levels of nine aliases: 9^9 values once expanded, 9 short lines
BOMB = "[" + ", ".join(["&a0 [x, x, x, x, x, x, x, x, x]"] + [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]"
                                                                for i in range(1, 9)]) + "]"


@dataclass
class ConfigCase:
    files: dict[str, str]  # name -> YAML text, layered after config/config.yaml in this order
    sets: list[str]
    message: str  # regex searched in stderr


CONFIG_CASES = {
    "alias_bomb_in_a_file": ConfigCase({"bomb.yaml": "study:\n  variants:\n    boom: {method: srft, set: {x: " + BOMB + "}}\n"},
                                       [], r"bomb.yaml: YAML aliases \(\*name\) expand this to more than 100,000 values"),
    "alias_bomb_in_a_set_value": ConfigCase({}, ["method.m_min=" + BOMB],
                                            r"--set method.m_min=.*: YAML aliases \(\*name\) expand this"),
    "malformed_set_yaml": ConfigCase({}, ["train.epochs=[1"], r"--set train.epochs=\[1: not valid YAML"),
    "bad_value_blamed_on_its_file": ConfigCase(
        {"a.yaml": "train:\n  epochs: zero\n", "b.yaml": "train:\n  samples_per_epoch: 64\n"}, [],
        r"a.yaml:2: train.epochs: 'zero' is not of type 'integer'"),
    "bad_value_blamed_on_the_set": ConfigCase({"a.yaml": "train:\n  epochs: 3\n"}, ["train.epochs=-1"],
                                              r"--set train.epochs=-1: train.epochs: -1 is less than the minimum of 1"),
    "unknown_key_in_a_set": ConfigCase({}, ["train.epoch=3"], r"--set train.epoch=3: train.epoch: unknown key"),
    "float_seed": ConfigCase({"seed.yaml": "study:\n  seed: 1.0\n"}, [],
                             r"seed.yaml:2: study.seed: 1.0 is not an integer"),
    "config_not_utf8": ConfigCase({"latin.yaml": "study:\n  name: caf\xe9\n"}, [],
                                  r"latin.yaml: cannot be read as UTF-8 text"),
    "set_without_value": ConfigCase({}, ["=3"], r"override '=3': expected KEY=VALUE"),
    "missing_config_file": ConfigCase({"gone.yaml": ""}, [], r"gone.yaml: config file not found"),
    "lookalike_letter_in_a_set_key": ConfigCase({}, ["tr\u0430in.epochs=3"],
                                                r"override 'tr\\u0430in.epochs=3': no section 'tr\\u0430in' in the config "
                                                r"\(non-ASCII character\(s\) shown escaped: \\u0430 is CYRILLIC SMALL LETTER A\)"),
    "lookalike_letter_in_a_key": ConfigCase({}, ["train.ep\u043echs=3"],
                                            r"--set train.ep\\u043echs=3: train.ep\\u043echs: unknown key \(expected one of:"
                                            r".*\) \(non-ASCII character\(s\) shown escaped: \\u043e is CYRILLIC SMALL LETTER O\)"),
}


@pytest.mark.parametrize("case_id", sorted(CONFIG_CASES))
def test_bad_configurations_are_named_with_exit_2(case_id: str, tmp_path: Path, capsys) -> None:
    from srtrack import prepare

    case = CONFIG_CASES[case_id]
    files = [DEFAULT_CONFIG]
    for name, text in case.files.items():
        path = tmp_path / name
        if name != "gone.yaml":
            path.write_bytes(text.encode("latin-1") if name == "latin.yaml" else text.encode())
        files.append(path)
    args = [a for f in files for a in ("--config", str(f))] + [a for s in case.sets for a in ("--set", s)]
    out = tmp_path / "out"
    code = prepare.main([*args, "--dataset", "lasher", "--split", "test", "--out", str(out)])
    err = capsys.readouterr().err
    assert re.search(case.message, err), f"expected /{case.message}/ in:\n{err}"
    assert code == 2 and "Traceback" not in err and not out.exists()


# -- evaluate ------------------------------------------------------------------------------------

def eval_arguments(smoke_data: Path, tmp_path: Path) -> list[str]:
    from srtrack.synth.smoke import config_files

    overlay = tmp_path / "mlflow.yaml"
    overlay.write_text(yaml.safe_dump({"mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}}))
    return [a for f in [*config_files(smoke_data), overlay] for a in ("--config", str(f))]


def copy_split(smoke_data: Path, tmp_path: Path) -> Path:
    import shutil

    split = tmp_path / "lasher-test"
    shutil.copytree(smoke_data / "results/data/lasher-test", split)
    return split


def gt_results(smoke_data: Path, tmp_path: Path, base: list[str]) -> tuple[Path, list]:
    from srtrack.config import load_config
    from srtrack.datasets.index import load_sequences

    cfg = load_config([base[i + 1] for i, a in enumerate(base) if a == "--config"])
    sequences = load_sequences(smoke_data / "results/data/lasher-test", cfg.datasets)
    folder = tmp_path / "results"
    folder.mkdir()
    for seq in sequences:
        np.savetxt(folder / f"{seq.name}.txt", seq.boxes, fmt="%.2f", delimiter=",")
    return folder, sequences


class Exploit:
    def __reduce__(self):
        import os

        return os.system, ("true",)


def checkpoint(kind: str, path: Path) -> Path:
    from srtrack.models import create_tracker

    state = create_tracker("srtrack_tiny", template_size=64, search_size=128).state_dict()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        torch.save({"net": state}, path)
        path.write_bytes(path.read_bytes()[:5000])
    elif kind == "nan":
        state["backbone.blocks_x.0.attn.qkv.weight"][0, 0] = float("nan")
        torch.save({"net": state}, path)
    elif kind == "exploit":
        torch.save({"net": state, "settings": Exploit()}, path)
    return path


RESULT_CASES: dict[str, tuple[Callable[[Path, list], None], str]] = {
    "binary_result_file": (lambda f, seqs: (f / f"{seqs[0].name}.txt").write_bytes(b"\x00\x01\x02" * 50),
                           r"\.txt: is a binary file \(expected text: x,y,w,h rows\)"),
    "result_file_not_utf8": (lambda f, seqs: (f / f"{seqs[0].name}.txt").write_bytes(b"1,2,3,4\n\xff\xfe,1,2,3\n"),
                             r"\.txt: is not UTF-8 text \(invalid start byte at byte 8"),
    "result_row_with_an_empty_field": (lambda f, seqs: (f / f"{seqs[0].name}.txt").write_text("1,,2,3\n"),
                                       r"\.txt:1: expected 4 numbers x,y,w,h, got '1,,2,3' \(an empty field between commas\)"),
    "confidence_line_not_a_number": (
        lambda f, seqs: (f / f"{seqs[0].name}_confidence.value").write_text("0.5\nhigh\n"),
        r"_confidence.value:2: expected one number, got 'high' \('high' is not a number\)"),
    "confidence_count_mismatch": (
        lambda f, seqs: (f / f"{seqs[0].name}_confidence.value").write_text("0.5\n"),
        r"_confidence.value: 1 confidences for \d+ boxes in"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case_id", sorted(RESULT_CASES))
def test_bad_result_files_are_named_with_exit_1(case_id: str, smoke_data: Path, tmp_path: Path, capsys) -> None:
    from srtrack import evaluate

    base = eval_arguments(smoke_data, tmp_path)
    folder, sequences = gt_results(smoke_data, tmp_path, base)
    breaks, message = RESULT_CASES[case_id]
    breaks(folder, sequences)
    out = tmp_path / "out"
    code = evaluate.main([*base, "--data", str(smoke_data / "results/data/lasher-test"), "--results", str(folder),
                          "--name", "x", "--out", str(out)])
    err = capsys.readouterr().err
    assert re.search(message, err), f"expected /{message}/ in:\n{err}"
    assert code == 1 and "Traceback" not in err and "error: error:" not in err and not (out / "metrics.json").exists()


CHECKPOINT_CASES = {
    "empty": r"\.pth: the file is empty \(0 bytes",
    "truncated": r"\.pth: cannot be read: the file is truncated or not a PyTorch checkpoint",
    "nan": r"\.pth: 1 tensor\(s\) hold NaN or infinite values \(first: backbone.blocks_x.0.attn.qkv.weight\)",
    "exploit": r"\.pth: refused: the file asks to run code \(Trying to load unsupported GLOBAL posix.system",
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CHECKPOINT_CASES))
def test_bad_checkpoints_are_refused_before_tracking(kind: str, smoke_data: Path, tmp_path: Path, capsys) -> None:
    from srtrack import evaluate

    path = checkpoint(kind, tmp_path / f"{kind}.pth")
    out = tmp_path / "out"
    code = evaluate.main([*eval_arguments(smoke_data, tmp_path), "--data", str(smoke_data / "results/data/lasher-test"),
                          "--checkpoint", str(path), "--name", "x", "--out", str(out)])
    err = capsys.readouterr().err
    assert re.search(CHECKPOINT_CASES[kind], err), err
    assert code == 1 and "weights_only=False" not in err and not (out / "metrics.json").exists()
    assert not (out / "raw").exists() or not any((out / "raw").rglob("*.txt"))


@pytest.mark.slow
@pytest.mark.parametrize("content, message", [
    ("{not json", r"index.json: corrupt dataset index \(Expecting property name"),
    ('{"format": "srtrack-index/1", "benchmark": "lasher", "root": "ROOT", "sequences": [{"n": 1}]}',
     r"index.json: corrupt dataset index \(its sequences lack names or digests\)"),
    ('{"format": "srtrack-index/1", "benchmark": "lasher", "root": "ROOT", "sequences": [{"name": "../../../etc", '
     '"boxes_sha256": "0"}]}', r"index.json: corrupt dataset index: sequence name '../../../etc' points outside the "
                               r"dataset root"),
], ids=["not_json", "no_digests", "name_outside_the_root"])
def test_a_corrupt_index_is_named(content: str, message: str, smoke_data: Path, tmp_path: Path, capsys) -> None:
    import json

    from srtrack import evaluate

    split = copy_split(smoke_data, tmp_path)
    root = json.loads((split / "index.json").read_text())["root"]
    (split / "index.json").write_text(content.replace("ROOT", root))
    folder, _ = gt_results(smoke_data, tmp_path, eval_arguments(smoke_data, tmp_path))
    out = tmp_path / "out"
    code = evaluate.main([*eval_arguments(smoke_data, tmp_path), "--data", str(split), "--results", str(folder),
                          "--name", "x", "--out", str(out)])
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert code == 1 and "Traceback" not in err and not (out / "metrics.json").exists()


# -- tune: the prior -----------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("kind, code, message", [
    ("pickle", 1, r"prior.safetensors: not a safetensors prior"),
    ("shapes", 1, r"prior.safetensors: \d+ prior tensor\(s\) do not fit the model .*\n  backbone.blocks_rgb.0.attn.qkv.weight.fisher: "
                  r"\(3, 3\), expected \(576, 192\)"),
    ("missing", 2, r"--prior .*prior.safetensors: file not found"),
    ("nan", 1, r"prior.safetensors: 1 prior tensor\(s\) are not a valid prior sensitivity .*\n  "
               r"backbone.blocks.0.attn.qkv.weight.fisher: 1 NaN or infinite value\(s\)"),
    ("negative", 1, r"backbone.blocks.0.attn.qkv.weight.in_values: 1 negative value\(s\) \(min -1\); a covariance "
                    r"eigenvalue is never negative"),
    ("key_without_a_dot", 1, r"fisher: not a prior statistic \(expected <parameter>.<fisher\|out_vectors"),
    ("a_folder", 2, r"--prior .*prior.safetensors: is a folder, expected a file"),
])
def test_a_bad_prior_fails_at_load_naming_the_tensor(kind: str, code: int, message: str, smoke_data: Path,
                                                      tmp_path: Path, srft_inputs, capsys) -> None:
    from safetensors.torch import load_file, save_file

    from srtrack import tune

    init, good = srft_inputs
    prior = tmp_path / "prior.safetensors"
    tensors = load_file(str(good))
    if kind == "pickle":
        torch.save({"a": torch.zeros(1)}, prior)
    elif kind == "shapes":
        tensors["backbone.blocks.0.attn.qkv.weight.fisher"] = torch.zeros(3, 3)
    elif kind == "nan":
        tensors["backbone.blocks.0.attn.qkv.weight.fisher"][0, 0] = float("nan")
    elif kind == "negative":
        tensors["backbone.blocks.0.attn.qkv.weight.in_values"][0] = -1.0
    elif kind == "key_without_a_dot":
        tensors["fisher"] = torch.zeros(1)
    elif kind == "a_folder":
        prior.mkdir()
    if kind in ("shapes", "nan", "negative", "key_without_a_dot"):
        save_file(tensors, str(prior))
    out = tmp_path / "tune"
    base = eval_arguments(smoke_data, tmp_path)
    result = tune.main([*base, "--modality", "rgbt", "--method", "srft", "--init", str(init), "--prior", str(prior),
                        "--data", str(smoke_data / "results/data/lasher-train"), "--out", str(out)])
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert result == code and "Traceback" not in err
    assert not (out / "model.pth").exists() and not (out / "checkpoints").exists()


def test_case_count() -> None:
    # + corrupt indexes (3), bad priors (7), full disks (2), broken metrics files (2)
    assert len(CONFIG_CASES) + len(RESULT_CASES) + len(CHECKPOINT_CASES) + 3 + 7 + len(FAULT_CASES) + 2 + 2 >= 39


# -- faults of the filesystem: one clear error naming the path and the cause, nothing partial -------

def loop(tmp: Path) -> Path:
    path = tmp / "loop.pth"
    path.symlink_to("loop.pth")
    return path


def a_folder(tmp: Path) -> Path:
    (tmp / "model.pth").mkdir()
    return tmp / "model.pth"


def a_file(tmp: Path) -> Path:
    (tmp / "out").write_text("not a folder")
    return tmp / "out"


def read_only(tmp: Path) -> Path:
    return tmp / "ro" / "lasher-test"


@dataclass
class FaultCase:
    stage: str  # prepare or evaluate
    makes: Callable[[Path], Path]  # the faulty path, given a fresh folder
    message: str  # regex searched in stderr
    code: int


FAULT_CASES = {
    "evaluate_checkpoint_is_a_link_loop": FaultCase(
        "evaluate", loop, r"--checkpoint .*loop.pth: Too many levels of symbolic links \(ELOOP; a symbolic link "
                          r"points back to itself\)", 2),
    "evaluate_checkpoint_is_a_folder": FaultCase("evaluate", a_folder, r"--checkpoint .*model.pth: is a folder, "
                                                                       r"expected a file", 2),
    "prepare_out_is_a_file": FaultCase("prepare", a_file, r"--out .*/out: is a file, expected a folder", 2),
    "prepare_out_on_a_read_only_filesystem": FaultCase(
        "prepare", read_only, r"cannot create --out .*/ro/lasher-test: Read-only file system \(EROFS; the filesystem "
                              r"is mounted read-only\)", 1),
}


@pytest.mark.slow
@pytest.mark.parametrize("case_id", sorted(FAULT_CASES))
def test_filesystem_faults_are_named_before_any_work(case_id: str, smoke_data: Path, tmp_path: Path, capsys) -> None:
    import contextlib

    import layouts
    from conftest import mounted_tmpfs
    from srtrack import evaluate, prepare

    case = FAULT_CASES[case_id]
    path = case.makes(tmp_path)
    base = eval_arguments(smoke_data, tmp_path)
    with mounted_tmpfs(tmp_path / "ro", "1m", read_only=True) if case.makes is read_only else contextlib.nullcontext():
        if case.stage == "evaluate":
            code = evaluate.main([*base, "--data", str(smoke_data / "results/data/lasher-test"), "--checkpoint", str(path),
                                  "--name", "x", "--out", str(tmp_path / "eval")])
        else:
            layouts.lasher(tmp_path / "data", "seq1", 5)
            overlay = tmp_path / "root.yaml"
            overlay.write_text(yaml.safe_dump({"datasets": {"lasher": {"root": str(tmp_path / "data"),
                                                                       "test_list": "all"}}}))
            code = prepare.main([*base, "--config", str(overlay), "--dataset", "lasher", "--split", "test",
                                 "--out", str(path)])
    err = capsys.readouterr().err
    assert re.search(case.message, err), f"expected /{case.message}/ in:\n{err}"
    assert code == case.code and "Traceback" not in err and not (tmp_path / "eval").exists()


@pytest.mark.slow
def test_a_full_disk_during_evaluate_publishes_nothing(smoke_data: Path, tmp_path: Path, capsys) -> None:
    """Scores, the table and the plots are written aside and published together: a disk that fills
    up half-way leaves `--out` as it was (empty), with one message naming the file and the cause."""
    from conftest import mounted_tmpfs
    from srtrack import evaluate

    base = eval_arguments(smoke_data, tmp_path)
    folder, _ = gt_results(smoke_data, tmp_path, base)
    with mounted_tmpfs(tmp_path / "disk", "16k") as disk:
        out = disk / "eval"
        code = evaluate.main([*base, "--data", str(smoke_data / "results/data/lasher-test"), "--results", str(folder),
                              "--name", "x", "--out", str(out)])
        left = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    err = capsys.readouterr().err
    assert re.search(r"error: .*/disk/eval/\S+: No space left on device \(ENOSPC; free space on that filesystem", err), err
    assert code == 1 and "Traceback" not in err and left == []


@pytest.mark.slow
def test_a_full_disk_during_tune_keeps_the_last_checkpoint(smoke_data: Path, tmp_path: Path, srft_inputs,
                                                          capsys) -> None:
    """The run's folder holds one checkpoint (~70 MB) but not the next beside it: tune stops with one
    message saying where the intact checkpoint is, and that checkpoint resumes the run."""
    from conftest import mounted_tmpfs
    from srtrack import tune
    from srtrack.train.state import load_checkpoint

    init, _ = srft_inputs
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(yaml.safe_dump({"train": {"epochs": 1, "samples_per_epoch": 48, "global_batch": 8,
                                                  "checkpoint_every": 3, "probe_samples": 8}}))
    with mounted_tmpfs(tmp_path / "disk", "100m") as disk:
        out = disk / "tune"
        code = tune.main([*eval_arguments(smoke_data, tmp_path), "--config", str(schedule), "--modality", "rgbt",
                          "--method", "full", "--init", str(init), "--data",
                          str(smoke_data / "results/data/lasher-train"), "--out", str(out)])
        err = capsys.readouterr().err
        assert re.search(r"error: .*/disk/tune/checkpoints/last.pt: No space left on device \(ENOSPC.*; its last "
                         r"checkpoint .*/disk/tune/checkpoints/last.pt is intact: run the same command to resume", err), err
        assert code == 1 and "Traceback" not in err and not (out / "model.pth").exists()
        run_key = torch.load(out / "checkpoints/last.pt", weights_only=True)["run_key"]
        assert load_checkpoint(out / "checkpoints/last.pt", run_key)["step"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("breaks, message", [
    (lambda text: text[: len(text) // 2], r"metrics.json: is not complete JSON \(.* at line \d+ column \d+\): the "
                                          r"evaluation that wrote it did not finish"),
    (lambda text: text.replace('"profiles"', '"profile"'), r"metrics.json: is not a metrics.json of python -m "
                                                            r"srtrack.evaluate \(no profiles\)"),
], ids=["truncated", "incomplete"])
def test_compare_names_a_broken_metrics_file(breaks, message: str, smoke_data: Path, tmp_path: Path, capsys) -> None:
    from srtrack import compare, evaluate

    base = eval_arguments(smoke_data, tmp_path)
    folder, _ = gt_results(smoke_data, tmp_path, base)
    assert evaluate.main([*base, "--data", str(smoke_data / "results/data/lasher-test"), "--results", str(folder),
                          "--name", "x", "--out", str(tmp_path / "eval")]) == 0
    metrics = tmp_path / "eval" / "metrics.json"
    metrics.write_text(breaks(metrics.read_text()))
    code = compare.main([str(metrics), "--out", str(tmp_path / "comparison")])
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert code == 1 and "Traceback" not in err and not (tmp_path / "comparison").exists()


# -- the parsers on arbitrary bytes --------------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=400),
                      st.lists(st.lists(st.sampled_from(["1", "-2.5", "nan", "inf", "", " ", "1_1", "1e3", "x", ".5",
                                                         "0x1", "+3", "1.", "--1"]), max_size=6), max_size=8).map(
                          lambda rows: "\n".join(",".join(r) for r in rows).encode())))
@example(data=b"0,0,0,nan")  # a partly NaN row is an error, not a half-absent box
def test_box_parsers_give_a_clear_error_or_valid_boxes(tmp_path: Path, data: bytes) -> None:
    from srtrack.datasets.annotations import read_boxes
    from srtrack.errors import ProblemLog
    from srtrack.inference.results import read_confidence_file, read_result_boxes

    path = tmp_path / "file.txt"
    path.write_bytes(data)
    gt_log = ProblemLog()
    boxes = read_boxes(path, gt_log)
    assert boxes.shape[1] == 4
    ok = ~np.isnan(boxes).any(axis=1)
    assert np.isfinite(boxes[ok]).all()
    assert gt_log.errors or np.isnan(boxes).all(axis=1)[~ok].all()
    result_log = ProblemLog()
    rows = read_result_boxes(path, result_log)
    assert (rows is None) == bool(result_log.errors)
    if rows is not None:
        assert rows.shape[1] == 4
    conf_log = ProblemLog()
    values = read_confidence_file(path, 3, conf_log)
    assert (values is None) == bool(conf_log.errors)
    assert all(str(p) for p in gt_log.items + result_log.items + conf_log.items)


def test_small_aliases_stay_allowed(tmp_path: Path) -> None:
    """Anchors that share a schedule (as yaml.safe_dump writes shared objects) are fine."""
    from srtrack.config import load_config

    overlay = tmp_path / "shared.yaml"
    overlay.write_text("train: &schedule {epochs: 3}\npretrain: *schedule\n")
    cfg = load_config([DEFAULT_CONFIG, overlay])
    assert cfg.train.epochs == cfg.pretrain.epochs == 3
