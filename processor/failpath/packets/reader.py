"""Reading replay packets back: from a file, or by trace id (or a unique prefix of one) through the index,
checked against the packet JSON Schema so a damaged or foreign file is refused with the reason."""

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, cast

from failpath.packets.packet import Packet
from failpath.store.packets import PacketStore

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

_TRACE_PREFIX = re.compile(r"^[0-9a-fA-F]{8,32}$")


class PacketError(Exception):
    """A packet that cannot be found, read or trusted; the message says which and why."""


@cache
def _validator() -> "Draft202012Validator":
    # Imported on first use: jsonschema loads its format checkers' packages, and where rfc3987-syntax is
    # installed (it comes with the dev tools) that alone builds a grammar for 1.6 s at every CLI start.
    from jsonschema import Draft202012Validator

    schema = json.loads(resources.files("failpath.packets").joinpath("packet.schema.json").read_text())
    return Draft202012Validator(schema)


def _upgrade(packet: object) -> object:
    """A version 2 packet (before run.resource) as version 3: its resource is its service name."""
    if isinstance(packet, dict) and packet.get("packet_version") == 2 and isinstance(packet.get("run"), dict):
        service = packet["run"].get("service")
        packet["run"]["resource"] = {"service.name": service} if isinstance(service, str) else {}
        packet["packet_version"] = 3
    return packet


def validate(packet: object, source: str) -> Packet:
    packet = _upgrade(packet)
    error = next(iter(sorted(_validator().iter_errors(packet), key=lambda e: list(e.path))), None)
    if error is not None:
        where = "/".join(str(part) for part in error.path) or "(top level)"
        raise PacketError(f"{source}: not a valid replay packet: {where}: {error.message}")
    # The schema and the Packet type are held together by tests/packets/test_packet.py.
    return cast(Packet, packet)


def load_file(path: Path) -> Packet:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PacketError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PacketError(f"{path}: not a replay packet: not UTF-8 text") from None
    try:
        packet = json.loads(text)
    except ValueError as exc:
        raise PacketError(f"{path}: not a replay packet: invalid JSON: {exc}") from None
    return validate(packet, str(path))


def resolve(reference: str, store_path: Path, folder: Path) -> Path:
    """A packet file path, or the file of the one packet whose trace id starts with reference."""
    path = Path(reference)
    if path.exists():
        return path
    if not _TRACE_PREFIX.match(reference):
        raise PacketError(f"{reference}: no such file, and not a trace id (8 to 32 hex digits)")
    try:
        store = PacketStore(store_path, folder, readonly=True)
    except (FileNotFoundError, OSError) as exc:
        raise PacketError(f"{reference}: cannot look up trace ids: {exc}") from None
    try:
        found = store.find(reference)
    finally:
        store.close()
    if not found:
        raise PacketError(f"{reference}: no packet for a trace id starting with {reference.lower()}")
    if len(found) > 1:
        listed = ", ".join(packet.trace_id for packet in found[:5])
        raise PacketError(f"{reference}: ambiguous, {len(found)} packets match ({listed}); give more digits")
    return found[0].path
