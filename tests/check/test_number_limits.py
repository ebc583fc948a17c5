"""Numbers at and beyond every limit: each is a located SpecError, never an exception of
Python's or numpy's and never an infinity that turns up later."""
from __future__ import annotations

import numpy as np
import pytest

import interpreter
from interpreter.core.literals import check_numbers, numeric_array
from interpreter.ops.initializers import INITIALIZERS, NORMAL_REACH, fill
from interpreter.read.source import MAX_INT_DIGITS
from interpreter.train.data import spec_data


def spec(params: str = "{}", dtype: str = "float32", data: str = "[[1, 2]]",
         attrs: str = "{out_features: 2}") -> str:
    return f"""version: 1
name: t
dtype: {dtype}
inputs:
  X: {{shape: [batch, 2]}}
nodes:
  - {{id: h, op: linear, inputs: [X], attrs: {attrs}, params: {params}}}
  - {{id: loss, op: sum, inputs: [h]}}
outputs: [h]
loss: loss
train:
  data: {{inline: {{X: {data}}}}}
"""


def errors(text: str, kind: str = "yaml") -> list[str]:
    with pytest.raises(interpreter.SpecError) as info:
        net = interpreter.loads(text, kind, name="s")
        spec_data(net)
    return [str(p) for p in info.value.problems]


# ----- integers too long for Python to convert ---------------------------------------------

@pytest.mark.parametrize("literal", ["9" * 5000, "-" + "9" * 5000, "9" * (MAX_INT_DIGITS + 1),
                                     "0x" + "f" * 4000, "0o" + "7" * 4000])
def test_a_yaml_integer_too_long_is_located(literal):
    shown = literal[:20] + "..."
    assert errors(spec(attrs=f"{{out_features: {literal}}}")) == [
        f"s:7:60: the integer {shown} is too long: a spec's integers have at most "
        f"{MAX_INT_DIGITS} digits"]


def test_a_json_integer_too_long_is_located():
    text = '{"version": 1,\n "name": ' + "9" * 5000 + "}"
    assert errors(text, "json") == [
        f"s:2:10: the integer {'9' * 20}... is too long: a spec's integers have at most "
        f"{MAX_INT_DIGITS} digits"]


def test_tagged_and_key_integers():
    assert "is too long" in errors("a: !!int " + "9" * 5000)[0]
    # A key is a name, never converted: a long one is just an unknown key.
    lines = errors(spec().replace("name: t", "name: t\n" + "9" * 1000 + ": 1"))
    assert lines[0].startswith("s:3:1: unknown key '9999")


def test_integers_up_to_the_limit_are_read():
    from interpreter.read.reader import read_text

    for kind in ("yaml", "json"):
        data, _ = read_text('{"a": ' + "9" * MAX_INT_DIGITS + "}", kind)
        assert data["a"] == 10**MAX_INT_DIGITS - 1


def test_a_long_integer_from_a_program_is_shown_without_printing_it():
    document = interpreter.loads(spec(), "yaml").spec.model_dump(by_alias=True,
                                                                 exclude_unset=True)
    document["name"] = 10**5000
    lines = [str(p) for p in pytest.raises(interpreter.SpecError, interpreter.load,
                                           document).value.problems]
    assert lines == ["<spec>: name: an integer of about 5000 digits is too long: a spec's "
                     "integers have at most 640 digits"]


# ----- initializer options -------------------------------------------------------------------

@pytest.mark.parametrize("params, message", [
    ("{W: {init: uniform, low: 1, high: -1}}", "params.W: low (1) is greater than high (-1)"),
    ("{W: {init: uniform, low: -1e308, high: 1e308}}",
     "params.W: the range from low (-1e+308) to high (1e+308) is wider than the largest "
     "float64"),
    ("{W: {init: normal, std: 1e38}}",
     "params.W: values can reach |mean| + 14·std = 1.4e+39, beyond the largest float32 "
     "(3.403e+38)"),
    ("{W: {init: normal, mean: -3.4e38, std: 1e36}}",
     "params.W: values can reach |mean| + 14·std = 3.54e+38, beyond the largest float32 "
     "(3.403e+38)"),
    ("{W: {init: constant, value: 1e39}}",
     "params.W: values can reach |value| = 1e+39, beyond the largest float32 (3.403e+38)"),
    ("{W: {init: xavier_normal, gain: 1e38}}",
     "params.W: values can reach 14·gain = 1.4e+39, beyond the largest float32 (3.403e+38)"),
])
def test_initializer_options_that_cannot_be_drawn(params, message):
    assert errors(spec(params)) == [f"s:7:76: node 'h' (linear): {message}"]


def test_float64_specs_take_float64_ranges():
    net = interpreter.loads(spec("{W: {init: normal, std: 1e300}, b: {init: constant, "
                                 "value: -1e308}}", dtype="float64"))
    assert np.all(np.isfinite(net.params["h.W"])) and net.params["h.b"].min() == -1e308
    assert "float64 (1.798e+308)" in errors(spec("{W: {init: normal, std: 2e307}}",
                                                 dtype="float64"))[0]


