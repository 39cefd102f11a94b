"""Writes streamdeploy/spec_table.py: the description's models as plain data, for quickspec.

The models in streamdeploy/spec.py stay the one definition. This reads what pydantic built
from them (each model's core schema: types, constraints, aliases, defaults, the validators
and discriminators it calls) and writes it out as a literal that needs no pydantic to read.
A node it does not know stops it, so a new kind of field cannot slip past quickspec unseen.
`tests/test_spec_table.py` fails when the written table is not what this produces.

    .venv/bin/python tools/spec_table.py          # rewrite the table
    .venv/bin/python tools/spec_table.py --check  # exit 1 when it is stale
"""

from __future__ import annotations

import pprint
import sys
from pathlib import Path

TABLE = Path(__file__).resolve().parent.parent / "streamdeploy" / "spec_table.py"
HEADER = '''"""The description's models as data, read by quickspec without importing pydantic.

Generated from streamdeploy/spec.py by tools/spec_table.py; do not edit.
Field: (attribute, key in the file, type, default). A default is None when the key is
required, ("value", v), ("new", "list"|"dict"), or ("model", name, values).
"""

'''
# The only functions a type may call; quickspec has the same names.
FUNCTIONS = {
    "streamdeploy.units.parse_size", "streamdeploy.units.parse_duration",
    "streamdeploy.description.env_value", "streamdeploy.description.env_kind",
    "streamdeploy.description.secret_kind",
}
CONSTRAINTS = {"pattern", "ge", "gt", "le", "lt", "min_length", "max_length"}


class Unknown(Exception):
    pass


def generate() -> str:
    from streamdeploy.spec import Spec

    models: dict[str, tuple] = {}
    schema = Spec.__pydantic_core_schema__
    definitions = {d["ref"]: d for d in schema.get("definitions", [])}
    root = _type(schema, models, definitions)
    assert root == ("model", "Spec"), root
    body = "MODELS = " + pprint.pformat(models, width=110, sort_dicts=False) + "\n"
    return HEADER + body


def _function(function: object) -> str:
    name = f"{function.__module__}.{function.__qualname__}"
    if name not in FUNCTIONS:
        raise Unknown(f"a validator quickspec does not know: {name}")
    return name


def _constraints(node: dict, allowed: set[str]) -> dict:
    known = {"type", "metadata", "ref", "strict"} | allowed
    extra = set(node) - known
    if extra or node.get("strict"):
        raise Unknown(f"{node['type']} with {sorted(extra) or 'strict'}")
    return {k: node[k] for k in sorted(allowed) if k in node}


def _type(node: dict, models: dict, definitions: dict) -> tuple:
    kind = node["type"]
    if kind == "definitions":
        definitions.update({d["ref"]: d for d in node["definitions"]})
        return _type(node["schema"], models, definitions)
    if kind == "definition-ref":
        return _type(definitions[node["schema_ref"]], models, definitions)
    if kind == "model":
        return ("model", _model(node, models, definitions))
    if kind in ("str", "int", "float"):
        limits = {"str": {"pattern", "min_length", "max_length"}}.get(kind, {"ge", "gt", "le", "lt"})
        if kind == "float":
            node = {k: v for k, v in node.items() if k != "allow_inf_nan"} if node.get("allow_inf_nan", True) else node
        return (kind, _constraints(node, limits))
    if kind in ("bool", "any"):
        _constraints(node, set())
        return (kind,)
    if kind == "literal":
        return ("literal", list(node["expected"]))
    if kind == "nullable":
        return ("nullable", _type(node["schema"], models, definitions))
    if kind == "list":
        limits = _constraints({k: v for k, v in node.items() if k != "items_schema"}, {"min_length", "max_length"})
        return ("list", _type(node["items_schema"], models, definitions), limits)
    if kind == "dict":
        rest = {k: v for k, v in node.items() if k not in ("keys_schema", "values_schema")}
        return ("dict", _type(node["keys_schema"], models, definitions),
                _type(node["values_schema"], models, definitions), _constraints(rest, {"min_length", "max_length"}))
    if kind == "function-before":
        if node["function"]["type"] != "no-info":
            raise Unknown("a validator that takes info")
        return ("before", _function(node["function"]["function"]), _type(node["schema"], models, definitions))
    if kind == "tagged-union":
        choices = {tag: _type(choice, models, definitions) for tag, choice in node["choices"].items()}
        return ("tagged", _function(node["discriminator"]), choices)
    if kind == "union":
        if node.get("mode", "smart") != "smart":
            raise Unknown("a union that is not smart")
        return ("union", [_type(c, models, definitions) for c in node["choices"]])
    raise Unknown(f"a core schema node quickspec does not know: {kind}")


def _model(node: dict, models: dict, definitions: dict) -> str:
    cls = node["cls"]
    name = cls.__name__
    if name in models:
        return name
    models[name] = ()  # a placeholder while its fields are read (no model holds itself)
    config = node.get("config", {})
    if config.get("extra_fields_behavior") != "forbid" or node.get("custom_init") or node.get("root_model"):
        raise Unknown(f"{name}: quickspec reads models that forbid extra keys, without custom __init__")
    inner = node["schema"]
    if inner["type"] != "model-fields" or inner.get("computed_fields"):
        raise Unknown(f"{name}: {inner['type']} with computed fields")
    fields = []
    for attribute, field in inner["fields"].items():
        key = field.get("validation_alias", attribute)
        if not isinstance(key, str):
            raise Unknown(f"{name}.{attribute}: an alias path")
        schema = field["schema"]
        default = None
        if schema["type"] == "default":
            default = _default(cls, attribute, schema)
            schema = schema["schema"]
        fields.append((attribute, key, _type(schema, models, definitions), default))
    models[name] = tuple(fields)
    return name


def _default(cls: type, attribute: str, node: dict) -> tuple:
    if node.get("validate_default"):
        raise Unknown(f"{cls.__name__}.{attribute}: a default that is validated")
    if "default" in node:
        value = node["default"]
        if not (value is None or isinstance(value, (str, int, float, bool))):
            raise Unknown(f"{cls.__name__}.{attribute}: a default of type {type(value).__name__}")
        return ("value", value)
    factory = node["default_factory"]
    if factory in (list, dict):
        return ("new", factory.__name__)
    made = factory()
    fields = type(made).model_fields
    return ("model", type(made).__name__,
            {fields[a].validation_alias or a: getattr(made, a) for a in fields if a in made.model_fields_set})


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if TABLE.read_text() != text:
            print(f"{TABLE} is stale: run tools/spec_table.py", file=sys.stderr)
            return 1
        return 0
    TABLE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(TABLE.parent.parent))
    sys.exit(main(sys.argv[1:]))
