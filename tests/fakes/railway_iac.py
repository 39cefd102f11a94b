"""The `railway/iac` SDK (npm railway@3.11.0) as the fake `node` runs it.

The Railway CLI evaluates `.railway/railway.ts` by starting node (railwayapp/cli
src/iac/eval.rs evaluate_javascript): ``node --experimental-strip-types --input-type=module
-e <script> -- FILE``, with its own environment passed through unchanged. Importing
`railway/iac` runs the SDK's CLI-version guard first: when that is the native evaluation, it
executes ``$_ || "railway"`` with ``--version`` and throws unless it prints 5.42.1 or newer
(dist/iac/index.js, assertMinimumIacCliVersion). Then the file's default export is called
with ``{}`` and its result printed as ``{"partial", "project"}`` JSON.

This module is that evaluation for the TypeScript streamdeploy writes: declarations
(``const x = f(...)``), property assignments, calls, member access, object and array
literals, strings, numbers and arrow functions. Anything else is refused loudly, so a change
to the generated file that this reader does not understand fails a test instead of passing
unexamined. The SDK functions below reproduce the behaviour of dist/iac/index.js (read, not
copied): what each returns, which keys are pruned, JavaScript's truthiness.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

MINIMUM_CLI = (5, 42, 1)
MINIMUM_CLI_MESSAGE = ("This version of railway/iac requires Railway CLI 5.42.1 or newer. Upgrade the CLI and run "
                       "the command again. The IaC engine now ships in the CLI, not the TypeScript SDK.")
# What isNativeCliEvaluation() looks for in the -e script (eval.rs passes exactly these).
NATIVE_MARKERS = ("const partial = mod.partial", "process.stdout.write(JSON.stringify({ partial, project: graph }))")
UNDEFINED = object()


class EvalError(Exception):
    """The file throws (or uses what this reader does not model): node prints it and exits 1."""


# --- the SDK -------------------------------------------------------------------------------


class Node(dict):
    """An SDK resource node; `.env` is its non-enumerable variable-reference accessor."""


class EnvRefs:
    def __init__(self, node: dict):
        self.node = node

    def get(self, name: str) -> dict:
        return {"type": "reference", "resource": self.node["address"], "output": name}


def truthy(value) -> bool:
    if value is UNDEFINED or value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, str):
        return value != ""
    return True  # objects and arrays, even empty ones


def present(value) -> bool:
    return value is not UNDEFINED and value is not None


def prune_empty(value):
    if not isinstance(value, dict):
        return value
    kept = {k: v for k, v in value.items() if present(v)}
    return kept if kept else UNDEFINED


def first(*values):
    """JavaScript's `a ?? b ?? c`."""
    for value in values:
        if present(value):
            return value
    return UNDEFINED


def _get(obj, key):
    return obj.get(key, UNDEFINED) if isinstance(obj, dict) else UNDEFINED


def define_railway(program):
    return program


def project(name, definition=UNDEFINED):
    definition = definition if isinstance(definition, dict) else {}
    resources = first(_get(definition, "resources"), _get(definition, "services"), [])
    flat = []
    for item in resources:
        flat.extend(item if isinstance(item, list) else [item])
    return {"name": name, **definition, "resources": flat}


def image(name, options=UNDEFINED):
    return {"type": "image", "image": name, **(options if isinstance(options, dict) else {})}


def preserve():
    return {"type": "preserve"}


def volume(name, config=UNDEFINED):
    return Node({"address": f"volume.{name}", "type": "volume", "name": name,
                 "config": config if present(config) else {}})


def service(name, config=UNDEFINED):
    config = config if isinstance(config, dict) else {}
    source = _normalize_source(_get(config, "source"), first(_get(config, "root"), _get(config, "rootDirectory")))
    kind = {"github": "github", "image": "docker-image", "template": "template"}.get(
        _get(source, "type") if isinstance(source, dict) else None, "empty")
    node: dict = {"address": f"service.{name}", "type": "service", "kind": kind, "name": name}
    if truthy(source):
        node["source"] = source
    node["build"] = _normalize_build(config)
    node["deploy"] = _normalize_deploy(config)
    node["networking"] = _normalize_networking(config)
    env, variables = _get(config, "env"), _get(config, "variables")
    if truthy(env) or truthy(variables):
        merged = {**(variables if isinstance(variables, dict) else {}), **(env if isinstance(env, dict) else {})}
        node["variables"] = _normalize_variables(merged)
    node.update(_normalize_volume_mounts(_get(config, "volumeMounts")))
    for key in ("configFile", "parentServiceId", "groupId", "clusterRole", "replicaConfig", "clusterDisplay"):
        if truthy(_get(config, key)):
            node[key] = config[key]
    return Node(prune_empty(node))


