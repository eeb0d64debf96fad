"""Pre-flight: everything a study needs from its site, checked before any job is queued.

`snakemake` (every DAG run and dry run, before the first job) and `python -m srtrack.plan` call
`check(cfg)`; one ConfigError (exit 2) lists every problem, each after the file and line that set the
key to fix:

- every benchmark the study lists (tuning and test data, the prior's and retention's data) has a
  root: a listed benchmark without one is an error, never a smaller study;
- every root is a folder that holds the split lists the study reads, and every listed sequence
  folder (a missing list file names the `builtin` list where srtrack ships the released one);
- every checkpoint (`model.pretrained`, `model.pos_embed_from`) is a readable file whose header
  names the tensors srtrack loads from it (read from the file's index, nothing in it runs);
- every label's method applies to its network (the check tune makes at start, made on names);
- every job fits the site's limits (`resources.max_runtime_min`, `resources.node_mem_gb`);
- on a cluster (`check_tracking`, when snakemake starts its jobs), the runs go to a tracking server,
  not a SQLite file.

Torch-free: the Snakefile runs it.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path
from typing import Iterator

from srtrack.checkpoint_index import tensor_names
from srtrack.config import Config, config_location
from srtrack.errors import ConfigError, ProblemLog
from srtrack.study import PRIOR_METHODS, Study, peft_family

# what srtrack reads from each checkpoint: any one name of a group must be in the file's index
PRETRAINED_TENSORS = ("patch_embed.proj.weight", "blocks.0.attn.qkv.weight")
POSITION_TENSORS = ("pos_embed_z", "pos_embed_x", "pos_embed")
SEQUENCES_SHOWN = 5


def check(cfg: Config) -> None:
    """Raise one ConfigError listing every pre-flight problem (module docstring)."""
    _raise(list(problems_of(cfg)))


def check_tracking(cfg: Config) -> None:
    """For jobs that run on other nodes: a ConfigError unless they log to a tracking server."""
    _raise(list(_tracking(cfg)))


def _raise(problems: list[str]) -> None:
    if problems:
        raise ConfigError(f"pre-flight: {len(problems)} problem(s) with this site, found before anything was queued:\n  "
                          + "\n  ".join(problems))


def problems_of(cfg: Config) -> Iterator[str]:
    yield from _datasets(cfg)
    yield from _checkpoints(cfg)
    yield from _methods(cfg)
    yield from _limits(cfg)


def _at(cfg: Config, key: str) -> str:
    return f"{config_location(cfg, key)}: {key}"


def _label_keys(cfg: Config) -> dict[str, str]:
    """Every label the study tunes by name, with the key that names it first."""
    keys = {name: "study.methods" for name in cfg.study.methods}
    for modality, names in cfg.study.ablations.items():
        keys.update({name: f"study.ablations.{modality}" for name in names if name not in keys})
    return keys


def _listed(cfg: Config) -> dict[str, tuple[str, set[str]]]:
    """Every benchmark the study names, with the key that names it and the splits it reads."""
    study, resolved = cfg.study, Study(cfg)
    listed: dict[str, tuple[str, set[str]]] = {}

    def add(name: str, key: str, split: str) -> None:
        listed.setdefault(name, (key, set()))[1].add(split)

    for modality in ("rgbt", "rgbd", "rgbe", "rgbx"):
        for name in getattr(study.tune_data, modality) or ():
            add(name, f"study.tune_data.{modality}", "train")
        for name in getattr(study.eval_data, modality) or ():
            add(name, f"study.eval_data.{modality}", "test")
    if any(resolved.label(name).uses_prior for name in _label_keys(cfg)) or cfg.model.pretrained is None:
        add(cfg.sensitivity.dataset, "sensitivity.dataset", "train")
    retention = cfg.evaluate.retention.dataset
    if retention is not None:
        add(retention, "evaluate.retention.dataset", "test")
    return listed


def _datasets(cfg: Config) -> Iterator[str]:
    from srtrack.datasets import READERS, create_reader

    study = Study(cfg)
    for name, (key, splits) in _listed(cfg).items():
        dataset = getattr(cfg.datasets, name)
        if study.is_synthetic(name):
            continue  # the DAG's synth rule writes it
        if dataset.root is None:
            yield (f"{_at(cfg, key)} lists {name}, but datasets.{name}.root is not set "
                   f"({config_location(cfg, f'datasets.{name}.root')}): give its folder in the site file, or take "
                   f"{name} out of {key}")
            continue
        if not dataset.root.is_dir():
            yield f"{_at(cfg, f'datasets.{name}.root')}: {dataset.root} is not a folder (expected the {name} root)"
            continue
        reader = create_reader(name, cfg.datasets, list_frames=False)
        for split in sorted(splits & set(READERS[name].splits)) or sorted(READERS[name].splits)[:1]:
            yield from _split(cfg, reader, split)


def _split(cfg: Config, reader, split: str) -> Iterator[str]:
    """A split's list resolves and names sequence folders that exist."""
    key = f"datasets.{reader.name}.{split}_list"
    log = ProblemLog()
    try:
        names, _ = reader.sequence_names(split, log)
    except ConfigError as exc:
        named = str(exc).split(":")[0]  # the key the reader blames (the root, or the list)
        yield f"{config_location(cfg, named if named.startswith('datasets.') else key)}: {exc}"
        return
    for problem in log.errors[:SEQUENCES_SHOWN]:
        yield f"{config_location(cfg, key)}: {key}: {problem}"
    missing = [n for n in names if not reader.sequence_dir(n).is_dir()]
    if missing:
        shown = ", ".join(missing[:SEQUENCES_SHOWN]) + (f" and {len(missing) - SEQUENCES_SHOWN} more"
                                                        if len(missing) > SEQUENCES_SHOWN else "")
        yield (f"{_at(cfg, key)}: {len(missing)} of {len(names)} listed sequence folder(s) are not in "
               f"{reader.split_root(split)}: {shown}")


