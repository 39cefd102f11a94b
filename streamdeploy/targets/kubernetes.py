"""`--target kubernetes`: plain manifests in ``k8s/`` with a kustomization, shipped by kubectl.

One Deployment (+ ConfigMap, Service, Ingress) per service; each server-mode store is a
StatefulSet with its own claim behind a headless Service. Objects are named after the
services and stores themselves, so ``http://api:8000`` and ``CHROMA_HOST=chroma`` mean
the same thing here as in compose.yaml; `targets.kubernetes.namespace` keeps projects apart.

Secrets never appear in the manifests: each Deployment refers by ``secretKeyRef`` to a
Secret named ``<service>-secrets``, which `up` creates from the environment.
"""

from __future__ import annotations

import hashlib
import json
import math

from streamdeploy.spec import Service, Spec, Store
from streamdeploy.targets import docker, volumes
from streamdeploy.targets.base import Context, Note, Plan, RenderedFile, Rendering, SecretNeeds, Step

DIR = "k8s"
NAMESPACE_FILE = f"{DIR}/00-namespace.yaml"
FIELD_MANAGER = "streamdeploy"
APP_UID = docker.APP_UID  # the user the generated image runs the server as
CHROMA_UID = 1000  # chromadb/chroma runs as root by default; it only writes its data dir and /var/tmp
CHROMA_DATA = docker.CHROMA_DATA
CHROMA_HEARTBEAT = "/api/v2/heartbeat"  # chroma 1.x server (rust/frontend/src/server.rs)
PRE_STOP_SECONDS = 5  # lets endpoints and the ingress drop the pod before it gets SIGTERM
ROLLOUT_TIMEOUT = 300  # seconds, at least


def secret_name(service: str) -> str:
    return f"{service}-secrets"


def config_map_name(service: str) -> str:
    return f"{service}-env"


def claim_name(service: str, volume: str) -> str:
    return f"{service}-{_dns(volume)}"


def secret_names_file(service: str) -> str:
    return f"{DIR}/{service}.secret-names.env"


def image_for(spec: Spec, service: str) -> str:
    """The image the cluster pulls for a service: targets.kubernetes.image, else the local build's tag."""
    configured = spec.targets.kubernetes.image
    if configured:
        return configured.replace("{service}", service)
    local = docker.image_name(spec, service)
    return local if ":" in local.rsplit("/", 1)[-1] else f"{local}:latest"


def termination_grace(service: Service) -> int:
    # the preStop sleep, then the same drain the other targets give the server after SIGTERM
    pre_stop = PRE_STOP_SECONDS if service.is_web else 0
    return pre_stop + docker.drain_seconds(service)


def web_services(spec: Spec) -> list[str]:
    return [name for name, service in spec.services.items() if service.is_web]


def exposed_service(spec: Spec) -> str | None:
    """The service the Ingress routes to: the first one with a port."""
    names = web_services(spec)
    return names[0] if names else None


# ---------------------------------------------------------------- render