def _normalize_source(source, root):
    if not present(source):
        return {"type": "empty", "rootDirectory": root} if truthy(root) else UNDEFINED
    if truthy(_get(source, "type")):
        return prune_empty({**source, "rootDirectory": first(_get(source, "rootDirectory"), root)})
    if truthy(_get(source, "image")):
        return prune_empty({"type": "image", "image": source["image"], "rootDirectory": root})
    return {"type": "empty", "rootDirectory": root} if truthy(root) else UNDEFINED


def _normalize_build(config):
    build = _get(config, "build")
    if isinstance(build, str):
        return {"buildCommand": build}
    return prune_empty(dict(build) if isinstance(build, dict) else {})


def _normalize_deploy(config):
    deploy = _get(config, "deploy")
    deploy = deploy if isinstance(deploy, dict) else {}
    run = _get(config, "run")
    pre = first(_get(config, "preDeploy"), _get(config, "preDeployCommand"), _get(run, "preDeploy"))
    replica = _normalize_replicas(_get(config, "replicas"), _get(config, "regions"))
    merged = {
        **deploy,
        "startCommand": first(_get(config, "start"), _get(config, "startCommand"), _get(run, "command"),
                              _get(deploy, "startCommand")),
        "preDeployCommand": pre if isinstance(pre, list) else [pre] if truthy(pre) else _get(deploy, "preDeployCommand"),
        "healthcheckPath": first(_get(config, "healthcheck"), _get(config, "healthcheckPath"),
                                 _get(run, "healthcheck"), _get(deploy, "healthcheckPath")),
        "healthcheckTimeout": first(_get(config, "healthcheckTimeout"), _get(run, "healthcheckTimeout"),
                                    _get(deploy, "healthcheckTimeout")),
        **(replica if isinstance(replica, dict) else {}),
    }
    merged["multiRegionConfig"] = first(_get(replica, "multiRegionConfig"), _get(deploy, "multiRegionConfig"))
    return prune_empty(merged)


def _normalize_replicas(replicas, regions):
    if isinstance(replicas, (int, float)) and not isinstance(replicas, bool):
        return {"numReplicas": replicas}
    if truthy(replicas):
        return {"multiRegionConfig": _normalize_regions(replicas)}
    if truthy(regions):
        return {"multiRegionConfig": _normalize_regions(regions)}
    return UNDEFINED


def _normalize_regions(regions):
    out = {}
    for region, value in regions.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[region] = {"numReplicas": value}
        else:
            pruned = prune_empty({"numReplicas": first(_get(value, "count"), _get(value, "replicas")),
                                  "stackerAssignment": _get(value, "stacker")})
            out[region] = pruned if present(pruned) else {}
    return out


def _normalize_networking(config):
    networking = _get(config, "networking")
    for key in ("domains", "tcp", "tcpProxies"):
        if truthy(_get(config, key)):
            raise EvalError(f"fake railway/iac: `{key}` is not modelled")
    return prune_empty(dict(networking) if isinstance(networking, dict) else {})


def _normalize_variables(variables):
    out = {}
    for key, value in variables.items():
        if isinstance(value, str):
            out[key] = {"type": "literal", "value": value}
        elif isinstance(value, dict) and "type" in value:
            out[key] = value
        else:
            out[key] = {"type": "raw", "value": value}
    return out


def _normalize_volume_mounts(mounts):
    if not truthy(mounts):
        return {}
    raw, attachments = {}, {}
    for key, value in mounts.items():
        if isinstance(value, dict) and value.get("type") == "volume":
            attachment = {"volume": value["address"], "mountPath": key}
            if truthy(value.get("config", UNDEFINED)):
                attachment["volumeConfig"] = value["config"]
            attachments[value["name"]] = attachment
            continue
        raw[key] = value
    pruned = prune_empty({"volumeMounts": raw, "volumeAttachments": attachments})
    return pruned if present(pruned) else {}


