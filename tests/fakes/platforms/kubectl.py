"""fake `kubectl`: a tiny cluster of applied objects, per kubernetes/kubectl (master, 2026-07).

Credentials come from KUBECONFIG or --kubeconfig (a file that exists); ``FAKE_KUBE_DENY=1``
makes `auth can-i` answer no.

What the real cluster does that a deploy tool gets wrong, modelled from the API server's
rules (k8s.io/apiserver fieldmanager, apps and core validation):

- server-side apply keeps a field another manager set (an HPA's ``spec.replicas``, a
  ``kubectl scale``) when the applied object leaves it out, and refuses to change it
  without ``--force-conflicts`` (the real conflict message); tests seed such a field in an
  object's ``_overrides``;
- a claim's spec, a StatefulSet's spec outside template/replicas/updateStrategy, and a
  Deployment's selector cannot change after creation;
- a Deployment or StatefulSet gets a new revision only when its pod template changes, and
  `rollout status` then waits for the new pods; with no change it returns at once;
- a pod starts only when the node can pull its image (pushed to the fake registry, public,
  or, unless ``FAKE_KUBE_REMOTE=1``, in the local Docker's images as on Docker Desktop) and
  its claims bind (a default StorageClass exists unless ``FAKE_KUBE_NO_DEFAULT_STORAGECLASS=1``);
- Gateway API kinds exist unless ``FAKE_KUBE_NO_GATEWAY_API=1``; a Gateway is an object
  tests seed (``Gateway/<namespace>/<name>``);
- the server version is ``FAKE_KUBE_SERVER_VERSION`` (default 1.35).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from fakes.fake_cli import Call, Exit
from fakes.platforms import digest, ident

REFUSED = "The connection to the server localhost:8080 was refused - did you specify the right host or port?"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
                  "IngressClass", "CustomResourceDefinition", "PriorityClass"}
BUILTIN_NAMESPACES = {"default", "kube-system", "kube-public"}
GATEWAY_KINDS = {"Gateway", "HTTPRoute", "GRPCRoute", "GatewayClass", "ReferenceGrant"}
PUBLIC_IMAGES = ("chromadb/chroma:",)  # what any node can pull without credentials
RESOURCE_KINDS = {"gateways.gateway.networking.k8s.io": "Gateway", "gateways": "Gateway", "gateway": "Gateway",
                  "httproutes.gateway.networking.k8s.io": "HTTPRoute", "httproutes": "HTTPRoute",
                  "secrets": "Secret", "secret": "Secret", "deployments": "Deployment", "deployment": "Deployment",
                  "persistentvolumeclaims": "PersistentVolumeClaim", "pvc": "PersistentVolumeClaim",
                  "statefulsets": "StatefulSet", "services": "Service", "configmaps": "ConfigMap",
                  "replicasets": "ReplicaSet", "replicaset": "ReplicaSet", "rs": "ReplicaSet"}
CONFLICT_HELP = """Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `--force-conflicts` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their config)."""
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
    """kustomize build, the parts plans use: resources (files, or directories holding a
    kustomization: a base), `namespace`, and the `images` transformer (a container image
    whose name matches gets newName / newTag / digest)."""
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
        file = (directory / resource).resolve()
        if file.is_dir():
            objects.extend(_from_kustomization(file))
            continue
        if not file.is_file():
            raise Exit(1, f"error: accumulating resources: accumulation err='accumulating resources from "
                          f"'{resource}': open {file}: no such file or directory'")
        objects.extend((obj, str(file)) for obj in _load_documents(file.read_text(encoding="utf-8"), str(file)))
    for obj, _ in objects:
        if kustomization.get("namespace") and obj["kind"] not in CLUSTER_SCOPED:
            obj.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
        for container in ((((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []):
            container["image"] = _set_image(container.get("image", ""), kustomization.get("images") or [])
    return objects


def _set_image(image: str, rules: list[dict]) -> str:
    """kustomize api/filters/imagetag: match on the name without tag or digest."""
    last = image.rsplit("/", 1)[-1]
    name = image
    if "@" in image:
        name = image.split("@", 1)[0]
    elif ":" in last:
        name = image.rsplit(":", 1)[0]
    for rule in rules:
        if rule.get("name") == name:
            new = rule.get("newName", name)
            if rule.get("digest"):
                return f"{new}@{rule['digest']}"
            if rule.get("newTag"):
                return f"{new}:{rule['newTag']}"
            return new + image[len(name):]
    return image


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
    manager = call.flag("--field-manager") or ("kubectl" if call.has("--server-side") else
                                               "kubectl-client-side-apply")
    force = call.has("--force-conflicts")
    failed = False
    with call.state() as state:
        cluster = _cluster(state)
        for obj, source in objects:
            kind, meta = obj["kind"], obj.setdefault("metadata", {})
            if kind in GATEWAY_KINDS and call.env.get("FAKE_KUBE_NO_GATEWAY_API"):
                raise Exit(1, f'error: resource mapping not found for name: "{meta["name"]}" namespace: '
                              f'"{meta.get("namespace", "")}" from "{source}": no matches for kind "{kind}" in version '
                              f'"{obj["apiVersion"]}"\nensure CRDs are installed first')
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
            if previous is not None and call.has("--server-side"):
                overrides = _resolve_conflicts(previous, stored, manager, force, obj["apiVersion"])
                if overrides:
                    stored["_overrides"] = overrides
            if previous is not None:
                _check_immutable(kind, meta["name"], _live(previous), _live(stored))
            if dry_run == "none":
                cluster["objects"][key] = stored
                if kind == "Namespace" and meta["name"] not in cluster["namespaces"]:
                    cluster["namespaces"].append(meta["name"])
                if kind in ("Deployment", "StatefulSet"):
                    _record_revision(cluster, key, previous, stored)
            word = "serverside-applied" if call.has("--server-side") else \
                ("created" if previous is None else "unchanged" if previous == stored else "configured")
            suffix = f" ({dry_run} dry run)" if dry_run != "none" else ""
            call.print(f"{kind.lower()}/{meta['name']} {word}{suffix}")
    return 1 if failed else 0


def _flatten(value, path: str = "") -> dict[str, object]:
    """Leaf fields by their server-side-apply path; list items with a name are keyed by it."""
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            if not str(k).startswith("_"):
                out.update(_flatten(v, f"{path}.{k}"))
        return out
    if isinstance(value, list) and value and all(isinstance(i, dict) and "name" in i for i in value):
        out = {}
        for item in value:
            out.update(_flatten(item, f'{path}[name="{item["name"]}"]'))
        return out
    return {path: value}


def _resolve_conflicts(previous: dict, applied: dict, manager: str, force: bool, api_version: str) -> dict:
    """Fields other managers own: kept when the applied object leaves them out, a conflict
    when it sets another value (unless forced), shared when it sets the same one."""
    flat = _flatten(applied)
    kept = {}
    conflicts = []
    for path, owned in (previous.get("_overrides") or {}).items():
        if owned["manager"] == manager or path not in flat:
            if owned["manager"] != manager:
                kept[path] = owned
            continue
        if flat[path] != owned["value"] and not force:
            conflicts.append((path, owned["manager"]))
    if conflicts:
        lines = "\n".join(f'conflict with "{m}" using {api_version}: {p}' for p, m in conflicts)
        many = f"{len(conflicts)} conflict{'s' if len(conflicts) > 1 else ''}"
        raise Exit(1, f"error: Apply failed with {many}: {lines}\n{CONFLICT_HELP}")
    return kept


def _live(obj: dict) -> dict:
    """The object as the cluster holds it: the applied fields, then other managers' values."""
    import copy

    live = copy.deepcopy({k: v for k, v in obj.items() if k != "_overrides"})
    for path, owned in (obj.get("_overrides") or {}).items():
        if path == ".spec.replicas":  # the field other managers take in practice (HPA, scale)
            live.setdefault("spec", {})["replicas"] = owned["value"]
    return live


