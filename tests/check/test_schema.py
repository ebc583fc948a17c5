"""The JSON Schema of the format: draft-07, current, true to every spec, strict per op."""
from __future__ import annotations

import json

import pytest

from interpreter import ops as _ops  # noqa: F401  (registers the built-in ops)
from interpreter.check.schema import schema_text, spec_schema
from interpreter.cli import main
from interpreter.ops.registry import all_ops
from interpreter.read.reader import read_file

from ..conftest import DATA, ROOT, SPECS

jsonschema = pytest.importorskip("jsonschema")
COMMITTED = ROOT / "schema" / "spec.schema.json"
MODELINE = "# yaml-language-server: $schema=../schema/spec.schema.json"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(COMMITTED.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors(validator, data) -> list[tuple[list, str]]:
    return [(list(e.absolute_path), e.message) for e in validator.iter_errors(data)]


def xor() -> dict:
    return read_file(ROOT / "specs" / "xor.yaml")[0]


def test_the_committed_schema_is_current():
    assert COMMITTED.read_text() == schema_text(), (
        "regenerate with: python -m interpreter schema -o schema/spec.schema.json")


def test_it_is_draft_07_throughout():
    """The YAML language server reads draft-07: no 2020-12 keywords anywhere."""
    text = schema_text()
    schema = json.loads(text)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    for keyword in ("$defs", "prefixItems", "unevaluatedProperties", "$dynamicRef"):
        assert f'"{keyword}"' not in text, keyword


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_spec_follows_the_schema(validator, path):
    data, _ = read_file(path)
    assert errors(validator, data) == []


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_spec_names_the_schema(path):
    if path.suffix == ".json":
        assert json.loads(path.read_text())["$schema"] == "../schema/spec.schema.json"
    else:
        assert path.read_text().splitlines()[0] == MODELINE


def test_every_op_sample_s_attrs_follow_the_schema():
    """The schema is never stricter than an op's own attrs model, on what its tests use."""
    schema = spec_schema()
    for op in all_ops():
        attrs = jsonschema.Draft7Validator({**schema["definitions"][f"attrs_{op.name}"],
                                            "definitions": schema["definitions"]})
        for sample in op.samples:
            assert list(attrs.iter_errors(sample.attrs)) == [], (op.name, sample.attrs)


def test_a_misspelt_attr_of_linear_is_rejected(validator):
    data = xor()
    data["nodes"][0]["attrs"] = {"out_feature": 3}
    assert errors(validator, data) == [
        (["nodes", 0, "attrs"], "Additional properties are not allowed ('out_feature' was "
                                "unexpected)"),
        (["nodes", 0, "attrs"], "'out_features' is a required property")]


@pytest.mark.parametrize("change, path, message", [
    ({"op": "lineer"}, ["nodes", 0, "op"], "'lineer' is not one of"),
    ({"attrs": {"out_features": 0}}, ["nodes", 0, "attrs", "out_features"],
     "0 is less than the minimum of 1"),
    ({"attrs": {"out_features": 3, "bias": "yes"}}, ["nodes", 0, "attrs", "bias"],
     "'yes' is not of type 'boolean'"),
    ({"params": {"V": [[1.0]]}}, ["nodes", 0, "params"],
     "Additional properties are not allowed ('V' was unexpected)"),
    ({"params": {"W": {"init": "normal", "stdev": 1}}}, ["nodes", 0, "params", "W"],
     "is not valid under any of the given schemas"),
])
def test_node_mistakes_are_rejected_where_they_are(validator, change, path, message):
    data = xor()
    data["nodes"][0].update(change)
    found = errors(validator, data)
    assert found and found[0][0] == path and message in found[0][1], found


def test_an_op_without_attrs_takes_none(validator):
    data = xor()
    data["nodes"][1]["attrs"] = {"slope": 0.1}  # relu
    assert errors(validator, data)[0][0] == ["nodes", 1, "attrs"]


@pytest.mark.parametrize("attrs", [{"kernel_size": 3}, {"kernel_size": [3, 2]},
                                   {"kernel_size": 3, "padding": [1, 0], "stride": None}])
def test_sizes_are_an_int_or_a_pair(validator, attrs):
    data = read_file(ROOT / "specs" / "cnn.yaml")[0]
    pool = next(n for n in data["nodes"] if n["op"] == "max_pool2d")
    pool["attrs"] = attrs
    assert errors(validator, data) == []
    pool["attrs"] = {"kernel_size": [3, 3, 3]}
    assert errors(validator, data)


def test_starts_initializers_ties_and_literals(validator):
    data = xor()
    data["nodes"][0]["params"] = {"W": {"init": "kaiming_normal", "nonlinearity": "relu"},
                                  "b": [[0.1, 0.2, 0.3]]}
    data["nodes"][2]["params"] = {"W": {"tie": "a1.W"}}
    assert errors(validator, data) == []
    data["nodes"][2]["params"] = {"W": {"tie": "a1.W", "init": "zeros"}}
    assert errors(validator, data)


def test_json_specs_may_name_their_schema_and_nothing_else_unknown(validator):
    data = xor()
    data["$schema"] = "../schema/spec.schema.json"
    assert errors(validator, data) == []
    data["shema"] = 1
    assert errors(validator, data)


def test_bad_golden_specs_with_attr_mistakes_fail_the_schema_too(validator):
    for name in ("attrs.yaml", "params.yaml", "unknown_op.yaml", "five_at_once.yaml"):
        assert errors(validator, read_file(DATA / "bad" / name)[0]), name


def test_schema_command_writes_a_file_or_stdout(tmp_path, capsys):
    assert main(["schema", "-o", str(tmp_path / "s.json")]) == 0
    assert (tmp_path / "s.json").read_text() == schema_text()
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == schema_text()


def test_schema_into_a_missing_folder_fails_clearly(tmp_path, capsys):
    assert main(["schema", "-o", str(tmp_path / "no" / "s.json")]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


PLUGIN = '''
from pydantic import Field
from interpreter import Arg, Op, register_op
from interpreter.ops.registry import Attrs


class ScaleAttrs(Attrs):
    factor: float = Field(description="The factor.")


def scale_shape(attrs, shapes):
    return shapes[0]


def scale_forward(ctx, xs, ps):
    return xs[0] * ctx.attrs.factor, None


def scale_vjp(ctx, g, saved, needs):
    return (g * ctx.attrs.factor,), ()


register_op(Op(name="schema_scale", doc="out = factor x.", inputs=(Arg("x"),),
               attrs=ScaleAttrs, shape=scale_shape, forward=scale_forward, vjp=scale_vjp))
'''


def test_a_plugin_s_ops_join_the_schema_it_is_given_to(tmp_path, monkeypatch, capsys):
    from interpreter.ops.registry import unregister_op

    (tmp_path / "schema_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert main(["schema", "--plugin", "schema_plugin"]) == 0
        schema = json.loads(capsys.readouterr().out)
    finally:
        unregister_op("schema_scale")
        monkeypatch.delitem(__import__("sys").modules, "schema_plugin", raising=False)
    assert "schema_scale" in schema["definitions"]["NodeSpec"]["properties"]["op"]["enum"]
    attrs = schema["definitions"]["attrs_schema_scale"]
    assert attrs["required"] == ["factor"] and attrs["additionalProperties"] is False
    assert "schema_scale" not in COMMITTED.read_text()