def test_uniform_with_equal_bounds_is_a_constant():
    net = interpreter.loads(spec("{W: {init: uniform, low: 2, high: 2}}"))
    assert np.all(net.params["h.W"] == 2)


def test_options_without_a_dtype_are_checked_against_float64():
    options = INITIALIZERS["normal"].options
    with pytest.raises(ValueError, match="beyond the largest float64"):
        options.model_validate({"std": 2e307})
    assert options.model_validate({"std": 1e300}).largest() == NORMAL_REACH * 1e300


@pytest.mark.parametrize("init", ["xavier_uniform", "xavier_normal", "kaiming_uniform",
                                  "kaiming_normal", "uniform_fan_in"])
def test_zero_fans_give_zeros_not_a_division_by_zero(init):
    options = INITIALIZERS[init].options.model_validate({})
    values = fill(init, options, (1, 3), np.random.default_rng(0), (0, 0), np.float32)
    assert values.shape == (1, 3) and np.all(values == 0)


def test_a_layer_without_input_features_loads():
    net = interpreter.loads(spec().replace("[batch, 2]", "[batch, 0]"), data=False)
    assert net.params["h.W"].shape == (0, 2) and np.all(net.params["h.b"] == 0)


# ----- literal numbers and the spec's dtype --------------------------------------------------

def test_literal_parameters_must_fit_the_dtype():
    assert errors(spec("{b: [[1, -1e300]]}")) == [
        "s:7:76: node 'h' (linear): params.b[0][1] is -1e+300, beyond the range of float32 "
        "(±3.403e+38)"]
    net = interpreter.loads(spec("{b: [[1, -1e300]]}", dtype="float64"))
    assert net.params["h.b"][0, 1] == -1e300


def test_constant_values_must_fit_the_dtype():
    text = spec().replace("  - {id: loss", "  - {id: k, op: constant, attrs: {value: [1e39]}}\n"
                          "  - {id: loss")
    assert errors(text) == ["s:8:42: node 'k' (constant): attrs.value: value[0] is 1e+39, "
                            "beyond the range of float32 (±3.403e+38)"]


@pytest.mark.parametrize("data, message", [
    ("[[1, 2], [3, 1e300]]", "X[1][1] is 1e+300, beyond the range of float32 (±3.403e+38)"),
    ("[[1, 2], [3, " + "9" * 400 + "]]", "X[1][1] is " + "9" * 400 + ", too large for a float"),
])
def test_inline_data_must_fit_its_input(data, message):
    assert errors(spec(data=data)) == [f"s:12:22: train.data.inline.{message}"]


def test_the_largest_float32_is_allowed_and_the_next_value_up_is_not():
    largest = float(np.finfo(np.float32).max)
    rounds_down = np.nextafter(2.0**128 - 2.0**103, 0)  # rounds to the largest float32
    array = numeric_array([largest, rounds_down, -rounds_down], "x", np.float32)
    assert np.all(np.isfinite(array))
    for value in (2.0**128 - 2.0**103, 2**128, -(2.0**128)):
        with pytest.raises(ValueError, match="beyond the range of float32"):
            numeric_array([value], "x", np.float32)
        with np.errstate(over="ignore"):
            assert not np.isfinite(np.float32(value))  # what the check protects from


@pytest.mark.parametrize("value, fits", [(2**63 - 1, True), (-2**63, True), (2**63, False),
                                         (-2**63 - 1, False), (2.0**63, False),
                                         (-(2.0**63), True), (1.5, True)])
def test_integer_ranges(value, fits):
    if fits:
        check_numbers([value], "x", np.int64)
    else:
        with pytest.raises(ValueError, match=r"x\[0\] is .*, beyond the range of int64"):
            check_numbers([value], "x", np.int64)


def test_a_negative_zero_std_draws_the_mean():
    net = interpreter.loads(spec("{W: {init: normal, mean: 0.5, std: -0.0}}"))
    assert np.all(net.params["h.W"] == 0.5)


@pytest.mark.parametrize("init, where", [
    (10**5000, "init"), ([1, 10**5000], "init[1]"),
], ids=["int", "list"])
def test_an_unprintable_initializer_name_is_described(init, where):
    document = interpreter.loads(spec(), "yaml").spec.model_dump(by_alias=True,
                                                                 exclude_unset=True)
    document["nodes"][0]["params"] = {"W": {"init": init}}
    lines = [str(p) for p in pytest.raises(interpreter.SpecError, interpreter.load,
                                           document).value.problems]
    assert lines == [f"<spec>: nodes[0].params.W.{where}: an integer of about 5000 digits is "
                     "too long: a spec's integers have at most 640 digits"]


def test_lists_nested_deeper_than_an_array_can_be():
    value: object = 1.0
    for _ in range(2000):  # from a program: no reader's depth limit, and no RecursionError
        value = [value]
    with pytest.raises(ValueError) as info:
        check_numbers(value, "x")
    assert str(info.value) == ("x" + "[0]" * 32 + " is a list inside 32 others: an array has "
                               "at most 32 dimensions")
    assert numeric_array(value_at_depth(32), "x").ndim == 32


def value_at_depth(depth: int) -> object:
    value: object = 1.0
    for _ in range(depth):
        value = [value]
    return value