class KubernetesTarget:
    name = "kubernetes"
    title = "Kubernetes"

    def render(self, spec: Spec, ctx: Context) -> Rendering:
        _check_names(spec)
        notes: list[Note] = []
        files: list[RenderedFile] = []
        resources: list[str] = []
        namespace = spec.targets.kubernetes.namespace
        if namespace:
            files.append(_yaml_file(NAMESPACE_FILE, [_namespace(spec, namespace)]))
            resources.append(NAMESPACE_FILE)
        for store_name, store in spec.stores.items():
            users = [name for name, s in spec.services.items() if s.store == store_name]
            path = f"{DIR}/{store_name}.yaml"
            files.append(_yaml_file(path, _store_objects(spec, store_name, store, users)))
            resources.append(path)
        for service_name, service in spec.services.items():
            path = f"{DIR}/{service_name}.yaml"
            files.append(_yaml_file(path, _service_objects(spec, service_name, service, notes)))
            resources.append(path)
            if service.secrets:
                files.append(_secret_names(service_name, service))
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [r.removeprefix(DIR + "/") for r in resources],
        }
        files.insert(0, _yaml_file(f"{DIR}/kustomization.yaml", [kustomization], start=False))
        notes.extend(_render_notes(spec))
        return Rendering(files=tuple(files), notes=tuple(notes))

    def plan(self, spec: Spec, ctx: Context) -> Plan:
        _check_names(spec)
        k8s = spec.targets.kubernetes
        ns = ("-n", k8s.namespace) if k8s.namespace else ()
        where = f" in namespace {k8s.namespace}" if k8s.namespace else " in the current namespace"
        apply = ("kubectl", "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "--force-conflicts")
        access_hint = "check `kubectl config current-context` and that you may create these objects there"
        steps: list[Step] = []
        if k8s.namespace:
            steps.append(Step(
                argv=(*apply, "-f", NAMESPACE_FILE),
                description=f"Creating namespace {k8s.namespace}",
                cwd=".",
                timeout=120,
                hint=access_hint,
            ))
        for name, service in spec.services.items():
            if not service.secrets:
                continue
            # The env file lists names only: kubectl reads each value from its own environment
            # (kubectl pkg/cmd/util/env_file.go), so values travel neither on argv nor on disk.
            # An optional name with no value here is stored empty (kubectl env_file.go reads it
            # from its environment); its secretKeyRef is optional, so a Secret made by hand
            # without that key still lets the pod start.
            needs = SecretNeeds.of(service)
            steps.append(Step(
                argv=("kubectl", "create", "secret", "generic", secret_name(name),
                      f"--from-env-file={secret_names_file(name)}", "--dry-run=client", "-o", "yaml", *ns),
                pipe_to=(*apply, "-f", "-", *ns),
                pass_secrets=needs.required,
                pass_if_set=needs.optional,
                description=f"Storing {', '.join(service.secrets)} in Secret {secret_name(name)}{where}",
                cwd=".",
                timeout=120,
                hint=access_hint,
            ))
        steps.append(Step(
            argv=(*apply, "-k", DIR),
            description=f"Applying the manifests in {DIR}/{where}",
            cwd=".",
            timeout=300,
            hint=access_hint,
        ))
        for name in spec.stores:
            steps.append(_rollout("statefulset", name, ROLLOUT_TIMEOUT, ns))
        for name, service in spec.services.items():
            replicas = 1 if service.volumes else service.replicas
            grace = service.health.grace if service.health else 0
            timeout = max(ROLLOUT_TIMEOUT, int(math.ceil(replicas * (grace + termination_grace(service) + 30))))
            steps.append(_rollout("deployment", name, timeout, ns))
        needs = SecretNeeds.of(*spec.services.values())
        notes = []
        if needs.names:
            notes.append(Note(
                self.name,
                "a changed secret value reaches running pods when they restart: "
                "`kubectl rollout restart deployment/<service>`" + (f" -n {k8s.namespace}" if k8s.namespace else ""),
                level="info",
            ))
        url = f"https://{k8s.host}" if k8s.host and exposed_service(spec) else None
        return Plan(
            target=self.name,
            steps=tuple(steps),
            notes=tuple(notes),
            url=url,
            secrets=needs.required,
            secret_groups=needs.groups,
            tools=("kubectl",),
        )


def _rollout(kind: str, name: str, timeout: int, ns: tuple[str, ...]) -> Step:
    target = " ".join((f"{kind}/{name}", *ns))
    return Step(
        argv=("kubectl", "rollout", "status", f"{kind}/{name}", *ns, f"--timeout={timeout}s"),
        description=f"Waiting for {kind} {name} to be ready",
        timeout=timeout + 30,
        hint=f"see why: `kubectl describe {target}` and `kubectl logs {target}`",
    )


def _check_names(spec: Spec) -> None:
    from streamdeploy.problems import fail

    for name in (*spec.services, *spec.stores):
        if name == "kustomization":
            raise fail(
                f"`{name}` cannot name a service or store for Kubernetes: k8s/{name}.yaml is the kustomization",
                key=f"services.{name}" if name in spec.services else f"stores.{name}",
                fix="rename it",
            )


# ---------------------------------------------------------------- objects


def _labels(spec: Spec, name: str, component: str) -> dict:
    return {
        **_selector(spec, name),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": spec.name,
        "app.kubernetes.io/managed-by": "streamdeploy",
    }


def _selector(spec: Spec, name: str) -> dict:
    # Selectors are immutable on Deployments and StatefulSets: keep them to two stable labels.
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": spec.name}


def _metadata(spec: Spec, name: str, owner: str, component: str) -> dict:
    """``name``: the object's; ``owner``: the service or store it belongs to (its labels)."""
    meta: dict = {"name": name}
    if spec.targets.kubernetes.namespace:
        meta["namespace"] = spec.targets.kubernetes.namespace
    meta["labels"] = _labels(spec, owner, component)
    return meta


def _namespace(spec: Spec, namespace: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {"app.kubernetes.io/part-of": spec.name,
                                                   "app.kubernetes.io/managed-by": "streamdeploy"}},
    }


