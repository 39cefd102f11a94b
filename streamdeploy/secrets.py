"""Secret values: where they come from, how they travel, how they stay out of sight.

Values come from the process environment or a dotenv file (``--env-file``); the
environment wins, as with docker compose and python-dotenv. They leave this process only
on a child's standard input or in a child's environment (by name) — never on argv, in a
file or in output. :class:`Masker` replaces any value that shows up in a CLI's output.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping
from urllib.parse import quote, quote_plus

from streamdeploy import exitcodes
from streamdeploy.problems import Problem, ProblemsError, fail

if TYPE_CHECKING:
    from streamdeploy.targets.base import Plan

MASK = "***"
# Shorter values are not masked: hiding every "a" or "42" garbles all output and the gaps
# give the value away anyway. `up` warns about such a secret instead.
MIN_MASKED = 4
# The platforms' own credentials (research/cli-contracts.md): the CLIs read them from their
# environment, and whatever a CLI prints back is masked like the description's secrets.
PLATFORM_TOKENS = ("FLY_ACCESS_TOKEN", "FLY_API_TOKEN", "RAILWAY_API_TOKEN", "RAILWAY_TOKEN", "RENDER_API_KEY")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTERPOLATION = re.compile(r"\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")
_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


@dataclass(frozen=True)
class Resolved:
    """The values of the secrets a plan needs, and which of them are missing."""

    values: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # name -> "environment" or the env file's path
    missing: tuple[str, ...] = ()  # required, and not set
    empty: tuple[str, ...] = ()  # required, set to "": platforms reject or ignore empty secrets
    left_out: tuple[str, ...] = ()  # optional, with no value: the steps go on without them
    unmet: tuple[tuple[str, ...], ...] = ()  # alternatives none of which has a value

    @property
    def unset(self) -> tuple[str, ...]:
        return self.missing + self.empty

    @property
    def not_ready(self) -> bool:
        """Something `up` needs before step 1 has no value."""
        return bool(self.unset or self.unmet)

    def masker(self) -> Masker:
        return Masker(self.values.values())

    @property
    def too_short(self) -> tuple[str, ...]:
        """Names whose values are too short to mask in output (see MIN_MASKED)."""
        return tuple(n for n, v in self.values.items() if len(v) < MIN_MASKED)


# --- reading -----------------------------------------------------------------------------


def required_names(plan: Plan) -> list[str]:
    """The secrets `up` must have before step 1: the plan's own and every one a step sends."""
    names = list(plan.secrets)
    for step in plan.steps:
        names.extend(step.stdin.secrets if step.stdin else ())
        names.extend(step.pass_secrets)
    return list(dict.fromkeys(names))


def optional_names(plan: Plan) -> list[str]:
    """The secrets steps pass only when they have a value (and that no step requires)."""
    required = set(required_names(plan))
    sent = [n for s in plan.steps for n in (*s.pass_if_set, *(s.stdin.optional if s.stdin else ()))]
    sent += [n for group in plan.secret_groups for n in group]
    return [n for n in dict.fromkeys(sent) if n not in required]


def platform_tokens(environ: Mapping[str, str]) -> list[str]:
    """The values of the platform credentials set in ``environ``, to mask in output."""
    return [environ[name] for name in PLATFORM_TOKENS if environ.get(name)]


def resolve(names: Iterable[str], env_file: Path | None = None,
            environ: Mapping[str, str] | None = None, optional: Iterable[str] = (),
            groups: Iterable[tuple[str, ...]] = ()) -> Resolved:
    """Look up each name in the environment, then in ``env_file``.

    ``names`` are required (unset ones end in ``missing``/``empty``); ``optional`` ones
    with no value end in ``left_out``; a group of alternatives none of which has a value
    ends in ``unmet``.
    """
    environ = os.environ if environ is None else environ
    from_file = read_env_file(env_file, environ) if env_file is not None else {}
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    missing: list[str] = []
    empty: list[str] = []
    left_out: list[str] = []
    names = list(dict.fromkeys(names))
    for name in dict.fromkeys([*names, *optional]):
        if environ.get(name):
            values[name], sources[name] = environ[name], "environment"
        elif from_file.get(name):
            values[name], sources[name] = from_file[name], str(env_file)
        elif name not in names:
            left_out.append(name)
        elif name in environ or name in from_file:
            empty.append(name)
        else:
            missing.append(name)
    unmet = tuple(tuple(g) for g in groups if not any(n in values for n in g))
    return Resolved(values, sources, tuple(missing), tuple(empty), tuple(left_out), unmet)


