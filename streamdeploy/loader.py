"""``streamdeploy.yaml`` -> :class:`Spec`, with every problem pointing at FILE:LINE:COL.

YAML is composed into nodes (which keep their positions), turned into plain data while
recording where each key path sits, validated by the pydantic models, then checked for
cross-field rules. All problems of one file are collected before anything fails.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamdeploy import exitcodes
from streamdeploy.problems import Problem, ProblemsError, fail

FILENAME = "streamdeploy.yaml"
MAX_BYTES = 1_000_000  # a description is a few KB; refuse to parse megabytes of YAML


@dataclass
class Positions:
    """Key path (tuple) -> (line, column), both 1-based."""

    keys: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    values: dict[tuple, tuple[int, int]] = field(default_factory=dict)

    def of(self, path: tuple, *, key: bool = False) -> tuple[int, int] | None:
        table = self.keys if key else self.values
        while path:
            if path in table:
                return table[path]
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get(())


@dataclass(frozen=True)
class Loaded:
    spec: Any  # streamdeploy.spec.Spec
    path: Path
    positions: Positions

    @property
    def root(self) -> Path:
        return self.path.parent


def find_description(start: Path | None = None) -> Path:
    """The nearest streamdeploy.yaml in this directory or a parent (like git)."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / FILENAME
        if candidate.is_file():
            return candidate
    raise fail(
        f"no {FILENAME} here or in any parent directory of {here}",
        fix="run `streamdeploy init` to write one, or pass -f PATH",
    )


def read_text(path: Path) -> str:
    display = str(path)
    if not path.exists():
        raise fail(f"{display} does not exist", file=display, fix="check the path, or run `streamdeploy init`")
    if path.is_dir():
        raise fail(f"{display} is a directory, not a file", file=display, fix=f"pass the file: {path / FILENAME}")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise fail(
            f"{display} is {size:,} bytes; a description is at most {MAX_BYTES:,}",
            file=display,
            fix="is this the right file? A streamdeploy.yaml is usually under 5 KB",
        )
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise fail(
            f"{display} is not UTF-8 text (byte {err.start} is {err.object[err.start]:#04x})",
            file=display,
            fix="save the file as UTF-8",
        ) from None
    except OSError as err:
        raise fail(f"cannot read {display}: {err.strerror}", file=display) from None


