"""fake `docker`: daemon, images, networks, volumes, containers and compose projects,
per docker/cli v29.7.2 docs, buildx v0.36.0 and compose v5.5.0.

``FAKE_DOCKER_DAEMON=down`` in the environment makes every daemon command fail the way
docker does when the daemon is not running.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from fakes.fake_cli import Call, Exit
from fakes.platforms import ident

VERSION = "29.7.2"
COMPOSE_VERSION = "5.5.0"
DAEMON_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
CLIENT_ONLY = {(), ("compose", "version"), ("compose", "config")}
# Official images on Docker Hub that a compose project pulls when it does not build them.
PUBLIC_IMAGES = ("chromadb/chroma:", "caddy:", "debian:", "python:")


def check_auth(call: Call) -> None:
    if call.inv.command in CLIENT_ONLY or call.inv.command == ("version",):
        return
    if call.env.get("FAKE_DOCKER_DAEMON") == "down":
        prefix = "docker: " if call.inv.command == ("run",) else ""
        raise Exit(1, prefix + DAEMON_DOWN)


def reads_stdin(call: Call) -> bool:
    if call.inv.command == ("login",):
        return call.has("--password-stdin")
    if call.inv.command == ("build",):
        return "-" in call.inv.positionals or call.flag("--file") == "-"
    return False


def _docker(state: dict) -> dict:
    docker = state.setdefault("docker", {})
    for key in ("images", "networks", "volumes", "containers", "projects"):
        docker.setdefault(key, {})
    return docker


def _image_key(reference: str) -> str:
    last = reference.rsplit("/", 1)[-1]
    return reference if ":" in last or "@" in last else f"{reference}:latest"


# --- client and daemon --------------------------------------------------------------------


def root(call: Call) -> int:
    if call.has("--version"):
        call.print(f"Docker version {VERSION}, build 28f7560")
        return 0
    raise Exit(1, "fake docker: nothing to do")


def version(call: Call) -> int:
    fmt = call.flag("--format")
    down = call.env.get("FAKE_DOCKER_DAEMON") == "down"
    if fmt and "Server" in fmt:
        if down:
            raise Exit(1, DAEMON_DOWN)
        call.print(VERSION)
        return 0
    call.print(f"Client:\n Version:           {VERSION}\n API version:       1.52\n OS/Arch:           linux/amd64")
    if down:
        raise Exit(1, DAEMON_DOWN)
    call.print(f"\nServer: Docker Engine - Community\n Engine:\n  Version:          {VERSION}")
    return 0


def info(call: Call) -> int:
    fmt = call.flag("--format")
    with call.state() as state:
        containers = len(_docker(state)["containers"])
    if fmt:
        if "ServerVersion" in fmt:
            call.print(VERSION)
        elif fmt == "json":
            call.json({"ServerVersion": VERSION, "Containers": containers})
        else:
            call.print("")
        return 0
    call.print(f"Client: Docker Engine - Community\n Version:    {VERSION}\n\nServer:\n Containers: {containers}\n"
               f" Server Version: {VERSION}\n Storage Driver: overlay2")
    return 0


def login(call: Call) -> int:
    if call.has("--password-stdin") and not (call.record["stdin"] or "").strip():
        raise Exit(1, "Error: Password Required")
    server = registry_host((call.inv.positionals or ["docker.io"])[0] + "/x")
    with call.state() as state:
        _docker(state).setdefault("logins", {})[server] = {"username": call.flag("--username")}
    call.print("Login Succeeded")
    return 0


def registry_host(reference: str) -> str:
    """The registry an image reference names (distribution/reference: a first part with
    `.` or `:`, or `localhost`; else Docker Hub)."""
    first, _, rest = reference.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def push(call: Call) -> int:
    """`docker push REF`: the image must exist here and the registry must know us."""
    reference = call.inv.positionals[0]
    key = _image_key(reference)
    host = registry_host(reference)
    with call.state() as state:
        docker = _docker(state)
        image = docker["images"].get(key)
        if image is None:
            raise Exit(1, f"An image does not exist locally with the tag: {reference.rsplit(':', 1)[0]}")
        if host not in docker.get("logins", {}):
            call.print(f"The push refers to repository [{key.rsplit(':', 1)[0]}]")
            raise Exit(1, "unauthorized: authentication required" if host != "docker.io" else
                       "denied: requested access to the resource is denied")
        registry = docker.setdefault("registry", {})
        already = registry.get(key) == image["id"]
        registry[key] = image["id"]
        docker.setdefault("pushes", []).append(key)
    call.print(f"The push refers to repository [{key.rsplit(':', 1)[0]}]")
    call.print(f"5f70bf18a086: {'Layer already exists' if already else 'Pushed'}")
    call.print(f"{key.rsplit(':', 1)[1]}: digest: sha256:{image['id'][7:71]} size: 1573")
    return 0


# --- images, networks, volumes ------------------------------------------------------------


def build(call: Call) -> int:
    context = call.inv.positionals[0]
    context_dir = call.path(context) if context != "-" else None
    if context_dir is not None and not context_dir.is_dir():
        raise Exit(1, f'ERROR: failed to build: unable to prepare context: path "{context}" not found')
    dockerfile = call.flag("--file")
    if dockerfile and dockerfile != "-":
        dockerfile_path = call.path(dockerfile)
    else:
        dockerfile_path = (context_dir or call.cwd) / "Dockerfile"
    if dockerfile != "-" and not dockerfile_path.is_file():
        raise Exit(1, "ERROR: failed to build: failed to solve: failed to read dockerfile: open Dockerfile: "
                      "no such file or directory")
    for secret in call.inv.values("--secret"):
        fields = dict(part.split("=", 1) for part in secret.split(",") if "=" in part)
        if "env" in fields and not call.env.get(fields["env"]):
            raise Exit(1, f"ERROR: failed to build: secret {fields.get('id')}: env {fields['env']} is not set")
    tags = call.inv.values("--tag") or [ident("", call.record["id"], length=12)]
    # The id follows what was built (the context and the Dockerfile): new code is a new image.
    built = ident("", _tree_digest(context_dir) if context_dir else call.record["id"],
                  dockerfile_path.read_text(encoding="utf-8") if dockerfile != "-" else "", length=64)
    with call.state() as state:
        images = _docker(state)["images"]
        for tag in tags:
            images[_image_key(tag)] = {"id": "sha256:" + built}
    call.print('#0 building with "default" instance using docker driver')
    call.print(f"#1 [internal] load build definition from {dockerfile_path.name if dockerfile != '-' else 'stdin'}")
    call.print("#9 exporting to image\n#9 exporting layers done")
    for tag in tags:
        call.print(f"#9 naming to docker.io/library/{_image_key(tag)} done")
    return 0


def network_create(call: Call) -> int:
    name = call.inv.positionals[0]
    with call.state() as state:
        networks = _docker(state)["networks"]
        if name in networks:
            raise Exit(1, f"Error response from daemon: network with name {name} already exists")
        networks[name] = {"Id": ident("", "network", name, length=64), "Name": name,
                          "Driver": call.flag("--driver", "bridge")}
    call.print(networks[name]["Id"])
    return 0


def network_inspect(call: Call) -> int:
    with call.state() as state:
        networks = _docker(state)["networks"]
    found = [networks[n] for n in call.inv.positionals if n in networks]
    missing = [n for n in call.inv.positionals if n not in networks]
    call.json(found)
    if missing:
        raise Exit(1, "\n".join(f"Error: No such network: {n}" for n in missing))
    return 0


def volume_create(call: Call) -> int:
    name = (call.inv.positionals or [None])[0] or ident("", call.record["id"], length=64)
    with call.state() as state:
        labels = dict(label.partition("=")[::2] for label in call.inv.values("--label"))
        _docker(state)["volumes"].setdefault(name, {"Name": name, "Driver": "local", "Labels": labels})  # idempotent
    call.print(name)
    return 0


# --- containers ---------------------------------------------------------------------------


def _container(docker: dict, name: str) -> dict | None:
    return docker["containers"].get(name.lstrip("/"))


def container_inspect(call: Call) -> int:
    with call.state() as state:
        docker = _docker(state)
        found = [_container(docker, n) for n in call.inv.positionals]
    present = [c for c in found if c]
    call.json(present)
    missing = [n for n, c in zip(call.inv.positionals, found) if c is None]
    if missing:
        raise Exit(1, "\n".join(f"Error: No such container: {n}" for n in missing))
    return 0


def _named_containers(call: Call, docker: dict):
    """(name, container) for each positional; a name that matches none ends the command."""
    for name in call.inv.positionals:
        container = _container(docker, name)
        if container is None:
            raise Exit(1, f"Error response from daemon: No such container: {name}")
        yield name, container


def stop(call: Call) -> int:
    with call.state() as state:
        for name, container in _named_containers(call, _docker(state)):
            container["State"]["Running"] = False
            call.print(name)
    return 0


def rm(call: Call) -> int:
    with call.state() as state:
        docker = _docker(state)
        for name, container in _named_containers(call, docker):
            if container["State"]["Running"] and not call.has("--force"):
                raise Exit(1, f'Error response from daemon: cannot remove container "/{name}": container is '
                              "running: stop the container before removing or force remove")
            del docker["containers"][container["Name"].lstrip("/")]
            call.print(name)
    return 0


def run(call: Call) -> int:
    image, *command = call.inv.positionals
    name = call.flag("--name") or ident("", call.record["id"], length=12)
    env_names, env_present = [], {}
    for item in call.inv.values("--env"):
        key, sep, _ = item.partition("=")
        env_names.append(key)
        if not sep:  # `-e NAME`: docker copies NAME from its own environment, if set
            env_present[key] = bool(call.env.get(key))
    for env_file in call.inv.values("--env-file"):
        if not call.path(env_file).is_file():
            raise Exit(125, f"docker: open {env_file}: no such file or directory")
    with call.state() as state:
        docker = _docker(state)
        if _image_key(image) not in docker["images"] and call.flag("--pull") == "never":
            raise Exit(125, f"docker: Error response from daemon: No such image: {_image_key(image)}")
        if _image_key(image) not in docker["images"]:
            raise Exit(125, f"Unable to find image '{_image_key(image)}' locally\ndocker: Error response from "
                            f"daemon: pull access denied for {image.split(':')[0]}, repository does not exist or "
                            "may require 'docker login'")
        if name in docker["containers"]:
            raise Exit(125, f'docker: Error response from daemon: Conflict. The container name "/{name}" is '
                            f'already in use by container "{docker["containers"][name]["Id"]}". You have to remove '
                            "(or rename) that container to be able to reuse that name.")
        network = call.flag("--network")
        if network and network not in ("bridge", "host", "none") and network not in docker["networks"]:
            raise Exit(125, f"docker: Error response from daemon: network {network} not found")
        for mount in call.inv.values("--volume"):
            source = mount.split(":", 1)[0]
            if not source.startswith(("/", ".")):
                docker["volumes"].setdefault(source, {"Name": source, "Driver": "local"})
        container = {"Id": ident("", "container", name, len(docker["containers"]), length=64), "Name": f"/{name}",
                     "Image": _image_key(image), "ImageId": docker["images"][_image_key(image)]["id"],
                     "Command": command,
                     "State": {"Running": bool(call.has("--detach")), "Status": "running"},
                     "EnvNames": env_names, "EnvFromCaller": env_present,
                     "Ports": call.inv.values("--publish"), "Volumes": call.inv.values("--volume"),
                     "Network": network, "Restart": call.flag("--restart")}
        docker["containers"][name] = container
    if call.has("--detach"):
        call.print(container["Id"])
    return 0


# --- compose ------------------------------------------------------------------------------


def _compose_project(call: Call) -> tuple[str, dict, Path]:
    import yaml

    files = call.inv.values("--file")
    directory = call.path(call.flag("--project-directory")) if call.flag("--project-directory") else None
    if not files:
        base = directory or call.cwd
        candidates = [base / n for n in ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise Exit(1, "no configuration file provided: not found")
        paths = [found]
    else:
        paths = [call.path(f) for f in files]
    model: dict = {}
    for path in paths:
        if not path.is_file():
            raise Exit(1, f"open {path}: no such file or directory")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise Exit(1, f"yaml: {err}")
        if not isinstance(data, dict):
            raise Exit(1, f"{path.name}: top-level object must be a mapping")
        model.update(data)
    directory = directory or paths[0].parent
    variables = {**_dotenv(directory / ".env"), **call.env}
    services = model.get("services")
    if not isinstance(services, dict) or not services:
        raise Exit(1, "no service selected" if services == {} else "services must be a mapping")
    for name, service in services.items():
        if not isinstance(service, dict):
            raise Exit(1, f"services.{name} must be a mapping")
        if isinstance(service.get("image"), str):
            service["image"] = interpolate(service["image"], variables)
        for _key, value in (service.get("environment") or {}).items() if isinstance(service.get("environment"),
                                                                                      dict) else []:
            if isinstance(value, str):
                for var, message in re.findall(r"\$\{(\w+):\?([^}]*)\}", value):
                    if not call.env.get(var):
                        raise Exit(1, f"required variable {var} is missing a value: {message}")
        for mount in service.get("volumes") or []:
            source = mount.get("source") if isinstance(mount, dict) else str(mount).split(":", 1)[0]
            kind = mount.get("type", "volume") if isinstance(mount, dict) else "volume"
            if kind == "volume" and source and not source.startswith(("/", ".")) and \
                    source not in (model.get("volumes") or {}):
                raise Exit(1, f'service "{name}" refers to undefined volume {source}: invalid compose project')
    project = call.flag("--project-name") or model.get("name") or re.sub(r"[^a-z0-9_-]", "", directory.name.lower())
    return project, model, directory


def _dotenv(path: Path) -> dict[str, str]:
    """The `.env` beside the project: compose reads it for interpolation (NAME=value lines)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def interpolate(text: str, variables: dict[str, str]) -> str:
    """compose-go template: ``$$``, ``$NAME``, ``${NAME}``, ``${NAME:-default}`` (unset or empty),
    ``${NAME-default}`` (unset), ``${NAME:?err}`` / ``${NAME?err}`` (an error)."""
    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("plain")
        operator, argument = match.group("op") or "", match.group("arg") or ""
        value = variables.get(name)
        if operator in (":-", "-"):
            return argument if value is None or (operator == ":-" and value == "") else value
        if operator in (":?", "?") and (value is None or (operator == ":?" and value == "")):
            raise Exit(1, f"required variable {name} is missing a value: {argument}")
        return value or ""

    pattern = r"\$\$|\$\{(?P<braced>\w+)(?:(?P<op>:-|-|:\?|\?)(?P<arg>[^}]*))?\}|\$(?P<plain>\w+)"
    return re.sub(pattern, replace, text)


