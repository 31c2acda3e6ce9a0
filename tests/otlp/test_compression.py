"""Bounded decompression: a bomb is cut off at the limit, without ever inflating in memory."""

import gzip
import tracemalloc

import pytest

from failpath.otlp.compression import BadEncoding, TooLarge, decompress
from tests.support.requests import compression_bomb


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_bomb_stops_at_the_limit_without_inflating(encoding: str) -> None:
    bomb = compression_bomb(encoding, 512 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge):
            decompress(bomb, encoding, 1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 512 MiB inflated would show; the decoder holds at most about the limit.
    assert peak < 4 << 20


def test_within_limit_round_trips() -> None:
    data = b"span bytes " * 1000
    assert decompress(gzip.compress(data), "gzip", len(data)) == data
    assert decompress(data, "identity", len(data)) == data


def test_truncated_and_unknown_encodings_are_bad() -> None:
    with pytest.raises(BadEncoding):
        decompress(gzip.compress(b"x" * 1000)[:20], "gzip", 1 << 20)
    with pytest.raises(BadEncoding, match="unsupported"):
        decompress(b"x", "br", 10)