def _service_objects(spec: Spec, name: str, service: Service, notes: list[Note]) -> list[dict]:
    component = "web" if service.is_web else "worker"
    env, env_notes = plain_env(spec, name)
    notes.extend(env_notes)
    objects: list[dict] = [{
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(spec, config_map_name(name), name, component),
        "data": env,
    }]
    for volume in service.volumes:
        objects.append(_claim(spec, claim_name(name, volume.name), name, component, volume.size))
    objects.append(_deployment(spec, name, service, env, notes))
    if service.is_web:
        objects.append({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(spec, name, name, component),
            "spec": {
                "type": "ClusterIP",
                "selector": _selector(spec, name),
                # Same port inside the cluster as in the container, as in compose.yaml.
                "ports": [{"name": "http", "port": service.port, "targetPort": "http", "protocol": "TCP"}],
            },
        })
    if name == exposed_service(spec):
        objects.append(_ingress(spec, name, service))
    return objects


def plain_env(spec: Spec, name: str, target: str = "kubernetes") -> tuple[dict[str, str], list[Note]]:
    """Every non-secret variable the container gets: the docker target's (env, PORT, volume
    paths), plus where its store answers: the store's name, which is its Service (or, in
    compose.yaml, its service) on the project's network."""
    env, notes = docker.runtime_env(spec, name, target)
    service = spec.services[name]
    if service.store is not None and service.store in spec.stores:
        store = spec.stores[service.store]
        host_var, port_var = store.env_names
        env[host_var] = service.store
        env[port_var] = str(store.port)
    return env, notes


def _deployment(spec: Spec, name: str, service: Service, env: dict[str, str], notes: list[Note]) -> dict:
    component = "web" if service.is_web else "worker"
    embedded = bool(service.volumes)
    replicas = volumes.instances("kubernetes", name, service, notes,
                                 reason=f"service `{name}` keeps data on a volume")
    if embedded:
        # Recreate: the old pod is gone before the new one mounts the volume.
        strategy: dict = {"type": "Recreate"}
    else:
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    container: dict = {
        "name": name,
        "image": image_for(spec, name),
    }
    if not spec.targets.kubernetes.image:
        container["imagePullPolicy"] = "IfNotPresent"  # a locally built :latest, loaded into the cluster
    if service.is_web:
        container["ports"] = [{"name": "http", "containerPort": service.port, "protocol": "TCP"}]
    container["envFrom"] = [{"configMapRef": {"name": config_map_name(name)}}]
    if service.secrets:
        optional = set(service.optional_secrets)
        container["env"] = [
            {"name": secret, "valueFrom": {"secretKeyRef": {"name": secret_name(name), "key": secret,
                                                            **({"optional": True} if secret in optional else {})}}}
            for secret in service.secrets
        ]
    container["resources"] = _resources(service.resources)
    if service.is_web:
        container.update(_probes(service))
    if service.is_web:
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}}
    if service.volumes:
        container["volumeMounts"] = [{"name": _dns(v.name), "mountPath": v.mount} for v in service.volumes]
    container["securityContext"] = _container_security()
    pod_spec: dict = {
        "automountServiceAccountToken": False,  # the app never talks to the Kubernetes API
        # Service links would inject variables such as CHROMA_PORT=tcp://10.0.0.7:8000.
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": termination_grace(service),
        "securityContext": _pod_security(APP_UID),
        "containers": [container],
    }
    if service.volumes:
        pod_spec["volumes"] = [
            {"name": _dns(v.name), "persistentVolumeClaim": {"claimName": claim_name(name, v.name)}}
            for v in service.volumes
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(spec, name, name, component),
        "spec": {
            "replicas": replicas,
            "strategy": strategy,
            "selector": {"matchLabels": _selector(spec, name)},
            "template": {
                "metadata": {
                    "labels": _labels(spec, name, component),
                    # A changed ConfigMap alone would not restart pods; a changed template does.
                    "annotations": {"streamdeploy/config-sha256": _digest(env)},
                },
                "spec": pod_spec,
            },
        },
    }


