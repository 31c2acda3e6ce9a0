"""OTel consistent probability sampling: thresholds as the specification writes them, randomness from the
trace id or an explicit rv, and tracestate merging that only ever raises a threshold."""

import pytest

from failpath.sampling.threshold import MAX, adjusted_count, decode, encode, randomness, threshold, with_threshold


def test_threshold_encoding_matches_the_specification_examples() -> None:
    assert encode(threshold(0.5)) == "8"
    assert encode(threshold(0.25)) == "c"
    assert encode(threshold(0.1)) == "e666"
    assert encode(threshold(0.01)) == "fd70a"  # leading f's do not count toward the 4 digits
    assert encode(threshold(1.0)) == "0"
    assert adjusted_count(threshold(0.5)) == 2
    assert threshold(1e-30) < MAX  # a positive probability never rounds down to "drop everything"


@pytest.mark.parametrize("probability", [0.5, 0.1, 0.01, 0.003, 1e-6])
def test_encoding_round_trips(probability: float) -> None:
    rejection = threshold(probability)
    assert decode(encode(rejection)) == rejection
    assert adjusted_count(rejection) == pytest.approx(1 / probability, rel=1e-3)


def test_randomness_is_the_trace_ids_low_56_bits_unless_tracestate_gives_rv() -> None:
    trace_id = bytes(range(16))
    assert randomness(trace_id) == int.from_bytes(trace_id[9:], "big")
    assert randomness(trace_id, "vendor=x,ot=th:8;rv:0123456789abcd") == 0x0123456789ABCD
    assert randomness(trace_id, "ot=rv:short") == int.from_bytes(trace_id[9:], "big")  # malformed rv: ignored


def test_a_threshold_only_rises_and_other_entries_survive() -> None:
    assert with_threshold("", threshold(0.5)) == "ot=th:8"
    # An earlier, stricter sampler's weight is kept; the ot entry moves to the front with its other fields.
    assert with_threshold("vendor=1,ot=th:c;rv:0123456789abcd", threshold(0.5)) == "ot=th:c;rv:0123456789abcd,vendor=1"
    assert with_threshold("ot=th:8", threshold(0.25)) == "ot=th:c"
