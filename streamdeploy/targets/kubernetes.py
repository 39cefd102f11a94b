"""`--target kubernetes`: plain manifests in ``k8s/`` with a kustomization, shipped by kubectl.

One Deployment (+ ConfigMap, Service, NetworkPolicy, and for replicas a PodDisruptionBudget)
per service; the first web service is reached through a Gateway API HTTPRoute, or an
Ingress of a named class. Each server-mode store is a StatefulSet with its own claim behind
a headless Service. Objects are named after the services and stores themselves, so
``http://api:8000`` and ``CHROMA_HOST=chroma`` mean the same thing here as in compose.yaml;
`targets.kubernetes.namespace` keeps projects apart.

Images: `up` builds each image (and, with `targets.kubernetes.registry`, pushes it) tagged
with a hash of what it is built from (``image_tag``), so new code is a new pod template
and a real rollout, and an unchanged one rolls nothing. The committed manifests name the
image without that tag, so they stay the same when only the code changes (`render
--check` in CI and pre-commit): `up` applies a deploy-time kustomization,
``.streamdeploy/kubernetes/``, whose ``images:`` sets the tag it built, over ``k8s/``.
`targets.kubernetes.image` names an image built elsewhere, used as is.

Secrets never appear in the manifests: each Deployment refers by ``secretKeyRef`` to a
Secret named ``<service>-secrets``, which `up` creates from the environment.
"""

from __future__ import annotations

import hashlib
import json
import math

from streamdeploy.description import Service, ServiceRef, Spec, Store
from streamdeploy.targets import docker, image_tag, peers, volumes
from streamdeploy.targets.base import Context, Note, Plan, RenderedFile, Rendering, SecretNeeds, Step

DIR = "k8s"
OVERLAY = ".streamdeploy/kubernetes"  # what `up` applies: k8s/ with the tags it built
NAMESPACE_FILE = f"{DIR}/00-namespace.yaml"
FIELD_MANAGER = "streamdeploy"
APP_UID = docker.APP_UID  # the user the generated image runs the server as
CHROMA_UID = 1000  # chromadb/chroma runs as root by default; it only writes its data dir and /var/tmp
CHROMA_DATA = docker.CHROMA_DATA
CHROMA_HEARTBEAT = "/api/v2/heartbeat"  # chroma 1.x server (rust/frontend/src/server.rs)
PRE_STOP_SECONDS = 5  # lets endpoints and the gateway drop the pod before it gets SIGTERM
ROLLOUT_TIMEOUT = 300  # seconds, at least
# lifecycle.preStop.sleep: beta and on by default in 1.30, GA in 1.34 (KEP-3960); the 1.29
# schema rejects it. ReadWriteOncePod is GA since 1.29 (KEP-2485).
MIN_SERVER_VERSION = (1, 30)
DEFAULT_GATEWAY = "gateway"  # the name `helm create` gives the Gateway its HTTPRoute joins
GATEWAY_API = "gateway.networking.k8s.io/v1"
APP_HOME = "/home/app"  # HOME in the generated image (docker.py)
INGRESS_NGINX_RETIRED = "https://kubernetes.io/blog/2025/11/11/ingress-nginx-retirement/"


def secret_name(service: str) -> str:
    return f"{service}-secrets"


def config_map_name(service: str) -> str:
    return f"{service}-env"


def claim_name(service: str, volume: str) -> str:
    return f"{service}-{_dns(volume)}"


def secret_names_file(service: str) -> str:
    return f"{DIR}/{service}.secret-names.env"


def builds_images(spec: Spec) -> bool:
    """Whether `up` builds the images (no `targets.kubernetes.image` built elsewhere)."""
    return not spec.targets.kubernetes.image


def repository(spec: Spec, service: str) -> str:
    """Where a built image goes: `<registry>/<name>-<service>`, or the local build's name."""
    registry = spec.targets.kubernetes.registry
    local = docker.image_name(spec, service)
    name = local.rsplit(":", 1)[0] if ":" in local.rsplit("/", 1)[-1] else local
    return f"{registry}/{name.rsplit('/', 1)[-1]}" if registry else name


def image_for(spec: Spec, service: str, ctx: Context) -> str:
    """The image the cluster pulls: targets.kubernetes.image as given, else the built one."""
    configured = spec.targets.kubernetes.image
    if configured:
        return configured.replace("{service}", service)
    return f"{repository(spec, service)}:{content_tag(spec, service, ctx)}"


def manifest_image(spec: Spec, service: str) -> str:
    """The image as k8s/ names it: a built one without its tag, which the overlay sets."""
    configured = spec.targets.kubernetes.image
    return configured.replace("{service}", service) if configured else repository(spec, service)


