"""The PNG header reader that checks the screenshot's stated size."""

from __future__ import annotations

import struct
import zlib

import pytest

from fetcher.browser.png import PNG_SIGNATURE, png_size


def png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    return PNG_SIGNATURE + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))


def test_the_size_is_read_from_the_header() -> None:
    assert png_size(png(1280, 4321)) == (1280, 4321)


@pytest.mark.parametrize("data", [b"", b"GIF89a" + bytes(30), png(0, 10), PNG_SIGNATURE])
def test_anything_else_is_not_a_png(data: bytes) -> None:
    with pytest.raises(ValueError, match="PNG"):
        png_size(data)
