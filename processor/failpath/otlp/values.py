"""OTLP attribute values and Python values, both ways: reading attributes failpath decides on, and
writing the ones it adds (also for tests and benchmarks)."""

from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

# An attribute value in Python: arrays are tuples, key-value lists dicts.
Value = str | int | float | bool | bytes | tuple[Any, ...] | dict[str, Any]


def python_value(value: Any) -> Value | None:
    """An AnyValue as Python (arrays as tuples, key-value lists as dicts), None when unset."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(python_value(item) for item in value.array_value.values)
    if kind == "kvlist_value":
        return {kv.key: python_value(kv.value) for kv in value.kvlist_value.values}
    if kind is None:
        return None
    result: Value = getattr(value, kind)
    return result


def any_value(value: object) -> AnyValue:
    """bool, int, float, a list/tuple of those (an array), else text."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list | tuple):
        array = AnyValue()
        array.array_value.values.extend(any_value(item) for item in value)
        return array
    return AnyValue(string_value=str(value))


def key_value(key: str, value: object) -> KeyValue:
    return KeyValue(key=key, value=any_value(value))


def encoded(value: Value) -> bytes | None:
    """The serialized AnyValue python_value reads back as this very value (its types too: True is not 1), or
    None where any_value would write something else (bytes, key-value lists, None in an array)."""
    written = any_value(value).SerializeToString()
    return written if repr(python_value(AnyValue.FromString(written))) == repr(value) else None