def content_tag(spec: Spec, service: str, ctx: Context) -> str:
    """The hash of the service's build inputs (``image_tag.release_tag``)."""
    return image_tag.release_tag(spec, service, ctx, skip=(DIR,))


def overlay(spec: Spec, images: dict[str, str]) -> RenderedFile:
    """The kustomization `up` (and `rollback`) applies: k8s/ with each built image's tag set
    (service -> full reference). Written under .streamdeploy/, never committed: the tag
    changes with every code change, the committed manifests do not."""
    entries = {}
    if builds_images(spec):
        for service, image in images.items():
            name, _, tag = image.rpartition(":")
            entries[manifest_image(spec, service)] = {"name": manifest_image(spec, service), "newName": name,
                                                      "newTag": tag}
    kustomization: dict = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [f"../../{DIR}"],
    }
    if entries:
        kustomization["images"] = list(entries.values())
    header = ("# Written by `streamdeploy up` for one deploy: k8s/ with the image tags it built. Not committed\n"
              f"# (.streamdeploy/ is ignored). To repeat the deploy by hand: `kubectl apply --server-side\n"
              f"# --field-manager={FIELD_MANAGER} -k {OVERLAY}`.\n")
    return RenderedFile(f"{OVERLAY}/kustomization.yaml", header + dump_yaml([kustomization], start=False))


def builds(spec: Spec) -> dict[tuple[str, str], list[str]]:
    """(Dockerfile, context) -> the services built from it: one build, a tag per service."""
    out: dict[tuple[str, str], list[str]] = {}
    for name in spec.services:
        out.setdefault((docker.dockerfile_path(spec, name), docker.build_context(spec, name)), []).append(name)
    return out


def termination_grace(service: Service) -> int:
    # the preStop sleep, then the same drain the other targets give the server after SIGTERM
    pre_stop = PRE_STOP_SECONDS if service.is_web else 0
    return pre_stop + docker.drain_seconds(service)


def web_services(spec: Spec) -> list[str]:
    return [name for name, service in spec.services.items() if service.is_web]


def exposed_service(spec: Spec) -> str | None:
    """The service the HTTPRoute (or Ingress) routes to: the first public one with a port."""
    names = [n for n in web_services(spec) if spec.services[n].public]
    return names[0] if names else None


def peer_value(spec: Spec, user: str, ref: ServiceRef) -> str:
    """The referenced service's Service, by name: the same namespace, so its short name resolves.

    Its public address is the route's host, when it is the service the route serves."""
    host = spec.targets.kubernetes.host
    if ref.network == "public" and host and ref.service == exposed_service(spec):
        return peers.literal(ref, peers.Address(host, None, "https"))
    return peers.literal(ref, peers.Address(ref.service, spec.services[ref.service].port))


def gateway_ref(spec: Spec) -> tuple[str | None, str]:
    """(namespace or None for the route's own, name) of the Gateway the HTTPRoute joins."""
    ref = spec.targets.kubernetes.gateway or DEFAULT_GATEWAY
    namespace, _, name = ref.rpartition("/")
    return namespace or None, name


def stream_timeout(service: Service) -> int | None:
    """Seconds a proxy must let a response run: the longest stream, and a minute of slack."""
    return int(math.ceil(service.streaming.max_duration)) + 60 if service.streaming is not None else None


def replicas_of(spec: Spec, name: str, service: Service, notes: list[Note] | None = None) -> int:
    if notes is None:
        return 1 if service.volumes else service.replicas
    return volumes.instances("kubernetes", name, service, notes, reason=f"service `{name}` keeps data on a volume")


