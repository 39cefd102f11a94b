"""The description's models: what ``streamdeploy.yaml`` may say, and nothing else.

Every model forbids unknown keys, so a typo is an error with a suggestion, never a
silently ignored setting. Sizes are bytes and durations are seconds once loaded.
The JSON Schema that editors use comes from these models (``streamdeploy schema``).
Rules that relate several fields live in ``consistency.py``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, WithJsonSchema

from streamdeploy import description, units
from streamdeploy.description import env_kind, env_value, secret_kind, store_urls, suggested_env  # noqa: F401 (re-exported)

DNS_LABEL = r"^[a-z]([-a-z0-9]{0,28}[a-z0-9])?$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
VOLUME_NAME = r"^[a-z][a-z0-9_]{0,29}$"
# A DNS-1123 subdomain, as Kubernetes checks host and class names (an Ingress host may be `*.`).
K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
INGRESS_HOST = r"^(\*\.)?" + K8S_NAME[1:]
GATEWAY_REF = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?" + K8S_NAME[1:]  # [namespace/]name
# An image repository prefix: host[:port][/path], as the distribution spec names them.
REGISTRY = (r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]+)?"
            r"(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*$")

Size = Annotated[
    int,
    BeforeValidator(units.parse_size),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": units.SIZE_PATTERN}, {"type": "integer", "minimum": 0}],
         "description": "A size such as 512MB, 1GB or 2GiB (a bare integer is bytes)."}
    ),
]
Duration = Annotated[
    float,
    BeforeValidator(units.parse_duration),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": units.DURATION_PATTERN}, {"type": "number", "minimum": 0}],
         "description": "A duration such as 15s, 10m or 1h (a bare number is seconds)."}
    ),
]


EnvValue = Annotated[
    str,
    BeforeValidator(env_value),
    WithJsonSchema({"type": ["string", "number", "boolean"], "description": "Numbers and booleans become text."}),
]
EnvName = Annotated[str, Field(pattern=ENV_NAME)]


class ServiceRef(BaseModel, description.ServiceRef):
    """Another service's address, written the way each platform expresses it.

    `env: {API_URL: {service: api}}`: Railway gets a reference variable, Render a
    `fromService`, Fly the app's private name, Kubernetes and Compose the service's DNS
    name, a local run 127.0.0.1 and the port it gave the service.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str = Field(pattern=DNS_LABEL, description="The service whose address this is.")
    property: Literal["url", "hostport", "host", "port"] = Field(
        "url", description="url: scheme://host:port; hostport: host:port; host; port.")
    network: Literal["private", "public"] = Field(
        "private", description="private: the address other services use inside the platform; public: the "
        "address people use from the internet (https).")


# A mapping is a reference, anything else text: one branch's errors, not both. The tags are
# bracketed so error locations drop them, as they drop pydantic's validator names.
EnvEntry = Annotated[
    Annotated[ServiceRef, Tag("[reference]")] | Annotated[EnvValue, Tag("[text]")],
    Discriminator(env_kind),
]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Build(Model, description.Build):
    """How the image is built."""

    context: str = Field(".", description="Build context, relative to streamdeploy.yaml.")
    dockerfile: str = Field(
        "auto", description="`auto` generates one (render --target docker); otherwise the path of your own."
    )
    python: str = Field("3.12", pattern=r"^3\.\d{1,2}$", description="Python version of the base image.")
    install: str = Field(
        "requirements.txt", description="Dependency file: a requirements file, or pyproject.toml."
    )
    commands: list[str] = Field(default_factory=list, description="Build-time steps, run after install.")
    system_packages: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9+.-]*$")]] = Field(
        default_factory=list, description="Debian packages the app needs at run time."
    )
    exclude: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="Paths in the build context the image leaves out (data the app wrote locally, caches), "
                    "in .dockerignore syntax; added to the generated .dockerignore.",
    )


class Health(Model):
    path: str = Field("/health", pattern=r"^/", description="HTTP path that answers 200 when healthy.")
    interval: Duration = 15.0
    timeout: Duration = 5.0
    grace: Duration = Field(20.0, description="Time the service gets to start before checks count.")


class Streaming(Model):
    paths: list[Annotated[str, Field(pattern=r"^/")]] = Field(description="Paths that answer with SSE.")
    max_duration: Duration = Field(600.0, description="Longest a client stays connected to one stream.")
    heartbeat: Duration | None = Field(
        15.0, description="Interval of the keep-alive comment the app sends; null when it sends none "
                          "(a plain StreamingResponse): then idle cutoffs can end a quiet stream.")
    env: EnvName | None = Field(
        None, description="Env var that receives the heartbeat in seconds, so the app sends what this file says.")


