"""Refresh tests/fakes/contracts.json from ../shared/research/cli-contracts.json.

The fakes and ``tests/contracts.py`` parse argv the way each real CLI does, driven by
that research. Tests must also run where ../shared is absent, so they read this trimmed
copy: parser facts only (flags, positionals, aliases, auth env vars, exit codes), no prose.
``tests/fakes/test_fakes.py`` fails when the copy is stale.

    .venv/bin/python tests/fakes/update_contracts.py [--docker-cli CHECKOUT]

``contracts_extra.json`` adds what the research does not record but plans use:

* docker commands (network create/inspect, container inspect, stop, rm, push), read from the
  options tables of docker/cli ``docs/reference/commandline/*.md`` at the research's commit;
  ``--docker-cli CHECKOUT`` regenerates them;
* kubectl's ``get``, read from kubernetes/kubectl ``pkg/cmd/get/get.go`` (kept as read);
* gcloud (Cloud Run), doctl (App Platform) and terraform (Fargate): the flags below
  (``EXTRA_CLIS``), read from each CLI's own source at the commit named; ``--gcloud``,
  ``--doctl`` and ``--terraform`` with a checkout of each check that every flag and command
  is still defined in the file named, then rewrite their entries.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED = Path(os.environ.get("STREAMDEPLOY_SHARED", REPO.parent / "shared"))
SOURCE = SHARED / "research" / "cli-contracts.json"
COPY = HERE / "contracts.json"
EXTRA = HERE / "contracts_extra.json"
DOCKER_CLI_COMMIT = "28f756087eea5fa301f3fbf12b01ae62f91521c2"
# command path -> (reference page, positionals as docker/cli's Args validators state them)
DOCKER_EXTRA = {
    "network create": ("network_create.md", [{"name": "NETWORK", "required": True, "variadic": False}]),
    "network inspect": ("network_inspect.md", [{"name": "NETWORK", "required": True, "variadic": True}]),
    "container inspect": ("container_inspect.md", [{"name": "CONTAINER", "required": True, "variadic": True}]),
    "stop": ("container_stop.md", [{"name": "CONTAINER", "required": True, "variadic": True}]),
    "rm": ("container_rm.md", [{"name": "CONTAINER", "required": True, "variadic": True}]),
    "push": ("image_push.md", [{"name": "NAME[:TAG]", "required": True, "variadic": False}]),
}

GCLOUD = ("google-cloud-sdk-unofficial/google-cloud-sdk", "4643fc9cc204607d05324c032052b6a3d118711c", "578.0.0")
DOCTL = ("digitalocean/doctl", "168188d3e016be2768406a0b3dc615966f6555a9", "HEAD 2026-08-06")
TERRAFORM = ("hashicorp/terraform", "883c7221ee2e0bc2fad6912fd4b3cc4b53a598a7", "main 2026-08-21")


def _f(short=None, value=False, **more) -> dict:
    return {"short": short, "takes_value": value, **more}


_GCLOUD_GLOBALS = {  # lib/surface/__init__.py, calliope/cli.py, calliope/base.py, util/args/common_args.py
    "--project": _f(value=True), "--quiet": _f("-q"), "--format": _f(value=True), "--verbosity": _f(value=True,
    enum=["debug", "info", "warning", "error", "critical", "none"]), "--account": _f(value=True),
    "--configuration": _f(value=True), "--impersonate-service-account": _f(value=True),
    "--billing-project": _f(value=True), "--access-token-file": _f(value=True), "--log-http": _f(),
    "--user-output-enabled": _f(), "--flatten": _f(value=True), "--trace-token": _f(value=True),
    "--help": _f("-h"),
}
_RUN_GROUP = {"--region": _f(value=True), "--platform": _f(value=True, enum=["managed", "gke", "kubernetes"])}
# command path -> (source file, flags, positionals, words that must appear in that file)
EXTRA_CLIS: dict = {
    "gcloud": {
        "_cli": {"binary": ["gcloud"], "parser": "argparse (calliope)",
                 "auth_env": ["CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", "GOOGLE_APPLICATION_CREDENTIALS",
                              "CLOUDSDK_CORE_PROJECT"],
                 "exit_codes": {"0": "success", "1": "a command failed (ERROR: (gcloud.x) ...)",
                                "2": "usage: unrecognized arguments, a missing or bad value (calliope/parser_errors.py)"},
                 "unknown_flag": "ERROR: (gcloud.COMMAND) unrecognized arguments: --x, exit 2",
                 "version_cmd": "gcloud --version", "global_flags": _GCLOUD_GLOBALS},
        "builds submit": ("lib/surface/builds/submit.py", {
            "--tag": _f("-t", True), "--config": _f(value=True), "--region": _f(value=True),
            "--no-source": _f(), "--ignore-file": _f(value=True), "--async": _f(), "--suppress-logs": _f(),
            "--timeout": _f(value=True), "--substitutions": _f(value=True), "--service-account": _f(value=True),
            "--machine-type": _f(value=True), "--no-cache": _f(), "--gcs-log-dir": _f(value=True),
            "--gcs-source-staging-dir": _f(value=True), "--worker-pool": _f(value=True)},
            [{"name": "SOURCE", "required": False, "variadic": False}],
            ["'source'", "flags.AddConfigFlags", "flags.AddRegionFlag", "'--no-source'"]),
        "run services replace": ("lib/surface/run/services/replace.py", {
            **_RUN_GROUP, "--async": _f(), "--dry-run": _f(), "--namespace": _f(value=True)},
            [{"name": "FILE", "required": False, "variadic": False}],
            ["'FILE'", "YAMLFileContents", "AddDryRunFlag", "AddAsyncFlag"]),
        "run services describe": ("lib/surface/run/services/describe.py", {**_RUN_GROUP},
                                  [{"name": "SERVICE", "required": True, "variadic": False}], ["class Describe"]),
        "run services add-iam-policy-binding": ("lib/surface/run/services/add_iam_policy_binding.yaml", {
            **_RUN_GROUP, "--member": _f(value=True), "--role": _f(value=True), "--condition": _f(value=True),
            "--condition-from-file": _f(value=True)},
            [{"name": "SERVICE", "required": True, "variadic": False}], ["removed_flags: ['region']", "iam:"]),
        "secrets create": ("lib/surface/secrets/create.py", {
            "--data-file": _f(value=True), "--replication-policy": _f(value=True, enum=["automatic", "user-managed"]),
            "--replication-policy-file": _f(value=True), "--locations": _f(value=True), "--labels": _f(value=True),
            "--location": _f(value=True)},
            [{"name": "SECRET", "required": True, "variadic": False}],
            ["AddDataFile(parser)", "AddCreateReplicationPolicyGroup", "positional=True, required=True"]),
        "secrets describe": ("lib/surface/secrets/describe.py", {"--location": _f(value=True)},
                             [{"name": "SECRET", "required": True, "variadic": False}], ["AddSecret"]),
        "secrets versions add": ("lib/surface/secrets/versions/add.py", {
            "--data-file": _f(value=True, required=True), "--location": _f(value=True)},
            [{"name": "SECRET", "required": True, "variadic": False}], ["AddDataFile(parser, required=True)"]),
        "secrets versions describe": ("lib/surface/secrets/versions/describe.py", {
            "--secret": _f(value=True), "--location": _f(value=True)},
            [{"name": "VERSION", "required": True, "variadic": False}],
            ["AddVersionOrAlias", "positional=True, required=True", "class Describe"]),
        "artifacts repositories create": ("lib/surface/artifacts/repositories/create.yaml", {
            "--repository-format": _f(value=True), "--location": _f(value=True), "--description": _f(value=True),
            "--async": _f()},
            [{"name": "REPOSITORY", "required": True, "variadic": False}], ["--repository-format=docker", "async:"]),
        "artifacts repositories describe": ("lib/surface/artifacts/repositories/describe.yaml", {
            "--location": _f(value=True)}, [{"name": "REPOSITORY", "required": True, "variadic": False}],
            ["--location=us-west1"]),
    },
    "doctl": {
        "_cli": {"binary": ["doctl"], "parser": "cobra/pflag", "auth_env": ["DIGITALOCEAN_ACCESS_TOKEN"],
                 "exit_codes": {"0": "success", "1": "a command failed (checkErr: 'Error: ...' on stdout)",
                                "255": "usage: unknown flag or command (commands/doit.go Execute: os.Exit(-1))"},
                 "unknown_flag": "Error: unknown flag: --x, exit 255",
                 "version_cmd": "doctl version", "logged_in_check": "doctl account get --output json",
                 "global_flags": {  # commands/doit.go init(): root PersistentFlags
                     "--config": _f("-c", True, persistent=True), "--api-url": _f("-u", True, persistent=True),
                     "--access-token": _f("-t", True, persistent=True),
                     "--output": _f("-o", True, persistent=True, enum=["text", "json"]),
                     "--context": _f(value=True, persistent=True), "--trace": _f(persistent=True),
                     "--verbose": _f("-v", persistent=True), "--interactive": _f(persistent=True),
                     "--http-retry-max": _f(value=True, persistent=True, type="int"), "--help": _f("-h")}},
        "apps create": ("commands/apps.go", {
            "--spec": _f(value=True, required=True), "--wait": _f(), "--upsert": _f(), "--update-sources": _f(),
            "--project-id": _f(value=True), "--format": _f(value=True), "--no-header": _f()}, [],
            ["ArgCommandUpsert", "ArgCommandUpdateSources", "Set to \"-\" to read from stdin."]),
        "apps update": ("commands/apps.go", {
            "--spec": _f(value=True, required=True), "--wait": _f(), "--update-sources": _f(),
            "--format": _f(value=True), "--no-header": _f()},
            [{"name": "APP_ID", "required": True, "variadic": False}], ['"update <app id>"']),
        "apps list": ("commands/apps.go", {"--with-projects": _f(), "--format": _f(value=True), "--no-header": _f()},
                      [], ['"list"', "ArgAppWithProjects"]),
        "apps get": ("commands/apps.go", {"--format": _f(value=True), "--no-header": _f()},
                     [{"name": "APP_ID", "required": True, "variadic": False}], ['"get <app id>"']),
        "apps spec validate": ("commands/apps.go", {"--schema-only": _f()},
                               [{"name": "SPEC_FILE", "required": True, "variadic": False}],
                               ['"validate <spec file>"', "ArgSchemaOnly"]),
        "account get": ("commands/account.go", {"--format": _f(value=True), "--no-header": _f()}, [],
                        ['"get"']),
        "version": ("commands/version.go", {}, [], ["Version"]),
    },
    "terraform": {
        "_cli": {"binary": ["terraform"], "parser": "go flag",
                 "auth_env": ["AWS_PROFILE", "AWS_ACCESS_KEY_ID"],
                 "exit_codes": {"0": "success (plan -detailed-exitcode: no changes)",
                                "1": "error, incl. 'Failed to parse command-line flags: flag provided but not "
                                     "defined: -x'", "2": "plan -detailed-exitcode: changes present"},
                 "unknown_flag": "Error: Failed to parse command-line flags (flag provided but not defined: -x), "
                                 "exit 1",
                 "version_cmd": "terraform version",
                 "global_flags": {"-chdir": _f(value=True, format="-chdir=DIR, before the subcommand"),
                                  "-help": _f(), "-version": _f()}},
        "init": ("internal/command/arguments/init.go", {
            "-input": _f(type="bool"), "-backend": _f(type="bool"), "-get": _f(type="bool"),
            "-upgrade": _f(type="bool"), "-reconfigure": _f(type="bool"), "-migrate-state": _f(type="bool"),
            "-lock": _f(type="bool"), "-lock-timeout": _f(value=True, type="duration"),
            "-backend-config": _f(value=True, repeatable=True), "-lockfile": _f(value=True),
            "-json": _f(type="bool"), "-no-color": _f(), "-compact-warnings": _f(type="bool")}, [],
            ['"input"', '"backend"', '"upgrade"', '"backend-config"', "No positional arguments are expected"]),
        "plan": ("internal/command/arguments/plan.go", {
            "-input": _f(type="bool"), "-out": _f(value=True), "-detailed-exitcode": _f(type="bool"),
            "-var": _f(value=True, repeatable=True), "-var-file": _f(value=True, repeatable=True),
            "-target": _f(value=True, repeatable=True), "-replace": _f(value=True, repeatable=True),
            "-refresh": _f(type="bool"), "-destroy": _f(type="bool"), "-lock": _f(type="bool"),
            "-lock-timeout": _f(value=True, type="duration"), "-parallelism": _f(value=True, type="int"),
            "-json": _f(type="bool"), "-no-color": _f(), "-compact-warnings": _f()},
            [], ['"detailed-exitcode"', '"out"', '"input"', "Too many command line arguments"]),
        "apply": ("internal/command/arguments/apply.go", {
            "-input": _f(type="bool"), "-auto-approve": _f(type="bool"), "-var": _f(value=True, repeatable=True),
            "-var-file": _f(value=True, repeatable=True), "-target": _f(value=True, repeatable=True),
            "-lock": _f(type="bool"), "-lock-timeout": _f(value=True, type="duration"),
            "-parallelism": _f(value=True, type="int"), "-json": _f(type="bool"), "-no-color": _f(),
            "-compact-warnings": _f()},
            [{"name": "PLAN", "required": False, "variadic": False}],
            ['"auto-approve"', '"input"', "Expected at most one positional argument."]),
        "show": ("internal/command/arguments/show.go", {"-json": _f(type="bool"), "-no-color": _f()},
                 [{"name": "PATH", "required": False, "variadic": False}], ['"json"']),
        "output": ("internal/command/arguments/output.go", {"-raw": _f(type="bool"), "-json": _f(type="bool"),
                                                            "-no-color": _f(), "-state": _f(value=True)},
                   [{"name": "NAME", "required": False, "variadic": False}], ['"raw"']),
        "version": ("internal/command/arguments/version.go", {"-json": _f(type="bool")}, [], ['"json"']),
    },
}
# The file each CLI's extra entries are checked against lives at this path in its checkout.
EXTRA_SOURCES = {"gcloud": GCLOUD, "doctl": DOCTL, "terraform": TERRAFORM}


def extra_entries(cli: str, checkout: Path | None = None) -> dict:
    """The contract entries of one of EXTRA_CLIS; with a checkout, each is first checked against the source."""
    import subprocess

    repo, commit, version = EXTRA_SOURCES[cli]
    out: dict = {"_cli": {**EXTRA_CLIS[cli]["_cli"], "version": version}}
    for path, (source, flags, positional, words) in \
            ((k, v) for k, v in EXTRA_CLIS[cli].items() if k != "_cli"):
        if checkout is not None:
            text = subprocess.run(["git", "show", f"{commit}:{source}"], cwd=checkout, capture_output=True,
                                  text=True, check=True).stdout
            wanted = list(words) + [_spelled(cli, flag) for flag in flags if flag not in _GLOBAL_ONLY]
            missing = [w for w in wanted if w not in text]
            if missing:
                raise SystemExit(f"{cli} {path}: not in {source}@{commit[:8]}: {', '.join(missing)}")
        out[path] = {"flags": flags, "positional": positional, "aliases": [],
                     "source": f"{repo}:{source}@{commit}"}
    return out


# Flags that come from a command group or the calliope/cobra machinery, not the command's own file.
# --secret: the version resource's attribute flag (command_lib/secrets/args.py GetSecretAttributeConfig).
_GLOBAL_ONLY = {"--secret", "--region", "--dry-run", "--data-file", "--no-source", "--platform", "--namespace", "--member", "--role", "--condition", "--condition-from-file",
                "--format", "--no-header", "--location", "--locations", "--labels", "--repository-format",
                "--description", "--async", "-no-color", "-compact-warnings", "-var", "-var-file", "-target",
                "-replace", "-refresh", "-destroy", "-lock", "-lock-timeout", "-parallelism", "-state",
                "--timeout", "--substitutions", "--service-account", "--machine-type", "--no-cache", "--gcs-log-dir",
                "--gcs-source-staging-dir", "--worker-pool", "--ignore-file", "--tag", "--config", "--suppress-logs",
                "--replication-policy", "--replication-policy-file"}


def _spelled(cli: str, flag: str) -> str:
    """How a flag's name is written where it is defined: gcloud `--name`, doctl and terraform `"name"`."""
    if cli == "gcloud":
        return flag
    if cli == "doctl":
        return "Arg"  # doctl names flags through constants in args.go; the words list names them
    return f'"{flag.lstrip("-")}"'