def parse_yaml(text: str, display: str) -> tuple[Any, Positions]:
    """YAML text -> (plain data, positions). Duplicate keys are errors, not last-wins."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        what = getattr(err, "problem", None) or str(err)
        raise fail(
            f"invalid YAML: {what}",
            file=display,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            fix="check indentation and quoting near this spot",
        ) from None
    positions = Positions()
    problems: list[Problem] = []
    if node is None:
        return None, positions
    constructor = yaml.SafeLoader("")

    def build(n: Any, path: tuple) -> Any:
        positions.values[path] = (n.start_mark.line + 1, n.start_mark.column + 1)
        if isinstance(n, yaml.MappingNode):
            constructor.flatten_mapping(n)
            result: dict = {}
            for key_node, value_node in n.value:
                key = constructor.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    problems.append(_at(display, key_node, path, "a key must be a plain word"))
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key in result:
                    problems.append(
                        _at(display, key_node, path + (key,), f"`{key}` appears twice", fix="keep one of them")
                    )
                    continue
                positions.keys[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                result[key] = build(value_node, path + (key,))
            return result
        if isinstance(n, yaml.SequenceNode):
            return [build(item, path + (i,)) for i, item in enumerate(n.value)]
        return constructor.construct_object(n, deep=True)

    try:
        data = build(node, ())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise fail(
            f"invalid YAML: {getattr(err, 'problem', err)}",
            file=display,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    if problems:
        raise ProblemsError(problems)
    return data, positions


def _at(display: str, node: Any, path: tuple, message: str, fix: str | None = None) -> Problem:
    return Problem(
        message,
        file=display,
        line=node.start_mark.line + 1,
        column=node.start_mark.column + 1,
        key=dotted(path),
        fix=fix,
    )


def dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + str(part))
    return out


def load(path: Path | str | None = None) -> Loaded:
    """Read, parse, validate. Raises ProblemsError (exit 2) with every problem found."""
    path = Path(path) if path is not None else find_description()
    display = _display(path)
    text = read_text(path)
    return load_text(text, path, display)


def load_text(text: str, path: Path, display: str | None = None) -> Loaded:
    display = display or str(path)
    data, positions = parse_yaml(text, display)
    if data is None:
        raise fail(
            f"{display} is empty",
            file=display,
            fix="start from `streamdeploy init`, or see the format in the README",
        )
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise fail(
            f"the top level of {display} must be a mapping (version:, name:, services:), not {kind}",
            file=display,
            line=1,
            column=1,
        )
    spec, problems = validate_data(data, positions, display)
    if problems:
        raise ProblemsError(problems, exitcodes.BAD_INPUT)
    return Loaded(spec, path.resolve(), positions)


def validate_data(data: dict, positions: Positions, display: str) -> tuple[Any, list[Problem]]:
    from pydantic import ValidationError

    from streamdeploy import consistency
    from streamdeploy.spec import Spec

    try:
        spec = Spec.model_validate(data)
    except ValidationError as err:
        problems = [_from_pydantic(e, data, positions, display) for e in err.errors()]
        return None, _dedupe(problems)
    problems = []
    for key_path, message, fix in consistency.problems(spec):
        line_col = positions.of(key_path)
        problems.append(
            Problem(
                message,
                file=display,
                line=line_col[0] if line_col else None,
                column=line_col[1] if line_col else None,
                key=dotted(key_path),
                fix=fix,
            )
        )
    return spec, problems


def _from_pydantic(error: dict, data: dict, positions: Positions, display: str) -> Problem:
    loc = tuple(error["loc"])
    kind = error["type"]
    # Pydantic appends the validator's name (e.g. "function-after[...]") for some errors.
    loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p and p.endswith("]"))))
    if kind == "extra_forbidden":
        unknown = loc[-1]
        allowed = _allowed_keys(loc[:-1], data)
        close = difflib.get_close_matches(str(unknown), allowed, n=1, cutoff=0.6)
        fix = f"did you mean `{close[0]}`?" if close else (f"allowed here: {', '.join(sorted(allowed))}" if allowed else None)
        line_col = positions.of(loc, key=True)
        return Problem(
            f"unknown key `{unknown}`",
            file=display,
            line=line_col[0] if line_col else None,
            column=line_col[1] if line_col else None,
            key=dotted(loc),
            fix=fix,
        )
    if kind == "missing":
        line_col = positions.of(loc[:-1])
        return Problem(
            f"`{loc[-1]}` is required",
            file=display,
            line=line_col[0] if line_col else None,
            column=line_col[1] if line_col else None,
            key=dotted(loc),
            fix=_MISSING_FIX.get(str(loc[-1])),
        )
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    got = error.get("input")
    if kind.endswith("_type") or kind in ("literal_error", "string_pattern_mismatch", "enum"):
        message = f"{message} (got {_show(got)})"
    line_col = positions.of(loc)
    return Problem(
        message,
        file=display,
        line=line_col[0] if line_col else None,
        column=line_col[1] if line_col else None,
        key=dotted(loc),
        fix=_fix_for(kind, loc, error),
    )


_MISSING_FIX = {
    "version": "add `version: 1` at the top",
    "name": "add `name: my-service` (lowercase letters, digits, -)",
    "services": "add a `services:` mapping with at least one service",
    "start": "add the command that starts the server, e.g. `uvicorn app.main:app --host 0.0.0.0 --port $PORT`",
    "paths": "list the SSE paths, e.g. `paths: [/stream]`",
    "name_": "",
}


def _fix_for(kind: str, loc: tuple, error: dict) -> str | None:
    last = str(loc[-1]) if loc else ""
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        if "a-z" in pattern and "-" in pattern:
            return "use lowercase letters, digits and -, starting with a letter (at most 30 characters): every platform accepts that"
        if "A-Za-z_" in pattern:
            return "use letters, digits and _, not starting with a digit"
        if pattern == "^/":
            return "start the path with /"
        if "a-z0-9_" in pattern:
            return "use lowercase letters, digits and _, starting with a letter"
    if kind in ("less_than_equal", "greater_than_equal", "greater_than", "less_than") and last == "port":
        return "a port is a number from 1 to 65535"
    if kind == "literal_error" and last == "version":
        return "this streamdeploy reads `version: 1`"
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def _allowed_keys(loc: tuple, data: dict) -> list[str]:
    """Field names (by alias) of the model at ``loc``, for 'did you mean'."""
    from streamdeploy.spec import Spec

    model: Any = Spec
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = _field_model(model, part)
        if annotation is None:
            return []
        model = annotation
    if not hasattr(model, "model_fields"):
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _field_model(model: Any, part: str) -> Any:
    import typing

    fields = getattr(model, "model_fields", None)
    if fields is None:
        return None
    field = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
    if field is None:
        # A dict's key (e.g. a service name): step into the value type.
        return model
    annotation = field.annotation
    for _ in range(4):
        origin = typing.get_origin(annotation)
        if origin is dict:
            annotation = typing.get_args(annotation)[1]
            return _unwrap(annotation)
        if origin is list:
            annotation = typing.get_args(annotation)[0]
            continue
        break
    return _unwrap(annotation)


def _unwrap(annotation: Any) -> Any:
    import typing

    if hasattr(annotation, "model_fields"):
        return annotation
    for arg in typing.get_args(annotation):
        found = _unwrap(arg)
        if found is not None and hasattr(found, "model_fields"):
            return found
    return annotation


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        key = (p.key, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
