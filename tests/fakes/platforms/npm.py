"""fake `npm`: just what the Railway IaC step needs (install into a prefix, ls a package).

npm is not a platform CLI and has no entry in research/cli-contracts.json; this parses
the few flags the railway plan uses and refuses anything else.
"""

from __future__ import annotations

import json

from contracts import Invocation, UsageError
from fakes.fake_cli import Call, Exit

KNOWN = {"install": {"--prefix": True, "--no-audit": False, "--no-fund": False, "--silent": False},
         "ls": {"--prefix": True, "--depth": True, "--json": False}}


def parse(argv: list[str]) -> Invocation:
    if argv in (["--version"], ["-v"]):
        return Invocation("npm", (), {"--version": ["true"]}, [])
    if not argv or argv[0] not in KNOWN:
        raise UsageError(f"Unknown command: \"{argv[0] if argv else ''}\"\n\nTo see a list of supported npm commands, "
                         "run:\n  npm help", 1)
    command, flags, positionals, i = argv[0], {}, [], 1
    while i < len(argv):
        token = argv[i]
        name, eq, value = token.partition("=")
        if token.startswith("--"):
            if name not in KNOWN[command]:
                raise UsageError(f"npm error fake npm: unsupported option {name}", 1)
            if KNOWN[command][name] and not eq:
                i += 1
                value = argv[i]
            flags.setdefault(name, []).append(value if KNOWN[command][name] else "true")
        else:
            positionals.append(token)
        i += 1
    return Invocation("npm", (command,), flags, positionals)


def version(call: Call) -> int:
    call.print("10.9.3")
    return 0


def install(call: Call) -> int:
    prefix = call.path(call.flag("--prefix", "."))
    manifest = prefix / "package.json"
    if not manifest.is_file():
        raise Exit(254, f"npm error code ENOENT\nnpm error syscall open\nnpm error path {manifest}\n"
                        f"npm error errno -2\nnpm error enoent Could not read package.json")
    data = json.loads(manifest.read_text(encoding="utf-8"))
    wanted = {**data.get("dependencies", {}), **data.get("devDependencies", {}), **{p: "*" for p in
                                                                                  call.inv.positionals}}
    for name, spec in wanted.items():
        package = prefix / "node_modules" / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "package.json").write_text(json.dumps({"name": name, "version": spec.lstrip("^~") or "1.0.0"}))
    call.print(f"\nadded {len(wanted)} package{'s' if len(wanted) != 1 else ''} in 1s")
    return 0


def ls(call: Call) -> int:
    prefix = call.path(call.flag("--prefix", "."))
    missing = [p for p in call.inv.positionals if not (prefix / "node_modules" / p).is_dir()]
    call.print(f"{prefix.name}@ {prefix}")
    if missing:
        call.print("└── (empty)")
        return 1
    for name in call.inv.positionals:
        call.print(f"└── {name}@3.11.0")
    return 0


HANDLERS = {(): version, ("install",): install, ("ls",): ls}
