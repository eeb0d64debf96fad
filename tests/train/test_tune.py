"""`python -m srtrack.tune` through its real entry point on the smoke synthetic data."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from srtrack import tune
from training import run_config

pytestmark = pytest.mark.slow
PRETRAIN = {"epochs": 2, "samples_per_epoch": 480, "global_batch": 8, "checkpoint_every": 50, "log_every": 10,
            "probe_samples": 32, "schedule": {"kind": "cosine", "warmup_steps": 10}}


def test_pretraining_lowers_the_loss_and_raises_iou_and_logs_to_mlflow(smoke_data: Path, tmp_path: Path,
                                                                        capsys, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")
    config = run_config(smoke_data, tmp_path, PRETRAIN)
    out = tmp_path / "pretrain"
    assert tune.main([*config, "--modality", "rgb", "--method", "full", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 120 and metrics["replica_max_abs_diff"] == 0.0
    assert metrics["probe_after"]["loss"] < 0.8 * metrics["probe_before"]["loss"]
    # measured on 2 cores since training runs without candidate elimination: probe IoU 0.108 -> 0.133
    assert metrics["probe_after"]["iou"] > 1.15 * metrics["probe_before"]["iou"]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("srtrack").experiment_id], "tags.stage = 'pretrain'")
    assert run.info.status == "FINISHED" and run.data.tags["model_sha256"] == metrics["model_sha256"]
    assert run.data.params["run/model"] == "ostrack_tiny" and run.data.params["run/world_size"] == "1"
    losses = client.get_metric_history(run.info.run_id, "loss/task")
    assert [m.step for m in losses] == list(range(10, 121, 10)) and losses[-1].value < 0.5 * losses[0].value
    for key in ("lr/blocks", "train/samples_per_s", "train/grad_norm", "probe/iou_after",
                "system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"):
        assert key in run.data.metrics, key
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "train")}
    assert {"train/model.pth", "train/metrics.json", "train/train.log"} <= artifacts
    assert "loss.png" in {a.path for a in client.list_artifacts(run.info.run_id)}, "figures at the root"
    saved = torch.load(out / "model.pth", weights_only=True)
    assert "backbone.blocks.0.attn.qkv.weight" in saved["net"]
    # the file says what network it holds: trained without candidate elimination, saved without it
    assert saved["srtrack"]["network"]["name"] == "ostrack_tiny" and saved["srtrack"]["network"]["ce_layers"] == []

    capsys.readouterr()
    assert tune.main([*config, "--modality", "rgb", "--method", "full", "--out", str(out)]) == 0
    assert "already holds this run's result" in capsys.readouterr().err


def test_candidate_elimination_warms_up_in_training_and_the_file_names_its_network(smoke_data: Path,
                                                                                   tmp_path: Path) -> None:
    schedule = {"epochs": 3, "samples_per_epoch": 16, "global_batch": 8, "log_every": 1, "probe_samples": 0,
                "candidate_elimination": {"start_epoch": 2, "warm_epochs": 2}}
    config = run_config(smoke_data, tmp_path, schedule)
    out = tmp_path / "pretrain"
    assert tune.main([*config, "--modality", "rgb", "--method", "full", "--out", str(out)]) == 0
    network = torch.load(out / "model.pth", weights_only=True)["srtrack"]["network"]
    assert network["name"] == "ostrack_tiny" and network["ce_layers"] == [3, 6, 9] and network["ce_keep_ratio"] == 0.7
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("srtrack").experiment_id], "tags.stage = 'pretrain'")
    rates = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "train/ce_keep_rate"),
                                     key=lambda m: m.step)]
    # OSTrack's adjust_keep_rate, 1-based epochs: epoch 1 before the start, epoch 2 the cosine's top, epoch 3 half-way
    assert rates == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.85, 0.85])


def test_divergence_stops_naming_the_step_and_keeps_the_last_good_checkpoint(smoke_data: Path, tmp_path: Path,
                                                                             capsys) -> None:
    lr = {k: 1.0e30 for k in ("blocks", "embeddings", "pos_embed", "fusion", "norms", "head", "prompt", "lora")}
    config = run_config(smoke_data, tmp_path, {**PRETRAIN, "lr": lr, "checkpoint_every": 1, "grad_clip": 1.0e30})
    out = tmp_path / "diverged"
    assert tune.main([*config, "--modality", "rgb", "--method", "full", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "training diverged at step" in err and "the last good checkpoint is" in err, err
    step = int(err.split("training diverged at step ")[1].split(":")[0])
    saved = torch.load(out / "checkpoints/last.pt", weights_only=True)
    assert saved["step"] == step and not (out / "model.pth").exists()
    assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("srtrack").experiment_id], "tags.stage = 'pretrain'")
    assert run.info.status == "FAILED" and "diverged" in run.data.tags["error"]


def test_bad_inputs_are_config_errors(smoke_data: Path, tmp_path: Path, capsys) -> None:
    config = run_config(smoke_data, tmp_path, PRETRAIN)
    got10k = smoke_data / "results/data/got10k-train"
    assert tune.main([*config, "--modality", "rgbt", "--method", "srft", "--data", str(got10k),
                      "--allow-random-init", "--out", str(tmp_path / "x")]) == 2
    assert "--modality rgbt, but" in capsys.readouterr().err
    lasher = smoke_data / "results/data/lasher-train"
    assert tune.main([*config, "--modality", "rgbt", "--method", "srft", "--data", str(lasher),
                      "--allow-random-init", "--out", str(tmp_path / "x")]) == 2
    assert "needs the prior sensitivity: pass --prior" in capsys.readouterr().err
    assert tune.main([*config, "--modality", "rgbt", "--data", str(lasher), "--out", str(tmp_path / "x")]) == 2
    assert "no starting weights" in capsys.readouterr().err
    # a study label and a bare method that disagree, or a label the study does not have
    assert tune.main([*config, "--modality", "rgbt", "--method", "full", "--label", "lora_srft", "--data", str(lasher),
                      "--allow-random-init", "--out", str(tmp_path / "x")]) == 2
    assert "--label lora_srft is method srft, not --method full" in capsys.readouterr().err
    assert tune.main([*config, "--modality", "rgbt", "--label", "k9", "--data", str(lasher),
                      "--allow-random-init", "--out", str(tmp_path / "x")]) == 2
    assert "label 'k9' is neither a method" in capsys.readouterr().err


def test_srft_on_a_lora_tracker_constrains_the_lora_matrices_with_the_prior(smoke_data: Path, tmp_path: Path,
                                                                            srft_inputs) -> None:
    """SRFT composed with LoRA: B and A get the prior of the weight they adapt (with_lora_prior)."""
    from safetensors.torch import load_file

    from srtrack.models import create_tracker
    from srtrack.models.checkpoints import prior_for_model

    init, prior_path = srft_inputs
    model = create_tracker("srtrack_lora_tiny", template_size=64, search_size=128)
    mapped = prior_for_model(load_file(str(prior_path)), model)
    lora = [n.removesuffix(".lora_B") for n, _ in model.named_parameters() if n.endswith(".lora_B")]
    assert lora and all(f"{n}.lora_B.out_vectors" in mapped and f"{n}.lora_A.in_vectors" in mapped for n in lora)
    first = lora[0]
    assert torch.equal(mapped[f"{first}.lora_B.out_vectors"], mapped[f"{first}.weight.out_vectors"])
    assert torch.equal(mapped[f"{first}.lora_A.out_vectors"], torch.eye(mapped[f"{first}.lora_A.out_vectors"].shape[0]))

    schedule = {"epochs": 1, "samples_per_epoch": 48, "global_batch": 8, "checkpoint_every": 100, "log_every": 2,
                "probe_samples": 8}
    config = run_config(smoke_data, tmp_path, schedule)
    out = tmp_path / "lora-srft"
    assert tune.main([*config, "--modality", "rgbt", "--method", "srft", "--set", "model.name=srtrack_lora_tiny",
                      "--data", str(smoke_data / "results/data/lasher-train"), "--init", str(init),
                      "--prior", str(prior_path), "--label", "lora_srft", "--out", str(out)]) == 0
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("srtrack").experiment_id], "tags.stage = 'tune'")
    assert run.data.params["run/model"] == "srtrack_lora_tiny" and run.data.tags["label"] == "lora_srft"
    removed = client.get_metric_history(run.info.run_id, "reg/prior_removed")
    assert removed and max(m.value for m in removed) > 0.0, "the prior acts on the LoRA matrices"
    assert int(run.data.params["run/params_trainable"]) < 500_000  # only LoRA (and what LoRA trains) moved
    # a step schedule that never drops within the run: LRs are params, not flat metric charts
    assert "lr/lora" not in run.data.metrics and float(run.data.params["run/effective_lr_lora"]) > 0
    # the tracker is a logged model of the run, the file itself with its network description
    (logged,) = client.search_logged_models([run.info.experiment_id])
    assert logged.model_id == run.data.tags["model_id"] and logged.source_run_id == run.info.run_id
    assert logged.name == "lora_srft-rgbt-s0" and logged.tags["model_sha256"] == run.data.tags["model_sha256"]
    assert logged.tags["mlflow.note.content"].startswith("srtrack_lora_tiny (64/128; LoRA")
    assert [a.path for a in client.list_logged_model_artifacts(logged.model_id)] == ["model.pth"]
    assert [o.model_id for o in client.get_run(run.info.run_id).outputs.model_outputs] == [logged.model_id]


def test_train_sequences_keeps_the_first_n_sequences_of_each_split(smoke_data: Path, tmp_path: Path, capsys) -> None:
    """`train.sequences` (the trade-off sweep's data size): the first N in list order, or an error."""
    from srtrack.config import load_config
    from srtrack.datasets.index import load_index
    from srtrack.train.data import open_datasets

    lasher = smoke_data / "results/data/lasher-train"
    config = run_config(smoke_data, tmp_path, {**PRETRAIN, "sequences": 2})
    cfg = load_config([Path(a) for a in config[1::2]])
    dataset, (index,) = open_datasets(cfg, [lasher], cfg.train, "train", "rgbt")
    first = [s["name"] for s in load_index(lasher)["sequences"]][:2]
    assert [s["name"] for s in index["sequences"]] == first == [seq.name for seq in dataset.datasets[0]]
    too_many = run_config(smoke_data, tmp_path, {**PRETRAIN, "sequences": 9})
    assert tune.main([*too_many, "--modality", "rgbt", "--method", "full", "--data", str(lasher),
                      "--allow-random-init", "--out", str(tmp_path / "x")]) == 2
    assert f"train.sequences is 9, but {lasher} (lasher train) holds 3 sequences" in capsys.readouterr().err


def test_a_compiled_training_step_gives_the_eager_weights_and_saves_the_plain_module(smoke_data: Path,
                                                                                     tmp_path: Path) -> None:
    """train.compile: aot_eager traces the forward and backward (what inductor compiles on GPUs) and runs
    them on the eager kernels: the same weights as eager, in a file without torch.compile's wrapper."""
    weights = {}
    for backend in ("none", "aot_eager"):
        schedule = {"epochs": 1, "samples_per_epoch": 16, "global_batch": 8, "log_every": 1, "probe_samples": 0,
                    "compile": backend}
        (tmp_path / backend).mkdir()
        config = run_config(smoke_data, tmp_path / backend, schedule, model={"name": "srtrack_tiny"})
        out = tmp_path / backend / "run"
        assert tune.main([*config, "--modality", "rgbt", "--method", "full", "--allow-random-init",
                          "--out", str(out)]) == 0
        weights[backend] = torch.load(out / "model.pth", weights_only=True)["net"]
    eager, compiled = weights["none"], weights["aot_eager"]
    assert eager.keys() == compiled.keys() and not any("_orig_mod" in k for k in compiled)
    assert all(torch.equal(eager[k], compiled[k]) for k in eager)


def test_the_joint_setting_tunes_one_tracker_on_several_modalities(smoke_data: Path, tmp_path: Path, capsys) -> None:
    """--modality rgbx (the released droptrack_rgbx): LasHeR (RGB-T) and VisEvent (RGB-E, its real layout)
    mixed 1:1 in one run; each pair keeps its own X. A per-modality run refuses the mix."""
    import layouts
    from srtrack import prepare
    from srtrack.config import load_config
    from srtrack.train.data import open_datasets

    root = tmp_path / "VisEvent"
    for i in range(3):
        layouts.visevent(root, f"seq{i}", 12)
    schedule = {"epochs": 1, "samples_per_epoch": 16, "global_batch": 8, "log_every": 1, "probe_samples": 0}
    config = run_config(smoke_data, tmp_path, schedule, model={"name": "srtrack_tiny"},
                        datasets={"visevent": {"root": str(root), "train_list": "all", "test_list": "all"}})
    visevent = tmp_path / "visevent-train"
    assert prepare.main([*config, "--dataset", "visevent", "--split", "train", "--out", str(visevent)]) == 0
    lasher = smoke_data / "results/data/lasher-train"

    cfg = load_config([Path(a) for a in config[1::2]])
    dataset, indexes = open_datasets(cfg, [lasher, visevent], cfg.train, "train", "rgbx")
    drawn = {int(dataset[(0, i)]["index"][0]) for i in range(16)}
    assert [index["modality"] for index in indexes] == ["rgbt", "rgbe"] and drawn == {0, 1}   # both benchmarks
    assert {dataset.datasets[d][0].x_name for d in (0, 1)} == {"thermal", "event"}

    data = ["--data", str(lasher), "--data", str(visevent)]
    out = tmp_path / "joint"
    assert tune.main([*config, "--modality", "rgbx", "--method", "full", *data, "--allow-random-init",
                      "--out", str(out)]) == 0
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("srtrack").experiment_id], "tags.stage = 'tune'")
    assert run.data.tags["modality"] == "rgbx"
    assert sorted(d.dataset.name for d in run.inputs.dataset_inputs) == ["lasher-train", "visevent-train"]
    capsys.readouterr()
    assert tune.main([*config, "--modality", "rgbt", "--method", "full", *data, "--allow-random-init",
                      "--out", str(tmp_path / "mixed")]) == 2
    assert "hold different modalities" in capsys.readouterr().err


