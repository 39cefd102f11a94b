"""What each platform CLI accepts, parsed the way its real parser would.

The facts (every subcommand's flags, shorts, value types, enums, positionals, aliases)
come from ../shared/research/cli-contracts.json through its trimmed copy
``tests/fakes/contracts.json``. The parser rules are those of the libraries the CLIs
are built on:

* cobra/pflag (fly, render, kubectl, docker): ``--flag v``, ``--flag=v``, ``-f v``, ``-fv``,
  grouped boolean shorts; a boolean takes a value only as ``--flag=false``; a flag with an
  optional value (NoOptDefVal) takes one only after ``=``; a value-taking flag swallows
  the next token even when it starts with ``-``. Flags may sit before or after the
  subcommand (cobra parses every flag against the leaf command), except for docker, whose
  root and ``compose`` flags belong to the level they are written at (TraverseChildren).
* clap 4 (railway): flags belong to the command they are written after, unless marked
  global; a value never starts with ``-``; a switch given ``=value`` is an error; a
  non-repeatable option given twice is an error.

``parse(cli, argv)`` returns an :class:`Invocation` or raises :class:`UsageError` carrying
the message and exit code the real CLI would print; ``accepts(cli, argv)`` is the boolean
form that target tests assert on every Step's argv.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

CONTRACTS = Path(__file__).resolve().parent / "fakes" / "contracts.json"
# Commands plans use that the research does not record, read from the CLI's own reference
# docs at the same commit (see tests/fakes/update_contracts.py); never overrides the research.
EXTRA = CONTRACTS.with_name("contracts_extra.json")

# Exit code of a usage error (unknown flag, bad value) per CLI. Each is stated in the
# contract: fly `_cli.unknown_flag` ("exit 1"), railway `_cli.unknown_flag` ("exit 2"),
# docker `_cli.exit_codes.flag_errors` ("125"), render and kubectl `_cli.exit_codes["1"]`.
# tests/fakes/test_fakes.py checks these against the contract text.
USAGE_EXIT = {"fly": 1, "render": 1, "kubectl": 1, "docker": 125, "railway": 2,
              # contracts_extra.json: gcloud `_cli.exit_codes["2"]`, doctl `["255"]`, terraform `unknown_flag`
              "gcloud": 2, "doctl": 255, "terraform": 1}
# Wrong number of positionals: cobra returns a plain error (exit 1, docker included:
# docker/cli cli/required.go errors are not StatusErrors); clap exits 2.
ARGS_EXIT = {"fly": 1, "render": 1, "kubectl": 1, "docker": 1, "railway": 2, "gcloud": 2, "doctl": 1, "terraform": 1}

# docker/cli sets TraverseChildren on the root command and the compose plugin on its own
# root: their flags are parsed at the level they are written, so `docker run --debug` fails.
SCOPED = {"docker", "railway"}
# gcloud (calliope): flags of the root and of command groups may be written anywhere; so may
# doctl's root PersistentFlags.
PERSISTENT_ALL = {"gcloud", "doctl"}
# kubectl adds the cli-runtime flags (-n, --context, --kubeconfig, ...) to the root's
# PersistentFlags (kubernetes/kubectl pkg/cmd/cmd.go), so they work after any subcommand.
PERSISTENT_GLOBALS = {"kubectl"}
# `docker run IMAGE COMMAND ARG...`: flag parsing stops at the image (SetInterspersed(false)).
NON_INTERSPERSED = {("docker", ("run",))}
# Value a bare optional-value flag gets (pflag NoOptDefVal) when the contract names none.
NO_OPT_DEFAULT = {
    ("kubectl", "--dry-run"): "unchanged",  # then rejected: must be none|client|server
    ("kubectl", "--validate"): "strict",
    ("kubectl", "--cascade"): "background",
}
# Flags that are still registered only to fail with a hint (render-oss/cli cmd/root.go).
REMOVED = {("render", "--pretty-json"), ("render", "--json-record-per-line")}

_INT_TYPES = {"int", "int64", "i64", "uint16", "u16", "uint64"}
_FLOAT_TYPES = {"float", "decimal"}
_GO_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$")
_BOOL_VALUES = {"1": "true", "t": "true", "T": "true", "TRUE": "true", "true": "true", "True": "true",
                "0": "false", "f": "false", "F": "false", "FALSE": "false", "false": "false", "False": "false"}


class UsageError(Exception):
    """What the real CLI prints on stderr for a command line it rejects, and its exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class NotInContract(UsageError):
    """A subcommand the CLI has but the research did not record: the fakes cannot vouch for it."""