# What the parsers need; everything else (notes, outputs, sources) stays in ../shared.
CLI_KEYS = ("binary", "parser", "global_flags", "root_only_flags", "auth_env", "exit_codes", "unknown_flag",
            "version_cmd", "logged_in_check")
COMMAND_KEYS = ("flags", "positional", "aliases", "subcommands", "source")
FLAG_KEYS = ("short", "takes_value", "type", "enum", "aliases", "alias_of", "optional_value", "no_opt_default",
             "repeatable", "requires", "nargs", "global", "persistent", "hidden", "deprecated", "format", "default")


def _flags(flags: dict) -> dict:
    return {name: {k: spec[k] for k in FLAG_KEYS if k in spec} for name, spec in flags.items()}


def trim(contracts: dict) -> dict:
    out: dict = {"_meta": {"from": "research/cli-contracts.json", "generated": contracts["_meta"]["generated"],
                           "versions": contracts["_meta"]["versions"]}}
    for cli, commands in contracts.items():
        if cli == "_meta":
            continue
        cli_out: dict = {}
        for path, entry in commands.items():
            if path == "_cli":
                cli_out["_cli"] = {k: entry[k] for k in CLI_KEYS if k in entry}
                for key in ("global_flags", "root_only_flags"):
                    if key in cli_out["_cli"]:
                        cli_out["_cli"][key] = _flags(cli_out["_cli"][key])
                continue
            trimmed = {k: entry[k] for k in COMMAND_KEYS if k in entry}
            trimmed["flags"] = _flags(entry.get("flags", {}))
            cli_out[path] = trimmed
        out[cli] = cli_out
    return out