def _probes(service: Service) -> dict:
    """Readiness asks the health check; start-up and liveness only ask whether the port listens.

    A health check that reports a dependency (the app's /health reports Chroma) must not
    restart pods: while a Chroma server restarts, every replica would be killed with its
    streams and then back off for minutes. Unready pods just get no traffic until it is back.
    """
    listening = {"tcpSocket": {"port": "http"}}
    health = service.health
    if health is None:
        return {"readinessProbe": {**listening, "periodSeconds": 10},
                "livenessProbe": {**listening, "periodSeconds": 10, "failureThreshold": 3}}
    period = max(1, int(math.ceil(health.interval)))
    timeout = max(1, int(math.ceil(health.timeout)))
    probes: dict = {}
    if health.grace > 0:
        # Liveness waits for this to pass: the server gets `grace` to start listening.
        startup_period = min(5, period)
        probes["startupProbe"] = {
            **listening,
            "periodSeconds": startup_period,
            "timeoutSeconds": min(timeout, startup_period),
            "failureThreshold": max(1, int(math.ceil(health.grace / startup_period))),
        }
    probes["readinessProbe"] = {
        "httpGet": {"path": health.path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": 3,
    }
    probes["livenessProbe"] = {**listening, "periodSeconds": period, "timeoutSeconds": timeout, "failureThreshold": 3}
    return probes


def _ingress(spec: Spec, name: str, service: Service) -> dict:
    k8s = spec.targets.kubernetes
    annotations: dict[str, str] = {}
    if service.streaming is not None and k8s.ingress_class == "nginx":
        # ingress-nginx buffers responses and cuts a read after 60 s by default: both break SSE.
        timeout = str(int(math.ceil(service.streaming.max_duration)) + 60)
        annotations = {
            "nginx.ingress.kubernetes.io/proxy-buffering": "off",
            "nginx.ingress.kubernetes.io/proxy-read-timeout": timeout,
            "nginx.ingress.kubernetes.io/proxy-send-timeout": timeout,
        }
    metadata = _metadata(spec, name, name, "web")
    if annotations:
        metadata["annotations"] = annotations
    rule: dict = {}
    if k8s.host:
        rule["host"] = k8s.host
    rule["http"] = {"paths": [{
        "path": "/",
        "pathType": "Prefix",
        "backend": {"service": {"name": name, "port": {"name": "http"}}},
    }]}
    ingress_spec: dict = {"ingressClassName": k8s.ingress_class}
    if k8s.host:
        ingress_spec["tls"] = [{"hosts": [k8s.host], "secretName": f"{name}-tls"}]
    ingress_spec["rules"] = [rule]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata, "spec": ingress_spec}