def _caller_variable(key: str, value) -> str | None:
    """The variable of the caller's environment an entry takes its value from, if any:
    `NAME:` with no value (compose-spec 05-services.md), or exactly `${VAR}` / `${VAR:?msg}`."""
    if value is None:
        return key
    match = re.fullmatch(r"\$\{(\w+)(?::?[?-][^}]*)?\}", value) if isinstance(value, str) else None
    return match.group(1) if match else None


def _tree_digest(directory: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    if directory.is_dir():
        for path in sorted(p for p in directory.rglob("*") if p.is_file() and ".streamdeploy" not in p.parts):
            digest.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def compose_config(call: Call) -> int:
    import yaml

    project, model, _ = _compose_project(call)
    if not call.has("--quiet"):
        call.print(yaml.safe_dump({**model, "name": project}, sort_keys=False))
    return 0


def _start_order(services: dict) -> list[str]:
    """Compose starts a service's `depends_on` first (compose-spec 05-services.md, depends_on)."""
    order: list[str] = []

    def visit(name: str, seen: tuple[str, ...] = ()) -> None:
        if name in order:
            return
        if name in seen:
            raise Exit(1, f"dependency cycle detected: {' -> '.join((*seen, name))}")
        depends = services[name].get("depends_on") or {}
        for other in (depends if isinstance(depends, (dict, list)) else []):
            if other not in services:
                raise Exit(1, f'service "{name}" depends on undefined service "{other}": invalid compose project')
            visit(other, (*seen, name))
        order.append(name)

    for name in services:
        visit(name)
    return order


def compose_up(call: Call) -> int:
    project, model, directory = _compose_project(call)
    lines = []
    with call.state() as state:
        docker = _docker(state)
        record = docker["projects"].setdefault(project, {"containers": {}, "volumes": [], "ups": 0})
        record["ups"] += 1
        for volume in (model.get("volumes") or {}):
            full = f"{project}_{volume}"
            if full not in docker["volumes"]:
                docker["volumes"][full] = {"Name": full, "Driver": "local"}
                lines.append(f' ✔ Volume "{full}"  Created')
            if full not in record["volumes"]:
                record["volumes"].append(full)
        chosen = call.inv.positionals
        unknown = [n for n in chosen if n not in model["services"]]
        if unknown:
            raise Exit(1, f"no such service: {unknown[0]}")
        record["start_order"] = []
        for name in _start_order(model["services"]):
            if chosen and name not in chosen:
                continue  # `up SERVICE...`: the others are left as they are (--no-deps: not even started)
            service = model["services"][name]
            record["start_order"].append(name)
            build = service.get("build")
            image = service.get("image") or f"{project}-{name}"
            if call.has("--no-build") and _image_key(image) not in docker["images"] and \
                    call.flag("--pull") == "never":
                raise Exit(1, f"Error response from daemon: No such image: {_image_key(image)}")
            if build is not None and not call.has("--no-build") and \
                    (call.has("--build") or _image_key(image) not in docker["images"]):
                context = build if isinstance(build, str) else build.get("context", ".")
                dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
                if not (directory / context / dockerfile).is_file():
                    raise Exit(1, f"failed to solve: failed to read dockerfile: open {dockerfile}: no such file or "
                                  "directory")
                # The id follows what was built: new code in the context is a new image.
                docker["images"][_image_key(image)] = {"id": "sha256:" + ident("", image, _tree_digest(
                    directory / context), length=64)}
                lines.append(f" ✔ Service {name}  Built")
            elif _image_key(image) not in docker["images"]:
                if not image.startswith(PUBLIC_IMAGES):
                    raise Exit(1, f"Error response from daemon: pull access denied for {image}")
                docker["images"][_image_key(image)] = {"id": "sha256:" + ident("", "pulled", image, length=64)}
                lines.append(f" ✔ {name} Pulled")
            environment = service.get("environment") or {}
            from_caller = {k: bool(call.env.get(_caller_variable(k, v))) for k, v in environment.items()
                           if _caller_variable(k, v)} if isinstance(environment, dict) else {}
            container = f"{project}-{name}-1"
            state_word = "Recreated" if container in record["containers"] else "Started"
            record["containers"][container] = {
                "service": name, "image": _image_key(image), "ImageId": docker["images"][_image_key(image)]["id"],
                "EnvFromCaller": from_caller, "running": True,
                "Env": {k: v for k, v in environment.items() if v is not None} if isinstance(environment, dict)
                else {}, "Limits": ((service.get("deploy") or {}).get("resources") or {}).get("limits")}
            lines.append(f" ✔ Container {container}  {'Healthy' if call.has('--wait') else state_word}")
    for line in lines:
        call.err(line)  # compose writes progress to stderr
    return 0


def compose_ps(call: Call) -> int:
    project, _, _ = _compose_project(call)
    with call.state() as state:
        record = _docker(state)["projects"].get(project, {"containers": {}})
    rows = [{"Name": n, "Service": c["service"], "State": "running" if c["running"] else "exited",
             "Health": "healthy"} for n, c in record["containers"].items()]
    if call.flag("--format") == "json":
        for row in rows:
            call.print(json.dumps(row))
    else:
        call.print("NAME  SERVICE  STATUS")
        for row in rows:
            call.print(f"{row['Name']}  {row['Service']}  Up (healthy)")
    return 0


def compose_logs(call: Call) -> int:
    project, model, _ = _compose_project(call)
    for name in model["services"]:
        call.print(f"{name}-1  | INFO:     Application startup complete.")
    return 0


def compose_down(call: Call) -> int:
    project, _, _ = _compose_project(call)
    with call.state() as state:
        docker = _docker(state)
        record = docker["projects"].get(project, {"containers": {}, "volumes": []})
        for container in list(record["containers"]):
            call.err(f" ✔ Container {container}  Removed")
        record["containers"] = {}
        if call.has("--volumes"):
            for volume in record.get("volumes", []):
                docker["volumes"].pop(volume, None)
                call.err(f" ✔ Volume {volume}  Removed")
            record["volumes"] = []
            record["volumes_deleted"] = True
    return 0


def compose_version(call: Call) -> int:
    call.print(COMPOSE_VERSION if call.has("--short") else f"Docker Compose version v{COMPOSE_VERSION}")
    return 0


HANDLERS = {
    (): root,
    ("version",): version,
    ("info",): info,
    ("login",): login,
    ("build",): build,
    ("push",): push,
    ("network", "create"): network_create,
    ("network", "inspect"): network_inspect,
    ("volume", "create"): volume_create,
    ("container", "inspect"): container_inspect,
    ("stop",): stop,
    ("rm",): rm,
    ("run",): run,
    ("compose", "config"): compose_config,
    ("compose", "up"): compose_up,
    ("compose", "ps"): compose_ps,
    ("compose", "logs"): compose_logs,
    ("compose", "down"): compose_down,
    ("compose", "version"): compose_version,
}
