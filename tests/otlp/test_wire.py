"""The hand-written protobuf framing against protobuf's own encoding."""

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from failpath.otlp import wire


def test_varints_are_protobufs_at_every_width() -> None:
    for value in (0, 1, 0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000, 2**35, 2**63 - 1):
        # an int_value field: tag 0x18, then the varint
        assert b"\x18" + wire.varint(value) == AnyValue(int_value=value).SerializeToString()


def test_fields_frame_their_payload() -> None:
    for size in (0, 127, 128, 16383, 16384):
        text = "x" * size
        assert wire.field(b"\x0a", text.encode()) == AnyValue(string_value=text).SerializeToString()