class Volume(Model, description.Volume):
    name: str = Field(pattern=VOLUME_NAME, description="Lowercase letters, digits and _.")
    mount: str = Field(description="Absolute path inside the container.")
    size: Size = 1_000_000_000
    env: EnvName | None = Field(None, description="Env var that receives the mount path.")


class Resources(Model, description.Resources):
    cpu: float = Field(0.5, gt=0, le=64)
    memory: Size = 512_000_000


class Request(Model):
    """One HTTP request of a verify block; `{marker}` is replaced by a fresh marker."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str = Field(pattern=r"^/")
    json_body: Any = Field(None, alias="json")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Values may name secrets as ${NAME}; they are read at run time."
    )
    expect_status: int = Field(200, ge=100, le=599)
    expect_text: str | None = Field(None, description="Text the response body must contain.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StreamCheck(Model):
    """The stream `verify` holds open: a GET, or a POST with a JSON body (a chat endpoint)."""

    method: Literal["GET", "POST"] = "GET"
    path: str = Field(pattern=r"^/")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Values may name secrets as ${NAME}; they are read at run time."
    )
    json_body: Any = Field(None, alias="json", description="The request body (POST); `{marker}` is filled in.")
    hold: Duration | None = Field(None, description="How long to hold it open; default: one heartbeat and a bit.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Verify(Model):
    """How `verify` proves the service keeps data: write a marker, read it back."""

    write: Request | None = None
    read: Request | None = None
    stream: StreamCheck | None = None


class OptionalSecret(Model, description.OptionalSecret):
    """A secret named with options: ``{name: SENTRY_DSN, optional: true}``."""

    name: EnvName
    optional: bool = Field(False, description="true: the service starts without it; `up` sends it when set.")


class AnyOfSecrets(Model, description.AnyOfSecrets):
    """Alternatives: the service needs at least one of these (``{any_of: [OPENAI_API_KEY, ANTHROPIC_API_KEY]}``)."""

    any_of: list[EnvName] = Field(min_length=2, description="`up` needs a value for one of them at least.")


# The tags are in brackets so that error locations drop them, as they drop validator names.
SecretEntry = Annotated[
    Annotated[EnvName, Tag("[name]")] | Annotated[OptionalSecret, Tag("[ref]")] | Annotated[AnyOfSecrets, Tag("[any_of]")],
    Discriminator(secret_kind, custom_error_type="secret_entry",
                  custom_error_message="a secret is a name, {name: NAME, optional: true} or {any_of: [A, B]}"),
]


class Service(Model, description.Service):
    build: Build = Field(default_factory=Build)
    start: str = Field(min_length=1, description="Start command; use $PORT to bind the port platforms assign.")
    port: int | None = Field(None, ge=1, le=65535, description="HTTP port; leave out for a background worker.")
    health: Health | None = None
    streaming: Streaming | None = None
    volumes: list[Volume] = Field(default_factory=list)
    env: dict[EnvName, EnvEntry] = Field(
        default_factory=dict, json_schema_extra={"additionalProperties": False},
        description="Plain values, or {service: NAME} for another service's address on each platform.")
    secret_entries: list[SecretEntry] = Field(
        default_factory=list, alias="secrets",
        description="Names only; values never go in this file. A name is required; "
                    "{name: NAME, optional: true} may be left unset; {any_of: [A, B]} needs one of them.")
    resources: Resources = Field(default_factory=Resources)
    replicas: int = Field(1, ge=1, le=100)
    store: str | None = Field(None, description="Name of a server-mode store under `stores:` this service uses.")
    public: bool = Field(True, description="false: kept off the internet, reached by other services and through "
                         "the platform's tunnel (fly proxy, kubectl port-forward).")
    scale_to_zero: bool = Field(False, description="Stop when idle; the next request starts it again (a cold "
                                "start), where the platform can.")
    verify: Verify | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Store(Model, description.Store):
    """A data store that runs as its own server, so several replicas can share it."""

    engine: Literal["chroma"] = "chroma"
    version: str = Field("1.5.9", pattern=r"^\d+\.\d+\.\d+$")
    port: int = Field(8000, ge=1, le=65535)
    size: Size = 10_000_000_000
    resources: Resources = Field(default_factory=lambda: Resources(cpu=1.0, memory=1_000_000_000))


class FlyTarget(Model):
    app: str | None = Field(None, pattern=DNS_LABEL, description="Fly app name; default: the description's name.")
    region: str = Field("iad", pattern=r"^[a-z]{3}$")
    org: str | None = None
    vm_size: str | None = Field(None, description="Fly VM preset, e.g. shared-cpu-1x; default: from resources.")
    snapshot_retention: int | None = Field(
        None, ge=1, le=60, description="Days Fly keeps each volume's daily snapshots (Fly's default: 5).")


class RailwayTarget(Model):
    project: str | None = None
    environment: str = "production"
    format: Literal["iac", "toml"] = Field("iac", description="iac: .railway/railway.ts; toml: legacy railway.toml.")
    region: str | None = None
    workspace: str | None = Field(None, description="Workspace (id or name) `railway init` creates the project in; "
                                  "needed when your account has several.")
    backups: list[Literal["daily", "weekly", "monthly"]] = Field(
        default_factory=list, description="Railway's scheduled backups of every volume (and store volume), "
        "e.g. [daily].")


RenderPlan = Literal["free", "starter", "standard", "pro", "pro plus", "pro max", "pro ultra"]


class RenderTarget(Model):
    plan: RenderPlan | dict[Annotated[str, Field(pattern=DNS_LABEL)], RenderPlan] | None = Field(
        None, description="Instance type: one for every service and store, or one per name ({api: standard}); "
        "left out (or a name left out), the smallest that fits the resources.")
    region: Literal["oregon", "ohio", "virginia", "frankfurt", "singapore"] = "oregon"
    branch: str | None = None
    repo: str | None = None


class Proxy(Model):
    """The reverse proxy in front of the service on this host (TLS, a public name), if any."""

    server: Literal["nginx", "haproxy", "caddy", "traefik", "other"] = "other"
    idle_timeout: Duration | None = Field(
        None, description="How long it keeps a response open without bytes (nginx proxy_read_timeout, HAProxy "
                          "timeout server); default: the server's own (nginx: 60s).")


class DockerTarget(Model):
    image: str | None = Field(None, description="Image name; default: <name>-<service>.")
    proxy: Proxy | None = None


class ComposeTarget(Model):
    proxy: Proxy | None = Field(None, description="A proxy of your own in front (without `domain`).")
    domain: str | None = Field(None, pattern=K8S_NAME, max_length=253,
                               description="Public host name for one VPS: adds a Caddy service that serves it on "
                                           "ports 80/443 with automatic HTTPS (DNS must point at the host).")
    email: str | None = Field(None, pattern=r"^[^@\s{}]+@[^@\s{}]+$",
                              description="Contact address for the ACME account Caddy opens (optional).")


class Autoscale(Model):
    """A HorizontalPodAutoscaler per service that can have replicas; `replicas` is its minimum."""

    max: int = Field(ge=2, le=1000, description="Most replicas the autoscaler may run.")
    cpu: int = Field(70, ge=1, le=100, description="Target average CPU use, percent of the request.")


class KubernetesTarget(Model):
    namespace: str | None = Field(None, pattern=DNS_LABEL)
    host: str | None = Field(None, pattern=INGRESS_HOST, max_length=253,
                             description="Host name the HTTPRoute (or Ingress) answers for.")
    gateway: str | None = Field(None, pattern=GATEWAY_REF, max_length=317,
                                description="The Gateway the HTTPRoute attaches to: `name` or `namespace/name` "
                                            "(default: `gateway` in the service's namespace).")
    ingress_class: str | None = Field(None, pattern=K8S_NAME, max_length=253,
                                      description="Expose through an Ingress of this class instead of an "
                                                  "HTTPRoute (nginx, traefik, gce, ...).")
    storage_class: str | None = Field(None, pattern=K8S_NAME, max_length=253)
    volume_access: Literal["ReadWriteOncePod", "ReadWriteOnce"] = Field(
        "ReadWriteOncePod", description="Access mode of single-writer claims; ReadWriteOnce for a provisioner "
                                        "without CSI (it then allows two pods on one node).")
    registry: str | None = Field(None, pattern=REGISTRY, max_length=255,
                                 description="Where `up` pushes the images it builds, e.g. ghcr.io/you; each is "
                                             "tagged with a hash of what it is built from.")
    image: str | None = Field(None, description="An image you build yourself (registry/name:tag), used as is; "
                                                "`{service}` in it is replaced by each service's name.")
    image_pull_secret: str | None = Field(None, pattern=K8S_NAME, max_length=253,
                                          description="Secret (type kubernetes.io/dockerconfigjson) the pods pull "
                                                      "a private image with.")
    read_only_root: bool = Field(True, description="Run the app with a read-only root filesystem (writable: its "
                                                   "volumes and an empty /tmp).")
    autoscale: Autoscale | None = None


# Where a platform that cannot run a store finds it: `chroma: https://chroma.example.com`.
# The URL's host and port become CHROMA_HOST / CHROMA_PORT (CHROMA_SSL for https).
STORE_URL = r"^(http|https)://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?/?$"
StoreUrls = Annotated[
    dict[Annotated[str, Field(pattern=DNS_LABEL)], Annotated[str, Field(pattern=STORE_URL)]],
    Field(default_factory=dict, description="Store name -> the URL where it already runs (http(s)://host[:port]); "
          "the platform then runs no copy of it.", json_schema_extra={"additionalProperties": False}),
]


class CloudRunTarget(Model):
    project: str | None = Field(None, pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$",
                                description="Google Cloud project ID (required to render: the image lives there).")
    region: str = Field("us-central1", pattern=r"^[a-z]+-[a-z]+[0-9]+$")
    repository: str = Field("streamdeploy", pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$",
                            description="Artifact Registry Docker repository the image is pushed to (created by `up`).")
    min_instances: int | None = Field(None, ge=0, le=1000, description="Default: replicas (at least 1 with streams).")
    max_instances: int | None = Field(None, ge=1, le=1000)
    concurrency: int | None = Field(None, ge=1, le=1000,
                                    description="Requests (open streams) per instance; default 1000 with streams, else 80.")
    service_account: str | None = Field(None, description="Email of the service account the service runs as.")
    public: bool = Field(True, description="Let anyone call the service (allUsers may invoke); its own auth still "
                         "applies.")
    store_urls: StoreUrls


class DigitalOceanTarget(Model):
    region: Literal["atl", "nyc", "sfo", "tor", "ams", "fra", "lon", "blr", "sgp", "syd"] = "nyc"
    repo: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
                             description="GitHub owner/name App Platform builds from (or set `image`).")
    branch: str = "main"
    image: str | None = Field(None, description="A pushed image to run instead of building from `repo` "
                              "(registry.digitalocean.com/..., ghcr.io/..., or Docker Hub); `{service}` expands.")
    instance_size: str | None = Field(None, description="App Platform instance size slug; default: the smallest that "
                                      "fits resources.")
    domain: str | None = Field(None, pattern=INGRESS_HOST, description="Custom domain; with one, the CDN cache is "
                               "disabled so SSE is not buffered.")
    store_urls: StoreUrls


class FargateTarget(Model):
    region: str = Field("us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
    image: str | None = Field(None, description="Image reference ECS pulls (ECR, GHCR, ...); `{service}` expands. "
                              "Required for `up`.")
    certificate_arn: str | None = Field(None, pattern=r"^arn:aws[-a-z]*:acm:",
                                        description="ACM certificate for an HTTPS listener; default: HTTP on port 80.")
    state_bucket: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                                     description="S3 bucket for Terraform state; default: local state in terraform/.")
    store_urls: StoreUrls


class LocalTarget(Model):
    port: int | None = Field(None, ge=1, le=65535, description="Host port; default: the service's port.")
    python: str | None = Field(None, pattern=r"^3\.\d{1,2}$",
                               description="Python version of the local virtualenv; default: build.python.")


class GithubTarget(Model):
    """A GitHub Actions workflow that ships on every push (`render --target github`)."""

    deploy: list[Literal["fly", "railway", "render", "kubernetes", "cloudrun", "digitalocean", "fargate"]] = Field(
        default_factory=list, description="Targets `streamdeploy up` ships to on every push, in this order.")
    branch: str = Field("main", pattern=r"^[A-Za-z0-9._/-]+$", description="The branch whose pushes deploy.")
    test: str | None = Field(
        "auto", description="Test command run before deploying; `auto`: pytest when the build context has "
        "tests, null: none.")
    environment: str | None = Field(
        "production", description="GitHub environment of the deploy jobs (its protection rules and secrets).")


class Targets(Model):
    fly: FlyTarget = Field(default_factory=FlyTarget)
    railway: RailwayTarget = Field(default_factory=RailwayTarget)
    render: RenderTarget = Field(default_factory=RenderTarget)
    docker: DockerTarget = Field(default_factory=DockerTarget)
    compose: ComposeTarget = Field(default_factory=ComposeTarget)
    kubernetes: KubernetesTarget = Field(default_factory=KubernetesTarget)
    cloudrun: CloudRunTarget = Field(default_factory=CloudRunTarget)
    digitalocean: DigitalOceanTarget = Field(default_factory=DigitalOceanTarget)
    fargate: FargateTarget = Field(default_factory=FargateTarget)
    local: LocalTarget = Field(default_factory=LocalTarget)
    github: GithubTarget = Field(default_factory=GithubTarget)


class Spec(Model, description.Spec):
    """A whole ``streamdeploy.yaml``."""

    version: Literal[1] = Field(description="Format version; always 1 for now.")
    name: str = Field(pattern=DNS_LABEL, description="Project name: lowercase letters, digits and -.")
    # additionalProperties: false makes the JSON Schema reject keys the pattern does not match.
    services: dict[Annotated[str, Field(pattern=DNS_LABEL)], Service] = Field(
        min_length=1, json_schema_extra={"additionalProperties": False})
    stores: dict[Annotated[str, Field(pattern=DNS_LABEL)], Store] = Field(
        default_factory=dict, json_schema_extra={"additionalProperties": False})
    targets: Targets = Field(default_factory=Targets)


SERVICE_NAME_RE = re.compile(DNS_LABEL)
