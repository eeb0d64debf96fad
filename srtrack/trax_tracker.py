"""`python -m srtrack.trax_tracker`: an srtrack tracker driven by the vot-toolkit through TraX.

    # the tracker's entry in a VOT workspace's trackers.ini (created or updated)
    python -m srtrack.trax_tracker ini --config config/config.yaml --checkpoint results/tune/rgbd/srft/seed0/model.pth \
        --modality rgbd --workspace ~/vot-rgbd2022 --name srtrack_srft
    cd ~/vot-rgbd2022 && vot evaluate srtrack_srft && vot analysis srtrack_srft

    # what that entry runs (the toolkit starts it, and talks to it over stdin/stdout)
    python -m srtrack.trax_tracker run --config config/config.yaml --checkpoint model.pth --modality rgbd

`run` is a TraX server: it declares rectangles, image paths and the channels of the modality (`color`;
`color` + `depth` for RGB-D, `color` + `ir` for RGB-T; TraX has no event channel), and on each
`initialize` (every anchor of a multistart experiment) crops the template on the given box, on each
`frame` tracks one step and reports the box and its confidence. Every step is our evaluation's own
(`SequenceTracker.initialize` and `.step`, one sequence at a time): the network is the one the
checkpoint names (`model.pth`; `--model` maps a file into another), the crops and encodings come
from the config, so its boxes are the ones `python -m srtrack.evaluate` writes for the same
checkpoint and config with `evaluate.batch: 1`.
"""

from __future__ import annotations

import argparse
import configparser
import dataclasses
import io
import shlex
import sys
from pathlib import Path
from typing import Sequence as Seq

import numpy as np

from srtrack.cli_common import add_config_arguments, config_from_args, parse, run_main
from srtrack.errors import ConfigError
from srtrack.io import require_file, write_text_atomic

# srtrack's modality names -> TraX channels; the first is always the RGB image
TRAX_CHANNELS = {"rgb": "color", "depth": "depth", "thermal": "ir"}
MODALITY_CHANNELS = {"rgb": ("rgb",), "rgbd": ("rgb", "depth"), "rgbt": ("rgb", "thermal")}
INI_FILE = "trackers.ini"
TIMEOUT_S = 120  # the toolkit waits this long for an answer (the first one loads torch and the network)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m srtrack.trax_tracker", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("run", "serve the tracker over TraX (what the toolkit starts)"),
                        ("ini", "write the tracker's entry into a VOT workspace's trackers.ini")):
        sub = commands.add_parser(name, help=help_)
        add_config_arguments(sub)
        sub.add_argument("--checkpoint", required=True, type=Path, help="the tracker's weights (model.pth)")
        sub.add_argument("--modality", required=True, choices=sorted(MODALITY_CHANNELS),
                         help="which channels the tracker asks for: rgb (color), rgbd (color, depth), rgbt (color, ir)")
        sub.add_argument("--model", default=None, help="the network to map the file into (default: the file's own)")
        if name == "ini":
            sub.add_argument("--workspace", required=True, type=Path, help="the VOT workspace (its trackers.ini)")
            sub.add_argument("--name", default="srtrack", help="the tracker's identifier in the workspace")
    return parser


def main(argv: Seq[str] | None = None) -> int:
    args = parse(build_parser(), argv)
    return run_main(lambda: write_entry(args) if args.command == "ini" else serve(args))


def tracker_command(args: argparse.Namespace) -> str:
    """The command line the toolkit runs: this interpreter, absolute paths (it runs in a temporary folder)."""
    parts = [sys.executable, "-m", "srtrack.trax_tracker", "run"]
    for path in args.config:
        parts += ["--config", str(Path(path).resolve())]
    for assignment in args.overrides:
        parts += ["--set", assignment]
    parts += ["--checkpoint", str(args.checkpoint.resolve()), "--modality", args.modality]
    if args.model:
        parts += ["--model", args.model]
    return shlex.join(parts)


