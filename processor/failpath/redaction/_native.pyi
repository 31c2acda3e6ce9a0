# Types of the C extension built from _native.c (see its header comment for what each function does).
from collections.abc import Callable, Sequence

from typing_extensions import Buffer

class KeyTable:
    def __init__(self, decide: Callable[[str], int]) -> None: ...

# (values, slots, summarize, ints, edits, counts, owners, flagged, html_values, long_values)
Plan = tuple[
    list[str],
    list[tuple[int, int, int, int]],
    dict[int, str],
    list[tuple[int, int, int, int]],
    list[tuple[int, int, int, bytes]],
    list[tuple[int, int, int]],
    list[tuple[int, int, int, int, int]],
    dict[tuple[int, int], tuple[int, int] | None] | None,
    list[int] | None,
    list[int] | None,
]

def walk(
    data: Buffer,
    table: KeyTable,
    dirty: Buffer | None,
    digest_key: bytes,
    matches: Sequence[tuple[int, int]] | None,
    span_limit: int,
    detectors: int,
    long_chars: int,
) -> Plan | None: ...
def splice(data: Buffer, edits: Sequence[tuple[int, int, int, bytes]]) -> bytes: ...
def digests(key: bytes, datas: list[bytes], lanes: bool = True) -> list[str]: ...