def _check_immutable(kind: str, name: str, before: dict, after: dict) -> None:
    old, new = before.get("spec") or {}, after.get("spec") or {}
    if kind == "PersistentVolumeClaim":
        rest = lambda spec: {k: v for k, v in spec.items() if k not in ("resources", "volumeAttributesClassName")}
        if rest(old) != rest(new):
            raise Exit(1, f'The PersistentVolumeClaim "{name}" is invalid: spec: Forbidden: spec is immutable after '
                          "creation except resources.requests and volumeAttributesClassName for bound claims")
        was = _bytes((old.get("resources") or {}).get("requests", {}).get("storage"))
        now = _bytes((new.get("resources") or {}).get("requests", {}).get("storage"))
        if was is not None and now is not None and now < was:
            raise Exit(1, f'The PersistentVolumeClaim "{name}" is invalid: spec.resources.requests.storage: '
                          "Forbidden: field can not be less than previous value")
    elif kind == "StatefulSet":
        mutable = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                   "minReadySeconds")
        if {k: v for k, v in old.items() if k not in mutable} != {k: v for k, v in new.items() if k not in mutable}:
            raise Exit(1, f'The StatefulSet "{name}" is invalid: spec: Forbidden: updates to statefulset spec for '
                          "fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
                          "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")
    elif kind == "Deployment" and old.get("selector") != new.get("selector"):
        raise Exit(1, f'The Deployment "{name}" is invalid: spec.selector: Invalid value: '
                      f'{json.dumps(new.get("selector"))}: field is immutable')