EXPORTS = {"defineRailway": define_railway, "define": define_railway, "project": project, "service": service,
           "volume": volume, "image": image, "preserve": preserve}


# --- reading the file ------------------------------------------------------------------------


_TOKEN = re.compile(r"""
    (?P<space>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<punct>=>|\.\.\.|[{}()\[\],:;.=])
""", re.X | re.S)


def tokens(text: str) -> list[tuple[str, str]]:
    out, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            line = text.count("\n", 0, position) + 1
            raise EvalError(f"fake railway/iac: cannot read line {line}: {text[position:position + 40]!r}")
        position = match.end()
        if match.lastgroup != "space":
            out.append((match.lastgroup, match.group()))
    out.append(("end", ""))
    return out


class Reader:
    """A small evaluator for the subset of TypeScript streamdeploy writes."""

    def __init__(self, text: str, imports: dict):
        self.tokens = tokens(text)
        self.at = 0
        self.imports = imports

    def peek(self, offset: int = 0) -> tuple[str, str]:
        return self.tokens[self.at + offset]

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        got_kind, got = self.tokens[self.at]
        if (value is not None and got != value) or (kind is not None and got_kind != kind):
            raise EvalError(f"fake railway/iac: expected {value or kind}, found {got!r}")
        self.at += 1
        return got

    def items(self, close: str, read) -> list:
        """Comma-separated items up to `close` (a trailing comma allowed), which it takes."""
        out = []
        while self.peek()[1] != close:
            out.append(read())
            if self.peek()[1] == ",":
                self.take(",")
        self.take(close)
        return out

    def module(self) -> dict:
        scope: dict = {}
        exports: dict = {}
        while self.peek()[0] != "end":
            if self.peek()[1] == "import":
                self.take("import")
                self.take("{")
                names = self.items("}", lambda: self.take(kind="name"))
                self.take("from")
                source = json.loads(self.take(kind="string"))
                self.take(";")
                available = self.imports.get(source)
                if available is None:
                    raise EvalError(f"fake railway/iac: cannot import {source!r}")
                for name in names:
                    if name not in available:
                        raise EvalError(f"SyntaxError: The requested module '{source}' does not provide an export "
                                        f"named '{name}'")
                    scope[name] = available[name]
            elif self.peek()[1] == "export":
                self.take("export")
                self.take("default")
                exports["default"] = self.expression(scope)
                self.take(";")
            else:
                self.statement(scope)
        return exports

    def statement(self, scope: dict):
        """One statement; returns (True, value) for `return`."""
        kind, word = self.peek()
        if word == "const":
            self.take("const")
            name = self.take(kind="name")
            self.take("=")
            scope[name] = self.expression(scope)
            self.take(";")
            return None
        if word == "return":
            self.take("return")
            value = self.expression(scope)
            self.take(";")
            return (True, value)
        if kind == "name" and self.peek(1)[1] in (".", "["):
            target = scope[self.take(kind="name")] if word in scope else self._unknown(word)
            key = self._key()
            while self.peek()[1] in (".", "["):
                target = self._member(target, key)
                key = self._key()
            self.take("=")
            value = self.expression(scope)
            self.take(";")
            if not isinstance(target, dict):
                raise EvalError(f"TypeError: Cannot set properties of undefined (setting '{key}')")
            target[key] = value
            return None
        raise EvalError(f"fake railway/iac: unsupported statement at {word!r}")

    def _key(self) -> str:
        if self.peek()[1] == ".":
            self.take(".")
            return self.take(kind="name")
        self.take("[")
        key = json.loads(self.take(kind="string"))
        self.take("]")
        return key

    @staticmethod
    def _unknown(name: str):
        raise EvalError(f"ReferenceError: {name} is not defined")

    @staticmethod
    def _member(value, key: str):
        if isinstance(value, Node) and key == "env":
            return EnvRefs(value)
        if isinstance(value, EnvRefs):
            return value.get(key)
        if isinstance(value, dict):
            return value.get(key, UNDEFINED)
        if isinstance(value, list) and key == "length":
            return len(value)
        raise EvalError(f"TypeError: Cannot read properties of {'undefined' if value is UNDEFINED else value!r} "
                        f"(reading '{key}')")

    def expression(self, scope: dict):
        value = self.primary(scope)
        while self.peek()[1] in (".", "[", "("):
            if self.peek()[1] == "(":
                self.take("(")
                args = self.items(")", lambda: self.expression(scope))
                if not callable(value):
                    raise EvalError("TypeError: not a function")
                value = value(*args)
            else:
                value = self._member(value, self._key())
        return value

    def primary(self, scope: dict):
        kind, word = self.peek()
        if kind == "string":
            self.take()
            return json.loads(word)
        if kind == "number":
            self.take()
            return float(word) if any(c in word for c in ".eE") else int(word)
        if word == "{":
            return self.object(scope)
        if word == "[":
            self.take("[")
            return self.items("]", lambda: self.expression(scope))
        if word == "(":
            return self.arrow(scope)
        if kind == "name":
            self.take()
            constants = {"true": True, "false": False, "null": None, "undefined": UNDEFINED}
            if word in constants:
                return constants[word]
            if word in scope:
                return scope[word]
            self._unknown(word)
        raise EvalError(f"fake railway/iac: unexpected {word!r}")

    def object(self, scope: dict) -> dict:
        self.take("{")
        out: dict = {}
        while self.peek()[1] != "}":
            kind, word = self.peek()
            self.take()
            key = json.loads(word) if kind == "string" else word
            self.take(":")
            out[key] = self.expression(scope)
            if self.peek()[1] == ",":
                self.take(",")
        self.take("}")
        return out

    def arrow(self, scope: dict):
        self.take("(")
        params = self.items(")", lambda: self.take(kind="name"))
        self.take("=>")
        self.take("{")
        start = self.at
        depth = 1
        while depth:  # skip the body now; it runs when the function is called
            word = self.take()
            depth += {"{": 1, "}": -1}.get(word, 0)
        end = self.at - 1
        reader = self

        def call(*args):
            inner = {**scope, **dict(zip(params, args))}
            saved = reader.at
            reader.at = start
            try:
                while reader.at < end:
                    outcome = reader.statement(inner)
                    if outcome is not None:
                        return outcome[1]
                return UNDEFINED
            finally:
                reader.at = saved

        return call


