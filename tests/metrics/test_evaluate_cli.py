"""`python -m srtrack.evaluate` through its real entry point on the smoke LasHeR test split."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from srtrack import evaluate
from srtrack.layout import RUN_ID_FILE
from srtrack.models import create_tracker
from srtrack.synth.smoke import config_files

pytestmark = pytest.mark.slow


def arguments(smoke_data: Path, tmp_path: Path) -> list[str]:
    overlay = tmp_path / "mlflow.yaml"
    overlay.write_text(yaml.safe_dump({"mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                                       "evaluate": {"batch": 1}}))
    files = [*config_files(smoke_data), overlay]
    return [a for f in files for a in ("--config", str(f))] + ["--data", str(smoke_data / "results/data/lasher-test")]


def test_evaluate_tracks_scores_resumes_and_keys_results_by_checkpoint(smoke_data: Path, tmp_path: Path,
                                                                       srft_inputs, caplog) -> None:
    base = arguments(smoke_data, tmp_path)
    init, _ = srft_inputs  # an OSTrack-layout RGB tracker: evaluated in the two-stream srtrack_tiny
    out = tmp_path / "eval"
    assert evaluate.main([*base, "--checkpoint", str(init), "--name", "baseline", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    summary = metrics["profiles"]["lasher_rgbt"]["summary"]
    assert metrics["sequences"] == 2 and 0.0 <= summary["success_auc"] <= 20 / 21
    assert len(metrics["profiles"]["lasher_rgbt"]["curves"]["success"]) == 21
    raw = Path(metrics["raw_results"])
    assert len(list(raw.glob("*.txt"))) == 2 and len(list(raw.glob("*_confidence.value"))) == 2
    assert (out / "per_sequence.csv").read_text().startswith("sequence,profile,")
    assert (out / "curves_lasher_rgbt.png").is_file() and (out / "curves_lasher_rgbt.pdf").is_file()
    attributes = metrics["profiles"]["lasher_rgbt"]["attributes"]  # the synthetic LasHeR writes AttriSeqsTxt
    assert attributes and all(1 <= a["sequences"] <= 2 for a in attributes.values())
    assert (out / "attributes_lasher_rgbt.png").is_file()
    assert (out / "attributes_radar_lasher_rgbt.png").is_file() == (len(attributes) >= 3)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("srtrack").experiment_id], "tags.stage = 'evaluate'")
    assert run.data.metrics["lasher_rgbt/success_auc"] == pytest.approx(summary["success_auc"])
    # no study label: named, not resolved; the network that ran is recorded
    assert run.data.tags["label"] == "baseline" and "method" not in run.data.tags and len(run.data.tags["checkpoint_sha256"]) == 64
    assert run.data.tags["model"] == run.data.params["model.name"] == "srtrack_tiny"
    # the config asks for candidate elimination (keep 0.7 at blocks 3 / 6 / 9); the two-stream network has none
    assert (run.data.params["model.candidate_elimination.layers"], run.data.params["model.candidate_elimination.keep_ratio"]) \
        == ("[]", "1.0")
    assert run.data.params["run/eval_batch"] == "1"   # the lockstep batch that ran
    # a checkpoint beside the run id of another store (trained elsewhere): scored, the link skipped
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "model.pth").write_bytes(init.read_bytes())
    (moved / RUN_ID_FILE).write_text("0123456789abcdef0123456789abcdef\n")
    assert evaluate.main([*base, "--checkpoint", str(moved / "model.pth"), "--name", "moved", "--out",
                          str(tmp_path / "eval-moved")]) == 0
    assert "run 0123456789abcdef0123456789abcdef is not in this MLflow store" in caplog.text
    # both on one plot, and with the study's config (where the images are) their boxes on a few frames
    from srtrack import compare
    from srtrack.evaluation.qualitative import frame_numbers, most_disputed

    config = base[:base.index("--data")]
    assert compare.main([str(out / "metrics.json"), str(tmp_path / "eval-moved/metrics.json"), *config,
                         "--out", str(tmp_path / "comparison"), "--frames-sequences", "1"]) == 0
    assert (tmp_path / "comparison/frames_lasher.png").stat().st_size > 20_000
    assert frame_numbers(24) == [5, 11, 17, 23] and frame_numbers(2) == [1]
    tables = {name: pd.read_csv(out / "per_sequence.csv").assign(success_auc=values)
              for name, values in (("a", [0.5, 0.5]), ("b", [0.5, 0.1]))}
    assert most_disputed(tables, 1) == [tables["a"]["sequence"][1]]
    from srtrack.config import load_config
    from srtrack.datasets.index import load_sequences

    second = tables["a"]["sequence"][1]  # the frames read only the chosen sequences of the split
    cfg = load_config([Path(a) for a, flag in zip(config[1:], config) if flag == "--config"])
    assert [s.name for s in load_sequences(smoke_data / "results/data/lasher-test", cfg.datasets,
                                           names={second})] == [second]

    # resume: a sequence whose files are there is not tracked again, a missing one is
    first = sorted(raw.glob("*.txt"))[0]
    kept = first.stat().st_mtime_ns
    second = sorted(raw.glob("*.txt"))[1]
    second.unlink()
    assert evaluate.main([*base, "--checkpoint", str(init), "--name", "baseline", "--out", str(out)]) == 0
    assert first.stat().st_mtime_ns == kept and second.is_file()
    assert json.loads((out / "metrics.json").read_text())["profiles"] == metrics["profiles"]

    # another checkpoint: its own raw folder, never the old results
    torch.manual_seed(5)
    other = tmp_path / "other.pth"
    torch.save({"net": create_tracker("ostrack_tiny", template_size=64, search_size=128).state_dict()}, other)
    assert evaluate.main([*base, "--checkpoint", str(other), "--name", "other", "--out", str(tmp_path / "eval2")]) == 0
    assert Path(json.loads((tmp_path / "eval2/metrics.json").read_text())["raw_results"]) != raw
    # the same checkpoint run as another network: its own raw folder too
    assert evaluate.main([*base, "--checkpoint", str(init), "--model", "ostrack_tiny", "--name", "rgb", "--out",
                          str(tmp_path / "eval3")]) == 0
    rgb_raw = Path(json.loads((tmp_path / "eval3/metrics.json").read_text())["raw_results"])
    assert "-srtrack_tiny-" in raw.name and "-ostrack_tiny-" in rgb_raw.name and rgb_raw.name[:16] == raw.name[:16]
    # another tracking setting (the crop convention): its own raw folder too
    assert evaluate.main([*base, "--checkpoint", str(init), "--name", "baseline", "--set", "sampler.crop=continuous",
                          "--out", str(tmp_path / "eval4")]) == 0
    assert Path(json.loads((tmp_path / "eval4/metrics.json").read_text())["raw_results"]).name != raw.name

    # another tracker's raw results, scored by the same code: identical numbers
    assert evaluate.main([*base, "--results", str(raw), "--name", "copy", "--out", str(tmp_path / "copy")]) == 0
    copy = json.loads((tmp_path / "copy/metrics.json").read_text())
    assert copy["profiles"]["lasher_rgbt"]["summary"] == summary


def test_two_worker_processes_give_the_results_of_one(smoke_data: Path, tmp_path: Path, srft_inputs) -> None:
    base = arguments(smoke_data, tmp_path)
    init, _ = srft_inputs
    outs = {}
    threads = torch.get_num_threads()
    # each of 2 workers gets cpu_count // 2 threads; the single process the same here, because a
    # tracker with random weights turns last-bit differences of other thread counts into other boxes
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    try:
        for workers in (1, 2):
            outs[workers] = tmp_path / f"w{workers}"
            assert evaluate.main([*base, "--checkpoint", str(init), "--name", "x", "--out", str(outs[workers]),
                                  "--workers", str(workers)]) == 0
    finally:
        torch.set_num_threads(threads)
    raws = [Path(json.loads((outs[w] / "metrics.json").read_text())["raw_results"]) for w in (1, 2)]
    assert sorted(p.name for p in raws[0].iterdir()) == sorted(p.name for p in raws[1].iterdir())
    for path in sorted(raws[0].iterdir()):
        assert path.read_text() == (raws[1] / path.name).read_text(), path.name


def test_malformed_result_files_are_reported_with_file_and_line(smoke_data: Path, tmp_path: Path, capsys) -> None:
    base = arguments(smoke_data, tmp_path)
    results = tmp_path / "published"
    results.mkdir()
    names = [line.split(",")[0] for line in
             (smoke_data / "results/data/lasher-test/sequences.csv").read_text().splitlines()[1:]]
    (results / f"{names[0]}.txt").write_text("1,2,3,4\n1,2,3\n")
    assert evaluate.main([*base, "--results", str(results), "--name", "bad", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert f"{results / (names[0] + '.txt')}:2: expected 4 numbers x,y,w,h, got 3" in err
    assert f"{results / (names[1] + '.txt')}: no result file for sequence {names[1]}" in err


def test_compare_refuses_files_of_different_benchmarks(tmp_path: Path, capsys) -> None:
    from srtrack import compare

    paths = []
    for name in ("lasher", "gtot"):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"benchmark": name, "tracker": name, "profiles": {}}))
        paths.append(str(path))
    assert compare.main([*paths, "--out", str(tmp_path / "o")]) == 2
    assert "the files score different benchmarks (['gtot', 'lasher'])" in capsys.readouterr().err


def test_ground_truth_as_results_scores_perfectly_under_configured_profiles(smoke_data: Path, tmp_path: Path) -> None:
    from srtrack.config import load_config
    from srtrack.datasets.index import load_sequences

    overlay = tmp_path / "profiles.yaml"
    overlay.write_text(yaml.safe_dump({"mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                                       "evaluate": {"profiles": {"lasher": ["got10k_otb", "ostrack"]}}}))
    files = [*config_files(smoke_data), overlay]
    data = smoke_data / "results/data/lasher-test"
    results = tmp_path / "gt-as-results"
    results.mkdir()
    valid = []
    for seq in load_sequences(data, load_config(files).datasets):
        np.savetxt(results / f"{seq.name}.txt", seq.boxes, delimiter=",")
        valid.append(((seq.boxes[:, 2] > 0) & (seq.boxes[:, 3] > 0)).mean())
    args = [a for f in files for a in ("--config", str(f))]
    assert evaluate.main([*args, "--data", str(data), "--results", str(results), "--name", "gt",
                          "--out", str(tmp_path / "o")]) == 0
    profiles = json.loads((tmp_path / "o/metrics.json").read_text())["profiles"]
    assert set(profiles) == {"got10k_otb", "ostrack"}
    # a zero-size (absent) GT row, if any: IoU 0 for got10k but centre error 0 (a precision hit);
    # invalid for OSTrack's rule (a miss in success and precision). Every other frame is perfect.
    got10k, ostrack = profiles["got10k_otb"]["summary"], profiles["ostrack"]["summary"]
    assert got10k["precision"] == 1.0
    assert got10k["success_auc"] == pytest.approx(np.mean(valid) * 20 / 21)
    assert ostrack["precision"] == pytest.approx(np.mean(valid))
    assert ostrack["norm_precision"] == 1.0  # invalid rows are NPR hits
    assert ostrack["success_auc"] == pytest.approx(np.mean(valid) * 20 / 21)


def test_short_empty_and_nan_result_files_are_reported_and_score_only_what_the_evaluator_scores(
        smoke_data: Path, tmp_path: Path, capsys, caplog) -> None:
    """The LasHeR split's two sequences: one file empty, one of NaN rows; the evaluators score frame 0 only."""
    from srtrack.config import load_config
    from srtrack.datasets.index import load_sequences

    base = arguments(smoke_data, tmp_path)
    cfg = load_config([base[i + 1] for i, a in enumerate(base) if a == "--config"])
    sequences = load_sequences(smoke_data / "results/data/lasher-test", cfg.datasets)
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / f"{sequences[0].name}.txt").write_text("")
    (folder / f"{sequences[1].name}.txt").write_text("nan,nan,nan,nan\n" * len(sequences[1]))
    assert evaluate.main([*base, "--results", str(folder), "--name", "none", "--out", str(tmp_path / "out")]) == 0
    metrics = json.loads((tmp_path / "out/metrics.json").read_text())
    notes = {Path(n["file"]).stem: n for n in metrics["result_warnings"]}
    assert notes[sequences[0].name]["kind"] == "short" and notes[sequences[0].name]["rows"] == 0
    assert notes[sequences[0].name]["expected"] == len(sequences[0])
    assert notes[sequences[1].name]["nan_rows"] == len(sequences[1])
    expected = np.mean([1 / len(s) for s in sequences])
    summary = metrics["profiles"]["lasher_rgbt"]["summary"]
    assert summary["precision"] == pytest.approx(expected) and summary["success_auc"] == pytest.approx(expected * 20 / 21)
    assert "0 rows, expected" in caplog.text
    assert f"1 result file(s) hold NaN rows ({len(sequences[1])} rows in all)" in caplog.text, "said on the console too"
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("srtrack").experiment_id], "tags.stage = 'evaluate'")
    assert run.data.metrics["results/short_files"] == 1 and run.data.metrics["results/nan_rows"] == len(sequences[1])
    # as an error: the file, the rows found and expected, and no metrics written
    assert evaluate.main([*base, "--results", str(folder), "--name", "none", "--set", "evaluate.short_results=error",
                          "--out", str(tmp_path / "strict")]) == 1
    assert f"{sequences[0].name}.txt: 0 rows, expected {len(sequences[0])}" in capsys.readouterr().err
    assert not (tmp_path / "strict/metrics.json").exists()