@dataclass
class Invocation:
    cli: str
    command: tuple[str, ...]  # canonical path: ("volumes", "create")
    flags: dict[str, list[str]] = field(default_factory=dict)  # canonical --long -> values ("true" for switches)
    positionals: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return " ".join((self.cli, *self.command))

    def has(self, flag: str) -> bool:
        values = self.flags.get(flag)
        return bool(values) and values[-1] != "false"

    def value(self, flag: str, default: str | None = None) -> str | None:
        values = self.flags.get(flag)
        return values[-1] if values else default

    def values(self, flag: str) -> list[str]:
        return list(self.flags.get(flag, []))


@lru_cache(maxsize=1)
def load() -> dict:
    data = json.loads(CONTRACTS.read_text(encoding="utf-8"))
    if EXTRA.is_file():
        for cli, commands in json.loads(EXTRA.read_text(encoding="utf-8")).items():
            for path, entry in commands.items():
                data.setdefault(cli, {}).setdefault(path, entry)
    return data


def clis() -> list[str]:
    return [name for name in load() if not name.startswith("_")]


def binaries(cli: str) -> list[str]:
    return list(_contract(cli)["_cli"].get("binary", [cli]))


def cli_for_binary(binary: str) -> str | None:
    for cli in clis():
        if binary in binaries(cli):
            return cli
    return None


def accepts(cli: str, argv) -> bool:
    """True when the real `cli` would parse this command line (argv may start with the binary)."""
    return problem(cli, argv) is None


def problem(cli: str, argv) -> str | None:
    """Why the real `cli` would reject this command line, or None."""
    try:
        parse(cli, argv)
    except UsageError as error:
        return error.message
    return None


def parse(cli: str, argv) -> Invocation:
    tree = _tree(cli)
    args = list(argv)
    if args and Path(args[0]).name in binaries(cli):
        args = args[1:]
    if cli in SCOPED:
        invocation = _parse_scoped(tree, args)
    elif cli == "terraform":
        return _parse_goflag(tree, args)
    else:
        invocation = _parse_cobra(tree, args)
    _check_required(tree, invocation)
    return invocation


# ---------------------------------------------------------------------------------------
# The command tree


@dataclass
class _Node:
    key: tuple[str, ...]  # the words that reach it (an alias path for whole-path aliases)
    path: tuple[str, ...]  # canonical
    entry: dict | None = None  # the contract entry when this path is a command
    children: dict[str, str] = field(default_factory=dict)  # token (or alias) -> canonical token
    uncharted: set[str] = field(default_factory=set)  # subcommands known to exist, not in the contract


@dataclass
class _Tree:
    cli: str
    nodes: dict[tuple[str, ...], _Node]
    globals: dict[str, dict]
    root_only: dict[str, dict]

    def node(self, path: tuple[str, ...]) -> _Node:
        return self.nodes[path]


def _contract(cli: str) -> dict:
    data = load()
    if cli not in data or cli.startswith("_"):
        raise KeyError(f"no contract for {cli!r}; known: {', '.join(clis())}")
    return data[cli]


@lru_cache(maxsize=None)
def _tree(cli: str) -> _Tree:
    contract = _contract(cli)
    meta = contract["_cli"]
    nodes: dict[tuple[str, ...], _Node] = {(): _Node((), ())}

    def ensure(path: tuple[str, ...]) -> _Node:
        for depth in range(1, len(path) + 1):
            prefix = path[:depth]
            if prefix not in nodes:
                nodes[prefix] = _Node(prefix, prefix)
            nodes[prefix[:-1]].children.setdefault(prefix[-1], prefix[-1])
        return nodes[path]

    commands = {tuple(key.split()): entry for key, entry in contract.items() if key != "_cli"}
    for path, entry in commands.items():
        ensure(path).entry = entry
    # Aliases: "volume create" for "volumes create" makes `volume` an alias of `volumes`
    # for every subcommand; "buildx build" for "build" is an alias of the whole path.
    whole_path_aliases: dict[tuple[str, ...], tuple[str, ...]] = {}
    for path, entry in commands.items():
        for alias in entry.get("aliases", []):
            if "(" in alias:
                continue  # prose such as "create (deprecated top-level)"
            words = tuple(alias.split())
            if len(words) == len(path):
                for depth, (word, canonical) in enumerate(zip(words, path)):
                    if word != canonical:
                        nodes[path[:depth]].children.setdefault(word, canonical)
            else:
                whole_path_aliases[words] = path
        for sub in entry.get("subcommands", []):
            names = sub.split()[0].split("|")
            node = nodes[path]
            if names[0] not in node.children:
                node.uncharted.update(names)
            else:
                for alias in names[1:]:
                    node.children.setdefault(alias, names[0])
    for words, path in whole_path_aliases.items():
        alias_node = ensure(words)
        alias_node.entry = commands[path]
        alias_node.path = path
    return _Tree(cli, nodes, meta.get("global_flags", {}), meta.get("root_only_flags", {}))