def autoscaled(spec: Spec, service: Service) -> bool:
    """An HPA owns `spec.replicas` of a service without a volume when `autoscale` is set."""
    return spec.targets.kubernetes.autoscale is not None and not service.volumes


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
            files.append(_yaml_file(path, _service_objects(spec, service_name, service, ctx, notes)))
            resources.append(path)
            if service.secrets:
                files.append(_secret_names(spec, service_name, service))
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [r.removeprefix(DIR + "/") for r in resources],
        }
        files.insert(0, _yaml_file(f"{DIR}/kustomization.yaml", [kustomization], start=False))
        notes.extend(_render_notes(spec, ctx))
        if builds_images(spec):
            # The cluster runs the image built from these files: they ship with the manifests.
            files.extend(docker.image_files(spec, ctx).files)
        return Rendering(files=tuple(files), notes=tuple(notes))

    def plan(self, spec: Spec, ctx: Context) -> Plan:
        _check_names(spec)
        k8s = spec.targets.kubernetes
        ns = ("-n", k8s.namespace) if k8s.namespace else ()
        where = f" in namespace {k8s.namespace}" if k8s.namespace else " in the current namespace"
        apply = ("kubectl", "apply", "--server-side", f"--field-manager={FIELD_MANAGER}")
        access_hint = "check `kubectl config current-context` and that you may create these objects there"
        steps: list[Step] = []
        tools = ["kubectl"]
        if builds_images(spec):
            tools.insert(0, "docker")
            steps.extend(_image_steps(spec, ctx))
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
            # These values are ours to set: --force-conflicts takes them from a hand-made Secret.
            # An optional name with no value here is stored empty (kubectl env_file.go reads it
            # from its environment); its secretKeyRef is optional, so a Secret made by hand
            # without that key still lets the pod start.
            needs = SecretNeeds.of(service)
            steps.append(Step(
                argv=("kubectl", "create", "secret", "generic", secret_name(name),
                      f"--from-env-file={secret_names_file(name)}", "--dry-run=client", "-o", "yaml", *ns),
                pipe_to=(*apply, "--force-conflicts", "-f", "-", *ns),
                pass_secrets=needs.required,
                pass_if_set=needs.optional,
                description=f"Storing {', '.join(service.secrets)} in Secret {secret_name(name)}{where}",
                cwd=".",
                timeout=120,
                hint=access_hint,
            ))
        steps.extend(_prerequisite_steps(spec, ns))
        steps.append(Step(
            # No --force-conflicts: a field someone else manages (an HPA's spec.replicas, a
            # `kubectl scale` or `set image`) stops the apply and is named, not silently taken back.
            argv=(*apply, "-k", OVERLAY),
            description=f"Applying the manifests in {DIR}/ with the images built{where}",
            cwd=".",
            timeout=300,
            hint="a conflict names a field another manager owns (an autoscaler's replicas, a `kubectl scale`): "
                 "set targets.kubernetes.autoscale, or take the field back once with "
                 f"`kubectl apply --server-side --field-manager={FIELD_MANAGER} --force-conflicts -k {OVERLAY}`; "
                 "\"field is immutable\" on a claim or a StatefulSet's volumeClaimTemplates means the volume was "
                 "made with other settings (targets.kubernetes.volume_access / storage_class): set them back. "
                 + access_hint,
        ))
        for name in spec.stores:
            steps.append(_rollout("statefulset", name, ROLLOUT_TIMEOUT, ns, has_claim=True))
        steps.extend(_deployment_rollouts(spec, ns))
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
            tools=tuple(tools),
            writes=(overlay(spec, {name: image_for(spec, name, ctx) for name in spec.services}),),
        )

    def rollback(self, spec: Spec, ctx: Context) -> Plan:
        return rollback(spec, ctx)


def _image_steps(spec: Spec, ctx: Context) -> list[Step]:
    """Build each image with its content tag; push it when there is a registry."""
    registry = spec.targets.kubernetes.registry
    steps: list[Step] = []
    for (dockerfile, context), names in builds(spec).items():
        images = [image_for(spec, n, ctx) for n in names]
        tags = tuple(part for image in images for part in ("--tag", image))
        steps.append(Step(
            argv=("docker", "build", *tags, "--file", dockerfile, context),
            description=f"Building image {', '.join(images)} from {dockerfile}",
            timeout=docker.BUILD_TIMEOUT,
            hint=f"the build output above shows the failing step; `docker build --file {dockerfile} {context}` "
                 "repeats it",
        ))
        if registry:
            for image in images:
                steps.append(Step(
                    argv=("docker", "push", image),
                    description=f"Pushing {image}",
                    timeout=docker.BUILD_TIMEOUT,
                    hint=f"log in to the registry first: `docker login {_registry_host(registry)}` (for GHCR a "
                         "token with write:packages)",
                ))
    return steps


def _registry_host(registry: str) -> str:
    return registry.split("/", 1)[0]


def _prerequisite_steps(spec: Spec, ns: tuple[str, ...]) -> list[Step]:
    """What must exist before the manifests can work: the Gateway, the pull Secret."""
    k8s = spec.targets.kubernetes
    steps: list[Step] = []
    if exposed_service(spec) is not None and not k8s.ingress_class:
        gateway_ns, gateway = gateway_ref(spec)
        where = ("-n", gateway_ns) if gateway_ns else ns
        steps.append(Step(
            argv=("kubectl", "get", "gateways.gateway.networking.k8s.io", gateway, *where, "-o", "name"),
            description=f"Checking that Gateway {gateway} exists" + (f" in namespace {where[1]}" if where else ""),
            timeout=60,
            hint="the HTTPRoute joins an existing Gateway: list them with `kubectl get gateways -A` and set "
                 "targets.kubernetes.gateway to `namespace/name`; \"doesn't have a resource type\" means the "
                 "cluster has no Gateway API (install a Gateway implementation, or set "
                 "targets.kubernetes.ingress_class to use an Ingress)",
        ))
    if k8s.image_pull_secret:
        steps.append(Step(
            argv=("kubectl", "get", "secrets", k8s.image_pull_secret, *ns, "-o", "name"),
            description=f"Checking that the image pull Secret {k8s.image_pull_secret} exists",
            timeout=60,
            hint=pull_secret_recipe(spec),
        ))
    return steps


