"""fake `kubectl`: a tiny cluster of applied objects, per kubernetes/kubectl (master, 2026-07).

Credentials come from KUBECONFIG or --kubeconfig (a file that exists); ``FAKE_KUBE_DENY=1``
makes `auth can-i` answer no.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from fakes.fake_cli import Call, Exit
from fakes.platforms import digest

REFUSED = "The connection to the server localhost:8080 was refused - did you specify the right host or port?"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
                  "IngressClass", "CustomResourceDefinition", "PriorityClass"}
BUILTIN_NAMESPACES = {"default", "kube-system", "kube-public"}
ROLLOUT_KINDS = {"deployment": "Deployment", "deploy": "Deployment", "statefulset": "StatefulSet",
                 "sts": "StatefulSet", "daemonset": "DaemonSet", "ds": "DaemonSet"}


def check_auth(call: Call) -> None:
    if call.inv.command == ("version",) and call.has("--client"):
        return
    if call.inv.command == ("create", "secret", "generic") and call.flag("--dry-run") == "client":
        return
    config = call.flag("--kubeconfig") or call.env.get("KUBECONFIG")
    if not config or not Path(config.split(":")[0]).is_file():
        raise Exit(1, f"E0822 10:00:00.000000   12345 memcache.go:265] \"Unhandled Error\" err=\"couldn't get current "
                      f"server API group list: Get \\\"http://localhost:8080/api?timeout=32s\\\": dial tcp "
                      f"127.0.0.1:8080: connect: connection refused\"\n{REFUSED}")


def reads_stdin(call: Call) -> bool:
    return call.inv.command == ("apply",) and "-" in call.inv.values("--filename")


def _cluster(state: dict) -> dict:
    cluster = state.setdefault("kubectl", {})
    cluster.setdefault("objects", {})
    cluster.setdefault("namespaces", sorted(BUILTIN_NAMESPACES))
    return cluster


def _key(kind: str, namespace: str | None, name: str) -> str:
    return f"{kind}/{namespace or '-'}/{name}"


def _load_documents(text: str, source: str) -> list[dict]:
    import yaml

    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        raise Exit(1, f"error: error parsing {source}: {err}")
    objects = []
    for document in documents:
        if document.get("kind") == "List":
            objects.extend(document.get("items", []))
        else:
            objects.append(document)
    for obj in objects:
        missing = [k for k in ("apiVersion", "kind") if not obj.get(k)]
        if missing:
            raise Exit(1, f'error: error validating "{source}": error validating data: '
                          f"[{', '.join(f'{k} not set' for k in missing)}]; if you choose to ignore these errors, "
                          "turn validation off with --validate=false")
        if not (obj.get("metadata") or {}).get("name"):
            raise Exit(1, f'error: error when retrieving current configuration of "{source}": resource name may '
                          "not be empty")
    return objects


def _from_kustomization(directory: Path) -> list[tuple[dict, str]]:
    import yaml

    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        path = directory / name
        if path.is_file():
            break
    else:
        raise Exit(1, f"error: unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' "
                      f"in directory '{directory}'")
    kustomization = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    objects = []
    for resource in kustomization.get("resources", []):
        file = directory / resource
        if not file.is_file():
            raise Exit(1, f"error: accumulating resources: accumulation err='accumulating resources from "
                          f"'{resource}': open {file}: no such file or directory'")
        for obj in _load_documents(file.read_text(encoding="utf-8"), str(file)):
            if kustomization.get("namespace") and obj["kind"] not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
            objects.append((obj, str(file)))
    return objects


def _sources(call: Call) -> list[tuple[dict, str]]:
    objects: list[tuple[dict, str]] = []
    if call.flag("--kustomize"):
        objects.extend(_from_kustomization(call.path(call.flag("--kustomize"))))
    for name in call.inv.values("--filename"):
        if name == "-":
            objects.extend((o, "STDIN") for o in _load_documents(call.record["stdin"] or "", "STDIN"))
            continue
        path = call.path(name)
        if path.is_dir():
            files = sorted(p for p in (path.rglob("*") if call.has("--recursive") else path.iterdir())
                           if p.suffix in (".yaml", ".yml", ".json"))
        elif path.is_file():
            files = [path]
        else:
            raise Exit(1, f'error: the path "{name}" does not exist')
        for file in files:
            objects.extend((o, str(file)) for o in _load_documents(file.read_text(encoding="utf-8"), str(file)))
    if not objects:
        raise Exit(1, "error: must specify one of -f and -k")
    return objects


def apply(call: Call) -> int:
    import yaml

    dry_run = call.flag("--dry-run", "none")
    objects = _sources(call)
    default_ns = call.flag("--namespace") or "default"
    if dry_run != "none" and call.flag("--output") in ("yaml", "json"):
        items = [o for o, _ in objects]
        call.print(yaml.safe_dump_all(items, sort_keys=False) if call.flag("--output") == "yaml"
                   else json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=4))
        return 0
    failed = False
    with call.state() as state:
        cluster = _cluster(state)
        for obj, source in objects:
            kind, meta = obj["kind"], obj.setdefault("metadata", {})
            namespace = None if kind in CLUSTER_SCOPED else meta.get("namespace") or default_ns
            if namespace and call.flag("--namespace") and meta.get("namespace") and \
                    meta["namespace"] != call.flag("--namespace"):
                raise Exit(1, f"error: the namespace from the provided object \"{meta['namespace']}\" does not "
                              f"match the namespace \"{call.flag('--namespace')}\". You must pass "
                              "'--namespace=" + meta["namespace"] + "' to perform this operation.")
            if namespace and namespace not in cluster["namespaces"]:
                call.err(f'Error from server (NotFound): error when creating "{source}": namespaces "{namespace}" '
                         "not found")
                failed = True
                continue
            key = _key(kind, namespace, meta["name"])
            stored = _stored(obj)
            previous = cluster["objects"].get(key)
            if dry_run == "none":
                cluster["objects"][key] = stored
                if kind == "Namespace" and meta["name"] not in cluster["namespaces"]:
                    cluster["namespaces"].append(meta["name"])
            word = "serverside-applied" if call.has("--server-side") else \
                ("created" if previous is None else "unchanged" if previous == stored else "configured")
            suffix = f" ({dry_run} dry run)" if dry_run != "none" else ""
            call.print(f"{kind.lower()}/{meta['name']} {word}{suffix}")
    return 1 if failed else 0


def _stored(obj: dict) -> dict:
    """What the fake cluster keeps: the object, with Secret values reduced to digests."""
    if obj.get("kind") != "Secret":
        return obj
    kept = {k: v for k, v in obj.items() if k not in ("data", "stringData")}
    data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (obj.get("data") or {}).items()}
    data.update(obj.get("stringData") or {})
    kept["dataDigests"] = {k: digest(v) for k, v in sorted(data.items())}
    return kept


def _env_file_values(call: Call, path: Path) -> dict[str, str]:
    """kubectl pkg/cmd/util/env_file.go: literal values; a bare NAME reads kubectl's environment."""
    values = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise Exit(1, f"error: open {path}: no such file or directory")
    for number, raw in enumerate(text.splitlines()):
        line = raw.lstrip()
        if number == 0:
            line = line.removeprefix("\ufeff")
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise Exit(1, f'error: "{key}" is not a valid key name: a valid environment variable name must consist '
                          "of alphabetic characters, digits, '_', '-', or '.'")
        values[key] = value if sep else call.env.get(key, "")
    return values