def plain(value):
    """JSON.stringify's view: undefined keys dropped, integral numbers without `.0`."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v is not UNDEFINED and not callable(v)}
    if isinstance(value, list):
        return [None if v is UNDEFINED else plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# --- what node does ----------------------------------------------------------------------------


def find_package(file: Path, name: str) -> Path | None:
    """Node's ESM lookup of a bare import: node_modules/<name> next to the file or above (NODE_PATH
    does not apply to `import`)."""
    here = file.parent.resolve()
    for directory in (here, *here.parents):
        candidate = directory / "node_modules" / name / "package.json"
        if candidate.is_file():
            return candidate.parent
    return None


def version_guard(env: dict) -> None:
    """assertMinimumIacCliVersion: run `$_ --version` (or `railway`), need 5.42.1 or newer."""
    executable = env.get("_") or "railway"
    try:
        out = subprocess.run([executable, "--version"], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=60)
    except OSError:
        raise EvalError(f"Error: {MINIMUM_CLI_MESSAGE}") from None
    version = re.search(r"\b(\d+)\.(\d+)\.(\d+)\b", out.stdout or "")
    if out.returncode != 0 or version is None or tuple(int(v) for v in version.groups()) < MINIMUM_CLI:
        raise EvalError(f"Error: {MINIMUM_CLI_MESSAGE}")


def evaluate(file: Path, env: dict, native: bool) -> dict:
    """Import the file as the CLI's -e script does and return `{partial?, project}`."""
    text = file.read_text(encoding="utf-8")
    imports = {}
    if re.search(r"""from\s+"railway/iac\"""", text):
        package = find_package(file, "railway")
        if package is None:
            raise EvalError(f"Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'railway' imported from {file}")
        if native:
            version_guard(env)  # runs when the SDK module is imported
        imports["railway/iac"] = EXPORTS
    exports = Reader(text, imports).module()
    exported = exports.get("default", UNDEFINED)
    result = exported({}) if callable(exported) else exported
    return {"project": plain(result)}
