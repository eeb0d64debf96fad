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
                           r"init.txt:3: not numeric: '12,a,20,16': 'a' is not a number \(expected x,y,w,h\)"),
    "wrong_column_count": Case("rgbt234", lambda s: replace_line(s / "infrared.txt", 0, "1,2,3"),
                               r"infrared.txt:1: 3 values in '1,2,3' \(expected 4: x,y,w,h\)"),
    "nan_box_without_absent_flag": Case("lasher", lambda s: replace_line(s / "init.txt", 1, "nan,nan,nan,nan"),
                                        r"init.txt:2: NaN box without absent flag"),
    "nan_box_flagged_present": Case("visevent", lambda s: replace_line(s / "groundtruth.txt", 0, "NaN,NaN,NaN,NaN"),
                                    r"groundtruth.txt:1: NaN box without absent flag \(expected a box, or the frame marked absent in absent_label.txt\)"),
    "mismatched_modality_counts": Case("fe108", lambda s: (s / "evimg" / "0005.jpg").unlink(),
                                       r"frame counts differ between modalities and annotations \(img/: 5, evimg/: 4, groundtruth_rect.txt: 5\)"),
    "depth_8bit": Case("depthtrack", lambda s: cv2.imwrite(str(s / "depth" / "00000003.png"), np.zeros((48, 64), np.uint8)),
                       r"depth/00000003.png: depth frame is a 8-bit 1-channel png \(expected a 16-bit single-channel "
                       r"PNG \(millimetres\)\)"),
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
    # images: header checks on every frame (the default samples full decodes), strict completeness
    "truncated_jpeg": Case("lasher", lambda s: truncate(s / "visible" / "v003.jpg", 0.6),
                           r"visible/v003.jpg: is a truncated JPEG \(no end-of-image marker\)"),
    "jpeg_without_frame_header": Case("lasher", lambda s: truncate(s / "infrared" / "i002.jpg", 0.0, keep=40),
                                      r"infrared/i002.jpg: is a truncated JPEG \(no frame header\)"),
    "zero_byte_frame": Case("fe108", lambda s: (s / "img" / "0003.jpg").write_bytes(b""),
                            r"img/0003.jpg: is empty \(0 bytes\)"),
    "text_file_as_frame": Case("fe108", lambda s: (s / "evimg" / "0002.jpg").write_text("hello"),
                               r"evimg/0002.jpg: is not a PNG, JPEG or BMP image \(unknown file signature\)"),
    "truncated_png": Case("gtot", lambda s: truncate(next(iter(sorted((s / "v").iterdir()))), 0.7),
                          r"v/.*: is a truncated PNG \(no IEND chunk at the end\)"),
    "depth_16bit_three_channels": Case("depthtrack", lambda s: cv2.imwrite(str(s / "depth" / "00000002.png"),
                                                                            np.zeros((48, 64, 3), np.uint16)),
                                       r"depth/00000002.png: depth frame is a 16-bit 3-channel png \(expected a "
                                       r"16-bit single-channel PNG"),
    "16bit_rgb_frame": Case("visevent", lambda s: write_png16(s / "vis_imgs" / "00002.bmp"),
                            r"vis_imgs/00002.bmp: rgb frame is 16-bit \(expected an 8-bit image\)"),
    # ground truth: strict numbers, capped reports, negative sizes named
    "empty_field_in_gt": Case("lasher", lambda s: replace_line(s / "init.txt", 1, "11,,12,20"),
                              r"init.txt:2: not numeric: '11,,12,20': an empty field between commas"),
    "underscore_number_in_gt": Case("fe108", lambda s: replace_line(s / "groundtruth_rect.txt", 2, "1_1,2,30,40"),
                                    r"groundtruth_rect.txt:3: not numeric: '1_1,2,30,40': '1_1' is not a number"),
    "hex_number_in_gt": Case("visevent", lambda s: replace_line(s / "groundtruth.txt", 1, "0x10,2,30,40"),
                             r"groundtruth.txt:2: not numeric: '0x10,2,30,40': '0x10' is not a number"),
    "many_bad_gt_lines": Case("lasher", lambda s: many_bad_lines(s, 120),
                              r"init.txt: \.\.\. and \d+ more line\(s\) with problems, not listed"),
    "negative_width_on_the_first_frame": Case("lasher", lambda s: replace_line(s / "init.txt", 0, "10,10,-5,20"),
                                              r"init.txt: 1 row\(s\) with a negative width or height, read as absent "
                                              r"\(first: line 1\) \(on the first frame: tracking starts at the first "
                                              r"frame with a box\)", exit_code=0),
    # lists and folders
    "list_not_utf8": Case("lasher", lambda s: write_bytes_list(s, b"seq1\n\xff\xfeghost\n"),
                          r"list.txt: not UTF-8 text \(invalid start byte at byte 5\)"),
    "list_with_a_bom": Case("lasher", lambda s: write_bytes_list(s, "\ufeffseq1\n".encode()), r"1 sequences",
                            exit_code=0),
    "gt_with_a_bom": Case("fe108", lambda s: prepend_bom(s / "groundtruth_rect.txt"), r"1 sequences", exit_code=0),
    "sequence_link_outside_the_root": Case("lasher", lambda s: link_outside(s),
                                           r"seq1: is a link to .*/elsewhere/seq1, outside the dataset root",
                                           exit_code=0),
    # hostile files: refused from what they declare, never read whole or decoded
    "decompression_bomb_frame": Case("lasher", lambda s: (s / "visible" / "v002.jpg").write_bytes(png_bomb(20000)),
                                     r"visible/v002.jpg: rgb frame declares 20000x20000 = 400,000,000 pixels, more than "
                                     r"prepare.max_frame_pixels \(50,000,000\): not decoded", extra_args=["--check-images", "all"]),
    "fifo_as_frame": Case("fe108", lambda s: fifo(s / "evimg" / "0003.jpg"),
                          r"evimg/0003.jpg: is a named pipe \(FIFO\), not an image file"),
    "50_mb_gt_line": Case("lasher", lambda s: replace_line(s / "init.txt", 1, "x" + "1" * 50_000_000),
                          r"init.txt:2: not numeric: 'x1{59}'\.\.\. \(50,000,001 characters; column 1\): "
                          r"'x1{19}\.\.\.' \(50,000,001 characters\) is not a number \(expected x,y,w,h\)$"),
}


