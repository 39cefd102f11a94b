"""``streamdeploy.yaml`` -> :class:`Spec`, with every problem pointing at FILE:LINE:COL.

YAML is composed into nodes (which keep their positions), turned into plain data while
recording where each key path sits, validated by the pydantic models, then checked for
cross-field rules. All problems of one file are collected before anything fails.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from streamdeploy import exitcodes, records
from streamdeploy.problems import Problem, ProblemsError, fail
from streamdeploy.records import factory, record

FILENAME = "streamdeploy.yaml"
MAX_BYTES = 1_000_000  # a description is a few KB; refuse to parse megabytes of YAML
MAX_NODES = 100_000  # YAML aliases can expand a tiny file exponentially ("billion laughs")
# A description is a few levels deep (a verify request's JSON body the deepest); far deeper
# values overflow the serializers that render them (pydantic stops at its own depth).
MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNREADABLE = object()  # a scalar whose problem is noted: build on, report them all


@record
class Positions:
    """Key path (tuple) -> (line, column), both 1-based."""

    keys: dict[tuple, tuple[int, int]] = factory(dict)
    values: dict[tuple, tuple[int, int]] = factory(dict)

    def of(self, path: tuple, *, key: bool = False) -> tuple[int, int] | None:
        table = self.keys if key else self.values
        while path:
            if path in table:
                return table[path]
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get(())


@record(frozen=True)
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
        try:
            # A link is found even when it leads nowhere: read_text says why (a loop, dangling).
            if candidate.is_file() or candidate.is_symlink():
                return candidate
        except OSError as err:  # a folder on the way we may not search
            raise _unreadable(str(candidate), err) from None
    raise fail(
        f"no {FILENAME} here or in any parent directory of {here}",
        fix="run `streamdeploy init` to write one, or pass -f PATH",
    )


def read_text(path: Path) -> str:
    import errno
    import stat

    display = str(path)
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise fail(f"{display} does not exist", file=display, fix="check the path, or run `streamdeploy init`") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise fail(f"{display} is a symlink loop: following it never reaches a file", file=display,
                       fix="point the link (or -f) at the real streamdeploy.yaml") from None
        raise _unreadable(display, err) from None
    if stat.S_ISDIR(info.st_mode):
        raise fail(f"{display} is a directory, not a file", file=display, fix=f"pass the file: {path / FILENAME}")
    if not stat.S_ISREG(info.st_mode):  # /dev/zero, a FIFO: reading could block or never end
        raise fail(f"{display} is not a regular file", file=display, fix="pass the path of a streamdeploy.yaml")
    size = info.st_size
    # A /proc file says 0 bytes and reads more: then the size is what was read.
    too_big = fail(
        f"{display} is {'more than ' + format(MAX_BYTES, ',') if size <= MAX_BYTES else format(size, ',')} bytes;"
        f" a description is at most {MAX_BYTES:,}",
        file=display,
        fix="is this the right file? A streamdeploy.yaml is usually under 5 KB",
    )
    if size > MAX_BYTES:
        raise too_big
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)  # bounded even if the file grows while we read
        if len(data) > MAX_BYTES:
            raise too_big
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise fail(
            f"{display} is not UTF-8 text (byte {err.start} is {err.object[err.start]:#04x})",
            file=display,
            fix="save the file as UTF-8",
        ) from None
    except OSError as err:
        raise _unreadable(display, err) from None


def _unreadable(display: str, err: OSError) -> ProblemsError:
    return fail(f"cannot read {display}: {err.strerror or err}", file=display,
                fix="check that you may read it and the folders above it (ls -l), or pass another file with -f")


def parse_yaml(text: str, display: str) -> tuple[Any, Positions]:
    """YAML text -> (plain data, positions). Duplicate keys are errors, not last-wins."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise fail(f"{display} nests too deeply to be a description", file=display,
                   fix="a streamdeploy.yaml is a few levels deep; is this the right file?") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        what = getattr(err, "problem", None) or str(err)
        context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
        if context and context_mark is not None and context_mark is not mark:
            # e.g. an unclosed `[`: say where it opened, not only where parsing gave up
            what += f" ({context} that starts at {context_mark.line + 1}:{context_mark.column + 1})"
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
    built = [0]

    def construct(n: Any, path: tuple) -> Any:
        """A scalar's Python value, or _UNREADABLE with the problem noted: a number of
        thousands of digits, a date that does not exist, a lone UTF-16 surrogate (no file
        can hold it) are the writer's mistakes to fix, not tracebacks."""
        try:
            value = constructor.construct_object(n, deep=True)
        except (ValueError, OverflowError, TypeError, AttributeError) as err:  # PyYAML's own, for timestamps
            text = n.value if isinstance(n.value, str) else ""
            if n.tag.endswith(":int") and len(text) > 100:
                message = f"a number of {len(text):,} digits is too big for any setting"
            else:
                message = f"cannot read {_show(text)}: {err}"
            problems.append(_at(display, n, path, message,
                                fix="write a value of the size the key takes (a port is 1 to 65535; a size 1GB)"))
            return _UNREADABLE
        if isinstance(value, int) and value.bit_length() > 10_000:  # 0x + thousands of digits: parsed,
            # but no setting holds it, and printing it fails (Python's int-to-str limit)
            problems.append(_at(display, n, path, f"a number of {len(str(n.value)):,} characters is too big "
                                "for any setting", fix="write a value of the size the key takes"))
            return _UNREADABLE
        if isinstance(value, str) and _SURROGATE.search(value):
            where = _SURROGATE.search(value).start()
            problems.append(_at(display, n, path,
                                f"a lone surrogate ({value[where]!r}) at character {where + 1}: it is half of an "
                                "escaped character, which no file can hold",
                                fix="write the character itself, or escape it whole (\\U0001F600, not \\ud83d)"))
            return _UNREADABLE
        return value

    def build(n: Any, path: tuple) -> Any:
        built[0] += 1
        if built[0] > MAX_NODES:
            raise fail(
                f"{display} expands to more than {MAX_NODES:,} values (YAML aliases)",
                file=display,
                line=n.start_mark.line + 1,
                column=n.start_mark.column + 1,
                fix="use fewer `*alias` references; a description needs only a few",
            )
        positions.values[path] = (n.start_mark.line + 1, n.start_mark.column + 1)
        if len(path) == MAX_DEPTH and isinstance(n, (yaml.MappingNode, yaml.SequenceNode)):
            problems.append(_at(display, n, path, f"this value nests more than {MAX_DEPTH} levels deep",
                                fix="a description is a few levels deep; flatten it, or is this the right file?"))
            return None
        if isinstance(n, yaml.MappingNode):
            written_here = {id(key_node) for key_node, _ in n.value}
            constructor.flatten_mapping(n)  # `<<: *base` pairs first, then this mapping's own
            result: dict = {}
            merged: set = set()  # keys that came from a `<<` merge: this mapping's own override them
            for key_node, value_node in n.value:
                key = construct(key_node, path)
                if key is _UNREADABLE:
                    continue
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    problems.append(_at(display, key_node, path, "a key must be a plain word"))
                    continue
                if not isinstance(key, str):
                    # `ON:` / `no:` are YAML 1.1 booleans, `010:` octal: a key is the word as written
                    key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key)
                own = id(key_node) in written_here
                if key in result and own and key not in merged:
                    problems.append(
                        _at(display, key_node, path + (key,), f"`{key}` appears twice", fix="keep one of them")
                    )
                    continue
                if own:
                    merged.discard(key)
                else:
                    merged.add(key)
                positions.keys[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                result[key] = build(value_node, path + (key,))
            return result
        if isinstance(n, yaml.SequenceNode):
            return [build(item, path + (i,)) for i, item in enumerate(n.value)]
        value = construct(n, path)
        if value is _UNREADABLE:
            return None
        if (len(path) == 4 and path[0] == "services" and path[2] == "env" and n.style is None
                and isinstance(value, (bool, int, float))):
            # An env value is text: `DEBUG: off`, `V: 1.10`, `T: 12:30` reach the process as written,
            # not as YAML 1.1 reads them ("false", "1.1", "750").
            return n.value
        return value

    try:
        data = build(node, ())
    except RecursionError:
        raise fail(f"{display} nests too deeply to be a description", file=display) from None
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


def placed(error: ProblemsError, loaded: Loaded) -> ProblemsError:
    """Point a target's problems that name a key (``targets.fly.vm_size``) at that key's line."""
    display = _display(loaded.path)
    problems = []
    for p in error.problems:
        if p.key and p.file is None:
            path = tuple(int(part[1:-1]) if part.startswith("[") else part
                         for part in re.findall(r"\[\d+\]|[^.\[\]]+", p.key))
            line_col = loaded.positions.of(path, key=True)
            p = records.replace(p, file=display, line=line_col[0] if line_col else None,
                                column=line_col[1] if line_col else None)
        problems.append(p)
    return ProblemsError(problems, error.exit_code)


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
    spec, problems = validate_data(data, positions, display, description_dir=path.parent)
    if problems:
        raise ProblemsError(problems, exitcodes.BAD_INPUT)
    return Loaded(spec, path.resolve(), positions)


def validate_data(data: dict, positions: Positions, display: str,
                  description_dir: Path | None = None) -> tuple[Any, list[Problem]]:
    from streamdeploy import consistency, quickspec

    spec = quickspec.build(data)  # a plainly valid description needs no pydantic
    if spec is not None:
        problems = [_issue(issue, positions, display) for issue in consistency.problems(spec, description_dir)]
        return spec, _sorted(problems)

    from pydantic import ValidationError

    from streamdeploy.spec import Spec

    try:
        spec = Spec.model_validate(data)
    except ValidationError as err:
        problems = [_from_pydantic(e, data, positions, display) for e in err.errors()]
        issues = _issues_of_valid_services(data, err.errors())
        problems += [_issue(issue, positions, display) for issue in issues]
        return None, _sorted(_dedupe(problems))
    problems = [_issue(issue, positions, display) for issue in consistency.problems(spec, description_dir)]
    return spec, _sorted(problems)


def _issues_of_valid_services(data: dict, errors: list) -> list:
    """Cross-field rules for each service that parsed on its own, while others did not:
    a typo in one place must not hide a start command that can never bind its port."""
    from pydantic import ValidationError

    from streamdeploy import consistency
    from streamdeploy.spec import Service

    services = data.get("services")
    if not isinstance(services, dict):
        return []
    broken = {e["loc"][1] for e in errors
              if len(e["loc"]) > 2 and e["loc"][0] == "services" and e["loc"][2] != "[key]"}
    issues = []
    for name, value in services.items():
        if name in broken or not isinstance(value, dict):
            continue
        try:
            service = Service.model_validate(value)
        except ValidationError:
            continue
        issues.extend(consistency.service_problems(name, service))
    return issues


def _issue(issue: tuple, positions: Positions, display: str) -> Problem:
    key_path, message, fix = issue
    line_col = positions.of(key_path)
    return Problem(
        message,
        file=display,
        line=line_col[0] if line_col else None,
        column=line_col[1] if line_col else None,
        key=dotted(key_path),
        fix=fix,
    )


def _sorted(problems: list[Problem]) -> list[Problem]:
    """In file order, as an editor shows them."""
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def _from_pydantic(error: dict, data: dict, positions: Positions, display: str) -> Problem:
    raw_loc = tuple(error["loc"])
    kind = error["type"]
    is_key = bool(raw_loc) and raw_loc[-1] == "[key]"  # the error is about a mapping's key, not its value
    # Pydantic appends the validator's name (e.g. "function-after[...]") for some errors.
    loc = tuple(p for p in raw_loc if not (isinstance(p, str) and ("[" in p and p.endswith("]"))))
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
    line_col = positions.of(loc, key=is_key)
    return Problem(
        _message(kind, loc, error, is_key),
        file=display,
        line=line_col[0] if line_col else None,
        column=line_col[1] if line_col else None,
        key=dotted(loc),
        fix=_fix_for(kind, loc, error, is_key),
    )


_MISSING_FIX = {
    "version": "add `version: 1` at the top",
    "name": "add `name: my-service` (lowercase letters, digits, -)",
    "services": "add a `services:` mapping with at least one service",
    "start": "add the command that starts the server, e.g. `uvicorn app.main:app --host 0.0.0.0 --port $PORT`",
    "paths": "list the SSE paths, e.g. `paths: [/stream]`",
    "mount": "add the absolute path inside the container, e.g. `mount: /data`",
}

_KINDS = {  # pydantic's type errors, said the way a person would
    "int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
    "float_parsing": "a number", "float_type": "a number", "string_type": "text",
    "bool_parsing": "true or false", "bool_type": "true or false", "list_type": "a list",
    "dict_type": "a mapping (key: value lines)", "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
}


def _what(loc: tuple, is_key: bool) -> str:
    """What the value at ``loc`` is, in words: "service name", "env var name", "port"."""
    parent = str(loc[-2]) if len(loc) > 1 else ""
    if is_key:
        return {"services": "service name", "stores": "store name", "env": "env var name"}.get(parent, "key")
    last = str(loc[-1]) if loc else "value"
    if isinstance(loc[-1] if loc else None, int):
        return {"secrets": "secret name", "paths": "path", "system_packages": "package name"}.get(parent, "item")
    if last == "name":
        return {"volumes": "volume name"}.get(str(loc[-3]) if len(loc) > 2 else "", "name")
    return f"`{last}`"


def _message(kind: str, loc: tuple, error: dict, is_key: bool) -> str:
    got = error.get("input")
    shown = _show(got)
    what = _what(loc, is_key)
    if kind.startswith("value_error") or kind == "assertion_error":  # our own validators (units) say it well
        message = error["msg"]
        return message[len("Value error, "):] if message.startswith("Value error, ") else message
    if kind == "string_pattern_mismatch":
        return f"{shown} is not a valid {what.strip('`')}"
    if kind in _KINDS:
        return f"{what} must be {_KINDS[kind]}, not {shown}"
    if kind == "literal_error":
        return f"{what} must be {error.get('ctx', {}).get('expected', 'one of the allowed values')}, not {shown}"
    ctx = error.get("ctx", {})
    bounds = {"less_than_equal": ("at most", "le"), "less_than": ("below", "lt"),
              "greater_than_equal": ("at least", "ge"), "greater_than": ("above", "gt")}
    if kind in bounds:
        word, key = bounds[kind]
        return f"{what} must be {word} {ctx.get(key)}, not {shown}"
    if kind in ("too_short", "string_too_short") and ctx.get("min_length") == 1:
        return f"{what} cannot be empty"
    if kind in ("too_short", "too_long"):
        return f"{what}: {error['msg'].lower()}"
    return f"{error['msg']} (got {shown})"


def _fix_for(kind: str, loc: tuple, error: dict, is_key: bool = False) -> str | None:
    last = str(loc[-1]) if loc else ""
    if kind == "value_error":  # units.py's: out of range, not a number with a unit
        said = error.get("msg", "")
        if "duration" in said:
            return "write a duration such as 15s, 10m or 1h (at most 365d)"
        if "size" in said:
            return "write a size such as 512MB, 1GB or 2GiB (at most 1PB)"
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        if "A-Za-z_" in pattern:
            return "use letters, digits and _, not starting with a digit (e.g. OPENAI_API_KEY)"
        if last == "host":
            return "a host name only, lowercase, no scheme, port or path, e.g. api.example.com"
        if last in ("ingress_class", "storage_class"):
            return "the name as `kubectl get ingressclass` / `kubectl get storageclass` lists it (lowercase, digits, - and .)"
        if "[-a-z0-9]" in pattern:
            return ("use lowercase letters, digits and -, starting with a letter, at most 30 characters: "
                    "the one spelling every platform accepts")
        if "a-z0-9_" in pattern:
            return "use lowercase letters, digits and _, starting with a letter"
        if pattern == "^/":
            return "start the path with /"
        if last == "python":
            return 'write the minor version as a string, e.g. python: "3.12"'
        if last == "region":
            return "a region is a three-letter code, e.g. iad or fra"
    if kind in ("less_than_equal", "greater_than_equal", "greater_than", "less_than") and last == "port":
        return "a port is a number from 1 to 65535"
    if kind == "literal_error" and last == "version":
        return "this streamdeploy reads `version: 1`"
    if kind == "dict_type" and last == "services":
        return "write each service as `name:` with its settings indented below it"
    if kind == "too_short" and last == "services":
        return "add at least one service under `services:`"
    if kind == "string_too_short" and last in _MISSING_FIX:
        return _MISSING_FIX[last]
    if kind == "list_type" and last in ("secrets", "paths", "commands", "volumes"):
        return f"write a list, e.g. `{last}: [...]` or one `- item` per line"
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def _allowed_keys(loc: tuple, data: dict) -> list[str]:
    """Field names (by alias) of the model at ``loc``, for 'did you mean'."""
    from streamdeploy.spec import Spec

    model: Any = Spec
    mapping_key_next = False  # after `services`, the next part is a service's name, not a field
    for part in loc:
        if isinstance(part, int):
            continue
        if mapping_key_next:
            mapping_key_next = False
            continue
        fields = getattr(model, "model_fields", None)
        if fields is None:
            return []
        found = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
        if found is None:
            return []
        model, mapping_key_next = _inner_model(found.annotation)
    if not hasattr(model, "model_fields"):
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _inner_model(annotation: Any) -> tuple[Any, bool]:
    """The model inside ``list[X]``, ``dict[str, X]``, ``X | None``; and whether a dict was crossed."""
    import typing

    crossed_dict = False
    for _ in range(6):
        if hasattr(annotation, "model_fields"):
            break
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin is dict and len(args) == 2:
            annotation, crossed_dict = args[1], True
        elif args:
            annotation = next((a for a in args if hasattr(a, "model_fields")), args[0])
        else:
            break
    return annotation, crossed_dict


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
    except (ValueError, OSError, RuntimeError):  # elsewhere, or a symlink loop: as given
        return str(path)