def _child(tree: _Tree, node: _Node, token: str) -> _Node | None:
    canonical = node.children.get(token)
    if canonical is None:
        return None
    return tree.nodes.get((*node.key, canonical))


# ---------------------------------------------------------------------------------------
# Flags


@dataclass
class _FlagSet:
    longs: dict[str, dict]  # --name -> spec
    shorts: dict[str, str]  # x -> --name

    @classmethod
    def of(cls, *tables: dict) -> _FlagSet:
        longs: dict[str, dict] = {}
        for table in tables:
            for name, spec in table.items():
                longs.setdefault(name, spec)
                for alias in spec.get("aliases", []):  # hidden spellings: railway up --no-wait
                    if alias.startswith("--"):
                        longs.setdefault(alias, {**spec, "alias_of": name, "short": None})
        shorts = {spec["short"][1:]: name for name, spec in longs.items() if spec.get("short")}
        return cls(longs, shorts)

    def canonical(self, name: str) -> str:
        return self.longs[name].get("alias_of", name)


def _flags_at(tree: _Tree, node: _Node) -> _FlagSet:
    """The flags a command accepts: its own, inherited root flags, ancestors' global ones."""
    tables = [node.entry.get("flags", {}) if node.entry else {}]
    at_root = not node.path
    inherited = {}
    for name, spec in tree.globals.items():
        if at_root or name == "--help":
            inherited[name] = spec
        elif tree.cli == "docker":
            continue  # TraverseChildren: root flags only before the subcommand
        elif tree.cli == "railway" or spec.get("persistent") or tree.cli in PERSISTENT_GLOBALS | PERSISTENT_ALL:
            inherited[name] = spec  # railway: --help/--version are clap-global
    tables.append(inherited)
    if at_root:
        tables.append(tree.root_only)
    for depth in range(len(node.path) - 1, -1, -1):
        ancestor = tree.nodes.get(node.path[:depth])
        if ancestor and ancestor.entry:
            tables.append({n: s for n, s in ancestor.entry.get("flags", {}).items() if s.get("global")})
    return _FlagSet.of(*tables)


def _usage_exit(tree: _Tree) -> int:
    return USAGE_EXIT.get(tree.cli, 1)


def _fail(tree: _Tree, node: _Node, message: str, exit_code: int | None = None) -> UsageError:
    code = _usage_exit(tree) if exit_code is None else exit_code
    where = " ".join((tree.cli, *node.path))
    if tree.cli == "railway":
        text = f"error: {message}\n\nUsage: {where} [OPTIONS]\n\nFor more information, try '--help'."
    elif tree.cli == "docker":
        text = f"{message}\n\nUsage:  docker {' '.join(node.path)} [OPTIONS]\n\nRun '{where} --help' for more information"
    elif tree.cli == "kubectl":
        text = f"error: {message}\nSee '{where} --help' for usage."
    elif tree.cli == "gcloud":
        text = f"ERROR: ({'.'.join(('gcloud', *node.path)).replace('-', '_')}) {_argparse_words(message)}"
    else:
        text = f"Error: {message}"
    return UsageError(text, code)


