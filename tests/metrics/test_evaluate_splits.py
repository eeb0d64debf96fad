"""The evaluate CLI's splits: --data/--out pairs and the retained RGB split, checked before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from srtrack.evaluate import Split, build_parser, splits_to_score


def splits(*argv: str, source: tuple[str, str] = ("--checkpoint", "m.pth")) -> list[Split]:
    parser = build_parser()
    return splits_to_score(parser, parser.parse_args(["--config", "c.yaml", *source, "--name", "x", *argv]))


def test_splits_pair_each_data_with_its_out_and_tag_only_the_retained_split() -> None:
    assert splits("--data", "a", "--out", "A", "--data", "b", "--out", "B", "--retain", "rgb", "R",
                  "--tuned-on", "rgbt", "--retain-sequences", "3") == [
        Split(Path("a"), Path("A"), None, None), Split(Path("b"), Path("B"), None, None),
        Split(Path("rgb"), Path("R"), 3, "rgbt")]
    # one split scored as a tuned tracker's retention, the way before --retain (still valid)
    assert splits("--data", "rgb", "--out", "R", "--tuned-on", "rgbd", "--max-sequences", "2") == [
        Split(Path("rgb"), Path("R"), 2, "rgbd")]


@pytest.mark.parametrize(("argv", "message"), [
    (["--data", "a", "--data", "b", "--out", "A"], "2 --data but 1 --out"),
    (["--data", "a", "--out", "A", "--retain", "rgb", "R"], "--retain needs --tuned-on"),
    (["--data", "a", "--out", "A", "--retain-sequences", "2"], "--retain-sequences without --retain"),
    (["--data", "a", "--out", "A", "--retain", "rgb", "A", "--tuned-on", "rgbt"], "two splits share an output folder"),
])
def test_splits_that_do_not_pair_up_are_usage_errors(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        splits(*argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_another_trackers_results_score_one_split(capsys) -> None:
    with pytest.raises(SystemExit):
        splits("--data", "a", "--out", "A", "--data", "b", "--out", "B", source=("--results", "published/lasher"))
    assert "--results holds one benchmark's files" in capsys.readouterr().err
    assert splits("--data", "a", "--out", "A", source=("--results", "r")) == [Split(Path("a"), Path("A"), None, None)]


@pytest.mark.parametrize(("argv", "message"), [
    (["--checkpoint", "m.pth", "--data", "a", "--out", "A"], "--checkpoint needs --name"),
    (["--results", "r", "--out", "A"], "give --data (a prepared test split) or, with --results, --benchmark"),
    (["--results", "r", "--benchmark", "lasher", "--data", "a", "--out", "A"], "--benchmark scores --results"),
    (["--checkpoint", "m.pth", "--name", "x", "--benchmark", "lasher", "--out", "A"], "--benchmark scores --results"),
    (["--results", "r", "--benchmark", "lasher", "--out", "A", "--out", "B"], "--benchmark scores --results"),
])
def test_the_benchmark_root_is_for_result_files_and_one_out(argv: list[str], message: str, capsys) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as exit_:
        splits_to_score(parser, parser.parse_args(["--config", "c.yaml", *argv]))
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_the_benchmark_root_is_one_split() -> None:
    parser = build_parser()
    args = parser.parse_args(["--config", "c.yaml", "--results", "r", "s", "--benchmark", "gtot", "--out", "A",
                              "--max-sequences", "3"])
    assert splits_to_score(parser, args) == [Split(None, Path("A"), 3, None, "gtot")]


def test_a_missing_benchmark_root_names_where_it_is_set(tmp_path: Path, capsys) -> None:
    from conftest import DEFAULT_CONFIG
    from srtrack import evaluate

    results = tmp_path / "mine"
    results.mkdir()
    (results / "seq.txt").write_text("1,2,3,4\n")
    assert evaluate.main(["--config", str(DEFAULT_CONFIG), "--set", f"datasets.lasher.root={tmp_path / 'gone'}",
                          "--benchmark", "lasher", "--results", str(results), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"datasets.lasher.root: {tmp_path / 'gone'} is not a directory" in err and "--set" in err, err
    assert not (tmp_path / "out").exists()
