"""The segment format: records read back as written; a torn or corrupt record ends what is read."""

import struct
import zlib
from pathlib import Path

from failpath.spool import records


def _segment(tmp_path: Path, payloads: list[bytes]) -> Path:
    path = tmp_path / records.segment_name(1)
    path.write_bytes(b"".join(records.encode(records.REQUEST, lsn, p) for lsn, p in enumerate(payloads, 1)))
    return path


def test_records_read_back_as_written(tmp_path: Path) -> None:
    path = _segment(tmp_path, [b"a" * 10, b"", b"\x00" * 3000])
    found, torn = records.read_segment(path)
    assert [(r.kind, r.lsn, r.payload) for r in found] == [
        (records.REQUEST, 1, b"a" * 10),
        (records.REQUEST, 2, b""),
        (records.REQUEST, 3, b"\x00" * 3000),
    ]
    assert not torn
    assert records.segment_name(42) == "00000000000000000042.seg" < records.segment_name(1000)


def test_a_torn_tail_or_a_flipped_bit_ends_the_segment_there(tmp_path: Path) -> None:
    path = _segment(tmp_path, [b"first", b"second", b"third"])
    data = path.read_bytes()
    for cut in range(len(data) - 1, len(data) - len(b"third") - records.HEADER.size, -1):
        path.write_bytes(data[:cut])  # a crash in the middle of the last write
        found, torn = records.read_segment(path)
        assert ([r.payload for r in found], torn) == ([b"first", b"second"], True)
    flipped = bytearray(data)
    flipped[records.HEADER.size + 2] ^= 0x40  # inside the first payload
    path.write_bytes(bytes(flipped))
    assert records.read_segment(path) == ([], True)


def test_settled_entries_round_trip() -> None:
    entries = [(b"\x01" * 16, (3, 4, 9)), (b"", (7,)), (b"\x02" * 16, ())]
    assert list(records.decode_settled(records.encode_settled(entries))) == entries


def test_a_record_is_checksummed_with_zlibs_crc32(tmp_path: Path) -> None:
    """The checksum is zlib's CRC-32 (computed by zlib-ng): segments written by earlier versions still read,
    and a record framed by hand with zlib reads back."""
    payload = bytes(range(256)) * 40 + b"tail"
    header = struct.pack("<BIQ", records.REQUEST, len(payload), 7)
    checksum = zlib.crc32(payload, zlib.crc32(bytes((records.REQUEST,)) + struct.pack("<Q", 7)))
    assert records.encode(records.REQUEST, 7, payload) == header + struct.pack("<I", checksum) + payload
    path = tmp_path / records.segment_name(7)
    path.write_bytes(header + struct.pack("<I", checksum) + payload)
    read, torn = records.read_segment(path)
    assert not torn and [(r.kind, r.lsn, r.payload) for r in read] == [(records.REQUEST, 7, payload)]
