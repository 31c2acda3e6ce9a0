"""Python values as OTLP attributes (for spans failpath writes itself, and for tests and benchmarks)."""

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


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
