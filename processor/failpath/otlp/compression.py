"""Bounded decompression of request bodies: output is capped, so a small bomb cannot inflate in memory."""

import io
import zlib

import zstandard

SUPPORTED = ("gzip", "deflate", "zstd")


class TooLarge(ValueError):
    """The decompressed body exceeds the limit."""


class BadEncoding(ValueError):
    """Unknown Content-Encoding or corrupt compressed data."""


def _zlib(body: bytes, limit: int, wbits: int) -> bytes:
    decompressor = zlib.decompressobj(wbits=wbits)
    try:
        out = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadEncoding(f"corrupt compressed body: {exc}") from None
    if len(out) > limit:
        raise TooLarge(f"decompressed body exceeds {limit} bytes")
    if not decompressor.eof:
        raise BadEncoding("compressed body is truncated")
    return out


def _zstd(body: bytes, limit: int) -> bytes:
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body)) as reader:
            out: bytes = reader.read(limit + 1)
    except zstandard.ZstdError as exc:
        raise BadEncoding(f"corrupt compressed body: {exc}") from None
    if len(out) > limit:
        raise TooLarge(f"decompressed body exceeds {limit} bytes")
    return out


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """The body decoded per Content-Encoding ('' or identity: as is), at most limit bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise TooLarge(f"body exceeds {limit} bytes")
        return body
    if encoding in ("gzip", "x-gzip"):
        return _zlib(body, limit, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        # RFC 9110 deflate is zlib-wrapped; 32 + MAX_WBITS also accepts the gzip framing some clients send.
        return _zlib(body, limit, 32 + zlib.MAX_WBITS)
    if encoding == "zstd":
        return _zstd(body, limit)
    raise BadEncoding(f"unsupported Content-Encoding {encoding!r} (supported: {', '.join(SUPPORTED)})")