def _check_value(tree: _Tree, node: _Node, name: str, spec: dict, value: str) -> str:
    kind = spec.get("type")
    problem_text = None
    if kind in _INT_TYPES:
        if not re.fullmatch(r"[-+]?\d+", value) or (kind.startswith("u") and value.startswith("-")):
            problem_text = f'strconv.ParseInt: parsing "{value}": invalid syntax'
    elif kind == "bool" and value not in _BOOL_VALUES:
        problem_text = f'strconv.ParseBool: parsing "{value}": invalid syntax'
    elif kind in _FLOAT_TYPES:
        try:
            float(value)
        except ValueError:
            problem_text = f'strconv.ParseFloat: parsing "{value}": invalid syntax'
    elif kind == "duration" or "Go duration" in str(spec.get("format", "")):
        plain_int = "plain integer" in str(spec.get("format", "")) and value.isdigit()
        if not (plain_int or value == "0" or _GO_DURATION.match(value)):
            problem_text = f'time: invalid duration "{value}"'
    enum = spec.get("enum")
    if problem_text is None and enum and value not in enum:
        problem_text = f"must be one of {', '.join(enum)}"
    if problem_text is None and re.fullmatch(r"[A-Z_]+=[A-Z_]+", str(spec.get("format", ""))) and "=" not in value:
        problem_text = f"expected {spec['format']}"
    if problem_text is not None:
        short = spec.get("short")
        label = f"{short}, {name}" if short else name
        if tree.cli == "railway":
            raise _fail(tree, node, f"invalid value '{value}' for '{name} <{name[2:].upper()}>': {problem_text}")
        raise _fail(tree, node, f'invalid argument "{value}" for "{label}" flag: {problem_text}')
    return value


def _take_flag(tree: _Tree, node: _Node, flags: _FlagSet, args: list[str], i: int,
               out: dict[str, list[str]]) -> int:
    """Parse the flag at args[i] into `out`; return the index of the next token."""
    token = args[i]
    clap = tree.cli == "railway"
    if token.startswith("--"):
        name, eq, attached = token.partition("=")
        if (tree.cli, name) in REMOVED:
            raise _fail(tree, node, f"{name} has been removed; use -o json")
        if name not in flags.longs:
            if clap:
                raise _fail(tree, node, f"unexpected argument '{name}' found")
            raise _fail(tree, node, f"unknown flag: {name}")
        return _take_value(tree, node, flags, name, name, args, i, attached if eq else None, out)
    # Short flags: -x, -xVALUE, -x=VALUE, -xyz (grouped switches)
    body = token[1:]
    j = 0
    while j < len(body):
        letter = body[j]
        name = flags.shorts.get(letter)
        if name is None:
            if clap:
                raise _fail(tree, node, f"unexpected argument '-{letter}' found")
            raise _fail(tree, node, f"unknown shorthand flag: '{letter}' in {token}")
        spec = flags.longs[name]
        rest = body[j + 1:]
        if rest.startswith("="):
            return _take_value(tree, node, flags, name, f"-{letter}", args, i, rest[1:], out)
        if spec.get("takes_value"):
            if rest:
                return _take_value(tree, node, flags, name, f"-{letter}", args, i, rest, out)
            if not (spec.get("optional_value") and not clap):
                return _take_value(tree, node, flags, name, f"-{letter}", args, i, None, out)
            _record(tree, node, flags, name, _bare(tree, name, spec), out)  # pflag: -x alone, no value
        else:
            _record(tree, node, flags, name, "true", out)
        j += 1
    return i + 1


def _bare(tree: _Tree, name: str, spec: dict) -> str:
    return str(spec.get("no_opt_default") or NO_OPT_DEFAULT.get((tree.cli, name)) or "true")