def _bytes(quantity) -> float | None:
    if quantity is None:
        return None
    text = str(quantity)
    for suffix, factor in (("Ki", 1024), ("Mi", 1024**2), ("Gi", 1024**3), ("Ti", 1024**4),
                           ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def _record_revision(cluster: dict, key: str, previous: dict | None, stored: dict) -> None:
    """A new revision (and pods to roll) only when the pod template changed."""
    status = cluster.setdefault("rollouts", {}).setdefault(key, {"revision": 0, "pending": False, "images": []})
    before = ((previous or {}).get("spec") or {}).get("template")
    after = (stored.get("spec") or {}).get("template")
    if previous is None or before != after:
        status["revision"] += 1
        status["pending"] = True
        if stored["kind"] == "Deployment":
            _replica_set_for(cluster, key, stored)


REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
REVISION_HISTORY_LIMIT = 10  # a Deployment's default revisionHistoryLimit


def _replica_set_for(cluster: dict, key: str, deployment: dict) -> None:
    """The Deployment controller (pkg/controller/deployment/sync.go): a template it ran
    before gets that ReplicaSet back, with the next revision and the old number in
    revision-history; a new template a new ReplicaSet. Old ones beyond the history limit go."""
    import time

    _, namespace, name = key.split("/")
    template = deployment["spec"]["template"]
    pod_hash = ident("", json.dumps(template, sort_keys=True), length=10)
    objects = cluster["objects"]
    owned = {k: o for k, o in objects.items() if k.startswith(f"ReplicaSet/{namespace}/")
             and o["metadata"]["ownerReferences"][0]["name"] == name}
    top = max((int(o["metadata"]["annotations"][REVISION]) for o in owned.values()), default=0)
    rs_key = _key("ReplicaSet", namespace, f"{name}-{pod_hash}")
    replica_set = objects.get(rs_key)
    if replica_set is None:
        labels = {**template.get("metadata", {}).get("labels", {}), "pod-template-hash": pod_hash}
        replica_set = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
            "name": f"{name}-{pod_hash}", "namespace": namespace, "labels": labels, "annotations": {},
            "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "controller": True}]},
            "spec": {"template": {**template, "metadata": {**template.get("metadata", {}), "labels": labels}}}}
        objects[rs_key] = replica_set
    else:
        annotations = replica_set["metadata"]["annotations"]
        history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h] + [annotations[REVISION]]
        annotations[REVISION_HISTORY] = ",".join(history)
    replica_set["metadata"]["annotations"][REVISION] = str(top + 1)
    owned[rs_key] = replica_set
    old = sorted((k for k in owned if k != rs_key), key=lambda k: int(owned[k]["metadata"]["annotations"][REVISION]))
    for stale in old[:max(0, len(old) - REVISION_HISTORY_LIMIT)]:
        del objects[stale]


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
    key = _key(kind, namespace, name)
    with call.state() as state:
        cluster = _cluster(state)
        stored = cluster["objects"].get(key)
        if stored is None:
            plural = {"Deployment": "deployments.apps", "StatefulSet": "statefulsets.apps",
                      "DaemonSet": "daemonsets.apps"}[kind]
            raise Exit(1, f'Error from server (NotFound): {plural} "{name}" not found')
        obj = _live(stored)
        replicas = (obj.get("spec") or {}).get("replicas", 1)
        status = cluster.setdefault("rollouts", {}).setdefault(key, {"revision": 1, "pending": False, "images": []})
        blocked = _why_pods_wait(call, state, namespace, obj) if status["pending"] else None
        rolled_now = status["pending"] and blocked is None
        if rolled_now:  # the new pods are up: what runs now is this template's image
            status["pending"] = False
            status["images"].append([c["image"] for c in obj["spec"]["template"]["spec"].get("containers", [])])
    if blocked is not None:
        if kind == "StatefulSet":
            call.print(f"Waiting for 1 pods to be ready...\n{blocked}")
        else:
            call.print(f'Waiting for deployment "{name}" rollout to finish: 0 of {replicas} updated replicas are '
                       f"available...\n{blocked}")
        raise Exit(1, "error: timed out waiting for the condition")
    if kind == "StatefulSet":
        call.print(f"partitioned roll out complete: {replicas} new pods have been updated...")
        return 0
    if rolled_now:
        call.print(f'Waiting for deployment "{name}" rollout to finish: 1 old replicas are pending termination...')
    call.print(f'deployment "{name}" successfully rolled out')
    return 0


