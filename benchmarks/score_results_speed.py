"""Benchmark: scoring other trackers' raw results on LasHeR test from the annotations alone, end to
end, srtrack against the rgbt toolkit, side by side in one run.

    .venv/bin/python benchmarks/score_results_speed.py [--trackers 1 5 10] [--repeats 2] [--json out.json]

The LasHeR test ground truth and attribute files shipped with the `rgbt` package are laid out as a
LasHeR folder without frames (`<seq>/init.txt`, `AttriSeqsTxt/`); every tracker's 245 result files
are synthetic (drift, lost stretches, zero-size and NaN rows). For each number of trackers, two
fresh processes score the same files: rgbt (`LasHeR()`, one `lasher(name, folder)` per tracker,
then its PR, NPR and SR) and `python -m srtrack.evaluate --benchmark lasher --results ...` (metrics,
per-sequence table, figures, MLflow runs in a SQLite store created beforehand). Measured: the CPU
time of each process (user + system, its children included), the best of `--repeats`. The script
checks that both give the same PR, NPR and SR for every tracker.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "metrics"))
from test_row_rules import realistic_results, write_results  # noqa: E402 (the tests' synthetic tracker files)

RGBT_SCRIPT = """
import json, sys
from rgbt.dataset.lasher_dataset import LasHeR
lasher = LasHeR()
for folder in sys.argv[2:]:
    lasher(folder.rstrip("/").rsplit("/", 1)[-1], folder.rstrip("/") + "/")
scores = {name: [lasher.PR(name)[0], lasher.NPR(name)[0], lasher.SR(name)[0]] for name in lasher.trackers}
open(sys.argv[1], "w").write(json.dumps({k: [float(x) for x in v] for k, v in scores.items()}))
"""


def lasher_layout(work: Path, trackers: int) -> tuple[Path, list[Path]]:
    """LasHeR test as annotation files only, and `trackers` folders of synthetic results."""
    import rgbt

    shipped = Path(rgbt.__file__).parent / "gt_file" / "LasHeR"
    root = work / "lasher"
    shutil.copytree(shipped / "AttriSeqsTxt", root / "AttriSeqsTxt")
    names = (shipped / "lashertest.txt").read_text().split()
    rng = np.random.default_rng(0)
    folders = [work / "results" / f"tracker{t}" for t in range(trackers)]
    for name in names:
        (root / name).mkdir()
        shutil.copy(shipped / "lasher_gt" / f"{name}.txt", root / name / "init.txt")
        gt = np.loadtxt(root / name / "init.txt", delimiter=",", ndmin=2)
        for folder in folders:
            write_results(folder, name, realistic_results(rng, gt))
    return root, folders


def cpu_seconds(command: list[str]) -> float:
    """User + system CPU time of one process and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def ours_command(site: Path, folders: list[Path], out: Path) -> list[str]:
    return [sys.executable, "-m", "srtrack.evaluate", "--config", str(REPO / "config" / "config.yaml"),
            "--config", str(site), "--benchmark", "lasher", "--results", *map(str, folders), "--out", str(out)]


def our_scores(out: Path, folders: list[Path]) -> dict[str, list[float]]:
    scores = {}
    for folder in folders:
        metrics = out / folder.name / "metrics.json" if len(folders) > 1 else out / "metrics.json"
        summary = json.loads(metrics.read_text())["profiles"]["lasher_rgbt"]["summary"]
        scores[folder.name] = [summary["precision"], summary["norm_precision"], summary["success_auc"]]
    return scores


def measure(work: Path, site: Path, folders: list[Path], repeats: int) -> dict:
    rgbt_out, ours_out = work / "rgbt.json", work / "ours"
    rgbt = min(cpu_seconds([sys.executable, "-c", RGBT_SCRIPT, str(rgbt_out), *map(str, folders)])
               for _ in range(repeats))
    ours = []
    for _ in range(repeats):
        shutil.rmtree(ours_out, ignore_errors=True)
        ours.append(cpu_seconds(ours_command(site, folders, ours_out)))
    theirs, mine = json.loads(rgbt_out.read_text()), our_scores(ours_out, folders)
    worst = max(abs(a - b) for name in theirs for a, b in zip(theirs[name], mine[name]))
    if worst > 1e-12:
        raise SystemExit(f"the scores differ from rgbt's by {worst}")
    return {"trackers": len(folders), "rgbt_cpu_s": round(rgbt, 2), "srtrack_cpu_s": round(min(ours), 2),
            "speedup": round(rgbt / min(ours), 2), "max_abs_score_diff": worst}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trackers", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="score-speed-") as tmp:
        work = Path(tmp)
        root, folders = lasher_layout(work, max(args.trackers))
        site = work / "site.yaml"
        site.write_text(json.dumps({"mlflow": {"tracking_uri": f"sqlite:///{work / 'mlflow.db'}"},
                                    "study": {"output_dir": str(work / "study")},
                                    "datasets": {"lasher": {"root": str(root), "test_list": "builtin"}}}))
        cpu_seconds(ours_command(site, folders[:1], work / "warm-up"))  # creates the MLflow store, fills caches
        rows = [measure(work, site, folders[:n], args.repeats) for n in args.trackers]
    report = {"date": datetime.date.today().isoformat(), "machine": f"{platform.node()} ({platform.processor() or platform.machine()})",
              "python": platform.python_version(), "benchmark": "LasHeR test, 245 sequences, annotations only",
              "rows": rows}
    for row in rows:
        print(f"{row['trackers']:>3} tracker(s): rgbt {row['rgbt_cpu_s']:6.2f} CPU-s, srtrack {row['srtrack_cpu_s']:6.2f} "
              f"CPU-s: {row['speedup']:.2f}x (scores equal to {row['max_abs_score_diff']:.0e})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