def _take_value(tree: _Tree, node: _Node, flags: _FlagSet, name: str, written: str, args: list[str], i: int,
                attached: str | None, out: dict[str, list[str]]) -> int:
    spec = flags.longs[name]
    clap = tree.cli == "railway"
    if not spec.get("takes_value"):
        if attached is None:
            _record(tree, node, flags, name, "true", out)
            return i + 1
        if clap:
            raise _fail(tree, node, f"unexpected value '{attached}' for '{written}' found; no more were expected")
        if attached not in _BOOL_VALUES:
            raise _fail(tree, node, f'invalid argument "{attached}" for "{written}" flag: '
                                    f'strconv.ParseBool: parsing "{attached}": invalid syntax')
        _record(tree, node, flags, name, _BOOL_VALUES[attached], out)
        return i + 1
    if attached is not None:
        _record(tree, node, flags, name, _check_value(tree, node, name, spec, attached), out)
        return i + 1
    if spec.get("optional_value"):
        # pflag: only `--flag=value` sets it; clap: the next token unless it looks like a flag.
        if clap and i + 1 < len(args) and not args[i + 1].startswith("-"):
            _record(tree, node, flags, name, _check_value(tree, node, name, spec, args[i + 1]), out)
            return i + 2
        _record(tree, node, flags, name, _check_value(tree, node, name, spec, _bare(tree, name, spec)), out)
        return i + 1
    count = int(spec.get("nargs", 1))
    values = args[i + 1:i + 1 + count]
    if len(values) < count or (clap and any(v.startswith("-") and v != "-" for v in values)):
        if clap:
            raise _fail(tree, node, f"a value is required for '{name} <{name[2:].upper()}>' but none was supplied")
        raise _fail(tree, node, f"flag needs an argument: {written}" if written.startswith("--")
                    else f"flag needs an argument: '{written[1:]}' in {written}")
    for value in values:
        _record(tree, node, flags, name, _check_value(tree, node, name, spec, value), out)
    return i + 1 + count


def _record(tree: _Tree, node: _Node, flags: _FlagSet, name: str, value: str, out: dict[str, list[str]]) -> None:
    canonical = flags.canonical(name)
    spec = flags.longs[name]
    if tree.cli == "railway" and canonical in out and spec.get("takes_value") and not spec.get("repeatable") \
            and not spec.get("nargs"):
        raise _fail(tree, node, f"the argument '{name} <{name[2:].upper()}>' cannot be used multiple times")
    out.setdefault(canonical, []).append(value)


def _is_help(token: str, flags: _FlagSet) -> bool:
    # `-h` is help unless the command gives it another meaning (docker run: --hostname)
    return token == "--help" or (token == "-h" and flags.shorts.get("h", "--help") == "--help")


def _is_flag(token: str) -> bool:
    return token.startswith("-") and token != "-" and not re.fullmatch(r"-\d+(\.\d+)?", token)


# ---------------------------------------------------------------------------------------
# Parsers


def _parse_cobra(tree: _Tree, args: list[str]) -> Invocation:
    """cobra: find the command from the non-flag words, then parse every flag against it."""
    node = tree.node(())
    path_indices: set[int] = set()
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            break
        if _is_flag(token):
            # cobra's stripFlags: `--x` or `-x` without `=` swallows the next word unless it
            # is a switch known here (any unknown flag is assumed to take a value).
            known = _flags_at(tree, node)
            if "=" not in token and (token.startswith("--") or len(token) == 2):
                name = token if token.startswith("--") else known.shorts.get(token[1:], "")
                spec = known.longs.get(name)
                if spec is None or (spec.get("takes_value") and not spec.get("optional_value")):
                    i += 1
            i += 1
            continue
        child = _child(tree, node, token)
        if child is None:
            break
        node = child
        path_indices.add(i)
        i += 1
    if node.entry is None:
        return _no_command(tree, node, args, path_indices)
    flags = _flags_at(tree, node)
    out: dict[str, list[str]] = {}
    positionals: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if i in path_indices:
            i += 1
        elif token == "--":
            positionals.extend(args[i + 1:])
            break
        elif _is_flag(token):
            if _is_help(token, flags):
                raise UsageError("help", 0)
            i = _take_flag(tree, node, flags, args, i, out)
        else:
            positionals.append(token)
            i += 1
    _check_positionals(tree, node, positionals)
    return Invocation(tree.cli, node.path, out, positionals)


def _parse_scoped(tree: _Tree, args: list[str]) -> Invocation:
    """clap and docker: each flag belongs to the command level it is written at."""
    node = tree.node(())
    out: dict[str, list[str]] = {}
    positionals: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            positionals.extend(args[i + 1:])
            break
        if positionals and (tree.cli, node.path) in NON_INTERSPERSED:
            positionals.append(token)
            i += 1
            continue
        if _is_flag(token):
            flags = _flags_at(tree, node)
            if _is_help(token, flags):
                raise UsageError("help", 0)
            i = _take_flag(tree, node, flags, args, i, out)
            continue
        child = _child(tree, node, token) if not positionals else None
        if child is not None:
            node = child
            i += 1
            continue
        if token in node.uncharted:
            raise NotInContract(f"`{' '.join((tree.cli, *node.path, token))}` exists but is not in the contract "
                                "(research/cli-contracts.json); add it there first", _usage_exit(tree))
        if node.children and not (node.entry and node.entry.get("positional")):
            raise _unknown_command(tree, node, token)
        positionals.append(token)
        i += 1
    if node.entry is None:
        return _no_command(tree, node, args, set())
    _check_positionals(tree, node, positionals)
    _check_requires(tree, node, out)
    return Invocation(tree.cli, node.path, out, positionals)