def write_entry(args: argparse.Namespace) -> int:
    """Add (or replace) the tracker's section in `<workspace>/trackers.ini`, checking the inputs first."""
    require_file(args.checkpoint, "--checkpoint")
    config_from_args(args)  # a broken config fails here, not inside the toolkit's run
    ini = args.workspace / INI_FILE
    entries = configparser.ConfigParser(interpolation=None)
    if ini.is_file():
        entries.read(ini, encoding="utf-8")
    entries[args.name] = {"label": args.name, "protocol": "trax", "command": tracker_command(args),
                          "timeout": str(TIMEOUT_S)}
    args.workspace.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    entries.write(text)
    write_text_atomic(ini, text.getvalue())
    print(f"trax_tracker: {args.name} -> {ini} (run: vot evaluate --workspace {args.workspace} {args.name})",
          file=sys.stderr)
    return 0


@dataclasses.dataclass
class Session:
    """One target being tracked over frames that arrive one at a time: our evaluation's tracker on a
    two-frame sequence (the previous frame and the new one), so each step is `SequenceTracker.step`."""

    tracker: object
    modality: str
    state: object = None

    def sequence(self, frames: dict[str, tuple[Path, ...]]):
        from srtrack.datasets.sequence import Sequence

        n = len(frames["rgb"])
        return Sequence(name="trax", benchmark="trax", modality=self.modality, frames=frames,  # type: ignore[arg-type]
                        boxes=np.zeros((n, 4)), absent=np.zeros(n, bool))

    def initialize(self, paths: dict[str, Path], box: np.ndarray) -> None:
        seq = self.sequence({m: (p,) for m, p in paths.items()})
        seq.boxes[0] = box
        self.state = self.tracker.initialize(seq)

    def track(self, paths: dict[str, Path]) -> tuple[np.ndarray, float]:
        previous = self.state.seq.frames
        self.state.seq = self.sequence({m: (previous[m][-1], p) for m, p in paths.items()})
        self.tracker.step([self.state], 1)
        box, confidence = self.state.boxes[-1], self.state.confidences[-1]
        self.state.boxes, self.state.confidences = self.state.boxes[-1:], self.state.confidences[-1:]
        return box, confidence


def serve(args: argparse.Namespace) -> int:
    """The TraX loop: hello, then initialize / frame requests until the toolkit quits."""
    import trax

    from srtrack.evaluation.runner import NetworkChoice, build_tracker, device_for
    from srtrack.study import Study

    sys.stdout = sys.stderr  # stdout is the protocol's stream: nothing else may write to it
    require_file(args.checkpoint, "--checkpoint")
    cfg = config_from_args(args)
    modalities = MODALITY_CHANNELS[args.modality]
    default = Study(cfg).baseline_network(args.modality)
    session = Session(build_tracker(cfg, NetworkChoice(args.model, default), args.checkpoint, device_for(0)),
                      args.modality)
    channels = [TRAX_CHANNELS[m] for m in modalities]
    with trax.Server([trax.Region.RECTANGLE], [trax.Image.PATH], channels, tracker_name="srtrack") as server:
        while True:
            request = server.wait()
            if request.type == trax.TraxStatus.QUIT:
                return 0
            paths = {m: Path(request.image[c].path()) for m, c in zip(modalities, channels)}
            if request.type == trax.TraxStatus.INITIALIZE:
                region = request.objects[0][0]
                if not isinstance(region, trax.Rectangle):
                    raise ConfigError(f"the toolkit initialised with a {type(region).__name__}; srtrack tracks "
                                      "rectangles (set the stack's region format to rectangle)")
                session.initialize(paths, np.array(region.bounds(), dtype=np.float64))
                server.status(request.objects)
            else:
                box, confidence = session.track(paths)
                # per object, where the toolkit records it (`<run>_confidence.value`, read by the long-term analyses)
                server.status([(trax.Rectangle.create(*map(float, box)), {"confidence": float(confidence)})])


if __name__ == "__main__":
    sys.exit(main())