def _checkpoints(cfg: Config) -> Iterator[str]:
    for key, wanted in (("model.pretrained", PRETRAINED_TENSORS), ("model.pos_embed_from", POSITION_TENSORS)):
        path = getattr(cfg.model, key.split(".")[1])
        if path is None:
            continue
        path = Path(path)
        if not path.is_file():
            what = "a folder" if path.is_dir() else "not found"
            yield f"{_at(cfg, key)}: {path}: {what} (expected the checkpoint file; a relative path is relative to " \
                  f"the folder snakemake runs in)"
            continue
        try:
            names = tensor_names(path)
        except (OSError, ValueError, zipfile.BadZipFile, struct.error) as exc:
            yield f"{_at(cfg, key)}: {path}: its header cannot be read ({exc}): not a PyTorch or safetensors checkpoint"
            continue
        if not any(name.endswith(w) for name in names for w in wanted):
            yield (f"{_at(cfg, key)}: {path} holds {len(names)} tensor name(s) but none of "
                   f"{', '.join(wanted)}: not an OSTrack/DropTrack/srtrack checkpoint")


def _methods(cfg: Config) -> Iterator[str]:
    """A prior method on a prompt tracker has nothing to constrain: the tracker trains prompts only,
    and the prior is computed for backbone weights (tune refuses it at start, after the queue)."""
    study = Study(cfg)
    for name, key in _label_keys(cfg).items():
        label = study.label(name)
        if label.method in PRIOR_METHODS and peft_family(label.model) == "prompt":
            yield (f"{_at(cfg, key)}: label {name} is {label.method} on {label.model}, which trains only "
                   f"its prompts; {label.method}'s prior constrains backbone weights, so it has nothing to act on "
                   "(transfer_only needs no prior)")


def _limits(cfg: Config) -> Iterator[str]:
    res = cfg.resources
    if res.max_runtime_min and res.runtime_min > res.max_runtime_min:
        yield (f"{_at(cfg, 'resources.runtime_min')} is {res.runtime_min} minutes, more than the partition's "
               f"{res.max_runtime_min} (resources.max_runtime_min): the job would be refused or killed; lower it "
               "(tuning resumes from its checkpoint when run again) or use a longer partition")
    if res.node_mem_gb and res.mem_gb > res.node_mem_gb:
        yield (f"{_at(cfg, 'resources.mem_gb')} is {res.mem_gb} GB per node, more than a node has "
               f"({res.node_mem_gb} GB, resources.node_mem_gb): the job would wait forever")


def _tracking(cfg: Config) -> Iterator[str]:
    from srtrack.mlflow_runs import tracking_uri

    uri = tracking_uri(cfg)
    if uri.startswith("sqlite:"):
        yield (f"{_at(cfg, 'mlflow.tracking_uri')} is {uri}: jobs on several nodes writing one SQLite file lock each "
               "other out; set it in the site file to a tracking server (http://<submit host>:5000, started with "
               "scripts/mlflow-server.sh), or export SRTRACK_MLFLOW_URI")