def _no_command(tree: _Tree, node: _Node, args: list[str], used: set[int]) -> Invocation:
    words = [a for n, a in enumerate(args) if n not in used and not _is_flag(a)]
    if not node.path and not words:
        if any(a in ("-v", "--version", "-V") for a in args):
            return Invocation(tree.cli, (), {"--version": ["true"]}, [])
        if any(a in ("-h", "--help") for a in args) or not args:
            raise UsageError("help", 0)
    if words:
        word = words[0]
        if word in node.uncharted:
            raise NotInContract(f"`{' '.join((tree.cli, *node.path, word))}` exists but is not in the contract",
                                _usage_exit(tree))
        raise _unknown_command(tree, node, word)
    raise _fail(tree, node, f"`{' '.join((tree.cli, *node.path))}` needs a subcommand", ARGS_EXIT[tree.cli])


def _unknown_command(tree: _Tree, node: _Node, word: str) -> UsageError:
    where = " ".join((tree.cli, *node.path))
    if tree.cli == "railway":
        return UsageError(f"error: unrecognized subcommand '{word}'\n\nUsage: {where} [OPTIONS] <COMMAND>\n\n"
                          "For more information, try '--help'.", 2)
    if tree.cli == "docker":
        return UsageError(f"docker: '{' '.join((*node.path, word))}' is not a docker command.\n"
                          "See 'docker --help'", 1)
    prefix = "error" if tree.cli == "kubectl" else "Error"
    return UsageError(f'{prefix}: unknown command "{word}" for "{where}"\nRun \'{where} --help\' for usage.', 1)


def _check_positionals(tree: _Tree, node: _Node, positionals: list[str]) -> None:
    spec = node.entry.get("positional", []) if node.entry else []
    required = sum(1 for p in spec if p.get("required"))
    variadic = any(p.get("variadic") for p in spec)
    maximum = None if variadic else len(spec)
    where = " ".join((tree.cli, *node.path))
    code = ARGS_EXIT[tree.cli]
    if maximum is not None and len(positionals) > maximum:
        if tree.cli == "railway":
            raise _fail(tree, node, f"unexpected argument '{positionals[maximum]}' found", code)
        if tree.cli == "docker":
            raise UsageError(f'"{where}" accepts no arguments.' if maximum == 0
                             else f'"{where}" requires at most {maximum} argument(s).', code)
        raise _fail(tree, node, f'unknown command "{positionals[0]}" for "{where}"' if maximum == 0
                    else f"accepts at most {maximum} arg(s), received {len(positionals)}", code)
    if len(positionals) < required:
        missing = [p["name"] for p in spec if p.get("required")][len(positionals):]
        if tree.cli == "railway":
            raise _fail(tree, node, "the following required arguments were not provided:\n  "
                        + "\n  ".join(f"<{m}>" for m in missing), code)
        if tree.cli == "docker":
            raise UsageError(f'"{where}" requires at least {required} argument(s).', code)
        raise _fail(tree, node, f"accepts {required} arg(s), received {len(positionals)} (missing {missing[0]})", code)


def _argparse_words(message: str) -> str:
    """pflag's complaint in calliope's words (calliope/parser_errors.py, parser_extensions.py)."""
    if message.startswith("unknown flag: "):
        return f"unrecognized arguments: {message[len('unknown flag: '):]}"
    if message.startswith("unknown shorthand flag: "):
        return f"unrecognized arguments: -{message.split(chr(39))[1]}"
    if message.startswith("flag needs an argument: "):
        return f"argument {message[len('flag needs an argument: '):]}: expected one argument"
    return message


