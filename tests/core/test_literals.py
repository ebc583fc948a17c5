"""The one number checker: its fast path (numpy in one pass) against its slow path (a Python
call per element), which is the definition: same arrays, same messages."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interpreter.core.literals import check_numbers, numeric_array

FLOAT32_EDGE = 2.0**128 - 2.0**103  # the first float64 that becomes inf as a float32

LEAVES = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-2**70, 2**70),
    st.sampled_from([2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64, 10**400, -10**400,
                     2**128 - 2**103 - 1, 2**128 - 2**103 - 2**76]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e6, 1e6),
    st.sampled_from([0.0, -0.0, FLOAT32_EDGE, -FLOAT32_EDGE, np.nextafter(FLOAT32_EDGE, 0),
                     3.5e38, 1e300, 2.0**63, -(2.0**63), 1.5]),
    st.sampled_from([True, False, None, "1", "x", {}, (1, 2), np.float64(2.5), np.int64(3)]),
)


@st.composite
def nests(draw) -> object:
    """Mostly rectangular nests of numbers, sometimes with one element or row spoilt."""
    shape = draw(st.lists(st.integers(0, 4), min_size=0, max_size=3))
    plain = draw(st.booleans())
    leaf = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6)) if plain else LEAVES

    def build(dims: list[int]) -> object:
        if not dims:
            return draw(leaf)
        return [build(dims[1:]) for _ in range(dims[0])]

    value = build(shape)
    if draw(st.integers(0, 4)) == 0 and isinstance(value, list) and value:
        spoilt = draw(st.sampled_from([[], [1], [[1]], "x", True, None, 2**200, math.inf]))
        target = value
        while isinstance(target[0], list) and target[0] and draw(st.booleans()):
            target = target[0]
        target[draw(st.integers(0, len(target) - 1))] = spoilt
    return value


def slow(value, dtype, within):
    """numeric_array as it was: check every element in Python, then np.array."""
    checked, _ = check_numbers(value, "x", dtype if within is None else within)
    return np.array(checked, dtype=dtype)


def outcome(make, *args):
    try:
        with np.errstate(all="ignore"):
            array = make(*args)
    except ValueError as exc:
        return ("error", str(exc))
    return ("array", array.dtype.str, array.shape, array.tobytes() if array.dtype != object
            else repr(array.tolist()))


@settings(max_examples=500, deadline=None, derandomize=True)
@given(value=nests(), dtype=st.sampled_from([None, np.float32, np.float64]),
       within=st.sampled_from([None, np.float32, np.float64, np.int64, np.int32]))
def test_fast_and_slow_paths_agree(value, dtype, within):
    assert outcome(numeric_array, value, "x", dtype, within) == outcome(slow, value, dtype,
                                                                        within)


def test_a_bad_element_deep_in_a_large_array_is_named_as_before():
    rows = [[float(i + j) for j in range(10)] for i in range(20_000)]
    for bad, message in [(True, "is the boolean true, not a number"),
                         ("3", "is the text '3', not a number"),
                         (None, "is null, not a number"),
                         (math.nan, "is nan, not a finite number"),
                         (1e39, "is 1e+39, beyond the range of float32 (±3.403e+38)")]:
        spoilt = [row[:] for row in rows]
        spoilt[12_345][7] = bad
        with pytest.raises(ValueError) as info:
            numeric_array(spoilt, "X", np.float32)
        assert str(info.value) == f"X[12345][7] {message}"
    ragged = [row[:] for row in rows]
    ragged[19_999] = ragged[19_999][:9]
    with pytest.raises(ValueError, match=r"^X\[19999\] has shape \(9,\) but X\[0\] has shape "
                       r"\(10,\): the lists must form a rectangular array$"):
        numeric_array(ragged, "X")


def test_plain_numbers_keep_numpys_dtype():
    assert numeric_array([[1, 2], [3, 4]], "x").dtype == np.int64
    assert numeric_array([[1, 2.5]], "x").dtype == np.float64
    assert numeric_array([2**63], "x").dtype == np.uint64  # as np.array makes it
    assert numeric_array([[1, 2]], "x", np.float32).dtype == np.float32
    assert numeric_array([], "x").shape == (0,)
    assert numeric_array([[], []], "x", np.float32).shape == (2, 0)
