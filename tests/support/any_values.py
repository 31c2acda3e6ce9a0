"""Hypothesis strategies for OTLP attribute values of every kind, for the native readers' differential tests."""

from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

SCALARS = st.one_of(
    st.text(max_size=20).map(lambda text: AnyValue(string_value=text)),
    st.booleans().map(lambda flag: AnyValue(bool_value=flag)),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda number: AnyValue(int_value=number)),
    st.floats().map(lambda number: AnyValue(double_value=number)),  # NaN, infinities and -0.0 too
    st.binary(max_size=8).map(lambda raw: AnyValue(bytes_value=raw)),
    st.just(AnyValue()),  # unset
)
# Scalars, and arrays and key-value lists of them nested a few levels.
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: AnyValue(array_value=ArrayValue(values=items))),
        st.lists(st.builds(KeyValue, key=st.text(max_size=6), value=inner), max_size=3).map(
            lambda items: AnyValue(kvlist_value=KeyValueList(values=items))
        ),
    ),
    max_leaves=8,
)