def png_bomb(side: int) -> bytes:
    """A valid grey PNG of side x side zero pixels: a few hundred KB that decode to side^2 bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor, row = zlib.compressobj(9), b"\x00" * (side + 1)
    data = b"".join([compressor.compress(row) for _ in range(side)] + [compressor.flush()])
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def fifo(path: Path) -> None:
    """A named pipe where a frame belongs: opening it to read would wait for a writer forever."""
    import os

    path.unlink()
    os.mkfifo(path)


def truncate(path: Path, share: float, keep: int | None = None) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: keep if keep is not None else int(len(data) * share)])


def write_png16(path: Path) -> None:
    """A 16-bit image where an 8-bit one belongs (a PNG saved under the frame's name)."""
    ok, data = cv2.imencode(".png", np.zeros((48, 64, 3), np.uint16))
    path.write_bytes(data.tobytes())


def many_bad_lines(seq: Path, n: int) -> dict:
    """A ground truth of n lines, every one broken (and frames to match, so only the lines are wrong)."""
    (seq / "init.txt").write_text("x,y,w,h\n" * n)
    return {}


def write_bytes_list(seq: Path, data: bytes) -> dict:
    list_file = seq.parent.parent / "list.txt"
    list_file.write_bytes(data)
    return {"datasets": {"lasher": {"test_list": str(list_file)}}}


def prepend_bom(path: Path) -> None:
    path.write_bytes("\ufeff".encode() + path.read_bytes())


def link_outside(seq: Path) -> None:
    """The sequence folder moved elsewhere and linked back into the root."""
    target = seq.parent.parent / "elsewhere" / seq.name
    target.parent.mkdir()
    seq.rename(target)
    seq.symlink_to(target, target_is_directory=True)


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
    assert re.search(case.message, err, re.MULTILINE), f"expected /{case.message}/ in:\n{err[:5000]}"
    assert code == case.exit_code and "Traceback" not in err and len(err) < 20_000
    if case.exit_code == 1:
        assert not (out / "index.json").exists(), "an invalid dataset must not leave an index behind"
    elif case.exit_code == 0:
        assert (out / "index.json").read_text().startswith("{\n"), "a valid dataset gets a fresh index"


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
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("pytest").experiment_id], "tags.stage = 'prepare'")
    assert run.info.status == "FAILED" and run.data.tags["error"].startswith("invalid data: 3 error(s), 0 warning(s); "
                                                                            "first: error: ")


def test_case_count() -> None:
    assert len(CASES) >= 47
