"""The JSON Schema of the spec format, for editors and outside tools.

    python -m interpreter schema -o schema/spec.schema.json

The document's structure comes from the pydantic models in `document.py`; each node's
`attrs` and `params` come from its op's record in the registry. A node says which op it is
in `op:`, so the schema ties the two together per op: for every registered op,

    if op is 'linear' then attrs follows linear's attrs model, params names W and b

(draft-07's `if`/`then`, one clause per op). Editors then complete and check each node's
attrs as its op defines them, and name the node's own op in their messages.

Draft-07 and not pydantic's 2020-12, because that is the draft the YAML language server (VS
Code's YAML extension) reads: `definitions` instead of `$defs`, tuples as `items` arrays
instead of `prefixItems`.

Op names are a closed list: a misspelt `op:` is flagged in the editor, not accepted. Ops
that a plugin registers are in the schema only when it is generated with that plugin
imported (`schema --plugin MODULE`); the committed schema covers the built-in ops.
"""
from __future__ import annotations

import json
from typing import Any

from ..core.errors import InternalError
from ..ops.initializers import INITIALIZERS
from ..ops.registry import Op, all_ops
from .document import Spec

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
_REF = "#/definitions/{model}"
# Not draft-07 keywords, or noise in an editor's hover text ("Out Features" above the
# field's description).
_DROPPED = ("title", "discriminator")
_VALUES = ("default", "const", "enum", "examples")  # data, not schemas: kept as they are


def _draft07(schema: Any) -> Any:
    """A pydantic JSON Schema fragment rewritten in draft-07 terms."""
    if isinstance(schema, list):
        return [_draft07(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        if key in _VALUES:
            converted[key] = value
        elif key == "prefixItems":  # a fixed-length tuple
            converted["items"] = _draft07(value)
            converted["additionalItems"] = False
        elif key in ("properties", "$defs"):
            converted[key] = {name: _draft07(sub) for name, sub in value.items()}
        else:
            converted[key] = _draft07(value)
    return converted


def _model_schema(model: type, definitions: dict[str, Any]) -> dict[str, Any]:
    """A model's schema in draft-07 terms; the models it uses join `definitions`."""
    schema = _draft07(model.model_json_schema(by_alias=True, ref_template=_REF))
    for name, definition in schema.pop("$defs", {}).items():
        if definitions.setdefault(name, definition) != definition:
            raise InternalError(f"two different models are both named {name!r} in the schema")
    return schema


def _literal() -> dict[str, Any]:
    return {"description": "A number or nested lists of numbers (a rectangular array).",
            "anyOf": [{"type": "number"},
                      {"type": "array", "items": {"$ref": "#/definitions/literal"}}]}


def _initializer_start(definitions: dict[str, Any]) -> dict[str, Any]:
    """`{init: NAME, ...options}`, the options checked per initializer."""
    names = list(INITIALIZERS)
    clauses = []
    for name, initializer in INITIALIZERS.items():
        options = _model_schema(initializer.options, definitions)
        properties = {"init": {"const": name, "description": initializer.doc}}
        properties.update(options.get("properties", {}))
        clauses.append({"if": {"properties": {"init": {"const": name}}, "required": ["init"]},
                        "then": {"properties": properties, "additionalProperties": False,
                                 "required": ["init", *options.get("required", [])]}})
    return {"type": "object", "description": "Draw the start values with an initializer.",
            "required": ["init"],
            "properties": {"init": {"enum": names, "description": "The initializer."}},
            "allOf": clauses}


def _parameter_start() -> dict[str, Any]:
    return {"anyOf": [
        {"$ref": "#/definitions/initializer_start"},
        {"type": "object", "description": "Use another node's parameter (tied weights).",
         "required": ["tie"], "additionalProperties": False,
         "properties": {"tie": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*"
                                r"(\.[A-Za-z_][A-Za-z0-9_]*)?$",
                                "description": "NODE.PARAM, or a parameter node's id."}}},
        {"$ref": "#/definitions/literal"},
    ]}


def _params_schema(op: Op) -> dict[str, Any]:
    properties = {}
    named_after_node = False
    for param in op.params:
        if not param.name:  # named after the node (the `parameter` op): any key
            named_after_node = True
            continue
        when = f" (when {param.enabled_by})" if param.enabled_by else ""
        properties[param.name] = {"$ref": "#/definitions/parameter_start",
                                  "description": f"{param.doc}{when}; default start: "
                                                 f"{param.init}"}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["additionalProperties"] = ({"$ref": "#/definitions/parameter_start"}
                                      if named_after_node else False)
    if not op.params:
        schema["description"] = f"'{op.name}' has no parameters."
    return schema


def _node_schema(node: dict[str, Any], ops: list[Op], definitions: dict[str, Any]
                 ) -> dict[str, Any]:
    names = [op.name for op in ops]
    node["properties"]["op"] = {"enum": names, "description": "A name in the op registry "
                                "(python -m interpreter ops)."}
    clauses = []
    for op in ops:
        attrs = _model_schema(op.attrs, definitions)
        attrs.setdefault("description", op.doc.strip().split("\n")[0])
        definitions[f"attrs_{op.name}"] = attrs
        definitions[f"params_{op.name}"] = _params_schema(op)
        then: dict[str, Any] = {"properties": {
            "attrs": {"$ref": f"#/definitions/attrs_{op.name}"},
            "params": {"$ref": f"#/definitions/params_{op.name}"}}}
        if attrs.get("required"):
            then["required"] = ["attrs"]
        clauses.append({"if": {"properties": {"op": {"const": op.name}}, "required": ["op"]},
                        "then": then})
    node["allOf"] = clauses
    return node


def spec_schema() -> dict[str, Any]:
    """The schema, as a dict: the document, each node's attrs and params per registered op."""
    definitions: dict[str, Any] = {}
    root = _model_schema(Spec, definitions)
    definitions["NodeSpec"] = _node_schema(definitions["NodeSpec"], all_ops(), definitions)
    definitions["literal"] = _literal()
    definitions["initializer_start"] = _initializer_start(definitions)
    definitions["parameter_start"] = _parameter_start()
    root["properties"]["$schema"] = {"type": "string", "description": "This schema's path or "
                                     "URL, for editors (JSON specs; YAML specs use the "
                                     "'# yaml-language-server: $schema=' comment)."}
    return {"$schema": DRAFT_07, "title": "nnspec network spec", **root,
            "definitions": definitions}


def schema_text() -> str:
    """The schema as the committed file holds it."""
    return json.dumps(spec_schema(), indent=2) + "\n"