def test_tuning_keeps_the_weights_of_the_epoch_evaluate_scores(smoke_data: Path, tmp_path: Path, caplog) -> None:
    """evaluate.epoch: tuning keeps that epoch's weights as model-epoch<N>.pth beside model.pth; set
    later, on a finished run, the run is trained again from the start to keep them."""
    schedule = {"epochs": 2, "samples_per_epoch": 2, "global_batch": 2, "log_every": 1, "probe_samples": 0}
    config = run_config(smoke_data, tmp_path, schedule)
    args = [*config, "--modality", "rgbt", "--method", "full", "--data", str(smoke_data / "results/data/lasher-train"),
            "--allow-random-init", "--out", str(tmp_path / "tuned")]
    assert tune.main([*args, "--set", "evaluate.epoch=1"]) == 0
    out = tmp_path / "tuned"

    def weights(name: str) -> dict[str, torch.Tensor]:
        return torch.load(out / name, weights_only=True)["net"]

    first, final = weights("model-epoch1.pth"), weights("model.pth")
    assert first.keys() == final.keys() and any(not torch.equal(first[k], final[k]) for k in final)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["kept_epoch"]["epoch"] == 1 and metrics["kept_epoch"]["file"] == "model-epoch1.pth"
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("srtrack").experiment_id], "tags.stage = 'tune'")
    assert "model-epoch1.pth" in {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "train")}

    assert tune.main([*args, "--set", "evaluate.epoch=2"]) == 0   # epoch 2 not kept: trained again
    assert "training again from the start" in caplog.text
    again = weights("model-epoch2.pth")
    assert all(torch.equal(again[k], final[k]) for k in final)    # the last epoch, reproduced exactly
    assert all(torch.equal(weights("model.pth")[k], final[k]) for k in final)


