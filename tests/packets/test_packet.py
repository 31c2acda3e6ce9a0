"""The Packet TypedDicts and packet.schema.json describe the same object: every schema object has a
TypedDict with exactly its properties, all required, and leaf types that agree."""

import json
import types
import typing
from importlib import resources
from typing import Any

from failpath.packets.packet import Packet

SCHEMA = json.loads(resources.files("failpath.packets").joinpath("packet.schema.json").read_text())
JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _schema_types(node: dict[str, Any]) -> set[str]:
    node = _resolve(node)
    for combined in ("oneOf", "anyOf"):
        if combined in node:
            return set().union(*(_schema_types(part) for part in node[combined]))
    if "enum" in node or "const" in node:
        values = node["enum"] if "enum" in node else [node["const"]]
        return {JSON_TYPES[type(value)] for value in values}
    kind = node["type"]
    return set(kind) if isinstance(kind, list) else {kind}


def _python_types(hint: Any) -> tuple[set[str], list[tuple[Any, bool]]]:
    """JSON type names a hint allows, and what is inside it: (a TypedDict, False) or (a list's item hint, True)."""
    names: set[str] = set()
    inner: list[tuple[Any, bool]] = []
    for part in typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,):
        origin = typing.get_origin(part)
        if origin is list:
            names.add("array")
            inner.append((typing.get_args(part)[0], True))
        elif origin is dict:
            names.add("object")  # a map of names to text (the run's resource): no properties to compare
        elif origin is typing.Literal:
            names |= {JSON_TYPES[type(value)] for value in typing.get_args(part)}
        elif typing.is_typeddict(part):
            names.add("object")
            inner.append((part, False))
        else:
            names.add(JSON_TYPES[part])
            if part is float:
                names.add("integer")  # a JSON number may be written without a fraction
    return names, inner


def _compare(hint: Any, node: dict[str, Any], where: str, problems: list[str]) -> None:
    node = _resolve(node)
    names, inner = _python_types(hint)
    expected = _schema_types(node)
    if not expected <= names or not names - {"integer"} <= expected | {"integer"}:
        problems.append(f"{where}: schema {sorted(expected)}, type {sorted(names)}")
    for part, is_item in inner:
        if not is_item:
            properties = node.get("properties", {})
            hints = typing.get_type_hints(part)
            if set(hints) != set(properties) or set(part.__required_keys__) != set(node.get("required", [])):
                problems.append(f"{where}: {part.__name__} keys {sorted(hints)}, schema {sorted(properties)}")
            for key in set(hints) & set(properties):
                _compare(hints[key], properties[key], f"{where}.{key}", problems)
        else:
            _compare(part, node["items"], f"{where}[]", problems)


def test_the_packet_type_and_the_schema_agree() -> None:
    problems: list[str] = []
    _compare(Packet, SCHEMA, "packet", problems)
    assert problems == []