def unset_problem(resolved: Resolved, target: str, env_file: Path | None = None,
                  declared: Mapping[str, dict] | None = None) -> ProblemsError:
    """The error `up` stops with when a needed secret has no value (exit 3: not ready).

    ``declared``: name -> where the description lists it (file, line, key), for the message.
    """
    problems = []
    where = f"your environment or {env_file}" if env_file else "your environment"
    for name in resolved.unset:
        state = "is empty" if name in resolved.empty else "is not set"
        problems.append(Problem(
            f"secret {name} {state}; `up --target {target}` needs its value",
            fix=f"export {name}=... in {where}, or put {name}=... in a file and pass --env-file FILE "
                "(keep that file out of git)",
            **(declared or {}).get(name, {}),
        ))
    for group in resolved.unmet:
        names = ", ".join(group)
        problems.append(Problem(
            f"none of the secrets {names} is set; `up --target {target}` needs one of them (any_of)",
            fix=f"export one of them ({group[0]}=...) in {where}, or put it in a file and pass --env-file FILE",
            **(declared or {}).get(group[0], {}),
        ))
    return ProblemsError(problems, exitcodes.NOT_READY)


def read_env_file(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise fail(f"env file {path} does not exist", file=str(path),
                   fix="check the path given to --env-file") from None
    except UnicodeDecodeError:
        raise fail(f"env file {path} is not UTF-8 text", file=str(path)) from None
    except OSError as err:
        raise fail(f"cannot read env file {path}: {err.strerror}", file=str(path)) from None
    return parse_dotenv(text, str(path), environ)


def parse_dotenv(text: str, source: str = "<env file>", environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Parse dotenv text the way python-dotenv and docker compose read it.

    ``NAME=value`` lines, optionally prefixed by ``export``; blank lines and ``#`` comments
    are skipped; unquoted values end at `` #`` and are trimmed; single-quoted values are
    literal (``\\'`` escapes a quote); double-quoted values understand ``\\n \\t \\r \\" \\\\ \\$``;
    both kinds of quotes may span lines. ``${NAME}`` and ``${NAME:-default}`` in unquoted
    and double-quoted values expand from earlier lines, then the environment.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    pos, line_no, size = 0, 1, len(text)
    if text.startswith("\ufeff"):
        pos = 1

    def error(message: str, at_line: int) -> ProblemsError:
        return fail(message, file=source, line=at_line, fix="write NAME=value, one per line; quote values with "
                                                            "spaces, # or newlines")

    while pos < size:
        end = text.find("\n", pos)
        end = size if end == -1 else end
        line = text[pos:end]
        stripped = line.strip()
        start_line = line_no
        if not stripped or stripped.startswith("#"):
            pos, line_no = end + 1, line_no + 1
            continue
        body = stripped
        if body.startswith("export") and body[6:7] in (" ", "\t"):
            body = body[6:].lstrip()
        match = _NAME.match(body)
        if not match:
            # never quote the line: it may be a piece of a secret (a value pasted without its name)
            raise error(f"line {start_line} is not NAME=value", start_line)
        name = match.group(0)
        rest = body[match.end():].lstrip(" \t")
        if not rest.startswith("="):
            raise error(f"line {start_line}: its first word is not followed by `=`", start_line)
        rest = rest[1:].lstrip(" \t")
        # Where the value starts in the whole text, so quoted values can run over lines.
        value_at = pos + line.index(body) + (len(body) - len(rest)) if rest else end
        if rest[:1] in ("'", '"'):
            quote = rest[0]
            value, after = _quoted(text, value_at + 1, quote)
            if after is None:
                raise error(f"line {start_line}: the {quote} quote of {name} is never closed", start_line)
            line_no += text.count("\n", value_at, after)
            tail_end = text.find("\n", after)
            tail_end = size if tail_end == -1 else tail_end
            tail = text[after:tail_end].strip()
            if tail and not tail.startswith("#"):
                raise error(f"line {line_no}: unexpected text after the quoted value of {name}", line_no)
            if quote == '"':
                value = _expand(value, values, environ)
            values[name] = value
            pos, line_no = tail_end + 1, line_no + 1
            continue
        value = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
        values[name] = _expand(value, values, environ, unquoted=True)
        pos, line_no = end + 1, line_no + 1
    return values


def _quoted(text: str, start: int, quote: str) -> tuple[str, int | None]:
    """The value inside quotes starting at ``start``; the index after the closing quote."""
    out: list[str] = []
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            following = text[i + 1]
            if quote == '"' and following in _DOUBLE_ESCAPES:
                # keep `\$` for _expand to turn into a literal `$`
                out.append("\\$" if following == "$" else _DOUBLE_ESCAPES[following])
                i += 2
                continue
            if quote == "'" and following in ("'", "\\"):
                out.append(following)
                i += 2
                continue
        if char == quote:
            return "".join(out), i + 1
        out.append(char)
        i += 1
    return "".join(out), None


def _expand(value: str, earlier: Mapping[str, str], environ: Mapping[str, str], unquoted: bool = False) -> str:
    def replace(match: re.Match) -> str:
        if match.group(0) == "\\$":
            return "\\$" if unquoted else "$"
        name, default = match.group(1), match.group(2)
        found = earlier.get(name, environ.get(name))
        if not found and default is not None:
            return default
        return found or ""

    return _INTERPOLATION.sub(replace, value)


# --- sending -----------------------------------------------------------------------------


def stdin_text(format: str, names: Iterable[str], values: Mapping[str, str]) -> str:
    """What a step's standard input carries, built from values at run time."""
    names = list(names)
    if format == "value":
        if len(names) != 1:
            raise ValueError(f"stdin format `value` carries one secret, got {names}")  # a target bug
        return values[names[0]]
    if format == "envfile":
        return "".join(_envfile_line(name, values[name]) for name in names)
    if format == "dotenv":
        return "".join(fly_dotenv_line(name, values[name]) for name in names)
    raise ValueError(f"unknown stdin format {format!r}")


def _envfile_line(name: str, value: str) -> str:
    # kubectl --from-env-file and docker --env-file take everything after the first `=`
    # literally, one line each: a newline cannot be carried.
    if "\n" in value or "\r" in value:
        raise fail(f"the value of {name} has a line break; this platform reads secrets one line each",
                   key=name, fix=f"store {name} without line breaks (e.g. base64-encode it)")
    return f"{name}={value}\n"


def fly_dotenv_line(name: str, value: str) -> str:
    """``NAME=value`` as `fly secrets import` parses it back exactly (flyctl secrets/parser.go).

    That parser has no escapes: a value is double-quoted, single-quoted or, across
    lines, triple-quoted, and a ``#`` ends the value unless an odd number of ``"``
    precede it. Each form is tried and the first one that reads back unchanged is used.
    """
    candidates = [f'{name}="{value}"\n', f"{name}='{value}'\n", f'{name}="""{value}"""\n']
    for line in candidates:
        if all(len(part) < 64 * 1024 for part in line.split("\n")) and parse_fly_dotenv(line) == {name: value}:
            return line
    raise fail(
        f"the value of {name} cannot be sent to `fly secrets import` unchanged "
        "(its mix of quotes, # and line breaks, or a line over 64 KiB, has no exact form in fly's format)",
        key=name,
        fix=f"set it yourself with `fly secrets set {name}=- < FILE`, or change the value",
    )


def parse_fly_dotenv(text: str) -> dict[str, str]:
    """flyctl's parser (internal/command/secrets/parser.go @ ad0172f), to check our encoding."""
    secrets: dict[str, str] = {}
    key: str | None = None
    parts: list[str] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        line = line[:-1] if line.endswith("\r") else line
        if key is None:
            if line.startswith("#") or not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep:
                return {}
            name, value = name.strip(), value.lstrip(" ")
            before, hashed, _ = value.partition("#")
            if hashed and before.count('"') % 2 == 0:
                value = before.rstrip(" ")
            if value.startswith('"""') and value.endswith('"""') and len(value) >= 6:
                secrets[name] = value[3:-3]
            elif value.startswith('"""'):
                key, parts = name, [value[3:] + "\n"]
            else:
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                    value = value[1:-1]
                secrets[name] = value
        elif line.endswith('"""'):
            parts.append(line[:-3])
            secrets[key] = "".join(parts)
            key, parts = None, []
        else:
            parts.append(line + "\n")
    return secrets


# --- hiding ------------------------------------------------------------------------------


def declared_names(spec) -> list[str]:
    """Every secret the description names, whether or not a target's plan sends it."""
    return list(dict.fromkeys(name for service in spec.services.values() for name in service.secrets))


def encoded_forms(value: str) -> set[str]:
    """The ways a program prints a value back besides verbatim: JSON- and Python-escaped,
    URL-encoded (a query string), and base64 at each of the three alignments it can have
    inside a longer encoded string (``Basic base64(user:value)``) -- without the edge
    characters that depend on the bytes around it, as GitHub Actions' masker does."""
    forms = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1],
             quote(value, safe=""), quote(value), quote_plus(value)}
    data = value.encode("utf-8", "surrogatepass")
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for shift in range(3):
            total = shift + len(data)
            text = encode(b"\0" * shift + data).decode("ascii").rstrip("=")
            end = total // 3 * 4 + (0, 1, 2)[total % 3]  # the last partial group depends on what follows
            piece = text[(0, 2, 3)[shift]:end]
            if len(piece) >= MIN_MASKED:
                forms.add(piece)
    forms.discard(value)
    return forms


class Masker:
    """Replaces secret values in text with ``***``: verbatim, in the encoded forms a program
    echoes (see :func:`encoded_forms`), line by line for multi-line values, and across the
    line break of a value hard-wrapped over two or more lines (:meth:`lines`).

    Values shorter than MIN_MASKED characters are left alone (see there). This is the one
    masker: the runner's output, the local log (written by ``streamdeploy.supervisor``),
    `verify`'s report and `up`'s messages all go through it."""

    def __init__(self, values: Iterable[str]):
        self.values = tuple(dict.fromkeys(v for v in values if len(v) >= MIN_MASKED))
        needles: set[str] = set()
        for value in self.values:
            needles.add(value)
            needles |= encoded_forms(value)
            if "\n" in value:
                # output is read a line at a time: hide each substantial line on its own
                needles.update(part for part in value.splitlines() if len(part.strip()) >= 6)
        self.needles = tuple(sorted(needles, key=len, reverse=True))
        self._pattern = re.compile("|".join(re.escape(n) for n in self.needles)) if self.needles else None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        if "\n" not in text:
            return self._pattern.sub(MASK, text)
        return "\n".join(self.all_lines(text.split("\n")))

    def __bool__(self) -> bool:
        return self._pattern is not None

    def lines(self) -> LineMasker:
        """A masker for a stream of lines (a child's output): feed it each line as it comes."""
        return LineMasker(self)

    def all_lines(self, lines: Iterable[str]) -> list[str]:
        """A whole list of lines (a log's tail), masked as one stream."""
        stream = self.lines()
        out = [masked for line in lines for masked in stream.feed(line)]
        return out + stream.close()

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in self._pattern.finditer(text)] if self._pattern else []

    def open_end(self, text: str) -> tuple[int, int] | None:
        """Where the longest end of ``text`` that begins a needle (and could continue on the
        next line) starts, with that needle's length; None when no needle starts there."""
        best: tuple[int, int] | None = None
        for needle in self.needles:
            position = max(0, len(text) - len(needle) + 1)
            while True:
                position = text.find(needle[0], position)
                if position < 0 or (best is not None and position >= best[0]):
                    break
                if needle.startswith(text[position:]):
                    best = (position, len(needle))
                    break
                position += 1
        return best