def create_secret_generic(call: Call) -> int:
    import yaml

    name = call.inv.positionals[0]
    data: dict[str, str] = {}
    for env_file in call.inv.values("--from-env-file"):
        data.update(_env_file_values(call, call.path(env_file)))
    for literal in call.inv.values("--from-literal"):
        key, _, value = literal.partition("=")
        data[key] = value
    for spec in call.inv.values("--from-file"):
        key, sep, file = spec.partition("=")
        path = call.path(file if sep else key)
        data[key if sep else path.name] = path.read_text(encoding="utf-8")
    namespace = call.flag("--namespace")
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": name, **({"namespace": namespace} if namespace else {})},
              "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    if call.flag("--dry-run") in ("client", "server"):
        output = call.flag("--output")
        if output == "yaml":
            call.print(yaml.safe_dump({**secret, "metadata": {**secret["metadata"], "creationTimestamp": None}},
                                      sort_keys=True).rstrip("\n"))
        elif output == "json":
            call.json(secret)
        else:
            call.print(f"secret/{name} created ({call.flag('--dry-run')} dry run)")
        return 0
    with call.state() as state:
        cluster = _cluster(state)
        key = _key("Secret", namespace or "default", name)
        if key in cluster["objects"]:
            raise Exit(1, f'error: failed to create secret secrets "{name}" already exists')
        cluster["objects"][key] = _stored(secret)
    call.print(f"secret/{name} created")
    return 0