def test_scoring_result_files_reads_no_image(smoke_data: Path, tmp_path: Path, monkeypatch) -> None:
    """--results on an OPE benchmark lists no frame folder and decodes no image."""
    from srtrack.config import load_config
    from srtrack.datasets import base as reader_base
    from srtrack.datasets.index import load_sequences

    base = arguments(smoke_data, tmp_path)
    cfg = load_config([base[i + 1] for i, a in enumerate(base) if a == "--config"])
    folder = tmp_path / "gt"
    folder.mkdir()
    for seq in load_sequences(smoke_data / "results/data/lasher-test", cfg.datasets):
        np.savetxt(folder / f"{seq.name}.txt", seq.boxes, fmt="%.2f", delimiter=",")
    calls = []
    monkeypatch.setattr(reader_base, "list_frames", lambda *a, **k: calls.append(a) or ())
    monkeypatch.setattr(evaluate, "image_size", lambda seq: calls.append(seq) or (0, 0))
    assert evaluate.main([*base, "--results", str(folder), "--name", "gt", "--out", str(tmp_path / "out")]) == 0
    assert calls == []


class Payload:
    """Asks the unpickler to run exec: it would write `target`."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        import builtins

        return builtins.exec, (f"open({self.target!r}, 'w').write('ran')",)


def hostile_file(path: Path, target: Path) -> Path:
    """A tracker file whose pickle would write `target` if anything in it were called."""
    torch.save({"net": create_tracker("ostrack_tiny", template_size=64, search_size=128).state_dict(),
                "settings": Payload(target)}, path)
    return path


def test_nothing_in_a_checkpoint_runs_at_any_entry_point(smoke_data: Path, tmp_path: Path) -> None:
    """model.pretrained, --init, --prior (tune), --checkpoint (sensitivity and evaluate)."""
    from srtrack import sensitivity, tune

    target = tmp_path / "written-by-the-file"
    hostile = hostile_file(tmp_path / "OSTrack_ep0300.pth.tar", target)
    base = arguments(smoke_data, tmp_path)
    config = base[:-2]
    train = ["--data", str(smoke_data / "results/data/lasher-train"), "--set", "train.epochs=1",
             "--set", "train.samples_per_epoch=8", "--set", "train.global_batch=8", "--set", "train.probe_samples=0"]
    assert evaluate.main([*base, "--checkpoint", str(hostile), "--name", "x", "--max-sequences", "1",
                          "--out", str(tmp_path / "eval")]) == 0
    assert tune.main([*config, *train, "--modality", "rgbt", "--method", "full", "--init", str(hostile),
                      "--out", str(tmp_path / "tune-init")]) == 0
    assert tune.main([*config, *train, "--modality", "rgbt", "--method", "full", "--set", f"model.pretrained={hostile}",
                      "--out", str(tmp_path / "tune-pretrained")]) == 0
    assert sensitivity.main([*config, "--data", str(smoke_data / "results/data/got10k-train"), "--checkpoint",
                             str(hostile), "--set", "sensitivity.samples=8", "--set", "sensitivity.chunk=8",
                             "--out", str(tmp_path / "prior")]) == 0
    # a prior must be safetensors: a pickle given as --prior is refused by its parser, never unpickled
    assert tune.main([*config, *train, "--modality", "rgbt", "--method", "srft", "--init", str(hostile),
                      "--prior", str(hostile), "--out", str(tmp_path / "tune-prior")]) != 0
    assert not target.exists()
    report = json.loads((tmp_path / "tune-init/load_report.json").read_text())
    assert any(name.endswith(".exec") for name in report["placeholders"])


def _ope_document(label: str, seed: int, auc: float) -> dict:
    from srtrack.metrics.ope import NORM_THRESHOLDS, PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS

    curves = {"success": (1 - SUCCESS_THRESHOLDS * (1 - auc)).tolist(),
              "precision": np.minimum(1, PRECISION_THRESHOLDS / 20 * auc).tolist(),
              "norm_precision": np.minimum(1, NORM_THRESHOLDS * 4 * auc).tolist()}
    summary = {"profile": "lasher_rgbt", "success_auc": auc, "precision": auc, "norm_precision": auc}
    return {"benchmark": "lasher", "tracker": f"{label}-seed{seed}", "label": label, "seed": seed,
            "profiles": {"lasher_rgbt": {"summary": summary, "curves": curves}}}


def test_compare_draws_one_line_per_label_with_its_seeds(tmp_path: Path, capsys) -> None:
    from srtrack import compare

    paths = []
    for label, seed, auc in [("full", 0, 0.4), ("full", 1, 0.5), ("srft", 0, 0.6), ("pretrained", 0, 0.2)]:
        path = tmp_path / f"{label}-{seed}.json"
        path.write_text(json.dumps(_ope_document(label, seed, auc)))
        paths.append(str(path))
    assert compare.main([*paths, "--out", str(tmp_path / "o")]) == 0
    assert "lasher: 3 trackers (4 evaluations)" in capsys.readouterr().err
    assert (tmp_path / "o/curves_lasher_rgbt.png").stat().st_size > 10_000


def test_plots_rank_legends_by_score_and_add_npr_where_the_table_reports_it() -> None:
    from srtrack.metrics.plots import ope_panels, ranked

    trackers = {label: [_ope_document(label, s, auc)["profiles"] for s, auc in runs]
                for label, runs in {"a": [(0, 0.3)], "b": [(0, 0.9), (1, 0.1)], "c": [(0, 0.6)]}.items()}
    assert [name for name, _ in ranked(trackers, "lasher_rgbt", "success_auc")] == ["c", "b", "a"]  # b: mean 0.5
    assert [p.curve for p in ope_panels("lasher", "lasher_rgbt")] == ["success", "precision", "norm_precision"]
    assert [p.curve for p in ope_panels("rgbt234", "rgbt234")] == ["success", "precision"]
    assert [p.curve for p in ope_panels("coesot", "ostrack")] == ["success", "precision"]  # its table: otb_matlab


def annotations_only(root: Path, out: Path) -> Path:
    """A copy of a benchmark folder with its text files only (what a results archive's user has)."""
    for path in root.rglob("*.txt"):
        target = out / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    return out


def test_several_trackers_are_scored_from_the_annotations_alone(smoke_data: Path, tmp_path: Path, capsys) -> None:
    """`evaluate --benchmark lasher --results` on a LasHeR folder without frames: a folder of two
    trackers' folders and a third tracker's folder in one call, each scored as `--data` scores it."""
    from srtrack import prepare
    from srtrack.config import load_config
    from srtrack.datasets.index import load_sequences

    configs = arguments(smoke_data, tmp_path)[:-2]  # the config files, without --data
    cfg = load_config([configs[i + 1] for i, a in enumerate(configs) if a == "--config"])
    root = annotations_only(cfg.datasets.lasher.root, tmp_path / "lasher-annotations")
    base = [*configs, "--set", f"datasets.lasher.root={root}"]
    assert not any(root.rglob("*.jpg"))
    rng = np.random.default_rng(5)
    published, third = tmp_path / "published", tmp_path / "mine"
    for folder, noise in ((published / "A", 2.0), (published / "B", 8.0), (third, 4.0)):
        folder.mkdir(parents=True)
        for seq in load_sequences(smoke_data / "results/data/lasher-test", cfg.datasets):
            np.savetxt(folder / f"{seq.name}.txt", seq.boxes + rng.normal(0, noise, seq.boxes.shape), delimiter=",")
    out = tmp_path / "scores"
    assert evaluate.main([*base, "--benchmark", "lasher", "--results", str(published), str(third),
                          "--out", str(out)]) == 0
    summaries = {name: json.loads((out / name / "metrics.json").read_text())["profiles"]["lasher_rgbt"]["summary"]
                 for name in ("A", "B", "mine")}
    table = pd.read_csv(out / "scores.csv")
    assert table["tracker"].tolist() == sorted(summaries, key=lambda n: -summaries[n]["success_auc"])
    assert table.set_index("tracker").loc["B", "success_auc"] == pytest.approx(summaries["B"]["success_auc"])
    assert (out / "curves_lasher_rgbt.png").is_file() and (out / "attributes_lasher_rgbt.pdf").is_file()
    assert not (out / "A" / "curves_lasher_rgbt.png").exists()  # one set of figures, with every tracker
    # the same numbers as a prepared split gives one tracker
    assert evaluate.main([*configs, "--data", str(smoke_data / "results/data/lasher-test"), "--results",
                          str(published / "B"), "--out", str(tmp_path / "one")]) == 0
    one = json.loads((tmp_path / "one/metrics.json").read_text())
    assert one["tracker"] == "B" and one["profiles"]["lasher_rgbt"]["summary"] == summaries["B"]
    # in MLflow: one comparison run holding the figures and the table, one run per tracker under it
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("srtrack").experiment_id
    (group,) = client.search_runs([experiment], "tags.stage = 'compare'")
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{group.info.run_id}'")
    assert sorted(r.data.tags["label"] for r in children) == ["A", "B", "mine"]
    assert {a.path for a in client.list_artifacts(group.info.run_id)} >= {"curves_lasher_rgbt.png", "compare"}
    # prepare on the same folder fails, and says what to run instead
    assert prepare.main([*base, "--dataset", "lasher", "--split", "test", "--out", str(tmp_path / "idx")]) == 1
    assert "python -m srtrack.evaluate --benchmark lasher --results" in capsys.readouterr().err
    # --name names one tracker only; a folder of neither results nor tracker folders is refused
    with pytest.raises(SystemExit):
        evaluate.main([*base, "--benchmark", "lasher", "--results", str(published), "--name", "x", "--out", str(out)])
    assert evaluate.main([*base, "--benchmark", "lasher", "--results", str(tmp_path / "idx"), "--out", str(out)]) == 2
    assert "holds no <sequence>.txt result files, nor folders of them" in capsys.readouterr().err