def pull_secret_recipe(spec: Spec) -> str:
    k8s = spec.targets.kubernetes
    ns = f" -n {k8s.namespace}" if k8s.namespace else ""
    server = _registry_host(k8s.registry) if k8s.registry else "REGISTRY"
    return (f"create it from your Docker login (`docker login {server}`; needs credentials stored in "
            "~/.docker/config.json, not a credential helper): "
            f"`kubectl create secret generic {k8s.image_pull_secret}{ns} --type=kubernetes.io/dockerconfigjson "
            "--from-file=.dockerconfigjson=$HOME/.docker/config.json`")


def _deployment_rollouts(spec: Spec, ns: tuple[str, ...]) -> list[Step]:
    """`rollout status` of each app Deployment, given the time its pods need to be replaced."""
    steps = []
    for name in peers.deploy_order(spec):
        service = spec.services[name]
        replicas = replicas_of(spec, name, service)
        grace = service.health.grace if service.health else 0
        timeout = max(ROLLOUT_TIMEOUT, int(math.ceil(replicas * (grace + termination_grace(service) + 30))))
        steps.append(_rollout("deployment", name, timeout, ns, has_claim=bool(service.volumes)))
    return steps


def _rollout(kind: str, name: str, timeout: int, ns: tuple[str, ...], has_claim: bool = False) -> Step:
    target = " ".join((f"{kind}/{name}", *ns))
    pods = " ".join(("kubectl get pods", *ns))
    hint = (f"see why: `kubectl describe {target}`, `{pods}` and `kubectl logs {target}`; "
            "ImagePullBackOff means the cluster cannot pull the image")
    if has_claim:
        claims = " ".join(("kubectl get pvc", *ns))
        hint += (f"; a claim left Pending (`{claims}`) means the cluster has no default StorageClass "
                 "(`kubectl get storageclass`): set targets.kubernetes.storage_class")
    return Step(
        argv=("kubectl", "rollout", "status", f"{kind}/{name}", *ns, f"--timeout={timeout}s"),
        description=f"Waiting for {kind} {name} to be ready",
        timeout=timeout + 30,
        hint=hint,
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


def _service_objects(spec: Spec, name: str, service: Service, ctx: Context, notes: list[Note]) -> list[dict]:
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
    replicas = replicas_of(spec, name, service, notes)
    objects.append(_deployment(spec, name, service, env, replicas, ctx))
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
    if replicas > 1 or autoscaled(spec, service):
        objects.append(_disruption_budget(spec, name, component))
    if autoscaled(spec, service):
        objects.append(_autoscaler(spec, name, service, component))
    objects.append(_network_policy(spec, name, service, component))
    if name == exposed_service(spec):
        objects.append(_ingress(spec, name, service) if spec.targets.kubernetes.ingress_class
                       else _http_route(spec, name, service))
    return objects


def plain_env(spec: Spec, name: str, target: str = "kubernetes",
              resolve: peers.Resolve | None = None) -> tuple[dict[str, str], list[Note]]:
    """Every non-secret variable the container gets: the docker target's (env, PORT, volume
    paths), the addresses of services it references (``resolve``: Kubernetes' own by default),
    plus where its store answers: the store's name, which is its Service (or, in compose.yaml,
    its service) on the project's network."""
    env, notes = peers.env(spec, name, target, resolve or (lambda ref: peer_value(spec, name, ref)))
    service = spec.services[name]
    if service.store is not None and service.store in spec.stores:
        store = spec.stores[service.store]
        host_var, port_var = store.env_names
        env[host_var] = service.store
        env[port_var] = str(store.port)
    return env, notes


def _deployment(spec: Spec, name: str, service: Service, env: dict[str, str], replicas: int, ctx: Context) -> dict:
    k8s = spec.targets.kubernetes
    component = "web" if service.is_web else "worker"
    if service.volumes:
        # Recreate: the old pod is gone before the new one mounts the volume.
        strategy: dict = {"type": "Recreate"}
    else:
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    container: dict = {
        "name": name,
        "image": manifest_image(spec, name),
    }
    if builds_images(spec):
        # Each build has its own tag: a node pulls it once; a local cluster uses the local build.
        container["imagePullPolicy"] = "IfNotPresent"
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
    mounts = [{"name": _dns(v.name), "mountPath": v.mount} for v in service.volumes]
    pod_volumes: list[dict] = [
        {"name": _dns(v.name), "persistentVolumeClaim": {"claimName": claim_name(name, v.name)}}
        for v in service.volumes
    ]
    if k8s.read_only_root:
        for scratch, path in _scratch_dirs(spec, name):
            mounts.append({"name": scratch, "mountPath": path})
            pod_volumes.append({"name": scratch, "emptyDir": {}})
    if mounts:
        container["volumeMounts"] = mounts
    container["securityContext"] = _container_security(k8s.read_only_root)
    pod_spec: dict = {
        "automountServiceAccountToken": False,  # the app never talks to the Kubernetes API
        # Service links would inject variables such as CHROMA_PORT=tcp://10.0.0.7:8000.
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": termination_grace(service),
        "securityContext": _pod_security(APP_UID),
    }
    if k8s.image_pull_secret:
        pod_spec["imagePullSecrets"] = [{"name": k8s.image_pull_secret}]
    if replicas > 1 or autoscaled(spec, service):
        pod_spec["topologySpreadConstraints"] = _spread(spec, name)
    pod_spec["containers"] = [container]
    if pod_volumes:
        pod_spec["volumes"] = pod_volumes
    deployment_spec: dict = {}
    if not autoscaled(spec, service):
        # With an autoscaler, spec.replicas is its field: applying a number would fight it.
        deployment_spec["replicas"] = replicas
    deployment_spec.update({
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
    })
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(spec, name, name, component),
        "spec": deployment_spec,
    }


