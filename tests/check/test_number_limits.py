"""Numbers at and beyond every limit: each is a located SpecError, never an exception of
Python's or numpy's and never an infinity that turns up later."""
from __future__ import annotations

import pytest

import interpreter
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
    from interpreter.read.source import read_text

    for kind in ("yaml", "json"):
        data, _ = read_text('{"a": ' + "9" * MAX_INT_DIGITS + "}", kind)
        assert data["a"] == 10**MAX_INT_DIGITS - 1


def test_a_long_integer_from_a_program_is_shown_without_printing_it():
    document = interpreter.loads(spec(), "yaml").spec.model_dump(by_alias=True,
                                                                 exclude_unset=True)
    document["name"] = 10**5000
    lines = [str(p) for p in pytest.raises(interpreter.SpecError, interpreter.load,
                                           document).value.problems]
    assert lines == ["<spec>: name: input should be a valid string, got an integer of about "
                     "5000 digits"]