def _why_pods_wait(call: Call, state: dict, namespace: str, obj: dict) -> str | None:
    """Why a new pod cannot start (the event `kubectl describe pod` would show), or None."""
    pod = obj["spec"]["template"]["spec"]
    docker = state.get("docker") or {}
    pushed = docker.get("registry") or {}
    local = docker.get("images") or {}
    for container in pod.get("containers", []):
        image = container["image"]
        if image in pushed or image.startswith(PUBLIC_IMAGES):
            continue
        if not call.env.get("FAKE_KUBE_REMOTE") and container.get("imagePullPolicy") in ("IfNotPresent", "Never") \
                and _local_key(image) in local:
            continue
        return f'(pod event) Failed to pull image "{image}": not found; ImagePullBackOff'
    objects = _cluster(state)["objects"]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod.get("volumes", []) if "persistentVolumeClaim" in v]
    claims += [f"{t['metadata']['name']}-{obj['metadata']['name']}-0"
               for t in (obj.get("spec") or {}).get("volumeClaimTemplates", [])]
    for claim in claims:
        found = objects.get(_key("PersistentVolumeClaim", namespace, claim))
        storage_class = ((found or {}).get("spec") or {}).get("storageClassName")
        if found is None and not (obj.get("spec") or {}).get("volumeClaimTemplates"):
            return f'(pod event) persistentvolumeclaim "{claim}" not found'
        template_class = next((t["spec"].get("storageClassName") for t in obj["spec"].get("volumeClaimTemplates", [])),
                              None)
        if not (storage_class or template_class) and call.env.get("FAKE_KUBE_NO_DEFAULT_STORAGECLASS"):
            return (f'(pod event) 0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims; '
                    f'claim "{claim}" Pending: no persistent volumes available for this claim and no storage class '
                    "is set")
    return None


def _local_key(reference: str) -> str:
    last = reference.rsplit("/", 1)[-1]
    return reference if ":" in last or "@" in last else f"{reference}:latest"


def get(call: Call) -> int:
    """`kubectl get TYPE NAME... [-o name]`: what the plans ask before they apply."""
    if not call.inv.positionals:
        raise Exit(1, "You must specify the type of resource to get. Use \"kubectl api-resources\" for a complete "
                      "list of supported resources.\n\nerror: Required resource not specified.")
    resource, *names = call.inv.positionals
    kind = RESOURCE_KINDS.get(resource.lower())
    if kind is None or (kind in GATEWAY_KINDS and call.env.get("FAKE_KUBE_NO_GATEWAY_API")):
        raise Exit(1, f'error: the server doesn\'t have a resource type "{resource.split(".")[0]}"')
    namespace = call.flag("--namespace") or "default"
    plural = resource if "." in resource else {"Gateway": "gateways.gateway.networking.k8s.io"}.get(kind, resource)
    with call.state() as state:
        objects = _cluster(state)["objects"]
    if not names and call.flag("--output") == "json":  # a list: `get rs -l app=x -o json`
        wanted = dict(pair.split("=", 1) for pair in (call.flag("--selector") or "").split(",") if pair)
        items = [_live(o) for k, o in sorted(objects.items()) if k.startswith(f"{kind}/{namespace}/")
                 and wanted.items() <= ((o.get("metadata") or {}).get("labels") or {}).items()]
        call.json({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}})
        return 0
    missing = []
    for name in names:
        if _key(kind, namespace, name) not in objects:
            missing.append(name)
            continue
        singular = "secret" if kind == "Secret" else plural.split(".", 1)[0].rstrip("s")
        group = plural.split(".", 1)[1] if "." in plural else ""
        call.print(f"{singular}.{group}/{name}" if group else f"{singular}/{name}")
    if missing and not call.has("--ignore-not-found"):
        plural_name = plural if "." in plural else resource
        raise Exit(1, "\n".join(f'Error from server (NotFound): {plural_name} "{n}" not found' for n in missing))
    return 0


def version(call: Call) -> int:
    client = {"major": "1", "minor": "35", "gitVersion": "v1.35.0", "platform": "linux/amd64"}
    server_version = call.env.get("FAKE_KUBE_SERVER_VERSION", "1.35.0")
    major, minor = server_version.split(".")[:2]
    server = {"major": major, "minor": minor, "gitVersion": f"v{server_version}+fake", "platform": "linux/amd64"}
    if call.flag("--output") == "json":
        data = {"clientVersion": client, "kustomizeVersion": "v5.7.1"}
        if not call.has("--client"):
            data["serverVersion"] = server
        call.json(data)
    else:
        call.print(f"Client Version: {client['gitVersion']}\nKustomize Version: v5.7.1")
        if not call.has("--client"):
            call.print(f"Server Version: {server['gitVersion']}")
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
    ("get",): get,
    ("auth", "can-i"): auth_can_i,
    ("auth", "whoami"): auth_whoami,
    ("wait",): wait,
    ("logs",): logs,
}