def _scratch_dirs(spec: Spec, name: str) -> list[tuple[str, str]]:
    """Writable empty directories under a read-only root: /tmp, and the cache in HOME that
    libraries write to (the generated image's HOME; an own Dockerfile's is unknown)."""
    dirs = [("tmp", "/tmp")]
    if spec.services[name].build.dockerfile == "auto":
        dirs.append(("cache", f"{APP_HOME}/.cache"))
    return dirs


def _spread(spec: Spec, name: str) -> list[dict]:
    """Replicas on different nodes and zones where the cluster has them, never Pending for it.

    ScheduleAnyway: with DoNotSchedule a tainted control-plane node still counts as a domain
    with no pods (nodeTaintsPolicy: Ignore), and a third replica on two workers would wait.
    pod-template-hash: during a rollout, old and new pods are spread each on their own.
    """
    return [{
        "maxSkew": 1,
        "topologyKey": key,
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": _selector(spec, name)},
        "matchLabelKeys": ["pod-template-hash"],
    } for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")]


def _disruption_budget(spec: Spec, name: str, component: str) -> dict:
    # One pod at a time: `kubectl drain` and node upgrades wait for a replacement to be ready.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(spec, name, name, component),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": _selector(spec, name)},
            # A pod that never became ready may be evicted: a bad rollout cannot block a drain.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def _autoscaler(spec: Spec, name: str, service: Service, component: str) -> dict:
    autoscale = spec.targets.kubernetes.autoscale
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(spec, name, name, component),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": service.replicas,
            "maxReplicas": max(autoscale.max, service.replicas),
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": autoscale.cpu}}}],
        },
    }


def _network_policy(spec: Spec, name: str, service: Service, component: str) -> dict:
    """Who may connect: the routed service from anywhere (the gateway runs in its own
    namespace), other web services only from this project's pods, a worker from nobody.
    Only its port either way; egress stays open (the app calls hosted APIs and its store).
    Enforced where the network plugin supports NetworkPolicy."""
    rules: list[dict] = []
    if service.is_web:
        rule: dict = {}
        if name != exposed_service(spec):
            rule["from"] = [{"podSelector": {"matchLabels": {"app.kubernetes.io/instance": spec.name}}}]
        rule["ports"] = [{"port": "http", "protocol": "TCP"}]
        rules.append(rule)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(spec, name, name, component),
        "spec": {"podSelector": {"matchLabels": _selector(spec, name)}, "policyTypes": ["Ingress"], "ingress": rules},
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


def _http_route(spec: Spec, name: str, service: Service) -> dict:
    """The Gateway API way in: a route on an existing Gateway, which terminates TLS.

    HTTPRoute `timeouts` (GEP-1742, standard channel): `request` bounds the whole response,
    so a stream needs more than its max_duration; `backendRequest` may not exceed it.
    """
    k8s = spec.targets.kubernetes
    gateway_ns, gateway = gateway_ref(spec)
    parent: dict = {"name": gateway}
    if gateway_ns and gateway_ns != k8s.namespace:
        parent["namespace"] = gateway_ns
    route_spec: dict = {"parentRefs": [parent]}
    if k8s.host:
        route_spec["hostnames"] = [k8s.host]
    rule: dict = {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [{"name": name, "port": service.port}],
    }
    timeout = stream_timeout(service)
    if timeout is not None:
        rule["timeouts"] = {"request": f"{timeout}s", "backendRequest": f"{timeout}s"}
    route_spec["rules"] = [rule]
    return {"apiVersion": GATEWAY_API, "kind": "HTTPRoute", "metadata": _metadata(spec, name, name, "web"),
            "spec": route_spec}


