"""The spool's files: segments of checksummed records.

A record is a header (kind: 1 byte, payload length: 4, LSN: 8, CRC-32 of kind, LSN and payload: 4) and its
payload. A segment is named by the LSN of its first record, zero-padded so names sort by LSN. A torn
record (a crash in the middle of a write) or a corrupt one ends what can be read of its segment: nothing
after it can be framed reliably, and the count says so.
"""

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from zlib_ng.zlib_ng import crc32  # zlib's CRC-32 (the same values), ~10x faster

from failpath.consumer import Settled

HEADER = struct.Struct("<BIQI")
REQUEST = 1  # an accepted, redacted ExportTraceServiceRequest
SETTLED = 2  # spans handed on for good: (trace id, LSNs) entries
SUFFIX = ".seg"
_LSN = struct.Struct("<Q")
_MAX_PAYLOAD = 1 << 30


@dataclass(frozen=True, slots=True)
class Record:
    kind: int
    lsn: int
    payload: bytes


def encode(kind: int, lsn: int, payload: bytes) -> bytes:
    checksum = crc32(payload, crc32(bytes((kind,)) + _LSN.pack(lsn)))
    return HEADER.pack(kind, len(payload), lsn, checksum) + payload


def segment_name(first_lsn: int) -> str:
    return f"{first_lsn:020d}{SUFFIX}"


def read_segment(path: Path) -> tuple[list[Record], bool]:
    """The records of a segment up to the first torn or corrupt one, and whether there was one."""
    data = path.read_bytes()
    records: list[Record] = []
    position = 0
    while position < len(data):
        if position + HEADER.size > len(data):
            return records, True
        kind, length, lsn, checksum = HEADER.unpack_from(data, position)
        start = position + HEADER.size
        payload = data[start : start + length]
        if (
            kind not in (REQUEST, SETTLED)
            or length > _MAX_PAYLOAD
            or len(payload) != length
            or crc32(payload, crc32(bytes((kind,)) + _LSN.pack(lsn))) != checksum
        ):
            return records, True
        records.append(Record(kind, lsn, payload))
        position = start + length
    return records, False


def encode_settled(entries: Iterable[Settled]) -> bytes:
    parts = []
    for trace_id, lsns in entries:
        parts.append(bytes((len(trace_id),)) + trace_id + struct.pack("<H", len(lsns)))
        parts.extend(_LSN.pack(lsn) for lsn in lsns)
    return b"".join(parts)


def decode_settled(payload: bytes) -> Iterator[Settled]:
    position = 0
    while position < len(payload):
        size = payload[position]
        trace_id = payload[position + 1 : position + 1 + size]
        position += 1 + size
        (count,) = struct.unpack_from("<H", payload, position)
        position += 2
        lsns = tuple(_LSN.unpack_from(payload, position + 8 * index)[0] for index in range(count))
        position += 8 * count
        yield trace_id, lsns