def render(contracts: dict) -> str:
    return json.dumps(trim(contracts), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def docker_options(markdown: str) -> dict:
    """The `### Options` table of a docker/cli reference page -> our flag entries."""
    flags: dict = {}
    in_table = False
    for line in markdown.splitlines():
        if line.startswith("### Options"):
            in_table = True
            continue
        if in_table and line.startswith("#"):
            break
        if not (in_table and line.startswith("| ") and "`-" in line):
            continue
        name_cell, type_cell, default_cell = [c.strip() for c in line.strip("|").split("|")[:3]]
        names = re.findall(r"`(-{1,2}[A-Za-z0-9-]+)`", name_cell)
        long = next(n for n in names if n.startswith("--"))
        short = next((n for n in names if not n.startswith("--")), None)
        kind = type_cell.strip("`")
        entry = {"short": short, "takes_value": kind != "bool", "type": kind}
        if default_cell.strip("`"):
            entry["default"] = default_cell.strip("`")
        if kind in ("list", "stringSlice", "stringArray", "map", "ipSlice", "ipNetSlice"):
            entry["repeatable"] = True
        flags[long] = entry
    return flags


def docker_supplement(checkout: Path) -> dict:
    import subprocess

    out: dict = {}
    for path, (page, positional) in DOCKER_EXTRA.items():
        text = subprocess.run(["git", "show", f"{DOCKER_CLI_COMMIT}:docs/reference/commandline/{page}"],
                              cwd=checkout, capture_output=True, text=True, check=True).stdout
        aliases = []
        match = re.search(r"### Aliases\s+(.+)", text)
        if match:
            aliases = [a[len("docker "):] for a in re.findall(r"`([^`]+)`", match.group(1))]
        out[path] = {"flags": docker_options(text), "positional": positional,
                     "aliases": [a for a in aliases if a != path],
                     "source": f"docker/cli:docs/reference/commandline/{page}@{DOCKER_CLI_COMMIT}"}
    return {"docker": out}


def _checkout(flag: str) -> Path | None:
    return Path(sys.argv[sys.argv.index(flag) + 1]) if flag in sys.argv else None


def main() -> int:
    extra = json.loads(EXTRA.read_text(encoding="utf-8")) if EXTRA.is_file() else {}
    if "--docker-cli" in sys.argv:
        extra.update(docker_supplement(_checkout("--docker-cli")))
    for cli in EXTRA_CLIS:
        extra[cli] = extra_entries(cli, _checkout(f"--{cli}"))
    EXTRA.write_text(json.dumps(extra, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {EXTRA.relative_to(REPO)}")
    if not SOURCE.is_file():
        print(f"{SOURCE} not found; set STREAMDEPLOY_SHARED to the shared research folder", file=sys.stderr)
        return 2
    text = render(json.loads(SOURCE.read_text(encoding="utf-8")))
    COPY.write_text(text, encoding="utf-8")
    print(f"wrote {COPY.relative_to(REPO)} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