def rollout_status(call: Call) -> int:
    target = call.inv.positionals[0]
    kind_word, _, name = target.partition("/")
    kind = ROLLOUT_KINDS.get(kind_word.split(".")[0].lower())
    if kind is None or not name:
        raise Exit(1, f'error: no kind "{kind_word}" is registered for rollout status')
    namespace = call.flag("--namespace") or "default"
    with call.state() as state:
        obj = _cluster(state)["objects"].get(_key(kind, namespace, name))
    if obj is None:
        plural = {"Deployment": "deployments.apps", "StatefulSet": "statefulsets.apps",
                  "DaemonSet": "daemonsets.apps"}[kind]
        raise Exit(1, f'Error from server (NotFound): {plural} "{name}" not found')
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    if kind == "StatefulSet":
        call.print(f"partitioned roll out complete: {replicas} new pods have been updated...")
    else:
        call.print(f'Waiting for deployment "{name}" rollout to finish: 0 of {replicas} updated replicas are '
                   f'available...\ndeployment "{name}" successfully rolled out')
    return 0


def version(call: Call) -> int:
    client = {"major": "1", "minor": "35", "gitVersion": "v1.35.0", "platform": "linux/amd64"}
    if call.flag("--output") == "json":
        data = {"clientVersion": client, "kustomizeVersion": "v5.7.1"}
        if not call.has("--client"):
            data["serverVersion"] = {**client, "gitVersion": "v1.35.0+fake"}
        call.json(data)
    else:
        call.print(f"Client Version: {client['gitVersion']}\nKustomize Version: v5.7.1")
        if not call.has("--client"):
            call.print("Server Version: v1.35.0+fake")
    return 0


def auth_can_i(call: Call) -> int:
    allowed = not call.env.get("FAKE_KUBE_DENY")
    if not call.has("--quiet"):
        call.print("yes" if allowed else "no")
    return 0 if allowed else 1


def auth_whoami(call: Call) -> int:
    review = {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
              "status": {"userInfo": {"username": "fake-user", "groups": ["system:authenticated"]}}}
    if call.flag("--output") == "json":
        call.json(review)
    else:
        call.print("ATTRIBUTE   VALUE\nUsername    fake-user")
    return 0


def wait(call: Call) -> int:
    for resource in call.inv.positionals:
        call.print(f"{resource} condition met")
    return 0


def logs(call: Call) -> int:
    call.print("INFO:     Application startup complete.")
    return 0


HANDLERS = {
    ("apply",): apply,
    ("create", "secret", "generic"): create_secret_generic,
    ("rollout", "status"): rollout_status,
    ("version",): version,
    ("auth", "can-i"): auth_can_i,
    ("auth", "whoami"): auth_whoami,
    ("wait",): wait,
    ("logs",): logs,
}
