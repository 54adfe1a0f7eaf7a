"""The capped body collector, fed by hand: decoding, the cap, and decompression bombs."""

from __future__ import annotations

import gzip
import hashlib
import tracemalloc
import zlib

import pytest

from fetcher.body import BodyCollector


def collect(data: bytes, *, cap: int, encoding: str | None, chunk: int = 4096) -> BodyCollector:
    collector = BodyCollector(max_bytes=cap, content_encoding=encoding)
    for start in range(0, len(data), chunk):
        if not collector.feed(data[start : start + chunk]):
            break
    return collector


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


TEXT = b"The quick brown fox jumps over the lazy dog. " * 200


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        (None, TEXT),
        ("identity", TEXT),
        ("gzip", gzip.compress(TEXT)),
        ("x-gzip", gzip.compress(TEXT)),
        ("GZIP", gzip.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)),
        ("deflate", raw_deflate(TEXT)),
    ],
)
@pytest.mark.parametrize("chunk", [1, 7, 65536])
def test_bodies_are_decoded_in_any_chunking(
    encoding: str | None, encoded: bytes, chunk: int
) -> None:
    body = collect(encoded, cap=1_000_000, encoding=encoding, chunk=chunk).result()

    assert body.kept == TEXT
    assert body.sha256 == hashlib.sha256(TEXT).hexdigest()
    assert not body.truncated
    assert body.decoded


def test_the_encoding_is_reported_lower_case_and_none_for_identity() -> None:
    assert BodyCollector(max_bytes=1, content_encoding="GZip").encoding == "gzip"
    assert BodyCollector(max_bytes=1, content_encoding="identity").encoding is None
    assert BodyCollector(max_bytes=1, content_encoding=None).encoding is None


@pytest.mark.parametrize("chunk", [1, 100, 65536])
def test_a_bomb_never_inflates_past_the_cap(chunk: int) -> None:
    bomb = gzip.compress(b"A" * (32 * 1024 * 1024), compresslevel=9)
    collector = BodyCollector(max_bytes=50_000, content_encoding="gzip")
    largest_kept = 0
    for start in range(0, len(bomb), chunk):
        more = collector.feed(bomb[start : start + chunk])
        largest_kept = max(largest_kept, len(collector.kept))
        if not more:
            break

    body = collector.result()
    assert largest_kept == 50_000
    assert body.size == 50_000
    assert body.truncated
    assert body.kept == b"A" * 50_000


def test_inflating_a_bomb_allocates_about_the_cap_not_the_bomb() -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    collector = BodyCollector(max_bytes=100_000, content_encoding="gzip")
    tracemalloc.start()
    try:
        for start in range(0, len(bomb), 16384):
            if not collector.feed(bomb[start : start + 16384]):
                break
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert collector.truncated
    # Unbounded inflation of one 16 KiB slice alone would allocate about 16 MiB.
    assert peak < 2 * 1024 * 1024


def test_a_compressed_body_exactly_the_cap_is_not_truncated() -> None:
    body = collect(gzip.compress(b"z" * 1000), cap=1000, encoding="gzip").result()

    assert body.size == 1000
    assert not body.truncated


def test_concatenated_gzip_members_are_all_decoded() -> None:
    body = collect(gzip.compress(b"one ") + gzip.compress(b"two"), cap=100, encoding="gzip")

    assert body.result().kept == b"one two"


def test_an_identity_body_over_the_cap_is_cut() -> None:
    body = collect(b"0123456789", cap=4, encoding=None).result()

    assert body.kept == b"0123"
    assert body.truncated
    assert body.sha256 == hashlib.sha256(b"0123").hexdigest()


def test_an_unknown_coding_is_kept_as_sent_and_marked_undecoded() -> None:
    body = collect(b"\x1b\x2c\x00brotli-ish", cap=100, encoding="br").result()

    assert body.kept == b"\x1b\x2c\x00brotli-ish"
    assert body.encoding == "br"
    assert not body.decoded


def test_a_corrupt_gzip_body_raises_zlib_error() -> None:
    collector = BodyCollector(max_bytes=100, content_encoding="gzip")

    with pytest.raises(zlib.error):
        collector.feed(b"this is not gzip at all")


def test_an_empty_body_hashes_as_empty() -> None:
    body = BodyCollector(max_bytes=10, content_encoding="gzip").result()

    assert body.size == 0
    assert body.sha256 == hashlib.sha256(b"").hexdigest()
