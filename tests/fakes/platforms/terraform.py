"""fake `terraform`: init, plan -out, apply of a saved plan, show -json, per hashicorp/terraform @ 883c722.

It reads the module's ``*.tf.json`` files as Terraform does (a syntax error, a duplicate block,
a reference to something undeclared, a required variable without a value all fail), diffs the
configuration against its state, and refuses what Terraform refuses:

* a plan that would destroy or replace a resource whose configuration says
  ``lifecycle.prevent_destroy`` (a removed block has no lifecycle left: Terraform destroys it);
* applying a saved plan once the state has moved on ("Saved plan is stale");
* plan/apply without AWS credentials, or before `init`.

Which changes replace a resource instead of updating it in place follows the AWS provider's
ForceNew arguments for the resources the fargate target writes (task definitions are
immutable: every change is a new revision). Data sources: `aws_secretsmanager_secret` by name
finds only secrets the test seeded (``fake_clis.seed("terraform", {"secrets": [...]})``); the
plural `aws_secretsmanager_secrets` finds nothing without failing. A resource's
`lifecycle.precondition` over those lists is evaluated at plan time, as Terraform does.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from fakes.fake_cli import Call, Exit

VERSION = "1.14.0"
STATE = "terraform.tfstate"
FORCE_NEW = {
    "aws_efs_file_system": {"creation_token", "encrypted", "performance_mode", "kms_key_id"},
    "aws_efs_access_point": {"file_system_id", "posix_user", "root_directory"},
    "aws_lb": {"name", "load_balancer_type", "internal"},
    "aws_lb_target_group": {"name", "port", "protocol", "target_type", "vpc_id"},
    "aws_security_group": {"name", "description", "vpc_id"},
    "aws_iam_role": {"name"},
    "aws_ecs_service": {"name", "cluster", "launch_type"},
    "aws_ecs_cluster": {"name"},
    "aws_cloudwatch_log_group": {"name"},
    "aws_service_discovery_private_dns_namespace": {"name", "vpc"},
    "aws_service_discovery_service": {"name"},
}
IMMUTABLE = {"aws_ecs_task_definition"}
REFERENCE = re.compile(r"\b(data\.[a-z0-9_]+\.[A-Za-z0-9_-]+|var\.[A-Za-z0-9_-]+|local\.[A-Za-z0-9_-]+|"
                       r"aws_[a-z0-9_]+\.[A-Za-z0-9_-]+|count\.index)")
BLOCKS = {"//", "terraform", "provider", "variable", "data", "locals", "resource", "output", "module"}


def _err(summary: str, detail: str = "") -> Exit:
    return Exit(1, f"\nError: {summary}\n" + (f"\n{detail}\n" if detail else ""))


def check_auth(call: Call) -> None:
    if call.inv.command in (("plan",), ("apply",)):
        if not (call.env.get("AWS_ACCESS_KEY_ID") or call.env.get("AWS_PROFILE")):
            raise _err("No valid credential sources found", "Please see https://registry.terraform.io/providers/"
                       "hashicorp/aws/latest/docs#authentication-and-configuration")


def _dir(call: Call) -> Path:
    return call.path(call.flag("-chdir") or ".")


def root(call: Call) -> int:
    if call.has("--version"):
        call.print(f"Terraform v{VERSION}\non linux_amd64")
        return 0
    raise Exit(127, "Usage: terraform [global options] <subcommand> [args]")


def version(call: Call) -> int:
    if call.has("-json"):
        call.json({"terraform_version": VERSION, "platform": "linux_amd64"})
    else:
        call.print(f"Terraform v{VERSION}\non linux_amd64")
    return 0


# --- configuration -----------------------------------------------------------------------


def _config(where: Path) -> dict:
    files = sorted(where.glob("*.tf.json"))
    if not files:
        raise _err("No configuration files", "Plan requires configuration to be present.")
    merged: dict = {"resource": {}, "data": {}, "variable": {}, "locals": {}, "output": {}, "terraform": {}}
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise _err("Syntax error", f"on {path.name}: {err}")
        for block, body in data.items():
            if block not in BLOCKS:
                raise _err("Unsupported block type", f"on {path.name}: Blocks of type \"{block}\" are not expected here.")
            if block in ("resource", "data"):
                for kind, named in body.items():
                    for name, entry in named.items():
                        key = f"{kind}.{name}" if block == "resource" else f"data.{kind}.{name}"
                        if key in merged[block]:
                            raise _err(f"Duplicate {block} \"{kind}\" configuration",
                                       f"A {kind} named \"{name}\" was already declared.")
                        merged[block][key] = entry
            elif block in ("variable", "locals", "output"):
                for name, entry in body.items():
                    if name in merged[block]:
                        raise _err(f"Duplicate {block} \"{name}\"")
                    merged[block][name] = entry
            elif block == "terraform":
                merged["terraform"].update(body)
    _check_references(merged)
    return merged


def _check_references(config: dict) -> None:
    known = set(config["resource"]) | set(config["data"]) | {f"var.{v}" for v in config["variable"]} | \
        {f"local.{v}" for v in config["locals"]} | {"count.index"}
    for text in _strings(config):
        for expression in re.findall(r"\$\{([^}]*)\}", text):
            for ref in REFERENCE.findall(expression):
                if ref not in known:
                    raise _err("Reference to undeclared resource" if not ref.startswith(("var.", "local."))
                               else "Reference to undeclared input variable",
                               f"A reference to {ref} has not been declared in the root module.")
    for entry in config["resource"].values():
        for dependency in entry.get("depends_on", []):
            if dependency not in known:
                raise _err("Invalid depends_on reference", f"{dependency} is not declared.")


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _variables(call: Call, config: dict) -> dict:
    given = {}
    for item in call.inv.values("-var"):
        name, _, value = item.partition("=")
        given[name] = value
    for name in config["variable"]:
        if f"TF_VAR_{name}" in call.env:
            given.setdefault(name, call.env[f"TF_VAR_{name}"])
    for name, spec in config["variable"].items():
        if name not in given and "default" not in spec:
            raise _err("No value for required variable", f'The root module input variable "{name}" is not set, '
                       "and has no default value. Use a -var or -var-file command line argument to provide a value "
                       "for this variable.")
    return given


# --- state and plans ---------------------------------------------------------------------


def _read_state(where: Path) -> dict:
    path = where / STATE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"serial": 0, "fake_resources": {}}


def _actions(kind: str, old: dict | None, new: dict | None) -> list[str]:
    if old is None:
        return ["create"]
    if new is None:
        return ["delete"]
    if old == new:
        return ["no-op"]
    changed = {k for k in set(old) | set(new) if old.get(k) != new.get(k)} - {"lifecycle", "depends_on", "tags"}
    if kind in IMMUTABLE and changed or changed & FORCE_NEW.get(kind, set()):
        return ["delete", "create"]
    return ["update"]


def _changes(config: dict, state: dict) -> list[dict]:
    old = state["fake_resources"]
    actions = {a: _actions(a.split(".", 1)[0], old.get(a), config["resource"].get(a))
               for a in sorted(set(old) | set(config["resource"]))}
    # A resource that reads an attribute of a replaced one (a new task definition's ARN) changes with it.
    moved = True
    while moved:
        moved = False
        replaced = {a for a, act in actions.items() if act == ["delete", "create"]}
        for address, act in actions.items():
            if act == ["no-op"] and any(f"{r}." in text for r in replaced
                                        for text in _strings(config["resource"][address])):
                actions[address] = ["update"]
                moved = True
    out = []
    for address, act in actions.items():
        kind = address.split(".", 1)[0]
        new = config["resource"].get(address)
        out.append({"address": address, "type": kind, "name": address.split(".", 1)[1], "mode": "managed",
                    "change": {"actions": act}})
        destroying = "delete" in act
        if destroying and new is not None and (new.get("lifecycle") or {}).get("prevent_destroy"):
            raise _err("Instance cannot be destroyed",
                       f"Resource {address} has lifecycle.prevent_destroy set, but the plan calls for this resource "
                       "to be destroyed. To avoid this error and continue with the plan, either disable "
                       "lifecycle.prevent_destroy or reduce the scope of the plan using the -target option.")
    return out


def _read_data(call: Call, config: dict) -> None:
    with call.state() as state:
        secrets = set(state.get("terraform", {}).get("secrets", []))
    for address, entry in config["data"].items():
        if address.startswith("data.aws_secretsmanager_secret.") and entry.get("name") not in secrets:
            raise _err("reading Secrets Manager Secret", f"with {address}: couldn't find resource "
                       f"(name {entry.get('name')!r})")
    _check_preconditions(config, secrets)


def _listed(config: dict, part: str, secrets: set[str]) -> bool:
    """Does one list in a precondition hold an ARN? ``[data.aws_secretsmanager_secret.K.arn]``
    always does (the lookup fails otherwise); ``local.L`` does when the plural data source it
    filters (``data.aws_secretsmanager_secrets.K``, by name, a prefix match) found that exact name."""
    if part.startswith("[data.aws_secretsmanager_secret."):
        return True
    local = config["locals"].get(part.removeprefix("local."), "")
    found = re.search(r"data\.aws_secretsmanager_secrets\.([a-z0-9_]+)\.arns", local)
    if not part.startswith("local.") or not found:
        raise _err("fake terraform: a precondition it cannot evaluate", part)
    entry = config["data"].get(f"data.aws_secretsmanager_secrets.{found.group(1)}", {})
    names = [v for f in entry.get("filter", []) if f.get("name") == "name" for v in f.get("values", [])]
    return any(name in secrets for name in names)


def _check_preconditions(config: dict, secrets: set[str]) -> None:
    """Terraform evaluates `lifecycle.precondition` during the plan and stops at the first that
    fails, with its error_message. The fake evaluates the one form the fargate target writes:
    ``length(concat(A, B, ...)) > 0`` (or ``length(A) > 0``) over secret ARN lists."""
    for address, entry in config["resource"].items():
        for rule in (entry.get("lifecycle") or {}).get("precondition", []):
            condition = re.fullmatch(r"\$\{length\((?:concat\((.*)\)|(.*?))\) > 0\}", rule["condition"])
            if condition is None:
                raise _err("fake terraform: a precondition it cannot evaluate", rule["condition"])
            parts = [p.strip() for p in (condition.group(1) or condition.group(2)).split(", ")]
            if not any(_listed(config, p, secrets) for p in parts):
                raise _err("Resource precondition failed", f"on {address}: {rule['error_message']}")


def _require_init(where: Path) -> None:
    if not (where / ".terraform").is_dir():
        raise _err("Inconsistent dependency lock file", "The following dependency selections recorded in the lock "
                   "file are inconsistent with the current configuration:\n  - provider registry.terraform.io/"
                   "hashicorp/aws: required by this configuration but no version is selected\n\nTo make the "
                   "initial dependency selections that will initialize the dependency lock file, run:\n  "
                   "terraform init")


def init(call: Call) -> int:
    where = _dir(call)
    config = _config(where)
    providers = (config["terraform"].get("required_providers") or {})
    (where / ".terraform" / "providers").mkdir(parents=True, exist_ok=True)
    lock = "\n".join(f'provider "registry.terraform.io/{p["source"]}" {{\n  version = "6.62.0"\n}}'
                     for p in providers.values()) + "\n"
    (where / ".terraform.lock.hcl").write_text(lock, encoding="utf-8")
    backend = config["terraform"].get("backend")
    call.print("Initializing the backend..." + (f"\nSuccessfully configured the backend \"{next(iter(backend))}\"!"
                                                 if backend else ""))
    call.print("Initializing provider plugins...\n- Installing hashicorp/aws v6.62.0...\n\n"
               "Terraform has been successfully initialized!")
    return 0


def plan(call: Call) -> int:
    where = _dir(call)
    _require_init(where)
    config = _config(where)
    _variables(call, config)
    _read_data(call, config)
    state = _read_state(where)
    changes = _changes(config, state)
    counts = {"add": 0, "change": 0, "destroy": 0}
    for change in changes:
        actions = change["change"]["actions"]
        words = {("create",): "will be created", ("update",): "will be updated in-place",
                 ("delete",): "will be destroyed", ("delete", "create"): "must be replaced"}.get(tuple(actions))
        if words:
            call.print(f"  # {change['address']} {words}")
        counts["add"] += "create" in actions
        counts["change"] += actions == ["update"]
        counts["destroy"] += "delete" in actions
    if not any(counts.values()):
        call.print("\nNo changes. Your infrastructure matches the configuration.")
    else:
        call.print(f"\nPlan: {counts['add']} to add, {counts['change']} to change, {counts['destroy']} to destroy.")
    out = call.flag("-out")
    if out:
        body = {"serial": state["serial"], "changes": changes, "resources": config["resource"],
                "outputs": sorted(config["output"])}
        (where / out).write_text(json.dumps(body), encoding="utf-8")
        call.print(f"\nSaved the plan to: {out}")
    code = 2 if call.has("-detailed-exitcode") and any(counts.values()) else 0
    return code


def _load_plan(where: Path, name: str) -> dict:
    path = where / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise _err("Failed to load \"%s\" as a plan file" % name, "stat: no such file or directory")


def apply(call: Call) -> int:
    where = _dir(call)
    _require_init(where)
    if not call.inv.positionals:
        if not call.has("-auto-approve"):
            raise _err("No configuration approval", "Apply cancelled: -input=false needs a saved plan or "
                       "-auto-approve")
        raise _err("fake terraform: apply without a saved plan is not modelled")
    saved = _load_plan(where, call.inv.positionals[0])
    state = _read_state(where)
    if saved["serial"] != state["serial"]:
        raise _err("Saved plan is stale", "The given plan file can no longer be applied because the state was "
                   "changed by another operation after the plan was created.")
    counts = {"added": 0, "changed": 0, "destroyed": 0}
    for change in saved["changes"]:
        actions = change["change"]["actions"]
        counts["added"] += "create" in actions
        counts["changed"] += actions == ["update"]
        counts["destroyed"] += "delete" in actions
    state = {"serial": state["serial"] + 1, "fake_resources": saved["resources"],
             "lineage": hashlib.sha256(str(where).encode()).hexdigest()[:12]}
    (where / STATE).write_text(json.dumps(state, indent=1), encoding="utf-8")
    with call.state() as fake:
        fake.setdefault("terraform", {}).setdefault("applies", []).append(
            {"dir": str(where), "changes": saved["changes"]})
    call.print(f"\nApply complete! Resources: {counts['added']} added, {counts['changed']} changed, "
               f"{counts['destroyed']} destroyed.")
    if "url" in saved.get("outputs", []):
        call.print('\nOutputs:\n\nurl = "http://fake-alb-123.elb.amazonaws.com"')
    return 0


def show(call: Call) -> int:
    where = _dir(call)
    if not call.inv.positionals:
        call.json({"format_version": "1.0", "values": _read_state(where)["fake_resources"]})
        return 0
    saved = _load_plan(where, call.inv.positionals[0])
    if not call.has("-json"):
        for change in saved["changes"]:
            call.print(f"  # {change['address']}: {'/'.join(change['change']['actions'])}")
        return 0
    call.json({"format_version": "1.2", "terraform_version": VERSION, "resource_changes": saved["changes"]})
    return 0


def output(call: Call) -> int:
    call.print("http://fake-alb-123.elb.amazonaws.com" if call.has("-raw") else
               'url = "http://fake-alb-123.elb.amazonaws.com"')
    return 0


HANDLERS = {(): root, ("version",): version, ("init",): init, ("plan",): plan, ("apply",): apply,
            ("show",): show, ("output",): output}
