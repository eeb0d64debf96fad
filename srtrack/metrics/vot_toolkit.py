"""Score VOT results with the real vot-toolkit (0.9.0), where it is installed.

Our VOT measures (srtrack.metrics.longterm, srtrack.metrics.multistart) re-implement the toolkit's
analyses; this adapter runs the toolkit itself on the same files, so the two can be compared on
any dataset (`evaluate.vot_toolkit: true`, and tests/metrics/test_vot_toolkit.py):

1. a vot workspace under `workspace`: `sequences/<seq>/` holds links to every file of the benchmark's
   own sequence folder (ground truth, tags, `anchor.value`, frames; a `sequence` metadata file is
   written only where the benchmark has none), `sequences/list.txt` the scored sequences, and
   `config.yaml` names the toolkit's own stack (vot2021/rgbd for the long-term measures, vot2022/rgbd
   for the multistart EAO / A / R);
2. our raw results converted to the toolkit's result files: `results/srtrack/<experiment>/<seq>/`
   `<seq>_001.txt` (+ `_confidence.value`) for the long-term run, `<seq>_<anchor:08d>.txt` per
   anchor; the first row of each becomes `1`, the toolkit's initialisation marker (as a tracker
   run by the toolkit writes it);
3. `python -m vot analysis` in a subprocess (its own CLI, nothing patched), and its JSON report read
   back into the summary keys our profiles use.

The toolkit's `opencv-python` requirement is not installed (it would shadow the headless OpenCV the
pipeline uses); nothing the analysis runs needs more than `cv2` itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srtrack.datasets.sequence import Sequence
from srtrack.errors import ConfigError, DatasetFormatError

TRACKER = "srtrack"
REPORT = "srtrack"


@dataclass(frozen=True)
class Stack:
    """One of the toolkit's stacks, the experiment in it we fill, and how result files are named."""

    name: str
    experiment: str
    multistart: bool


STACKS: dict[str, Stack] = {
    "vot_longterm": Stack("vot2021/rgbd", "rgbd-unsupervised", multistart=False),
    "vot_multistart": Stack("vot2022/rgbd", "baseline", multistart=True),
}


def available() -> bool:
    """Whether `import vot` works in this interpreter (the toolkit runs as `sys.executable -m vot`)."""
    try:
        import vot  # noqa: F401
    except ImportError:
        return False
    return True


def require() -> None:
    """Raise a ConfigError with the install command when the toolkit is missing."""
    if not available():
        raise ConfigError("evaluate.vot_toolkit is set but vot-toolkit is not installed; install it with "
                          "`pip install --no-deps vot-toolkit==0.9.0` and its dependencies (scripts/setup.sh "
                          "installs them into .venv)")


def _channel_pattern(frame: Path, seq_dir: Path) -> str:
    """`<seq>/color/00000001.jpg` -> `color/%08d.jpg` (the toolkit's `channels.*` entry)."""
    relative = frame.relative_to(seq_dir).as_posix()
    return re.sub(r"(\d+)(\.\w+)$", lambda m: f"%0{len(m[1])}d{m[2]}", relative)