def ingress_annotations(ingress_class: str, timeout: int) -> dict[str, str]:
    """SSE settings for the Ingress controllers whose annotations are known; {} for others.

    Class `nginx` is claimed by two controllers: the retired kubernetes/ingress-nginx
    (nginx.ingress.kubernetes.io/*, seconds) and F5 NGINX Ingress Controller (nginx.org/*,
    nginx durations). Each ignores the other's keys, so both are set.
    """
    if ingress_class == "nginx":
        return {
            "nginx.ingress.kubernetes.io/proxy-buffering": "off",
            "nginx.ingress.kubernetes.io/proxy-read-timeout": str(timeout),
            "nginx.ingress.kubernetes.io/proxy-send-timeout": str(timeout),
            "nginx.org/proxy-buffering": "False",
            "nginx.org/proxy-read-timeout": f"{timeout}s",
            "nginx.org/proxy-send-timeout": f"{timeout}s",
        }
    return {}


def _ingress(spec: Spec, name: str, service: Service) -> dict:
    k8s = spec.targets.kubernetes
    timeout = stream_timeout(service)
    annotations = ingress_annotations(k8s.ingress_class, timeout) if timeout is not None else {}
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
    read_only = spec.targets.kubernetes.read_only_root
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
        "securityContext": _container_security(read_only),
    }
    scratch = [("tmp", "/tmp"), ("var-tmp", "/var/tmp")] if read_only else []
    container["volumeMounts"] += [{"name": n, "mountPath": path} for n, path in scratch]
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
                    **({"volumes": [{"name": n, "emptyDir": {}} for n, _ in scratch]} if scratch else {}),
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
        # ReadWriteOncePod: one pod, ever, even a second one on the same node (ReadWriteOnce
        # allows that); it needs a CSI driver, so ReadWriteOnce stays an option.
        "accessModes": [k8s.volume_access],
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


def _container_security(read_only_root: bool) -> dict:
    security: dict = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    if read_only_root:
        security["readOnlyRootFilesystem"] = True  # writable: the volumes and the emptyDirs only
    return security


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


def secret_recipe(spec: Spec, name: str) -> str:
    """The manual way to make a service's Secret, which refuses an unset or empty value.

    kubectl stores "" for a name-only line whose variable is unset; `: "${NAME:?}"` (a
    shell builtin: no process, no argv to read) stops first and names the variable.
    """
    service = spec.services[name]
    ns = f" -n {spec.targets.kubernetes.namespace}" if spec.targets.kubernetes.namespace else ""
    checks = " ".join(f'"${{{secret}:?}}"' for secret in service.required_secrets)  # optional ones may be unset
    return (f"{': ' + checks + ' && ' if checks else ''}kubectl create secret generic {secret_name(name)}{ns} "
            f"--from-env-file={secret_names_file(name)} --dry-run=client -o yaml | "
            f"kubectl apply --server-side --field-manager={FIELD_MANAGER} --force-conflicts -f -{ns}")