def test_a_fatal_error_or_the_time_limit_between_steps_leaves_a_checkpoint_that_resumes_exactly(smoke_data: Path, tmp_path: Path) -> None:
    """Whatever ends a run between two steps (here the step's logging, as a dead tracking server once
    did) first writes a checkpoint of the step reached; a new trainer resumes from it and ends with
    the weights of an uninterrupted run."""
    from srtrack.train import distributed
    from srtrack.train.loop import Preempted, Trainer
    from srtrack.train.preemption import StopRequest

    schedule = {"epochs": 1, "samples_per_epoch": 12, "global_batch": 2, "checkpoint_every": 100, "log_every": 1,
                "probe_samples": 0}
    config = run_config(smoke_data, tmp_path, schedule)

    def trainer(out: Path, on_log=lambda metrics, step: None) -> Trainer:
        args = tune.build_parser().parse_args([*config, "--modality", "rgb", "--method", "full", "--workers", "0",
                                               "--out", str(out)])
        cfg, label, init = tune.resolve_run(args)
        setup, _, _ = tune.build_setup(cfg, args, "ostrack_tiny", label.method, "rgb", tune.default_data(cfg, "rgb"), init)
        return Trainer(setup, distributed.detect(), torch.device("cpu"), on_log=on_log)

    reference = trainer(tmp_path / "reference")
    reference.run(StopRequest())

    def fail_at_step_4(metrics: dict, step: int) -> None:
        if step == 4:
            raise ConnectionError("the tracking server went away")

    interrupted = tmp_path / "interrupted"
    with pytest.raises(ConnectionError):
        trainer(interrupted, fail_at_step_4).run(StopRequest())
    assert torch.load(interrupted / "checkpoints/last.pt", weights_only=True)["step"] == 4
    # inside a Slurm job the run stops itself before the time limit (a deadline already passed: after step 1)
    timed = tmp_path / "timed"
    with pytest.raises(Preempted, match="stopped by the Slurm time limit: checkpoint at step 1 "):
        trainer(timed).run(StopRequest(deadline=time.monotonic()))
    expected = reference.model.state_dict()
    for folder, step in ((interrupted, 4), (timed, 1)):
        resumed = trainer(folder)
        assert resumed.resume() and resumed.progress.step == step
        resumed.run(StopRequest())
        final = resumed.model.state_dict()
        assert all(torch.equal(final[k], expected[k]) for k in expected)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_the_frozen_heads_batchnorm_statistics_follow_frozen_batchnorm(smoke_data: Path, tmp_path: Path,
                                                                       mode: str) -> None:
    """Tuning freezes the box head: with `eval` (the released FIX_BN) a training step leaves its
    BatchNorm running statistics as they were; with `train` the step updates them."""
    from srtrack.train import distributed
    from srtrack.train.loop import Trainer, frozen_batchnorms

    config = run_config(smoke_data, tmp_path, {"epochs": 1, "samples_per_epoch": 2, "global_batch": 2,
                                               "probe_samples": 0, "frozen_batchnorm": mode})
    args = tune.build_parser().parse_args([*config, "--modality", "rgbt", "--method", "full", "--allow-random-init",
                                           "--data", str(smoke_data / "results/data/lasher-train"), "--workers", "0",
                                           "--out", str(tmp_path / "run")])
    cfg, label, init = tune.resolve_run(args)
    setup, _, _ = tune.build_setup(cfg, args, cfg.model.name, label.method, "rgbt", args.data, init)
    trainer = Trainer(setup, distributed.detect(), torch.device("cpu"))
    head = [name for name, m in trainer.model.named_modules() if m in frozen_batchnorms(trainer.model)]
    assert head and all(name.startswith("box_head.") for name in head)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items() if "running_" in k}
    trainer.train_mode()
    trainer.train_step(next(trainer.batches()))
    after = {k: v for k, v in trainer.model.state_dict().items() if "running_" in k}
    unchanged = all(torch.equal(before[k], after[k]) for k in before)
    assert unchanged == (mode == "eval")
