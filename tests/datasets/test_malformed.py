"""Malformed benchmarks: `prepare` names the file, the line and what was expected, and writes nothing.

Each case builds a valid fixture in a real layout, breaks one thing, runs the real CLI and checks
the exact message and the exit code (1 = invalid data, 2 = invalid configuration).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest

import layouts
from srtrack import prepare


@dataclass
class Case:
    dataset: str
    breaks: Callable[[Path], dict | None]  # gets the sequence folder; may return config overrides
    message: str  # regex, searched in stderr
    exit_code: int = 1
    extra_args: list[str] = field(default_factory=list)


def replace_line(path: Path, index: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[index] = text
    path.write_text("\n".join(lines) + "\n")


def append_line(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text + "\n")


def write_list(seq: Path, *names: str) -> dict:
    list_file = seq.parent.parent / "list.txt"
    list_file.write_text("\n".join(names) + "\n")
    return {"datasets": {"lasher": {"test_list": str(list_file)}}}


CASES = {
    "missing_frame": Case("lasher", lambda s: (s / "visible" / "v002.jpg").unlink(),
                          r"seq1/visible: RGB frames are not consecutive: missing frame number\(s\) 2"),
    "extra_gt_line": Case("lasher", lambda s: append_line(s / "init.txt", "1,2,3,4"),
                          r"seq1: frame counts differ between modalities and annotations \(visible/: 5, infrared/: 5, init.txt: 6"),
    "non_numeric_gt": Case("lasher", lambda s: replace_line(s / "init.txt", 2, "12,a,20,16"),
                           r"init.txt:3: not numeric: '12,a,20,16' \(expected x,y,w,h\)"),
    "wrong_column_count": Case("rgbt234", lambda s: replace_line(s / "infrared.txt", 0, "1,2,3"),
                               r"infrared.txt:1: 3 values in '1,2,3' \(expected 4: x,y,w,h\)"),
    "nan_box_without_absent_flag": Case("lasher", lambda s: replace_line(s / "init.txt", 1, "nan,nan,nan,nan"),
                                        r"init.txt:2: NaN box without absent flag"),
    "nan_box_flagged_present": Case("visevent", lambda s: replace_line(s / "groundtruth.txt", 0, "NaN,NaN,NaN,NaN"),
                                    r"groundtruth.txt:1: NaN box without absent flag \(expected a box, or the frame marked absent in absent_label.txt\)"),
    "mismatched_modality_counts": Case("fe108", lambda s: (s / "evimg" / "0005.jpg").unlink(),
                                       r"frame counts differ between modalities and annotations \(img/: 5, evimg/: 4, groundtruth_rect.txt: 5\)"),
    "depth_8bit": Case("depthtrack", lambda s: cv2.imwrite(str(s / "depth" / "00000003.png"), np.zeros((48, 64), np.uint8)),
                       r"depth/00000003.png: depth frame is uint8 \(expected a 16-bit single-channel PNG \(millimetres\)\)",
                       extra_args=["--check-images", "all"]),
    "path_traversal_in_list": Case("lasher", lambda s: write_list(s, "seq1", "../../etc"),
                                   r"list.txt:2: sequence name '../../etc' escapes the dataset root"),
    "duplicate_in_list": Case("lasher", lambda s: write_list(s, "seq1", "seq1"),
                              r"list.txt:2: duplicate sequence 'seq1' \(first on line 1\)"),
    "listed_sequence_missing": Case("lasher", lambda s: write_list(s, "seq1", "ghost"),
                                    r"ghost: sequence folder of 'ghost' is missing"),
    "empty_sequence": Case("fe108", lambda s: [p.unlink() for p in [*s.glob("img/*"), *s.glob("evimg/*")]],
                           r"seq1/img: no RGB frames \(expected image files named by frame number\)"),
    "unreadable_image": Case("visevent", lambda s: (s / "event_imgs" / "00001.bmp").write_bytes(b"not an image"),
                             r"event_imgs/00001.bmp: cannot be decoded as an image"),
    "unknown_dataset": Case("lasherr", lambda s: None,
                            r"unknown dataset 'lasherr'; known: \['coesot', 'depthtrack', 'fe108', 'got10k', 'gtot', 'lasher', "
                            r"'rgbt234', 'visevent', 'vot_rgbd22'\]", exit_code=2),
    "absent_flag_not_binary": Case("visevent", lambda s: replace_line(s / "absent_label.txt", 1, "2"),
                                   r"absent_label.txt:2: absent_label.txt \(1 = present, 0 = absent\): '2' is not 0 or 1"),
    "absent_flags_too_short": Case("coesot", lambda s: replace_line(s / "absent.txt", 4, ""),
                                   r"frame counts differ .*absent.txt: 4\)"),
    "missing_gt_file": Case("gtot", lambda s: (s / "groundTruth_i.txt").unlink(),
                            r"groundTruth_i.txt: file is missing"),
    "empty_gt_file": Case("fe108", lambda s: (s / "groundtruth_rect.txt").write_text(""),
                          r"groundtruth_rect.txt: file is empty \(expected one row per frame\)"),
    "blank_line_inside_gt": Case("lasher", lambda s: replace_line(s / "init.txt", 1, ""),
                                 r"init.txt:2: blank line \(expected x,y,w,h\)"),
    "mixed_frame_naming": Case("lasher", lambda s: (s / "visible" / "v004.jpg").rename(s / "visible" / "000005.jpg"),
                               r"RGB frames mix naming schemes: %06d.jpg \(e.g. 000005.jpg\), v%03d.jpg"),
    "vot_mask_region": Case("vot_rgbd22", lambda s: replace_line(s / "groundtruth.txt", 1, "m1,2,3,4,1,0,1"),
                            r"groundtruth.txt:2: mask regions are not supported"),
    "tag_file_too_long": Case("depthtrack", lambda s: append_line(s / "full-occlusion.tag", "0"),
                              r"full-occlusion.tag: 6 rows for a sequence of 5 frames"),
    "vot_sequence_file_bad_line": Case("vot_rgbd22", lambda s: append_line(s / "sequence", "garbage"),
                                       r"sequence:6: expected key=value, got 'garbage'"),
    "infinite_gt_value": Case("fe108", lambda s: replace_line(s / "groundtruth_rect.txt", 0, "1,2,inf,4"),
                              r"groundtruth_rect.txt:1: infinite value"),
    "lasher_attribute_row": Case("lasher", lambda s: (s.parent / "AttriSeqsTxt" / "seq1.txt").write_text("0,1,2\n"),
                                 r"AttriSeqsTxt/seq1.txt:1: expected 19 attribute flags \(0/1\), got '0,1,2'"),
    "root_not_set": Case("lasher", lambda s: {"datasets": {"lasher": {"root": None}}},
                         r"overlay.yaml:\d+: datasets.lasher.root is null: set it to the folder that holds the LasHeR "
                         r"sequences", exit_code=2),
    "root_missing": Case("fe108", lambda s: {"datasets": {"fe108": {"root": str(s.parent / "nowhere")}}},
                         r"overlay.yaml:\d+: datasets.fe108.root: .*/nowhere is not a directory \(expected the FE108 root\)",
                         exit_code=2),
    "no_builtin_list": Case("rgbt234", lambda s: {"datasets": {"rgbt234": {"test_list": "builtin"}}},
                            r"datasets.rgbt234.test_list: srtrack ships no test list for 'rgbt234'", exit_code=2),
}


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_malformed_input_is_reported(case_id: str, tmp_path: Path, tmp_config, capsys) -> None:
    case = CASES[case_id]
    root = tmp_path / "data"
    builder = layouts.BUILDERS.get(case.dataset, layouts.lasher)
    seq = builder(root, "seq1", 5)
    result = case.breaks(seq)
    overrides = result if isinstance(result, dict) else {}
    dataset_block = {case.dataset if case.dataset in layouts.BUILDERS else "lasher": {"root": str(root)}}
    config = tmp_config(_merge({"datasets": dataset_block}, overrides))
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.json").write_text("{stale}")
    args = [a for path in config for a in ("--config", str(path))]
    code = prepare.main([*args, "--dataset", case.dataset, "--split", "test", "--out", str(out), *case.extra_args])
    err = capsys.readouterr().err
    assert re.search(case.message, err), f"expected /{case.message}/ in:\n{err}"
    assert code == case.exit_code
    if case.exit_code == 1:
        assert not (out / "index.json").exists(), "an invalid dataset must not leave an index behind"


def _merge(base: dict, extra: dict) -> dict:
    from srtrack.config import deep_merge

    return deep_merge(base, extra)


def test_all_problems_of_all_sequences_in_one_pass(tmp_path: Path, tmp_config, capsys) -> None:
    root = tmp_path / "data"
    first = layouts.lasher(root, "a", 5)
    second = layouts.lasher(root, "b", 5)
    layouts.lasher(root, "c", 5)
    replace_line(first / "init.txt", 0, "x,1,2,3")
    replace_line(first / "init.txt", 3, "1,2,3")
    (second / "infrared" / "i004.jpg").unlink()
    config = tmp_config({"datasets": {"lasher": {"root": str(root)}}})
    args = [a for path in config for a in ("--config", str(path))]
    assert prepare.main([*args, "--dataset", "lasher", "--split", "test", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "a/init.txt:1: not numeric" in err and "a/init.txt:4: 3 values" in err
    assert "b: frame counts differ" in err
    assert "3 error(s)" in err and not (tmp_path / "o" / "index.json").exists()


def test_case_count() -> None:
    assert len(CASES) >= 15