def _check_required(tree: _Tree, inv: Invocation) -> None:
    """Flags a command requires (cobra MarkFlagRequired, calliope required=True)."""
    node = tree.nodes.get(inv.command)
    if node is None or not node.entry:
        return
    missing = [n for n, spec in node.entry.get("flags", {}).items() if spec.get("required") and n not in inv.flags]
    if not missing:
        return
    if tree.cli == "gcloud":
        raise _fail(tree, node, f"argument {missing[0]}: Must be specified.")
    raise _fail(tree, node, "required flag(s) " + ", ".join(f'"{m[2:]}"' for m in missing) + " not set")


def _parse_goflag(tree: _Tree, args: list[str]) -> Invocation:
    """Go's flag package as terraform uses it: `-name`/`--name`, `-name=value`, `-name value` for a
    non-bool; a bool takes a value only after `=`; flags end at the first positional. Global
    `-chdir=DIR` (main.go) comes before the subcommand; -no-color and -compact-warnings are taken
    out anywhere (arguments/view.go)."""
    out: dict[str, list[str]] = {}
    i = 0
    node = tree.node(())
    while i < len(args) and args[i].startswith("-"):
        name, eq, value = args[i].lstrip("-").partition("=")
        if name == "chdir" and eq and value:
            out["-chdir"] = [value]
        elif name == "chdir":
            raise UsageError("Error handling -chdir option: must include an equals sign followed by a directory "
                             "path, like -chdir=example", 1)
        elif name in ("help", "h"):
            raise UsageError("help", 0)
        elif name in ("version", "v"):
            return Invocation(tree.cli, (), {"--version": ["true"]}, [])
        else:
            raise UsageError(f"Error: unknown global option -{name}", 1)
        i += 1
    while i < len(args) and not args[i].startswith("-"):
        child = _child(tree, node, args[i])
        if child is None:
            break
        node = child
        i += 1
    if node.entry is None:
        word = args[i] if i < len(args) else ""
        raise UsageError(f"Terraform has no command named \"{word}\".", 1)
    flags = node.entry.get("flags", {})
    for view in ("-no-color", "-compact-warnings"):  # accepted by every command, wherever written
        if view in args[i:]:
            out[view] = ["true"]
    rest = [a for a in args[i:] if a not in ("-no-color", "-compact-warnings")]
    positionals: list[str] = []
    j = 0
    while j < len(rest):
        token = rest[j]
        if token == "--":
            positionals.extend(rest[j + 1:])
            break
        if not token.startswith("-") or token == "-":
            positionals.extend(rest[j:])  # flag.Parse stops at the first non-flag
            break
        name, eq, value = token.lstrip("-").partition("=")
        spec = flags.get(f"-{name}")
        if spec is None:
            raise UsageError(f"Error: Failed to parse command-line flags\n\nflag provided but not defined: -{name}", 1)
        if spec.get("takes_value"):
            if not eq:
                if j + 1 >= len(rest):
                    raise UsageError(f"Error: Failed to parse command-line flags\n\nflag needs an argument: -{name}", 1)
                j += 1
                value = rest[j]
            out.setdefault(f"-{name}", []).append(value)
        else:
            if eq and value not in _BOOL_VALUES:
                raise UsageError(f"Error: Failed to parse command-line flags\n\ninvalid boolean value {value!r} for "
                                 f"-{name}: parse error", 1)
            out.setdefault(f"-{name}", []).append(_BOOL_VALUES.get(value, "true") if eq else "true")
        j += 1
    spec_positional = node.entry.get("positional", [])
    if len(positionals) > len(spec_positional):
        raise UsageError("Error: Too many command line arguments", 1)
    return Invocation(tree.cli, node.path, out, positionals)


def _check_requires(tree: _Tree, node: _Node, out: dict[str, list[str]]) -> None:
    for name, spec in (node.entry or {}).get("flags", {}).items():
        needed = spec.get("requires")
        if name in out and needed and needed not in out:
            raise _fail(tree, node, f"the following required arguments were not provided:\n  {needed}")


def all_paths(cli: str) -> list[tuple[str, ...]]:
    """Every canonical command path in the contract (for tests and docs)."""
    return [tuple(k.split()) for k in _contract(cli) if k != "_cli"]


def commands_like(cli: str, words: str) -> list[str]:
    prefix = tuple(words.split())
    return [" ".join(p) for p in all_paths(cli) if p[:len(prefix)] == prefix]