class LineMasker:
    """Masks lines as they come, including a value a program hard-wrapped across lines.

    Lines are joined (each one's surrounding whitespace dropped) and searched as one text.
    A line whose end could be the first part of a value is held back until the next line
    shows whether it is (:meth:`feed` returns the lines that are ready); :meth:`flush` lets
    held lines go after a pause, hiding an end that is half a value or more. What was let
    go stays as context, so the rest of a value on a later line is still hidden. A blank
    line ends a wrap."""

    def __init__(self, masker: Masker):
        self.masker = masker
        self.longest = max((len(n) for n in masker.needles), default=0)
        self.context = ""  # the end of the joined text already let go
        self.held: list[str] = []

    def feed(self, line: str) -> list[str]:
        if not self.masker:
            return [line]
        if not line.strip():
            return self.close() + [line]
        self.held.append(line)
        return self._release(final=False)

    def flush(self) -> list[str]:
        """Let every held line go (the output paused: nothing may wait longer)."""
        return self._release(final=True)

    def close(self) -> list[str]:
        """The stream ended: let everything go and forget the context."""
        out = self._release(final=True)
        self.context = ""
        return out

    def _release(self, final: bool) -> list[str]:
        if not self.held:
            return []
        joined = self.context
        segments = []  # per held line: (start, end) of its stripped text in `joined`, its indent
        for line in self.held:
            core = line.strip()
            segments.append((len(joined), len(joined) + len(core), len(line) - len(line.lstrip())))
            joined += core
        hidden = [self.masker.spans(line) for line in self.held]  # matches within one line
        found = [span for span in self.masker.spans(joined)
                 if not any(start <= span[0] and span[1] <= end for start, end, _ in segments)]
        open_end = self.masker.open_end(joined)
        if final and open_end is not None and len(joined) - open_end[0] >= max(6, open_end[1] // 2):
            found.append((open_end[0], len(joined)))  # no line follows to tell: hide most of a value
        for start, end in found:
            for index, (seg_start, seg_end, indent) in enumerate(segments):
                low, high = max(start, seg_start), min(end, seg_end)
                if low < high:
                    hidden[index].append((indent + low - seg_start, indent + high - seg_start))
        ready = len(self.held)
        if not final and open_end is not None:
            ready = sum(1 for _, end, _ in segments if end <= open_end[0])
        out = [_hide(self.held[i], hidden[i]) for i in range(ready)]
        if ready:
            keep = max(self.longest - 1, 0)
            self.context = joined[: segments[ready - 1][1]][-keep:] if keep else ""
            self.held = self.held[ready:]
        return out


def _hide(line: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return line
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, at = [], 0
    for start, end in merged:
        out.append(line[at:start])
        out.append(MASK)
        at = end
    out.append(line[at:])
    return "".join(out)