def _store_objects(spec: Spec, name: str, store: Store, users: list[str]) -> list[dict]:
    port = store.port
    check = {"httpGet": {"path": CHROMA_HEARTBEAT, "port": "http"}}
    container = {
        "name": "chroma",
        "image": f"chromadb/chroma:{store.version}",
        # `chroma run` listens on localhost unless told otherwise.
        "args": ["run", "--path", CHROMA_DATA, "--host", "0.0.0.0", "--port", str(port)],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "resources": _resources(store.resources),
        "startupProbe": {**check, "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 60},
        "readinessProbe": {**check, "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3},
        "livenessProbe": {**check, "periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 3},
        "volumeMounts": [{"name": "data", "mountPath": CHROMA_DATA}],
        "securityContext": _container_security(),
    }
    claim = _claim(spec, "data", name, "store", store.size)
    claim["metadata"].pop("namespace", None)  # a template: the StatefulSet's namespace applies
    claim.pop("apiVersion")
    claim.pop("kind")
    headless = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec, name, name, "store"),
        "spec": {
            "clusterIP": "None",  # headless: the StatefulSet's stable network identity
            "selector": _selector(spec, name),
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    stateful_set = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(spec, name, name, "store"),
        "spec": {
            "serviceName": name,
            "replicas": 1,  # a single-node Chroma server: one writer of its data directory
            "selector": {"matchLabels": _selector(spec, name)},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {
                "metadata": {"labels": _labels(spec, name, "store")},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": _pod_security(CHROMA_UID),
                    "containers": [container],
                },
            },
            "volumeClaimTemplates": [claim],
        },
    }
    # Chroma has no authentication: only this project's services that use it may connect
    # (enforced where the network plugin supports NetworkPolicy).
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(spec, name, name, "store"),
        "spec": {
            "podSelector": {"matchLabels": _selector(spec, name)},
            "policyTypes": ["Ingress"],
            # No service using it: nothing may connect.
            "ingress": [{
                "from": [{"podSelector": {"matchExpressions": [
                    {"key": "app.kubernetes.io/instance", "operator": "In", "values": [spec.name]},
                    {"key": "app.kubernetes.io/name", "operator": "In", "values": users},
                ]}}],
                "ports": [{"port": "http", "protocol": "TCP"}],
            }] if users else [],
        },
    }
    return [headless, stateful_set, policy]


def _claim(spec: Spec, name: str, owner: str, component: str, size: int) -> dict:
    k8s = spec.targets.kubernetes
    claim_spec: dict = {
        # ReadWriteOnce works with every provisioner (ReadWriteOncePod needs a CSI driver);
        # one replica and the Recreate strategy keep it to one pod.
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": quantity(size)}},
    }
    if k8s.storage_class:
        claim_spec["storageClassName"] = k8s.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _metadata(spec, name, owner, component),
        "spec": claim_spec,
    }


def _resources(resources) -> dict:
    cpu = f"{int(round(resources.cpu * 1000))}m"
    memory = quantity(resources.memory)
    # requests == limits: the Guaranteed QoS class, the last to be evicted under pressure.
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}


