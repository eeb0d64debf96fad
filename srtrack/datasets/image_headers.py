"""What an image file says about itself, read from its first and last bytes (no decoding).

`prepare` checks every frame this way (type, size, channels, bit depth, a complete file) and fully
decodes a sample: a decoder such as OpenCV's returns a partly grey image for a truncated JPEG and
only warns, so completeness is checked on the bytes (JPEG ends with the EOI marker FF D9, PNG with
its IEND chunk, BMP has its declared file size).
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from srtrack.io import file_kind

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> channels (3 = palette)
JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
TAIL = 1024  # JPEG writers may pad after the EOI marker


class ImageHeaderError(ValueError):
    """The file is not a complete image of a known type."""


@dataclass(frozen=True)
class ImageHeader:
    kind: str  # png, jpeg, bmp
    width: int
    height: int
    channels: int
    bit_depth: int  # per channel

    @property
    def dtype(self) -> str:
        return "uint16" if self.bit_depth == 16 else "uint8"


def read_header(path: Path) -> ImageHeader:
    """The header of a PNG, JPEG or BMP file, checked to be complete; ImageHeaderError otherwise."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):  # a FIFO would block the read forever
            raise ImageHeaderError(f"is {file_kind(mode)}, not an image file")
        with open(path, "rb") as handle:
            head = handle.read(65536)
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - TAIL))
            tail = handle.read()
    except OSError as exc:
        raise ImageHeaderError(f"cannot be read ({exc.strerror})") from None
    if size == 0:
        raise ImageHeaderError("is empty (0 bytes)")
    if head.startswith(PNG_SIGNATURE):
        return _png(head, tail)
    if head.startswith(b"\xff\xd8"):
        return _jpeg(head, tail)
    if head.startswith(b"BM"):
        return _bmp(head, size)
    raise ImageHeaderError("is not a PNG, JPEG or BMP image (unknown file signature)")


def _png(head: bytes, tail: bytes) -> ImageHeader:
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise ImageHeaderError("is a truncated PNG (no IHDR header)")
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    if colour not in PNG_CHANNELS:
        raise ImageHeaderError(f"is a PNG with an invalid colour type {colour}")
    if not tail.endswith(b"IEND\xaeB`\x82"):
        raise ImageHeaderError("is a truncated PNG (no IEND chunk at the end)")
    return ImageHeader("png", width, height, PNG_CHANNELS[colour], depth)


def _jpeg(head: bytes, tail: bytes) -> ImageHeader:
    offset = 2
    while offset + 4 <= len(head):
        if head[offset] != 0xFF:
            raise ImageHeaderError("is a corrupt JPEG (bad marker)")
        marker = head[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        length = struct.unpack(">H", head[offset + 2:offset + 4])[0]
        if marker in JPEG_FRAMES:
            if offset + 10 > len(head):
                break
            precision, height, width, components = struct.unpack(">BHHB", head[offset + 4:offset + 10])
            if b"\xff\xd9" not in tail:
                raise ImageHeaderError("is a truncated JPEG (no end-of-image marker)")
            return ImageHeader("jpeg", width, height, components, precision)
        offset += 2 + length
    raise ImageHeaderError("is a truncated JPEG (no frame header)")


def _bmp(head: bytes, size: int) -> ImageHeader:
    if len(head) < 30:
        raise ImageHeaderError("is a truncated BMP (short header)")
    declared = struct.unpack("<I", head[2:6])[0]
    width, height = struct.unpack("<ii", head[18:26])
    bits = struct.unpack("<H", head[28:30])[0]
    if declared and size < declared:
        raise ImageHeaderError(f"is a truncated BMP ({size} of {declared} bytes)")
    return ImageHeader("bmp", width, abs(height), max(1, bits // 8), 8)