def _secret_names(spec: Spec, name: str, service: Service) -> RenderedFile:
    lines = [
        f"# Names of the secrets in Secret {secret_name(name)}; never write values here.",
        "# `kubectl create secret generic --from-env-file` reads a name without `=` from its environment,",
        "# and stores an empty value when it is unset. `streamdeploy up` checks every one first; by hand:",
        f"#   {secret_recipe(spec, name)}",
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


def _render_notes(spec: Spec, ctx: Context) -> list[Note]:
    k8s = spec.targets.kubernetes
    notes: list[Note] = []
    if builds_images(spec):
        notes.append(Note(
            "kubernetes",
            f"{DIR}/ names each image `up` builds without a tag, so the committed files stay the same when only the "
            f"code changes; `up` applies {OVERLAY}/ ({DIR}/ with the tags it built). By hand: `kubectl kustomize "
            f"{OVERLAY}` shows it, `kubectl apply -k {DIR}` alone would run the `latest` tag",
            key="targets.kubernetes",
            level="info",
        ))
    if builds_images(spec) and not k8s.registry:
        names = ", ".join(image_for(spec, s, ctx) for s in spec.services)
        notes.append(Note(
            "kubernetes",
            f"`up` builds {names} with this machine's Docker and pushes it nowhere: only a cluster that uses "
            "these local images can run it (Docker Desktop, OrbStack, minikube after `eval $(minikube "
            "docker-env)`; kind needs `kind load docker-image` first)",
            key="targets.kubernetes.registry",
            fix="set targets.kubernetes.registry (e.g. ghcr.io/you) so `up` pushes each build there",
        ))
    elif not builds_images(spec):
        notes.append(Note(
            "kubernetes",
            f"the cluster runs {k8s.image} as given: `up` builds nothing, so new code rolls out only when you "
            "push it under a new tag and change targets.kubernetes.image",
            key="targets.kubernetes.image",
            fix="set targets.kubernetes.registry instead to let `up` build and push a tag per change",
            level="info",
        ))
        if len(spec.services) > 1 and "{service}" not in k8s.image:
            notes.append(Note(
                "kubernetes",
                f"every service runs the same image {k8s.image}",
                key="targets.kubernetes.image",
                fix="put {service} in it, e.g. ghcr.io/you/app-{service}:1.0, to give each service its own",
            ))
    exposed = exposed_service(spec)
    if exposed is not None:
        notes.extend(_exposure_notes(spec, exposed))
        for other in [n for n in web_services(spec) if n != exposed]:
            port = spec.services[other].port
            notes.append(Note(
                "kubernetes",
                f"`{other}` gets no route from outside; inside the cluster it answers at http://{other}:{port} "
                f"(`kubectl port-forward service/{other} {port}` reaches it from here)",
                key=f"services.{other}",
                level="info",
            ))
    for name, service in spec.services.items():
        if service.secrets:
            notes.append(Note(
                "kubernetes",
                f"Secret {secret_name(name)} ({', '.join(service.secrets)}) is not in {DIR}/: `streamdeploy up` "
                f"creates it from the environment; by hand: `{secret_recipe(spec, name)}`",
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
        if k8s.volume_access == "ReadWriteOncePod":
            notes.append(Note(
                "kubernetes",
                "claims are ReadWriteOncePod (one pod, never two writers); that needs a CSI volume driver, "
                "and an existing claim keeps the access mode it was made with",
                key="targets.kubernetes.volume_access",
                fix="volume_access: ReadWriteOnce for a provisioner without CSI, or for claims made that way",
                level="info",
            ))
        notes.append(Note(
            "kubernetes",
            "data lives in PersistentVolumeClaims; `kubectl delete` of a claim (or `delete -k k8s`) erases it "
            "under a StorageClass with reclaimPolicy Delete, the usual default",
            level="info",
        ))
    if k8s.read_only_root:
        notes.append(Note(
            "kubernetes",
            "containers run with a read-only root filesystem: the app may write only to its volumes, /tmp and "
            f"{APP_HOME}/.cache (empty at each start)",
            key="targets.kubernetes.read_only_root",
            fix="read_only_root: false if the app writes elsewhere (it fails with \"Read-only file system\")",
            level="info",
        ))
    if k8s.autoscale is not None:
        for name, service in spec.services.items():
            if service.volumes:
                notes.append(Note("kubernetes", f"`{name}` keeps data on a volume and is not autoscaled",
                                  key="targets.kubernetes.autoscale", level="info"))
    notes.append(Note(
        "kubernetes",
        f"the manifests need Kubernetes {'.'.join(map(str, MIN_SERVER_VERSION))} or newer "
        "(lifecycle.preStop.sleep); `streamdeploy doctor --target kubernetes` checks the cluster",
        level="info",
    ))
    return notes


def _exposure_notes(spec: Spec, exposed: str) -> list[Note]:
    k8s = spec.targets.kubernetes
    service = spec.services[exposed]
    timeout = stream_timeout(service)
    notes: list[Note] = []
    if not k8s.ingress_class:
        gateway_ns, gateway = gateway_ref(spec)
        where = f"namespace {gateway_ns}" if gateway_ns else "the same namespace"
        if not k8s.gateway:
            notes.append(Note(
                "kubernetes",
                f"the HTTPRoute for `{exposed}` joins a Gateway named `{gateway}` in {where}; `up` checks it exists",
                key="targets.kubernetes.gateway",
                fix="set targets.kubernetes.gateway to your cluster's Gateway (`kubectl get gateways -A`), "
                    "or ingress_class to use an Ingress",
            ))
        elif gateway_ns and gateway_ns != k8s.namespace:
            notes.append(Note(
                "kubernetes",
                f"Gateway {gateway_ns}/{gateway} must admit routes from "
                f"{'namespace ' + k8s.namespace if k8s.namespace else 'the current namespace'} "
                "(its listeners' allowedRoutes.namespaces)",
                key="targets.kubernetes.gateway",
                level="info",
            ))
        if timeout is not None:
            notes.append(Note(
                "kubernetes",
                f"the HTTPRoute lets a response run {timeout}s (timeouts.request), longer than a stream; "
                "a Gateway that does not support route timeouts keeps its own default",
                key=f"services.{exposed}.streaming",
                level="info",
            ))
        if k8s.host:
            notes.append(Note(
                "kubernetes",
                f"TLS for {k8s.host} is the Gateway's: its HTTPS listener needs a certificate for that name",
                key="targets.kubernetes.host",
                level="info",
            ))
    else:
        if k8s.ingress_class == "nginx":
            notes.append(Note(
                "kubernetes",
                "ingress-nginx is retired (no releases or security fixes after March 2026); class `nginx` here "
                "gets its annotations and F5 NGINX Ingress Controller's",
                key="targets.kubernetes.ingress_class",
                fix="use a Gateway API implementation: remove ingress_class and set targets.kubernetes.gateway",
            ))
        elif timeout is not None:
            advice = INGRESS_ADVICE.get(k8s.ingress_class, INGRESS_ADVICE[None])
            notes.append(Note(
                "kubernetes",
                advice.format(timeout=timeout, service=exposed, ingress_class=k8s.ingress_class),
                key="targets.kubernetes.ingress_class",
                level="info" if k8s.ingress_class == "traefik" else "warning",
            ))
        if k8s.host:
            notes.append(Note(
                "kubernetes",
                f"the Ingress serves TLS for {k8s.host} from Secret {exposed}-tls: create it, or let cert-manager "
                "issue it (annotation cert-manager.io/cluster-issuer)",
                key="targets.kubernetes.host",
                level="info",
            ))
    if not k8s.host:
        notes.append(Note(
            "kubernetes",
            f"the route to `{exposed}` answers on any host name",
            key="targets.kubernetes.host",
            fix="set targets.kubernetes.host so `up` can verify the service at https://HOST",
            level="info",
        ))
    return notes


# What to do for SSE behind Ingress controllers whose annotations are not written for them.
INGRESS_ADVICE: dict[str | None, str] = {
    "traefik": "Traefik streams responses unbuffered and sets no response timeout by default: SSE needs nothing "
               "more (a `buffering` middleware or a serversTransport responseHeaderTimeout would break it)",
    "gce": "the GCE controller cuts every response after its backend timeout (30s by default): give Service "
           "`{service}` a BackendConfig with timeoutSec: {timeout} (annotation cloud.google.com/backend-config)",
    None: "class `{ingress_class}` gets no SSE settings from streamdeploy: turn response buffering off for "
          "`{service}` and let responses run {timeout}s (read/idle timeout above max_duration) in its controller",
}


TARGET = KubernetesTarget()


# ---------------------------------------------------------------- rollback


def rollback(spec: Spec, ctx: Context) -> Plan:
    """Each app Deployment back to the image it ran before its current one, applied the way
    `up` applies (server-side, streamdeploy's field manager), then `rollout status`.

    Why not `kubectl rollout undo`: it writes the pod template as the "kubectl-rollout"
    manager, so the next `up` (server-side apply without --force-conflicts) would stop on a
    conflict over the image (kubernetes/kubernetes#99003), and a second undo returns to the
    release the first one left. Here the cluster's own history says which image ran before
    (each Deployment's ReplicaSets and their revision numbers, from any machine) and the
    Deployment in k8s/ is applied with that image. The StatefulSets, the claims, ConfigMaps,
    Secrets, Services and routes are not applied at all.
    """
    from streamdeploy import releases

    _check_names(spec)
    k8s = spec.targets.kubernetes
    ns = ("-n", k8s.namespace) if k8s.namespace else ()
    selector = f"app.kubernetes.io/instance={spec.name},app.kubernetes.io/managed-by=streamdeploy"
    apply = ("kubectl", "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", "-", *ns)
    where = f" in namespace {k8s.namespace}" if k8s.namespace else ""
    steps = [Step(
        argv=("kubectl", "get", "replicasets", "-l", selector, "-o", "json", *ns),
        description=f"Applying each Deployment{where} with the image it ran before (from its ReplicaSets)",
        pipe_to=(*releases.GLUE, "kubernetes", *(f"{name}={DIR}/{name}.yaml" for name in spec.services), "--",
                 *apply),
        cwd=".",
        timeout=300,
        hint=f"`kubectl rollout history deployment/<service>{where and ' -n ' + k8s.namespace}` lists the revisions "
             "the cluster kept (revisionHistoryLimit, 10 by default); a conflict names a field another manager "
             "owns, as for `up`",
    )]
    steps.extend(_deployment_rollouts(spec, ns))
    url = f"https://{k8s.host}" if k8s.host and exposed_service(spec) else None
    notes = [Note(
        "kubernetes", "a rollback changes each Deployment's image only: ConfigMaps, Secrets, Services, routes, the "
        "stores and every claim stay as they are; the next `up` deploys the working tree again", level="info")]
    return Plan(target="kubernetes", steps=tuple(steps), notes=tuple(notes), url=url, tools=("kubectl",))