def _pod_security(uid: int) -> dict:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,  # makes the volume writable for this user
        "fsGroupChangePolicy": "OnRootMismatch",  # skip the recursive chown of a big volume
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security() -> dict:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def quantity(n_bytes: int) -> str:
    """Bytes as a Kubernetes quantity, exact when possible: 1_000_000_000 -> ``1G``."""
    for suffix, factor in (("T", 1000**4), ("G", 1000**3), ("M", 1000**2), ("k", 1000),
                           ("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if n_bytes >= factor and n_bytes % factor == 0:
            return f"{n_bytes // factor}{suffix}"
    return str(n_bytes)


def _dns(name: str) -> str:
    return name.replace("_", "-")


def _digest(env: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(env, sort_keys=True).encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------- files and notes


def _secret_names(name: str, service: Service) -> RenderedFile:
    lines = [
        f"# Names of the secrets in Secret {secret_name(name)}; never write values here.",
        "# `kubectl create secret generic --from-env-file` reads a name without `=` from its environment.",
        *service.secrets,
    ]
    return RenderedFile(secret_names_file(name), "\n".join(lines) + "\n")


def dump_yaml(documents: list[dict], start: bool = True) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        # Indent list items under their key, as Kubernetes documentation does.
        def increase_indent(self, flow: bool = False, indentless: bool = False):
            return super().increase_indent(flow, False)

        def ignore_aliases(self, data) -> bool:
            return True  # kubectl reads anchors, but people should not have to

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        # "line one\nline two" stays on one line, escapes visible, rather than YAML's folding rules.
        style = '"' if "\n" in value or "\r" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)

    return yaml.dump_all(documents, Dumper=Dumper, sort_keys=False, default_flow_style=False,
                         allow_unicode=True, explicit_start=start, width=1_000_000)


def _yaml_file(path: str, documents: list[dict], start: bool = True) -> RenderedFile:
    return RenderedFile(path, dump_yaml(documents, start=start))


def _render_notes(spec: Spec) -> list[Note]:
    k8s = spec.targets.kubernetes
    notes: list[Note] = []
    if not k8s.image:
        names = ", ".join(image_for(spec, s) for s in spec.services)
        notes.append(Note(
            "kubernetes",
            f"the cluster must be able to pull {names}: push it to a registry, or load it into a local "
            "cluster (`kind load docker-image`, `minikube image load`)",
            key="targets.kubernetes.image",
            fix="set targets.kubernetes.image to a registry reference, e.g. ghcr.io/you/app-{service}:1.0",
        ))
    elif len(spec.services) > 1 and "{service}" not in k8s.image:
        notes.append(Note(
            "kubernetes",
            f"every service runs the same image {k8s.image}",
            key="targets.kubernetes.image",
            fix="put {service} in it, e.g. ghcr.io/you/app-{service}:1.0, to give each service its own",
        ))
    exposed = exposed_service(spec)
    if exposed is not None:
        streaming = spec.services[exposed].streaming
        if streaming is not None and k8s.ingress_class != "nginx":
            notes.append(Note(
                "kubernetes",
                f"the Ingress's SSE settings are ingress-nginx annotations; with class `{k8s.ingress_class}` "
                f"turn response buffering off and allow reads longer than {int(streaming.max_duration)}s yourself",
                key="targets.kubernetes.ingress_class",
            ))
        if k8s.host:
            notes.append(Note(
                "kubernetes",
                f"the Ingress serves TLS for {k8s.host} from Secret {exposed}-tls: create it, or let cert-manager "
                "issue it (annotation cert-manager.io/cluster-issuer)",
                key="targets.kubernetes.host",
                level="info",
            ))
        else:
            notes.append(Note(
                "kubernetes",
                f"the Ingress for `{exposed}` answers on any host name",
                key="targets.kubernetes.host",
                fix="set targets.kubernetes.host so `up` can verify the service at https://HOST",
                level="info",
            ))
        for other in web_services(spec)[1:]:
            port = spec.services[other].port
            notes.append(Note(
                "kubernetes",
                f"`{other}` gets no Ingress; inside the cluster it answers at http://{other}:{port} "
                f"(`kubectl port-forward service/{other} {port}` reaches it from here)",
                key=f"services.{other}",
                level="info",
            ))
    for name, service in spec.services.items():
        if service.secrets:
            notes.append(Note(
                "kubernetes",
                f"Secret {secret_name(name)} ({', '.join(service.secrets)}) is not in {DIR}/: `streamdeploy up` "
                f"creates it from the environment, as does `kubectl create secret generic {secret_name(name)} "
                f"--from-env-file={secret_names_file(name)}` run with those variables set",
                key=f"services.{name}.secrets",
                level="info",
            ))
    if not k8s.namespace:
        notes.append(Note(
            "kubernetes",
            "objects are named after the services and stores and go into the current namespace",
            key="targets.kubernetes.namespace",
            fix="set targets.kubernetes.namespace to keep this project apart",
            level="info",
        ))
    if any(s.volumes for s in spec.services.values()) or spec.stores:
        notes.append(Note(
            "kubernetes",
            "data lives in PersistentVolumeClaims; `kubectl delete` of a claim (or `delete -k k8s`) erases it "
            "under a StorageClass with reclaimPolicy Delete, the usual default",
            level="info",
        ))
    return notes


TARGET = KubernetesTarget()
