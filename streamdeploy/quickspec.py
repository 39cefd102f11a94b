"""The description's objects built without pydantic, for the descriptions it can vouch for.

Importing pydantic and building the models costs a command more than everything else it
does (benchmarks/cli.md). ``build`` reads ``spec_table`` (the models as data, generated from
``spec.py``) and makes the same objects for a description that is plainly valid: every
value of exactly the type the model declares, every key known, every constraint met.
Anything it cannot vouch for (a value pydantic would convert or reject, a key spelled by
its attribute name, a pattern on non-ASCII text) makes it return None, and the caller
validates with the models, which give the exact error or the converted value. So this
module never decides an error: it only skips pydantic when pydantic would agree.
``tests/test_quickspec.py`` checks that agreement on every example and fuzzed description.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from streamdeploy import description, units
from streamdeploy.spec_table import MODELS

_FUNCTIONS = {
    "streamdeploy.units.parse_size": units.parse_size,
    "streamdeploy.units.parse_duration": units.parse_duration,
    "streamdeploy.description.env_value": description.env_value,
    "streamdeploy.description.env_kind": description.env_kind,
    "streamdeploy.description.secret_kind": description.secret_kind,
}
_FLOAT_EXACT = 2**53  # beyond it an int does not survive float() unchanged
_INT_LIMIT = 2**63


class _Doubt(Exception):
    """Not plainly valid: let the models decide."""


class QuickModel(description.Kind):
    """A model's values, read-only, compared and shown like a pydantic model's."""

    __slots__ = ()
    model_fields: dict[str, None] = {}

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, a) == getattr(other, a) for a in self.__slots__)

    def __hash__(self) -> int:
        return hash((type(self).__name__, *(getattr(self, a) for a in self.__slots__)))

    def __repr__(self) -> str:
        values = ", ".join(f"{a}={getattr(self, a)!r}" for a in self.__slots__)
        return f"{type(self).__name__}({values})"

    def model_dump(self, *, by_alias: bool = False, mode: str = "python") -> dict[str, Any]:
        """The values by attribute name (or by the file's key), as pydantic's ``model_dump`` gives
        them; ``mode="json"`` is for the descriptions YAML gives, whose values are JSON already."""
        keys = _ALIASES[type(self).__name__] if by_alias else dict(zip(self.__slots__, self.__slots__))
        return {keys[a]: _dump(getattr(self, a), by_alias) for a in self.__slots__}

    def model_copy(self, update: dict[str, Any] | None = None) -> QuickModel:
        """A copy with some values replaced, unvalidated, as pydantic's ``model_copy`` makes."""
        unknown = set(update or {}) - set(self.__slots__)
        if unknown:
            raise AttributeError(f"{type(self).__name__} has no field {sorted(unknown)[0]}")
        made = object.__new__(type(self))
        for attribute in self.__slots__:
            object.__setattr__(made, attribute, (update or {}).get(attribute, getattr(self, attribute)))
        return made

    def model_dump_json(self) -> str:
        return json.dumps(self.model_dump(), ensure_ascii=False, separators=(",", ":"))


def _dump(value: object, by_alias: bool = False) -> object:
    if isinstance(value, QuickModel):
        return value.model_dump(by_alias=by_alias)
    if isinstance(value, list):
        return [_dump(v, by_alias) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v, by_alias) for k, v in value.items()}
    return value


def _class(name: str, fields: tuple) -> type:
    attributes = tuple(f[0] for f in fields)
    kind = getattr(description, name, None)
    bases = (QuickModel, kind) if isinstance(kind, type) and issubclass(kind, description.Kind) else (QuickModel,)
    return type(name, bases, {"__slots__": attributes, "__module__": __name__, "__qualname__": name,
                              "model_fields": dict.fromkeys(attributes)})


_CLASSES = {name: _class(name, fields) for name, fields in MODELS.items()}
_KEYS = {name: {f[1] for f in fields} for name, fields in MODELS.items()}
_ALIASES = {name: {f[0]: f[1] for f in fields} for name, fields in MODELS.items()}