def _link_sequence(seq: Sequence, source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for entry in source.iterdir():
        (target / entry.name).symlink_to(entry.resolve())
    if not (source / "sequence").is_file():
        channels = {"color": seq.frames["rgb"][0], "depth": seq.frames.get("depth", (None,))[0]}
        lines = [f"channels.{name}={_channel_pattern(Path(frame), source)}"
                 for name, frame in channels.items() if frame is not None]
        (target / "sequence").write_text("\n".join(lines) + "\n")


def _box_lines(boxes: np.ndarray) -> str:
    """The toolkit's result file: `1` (initialised) on the first row, then `x,y,w,h` rows."""
    rows = ["1"] + [",".join(repr(float(v)) for v in box) for box in np.asarray(boxes, float)[1:]]
    return "\n".join(rows) + "\n"


def _write_results(stack: Stack, sequences: list[Sequence], results: dict[str, tuple[np.ndarray, np.ndarray]],
                   folder: Path) -> None:
    from srtrack.metrics.benchmark import anchor_runs

    for seq in sequences:
        out = folder / seq.name
        out.mkdir(parents=True)
        if stack.multistart:
            for name, _, idx in anchor_runs(seq):
                (out / f"{name}.txt").write_text(_box_lines(results[name][0][: len(idx)]))
            continue
        boxes, confidence = results[seq.name]
        (out / f"{seq.name}_001.txt").write_text(_box_lines(boxes[: len(seq)]))
        # the initialisation frame has no confidence (an empty line), as the toolkit writes it
        values = [""] + [repr(float(c)) for c in np.asarray(confidence, float)[1: len(seq)]]
        (out / f"{seq.name}_001_confidence.value").write_text("\n".join(values) + "\n")


def build_workspace(workspace: Path, profile: str, sequences: list[Sequence], dataset_root: Path,
                    results: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """Write a fresh vot workspace for `profile` (see the module docstring); returns its path."""
    stack = STACKS[profile]
    if workspace.exists():
        shutil.rmtree(workspace)
    for seq in sequences:
        source = dataset_root / seq.name
        if not (source / "groundtruth.txt").is_file():
            raise DatasetFormatError(f"the vot-toolkit reads the VOT layout; no groundtruth.txt for {seq.name}",
                                     source)
        _link_sequence(seq, source, workspace / "sequences" / seq.name)
    (workspace / "sequences" / "list.txt").write_text("".join(f"{s.name}\n" for s in sequences))
    (workspace / "config.yaml").write_text(f"stack: {stack.name}\nregistry:\n- ./trackers.ini\n")
    # never run (only `vot analysis` is called), but the registry must resolve the tracker's name
    (workspace / "trackers.ini").write_text(f"[{TRACKER}]\nlabel = {TRACKER}\nprotocol = trax\ncommand = false\n")
    _write_results(stack, sequences, results, workspace / "results" / TRACKER / stack.experiment)
    return workspace


def report_path(workspace: Path) -> Path:
    """Where `vot analysis` writes its JSON report in a workspace from build_workspace."""
    return workspace / "analysis" / f"{REPORT}.json"


def run_analysis(workspace: Path, profile: str, timeout_s: int = 1800) -> dict[str, float]:
    """`python -m vot analysis` on a workspace from build_workspace; the summary in our keys."""
    command = [sys.executable, "-m", "vot", "analysis", "--workspace", str(workspace), "--format", "json",
               "--name", REPORT, TRACKER]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env)
    report = report_path(workspace)
    if done.returncode != 0 or not report.is_file():
        raise RuntimeError(f"vot analysis failed (exit {done.returncode}) in {workspace}:\n{done.stderr[-3000:]}")
    return parse_report(json.loads(report.read_text()), profile)


def parse_report(report: dict, profile: str) -> dict[str, float]:
    """The toolkit's JSON report -> {precision, recall, f_score} or {eao, accuracy, robustness}."""
    experiment = report["results"][STACKS[profile].experiment]
    out: dict[str, float] = {}
    for analysis, values in zip(experiment["parameters"]["analyses"], experiment["results"]):
        kind, first = analysis["type"].rsplit(".", 1)[-1], values[0]
        if kind == "PrecisionRecall":
            out.update(precision=first[0], recall=first[1], f_score=first[2])
        elif kind == "EAOScore":
            out["eao"] = first[0]
        elif kind == "AverageAccuracyRobustness":
            out.update(accuracy=first[0], robustness=first[1])
    expected = {"vot_longterm": {"precision", "recall", "f_score"},
                "vot_multistart": {"eao", "accuracy", "robustness"}}[profile]
    if set(out) != expected:
        raise RuntimeError(f"vot report: expected {sorted(expected)}, found {sorted(out)} in "
                           f"{[a['type'] for a in experiment['parameters']['analyses']]}")
    return {k: float(v) for k, v in out.items()}


def score_with_toolkit(profile: str, sequences: list[Sequence], dataset_root: Path,
                       results: dict[str, tuple[np.ndarray, np.ndarray]], workspace: Path) -> dict[str, float]:
    """The toolkit's summary of `results` under `profile` (vot_longterm or vot_multistart)."""
    require()
    build_workspace(workspace, profile, sequences, dataset_root, results)
    return run_analysis(workspace, profile)


TOLERANCE = 1e-12  # same float64 sums in another order; more means a convention differs


def cross_check(scores: dict[str, dict], sequences: list[Sequence], dataset_root: Path,
                results: dict[str, tuple[np.ndarray, np.ndarray]], workdir: Path) -> dict[str, dict[str, float]]:
    """For every VOT profile in `scores` (srtrack.metrics.benchmark.score), the toolkit's summary of
    the same results and `max_abs_diff` to ours; a difference above TOLERANCE is logged as a warning."""
    import logging

    out = {}
    for profile in (p for p in scores if p in STACKS):
        theirs = score_with_toolkit(profile, sequences, dataset_root, results, workdir / profile)
        ours = scores[profile]["summary"]
        diff = max(abs(ours[key] - value) for key, value in theirs.items())
        out[profile] = {**theirs, "max_abs_diff": diff}
        if diff > TOLERANCE:
            logging.getLogger(__name__).warning("%s: ours and vot-toolkit differ by %.3g (ours %s, toolkit %s)",
                                                profile, diff, {k: ours[k] for k in theirs}, theirs)
    return out