def build(data: object) -> Any | None:
    """The description's Spec, or None when the models must decide."""
    try:
        return _model("Spec", data)
    except _Doubt:
        return None


def _model(name: str, value: object) -> QuickModel:
    if type(value) is not dict or not value.keys() <= _KEYS[name]:
        raise _Doubt
    made = object.__new__(_CLASSES[name])
    for attribute, key, kind, default in MODELS[name]:
        if key in value:
            result = _value(kind, value[key])
        elif default is None:
            raise _Doubt  # a required key is missing
        elif default[0] == "value":
            result = default[1]
        elif default[0] == "new":
            result = [] if default[1] == "list" else {}
        else:
            result = _model(default[1], default[2])
        object.__setattr__(made, attribute, result)
    return made


def _value(kind: tuple, value: object) -> object:
    tag = kind[0]
    if tag == "str":
        if type(value) is not str:
            raise _Doubt
        _text_limits(kind[1], value)
        return value
    if tag == "int":
        if type(value) is not int or abs(value) >= _INT_LIMIT:
            raise _Doubt
        _number_limits(kind[1], value)
        return value
    if tag == "float":
        if type(value) not in (int, float) or (type(value) is int and abs(value) > _FLOAT_EXACT):
            raise _Doubt
        value = float(value)
        if not math.isfinite(value):
            raise _Doubt
        _number_limits(kind[1], value)
        return value
    if tag == "bool":
        if type(value) is not bool:
            raise _Doubt
        return value
    if tag == "any":
        return value
    if tag == "literal":
        for expected in kind[1]:
            if type(value) is type(expected) and value == expected:
                return value
        raise _Doubt
    if tag == "nullable":
        return None if value is None else _value(kind[1], value)
    if tag == "model":
        return _model(kind[1], value)
    if tag == "list":
        if type(value) is not list:
            raise _Doubt
        _size_limits(kind[2], value)
        return [_value(kind[1], item) for item in value]
    if tag == "dict":
        if type(value) is not dict:
            raise _Doubt
        _size_limits(kind[3], value)
        return {_value(kind[1], k): _value(kind[2], v) for k, v in value.items()}
    if tag == "before":
        try:
            converted = _FUNCTIONS[kind[1]](value)
        except Exception:  # the models turn it into the error message
            raise _Doubt from None
        return _value(kind[2], converted)
    if tag == "tagged":
        choice = kind[2].get(_FUNCTIONS[kind[1]](value))
        if choice is None:
            raise _Doubt
        return _value(choice, value)
    if tag == "union":
        taken = []
        for choice in kind[1]:
            try:
                taken.append(_value(choice, value))
            except _Doubt:
                pass
        if len(taken) != 1:  # none, or several: the models' smart mode picks
            raise _Doubt
        return taken[0]
    raise _Doubt  # a kind this module does not know: the table is newer than this code


def _text_limits(limits: dict, value: str) -> None:
    if not limits:
        return
    if "min_length" in limits and len(value) < limits["min_length"]:
        raise _Doubt
    if "max_length" in limits and len(value) > limits["max_length"]:
        raise _Doubt
    pattern = limits.get("pattern")
    # Python's `$` also matches before a final newline and its classes differ from Rust's
    # on some non-ASCII text: there, pydantic's own regex decides.
    if pattern is not None and (not value.isascii() or "\n" in value or re.search(pattern, value) is None):
        raise _Doubt


def _number_limits(limits: dict, value: float) -> None:
    if not limits:
        return
    if ("ge" in limits and not value >= limits["ge"]) or ("gt" in limits and not value > limits["gt"]) or \
            ("le" in limits and not value <= limits["le"]) or ("lt" in limits and not value < limits["lt"]):
        raise _Doubt


def _size_limits(limits: dict, value: list | dict) -> None:
    if ("min_length" in limits and len(value) < limits["min_length"]) or \
            ("max_length" in limits and len(value) > limits["max_length"]):
        raise _Doubt
