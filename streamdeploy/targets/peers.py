"""Services that reference each other: ``env: {API_URL: {service: api}}``.

The description says *which* service's address a variable holds; each target says how its
platform writes it. That is the seam, one function per target module::

    def peer_value(spec: Spec, user: str, ref: ServiceRef) -> object

returning what goes into that platform's file for the variable: a literal (Fly, Compose,
Kubernetes, Docker, a local run), a Railway reference template, a Render ``fromService``.
Targets that can write a literal build it with :func:`literal` from an :class:`Address`.
:func:`env` puts the resolved references among the plain values, in the description's
order, and :func:`deploy_order` ships a referenced service before the ones that use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from streamdeploy.description import Service, ServiceRef, Spec
from streamdeploy.records import record
from streamdeploy.targets.base import Note

Resolve = Callable[[ServiceRef], object]


@record(frozen=True)
class Address:
    """Where a service answers, as seen by the service that references it."""

    host: str
    port: int | None  # None: the scheme's own port (80, 443), left out of URLs
    scheme: str = "http"


def literal(ref: ServiceRef, address: Address) -> str:
    """The variable's text for a platform that knows the address when it renders."""
    default = {"http": 80, "https": 443}[address.scheme]
    port = address.port or default
    hostport = address.host if address.port in (None, default) else f"{address.host}:{port}"
    if ref.property == "host":
        return address.host
    if ref.property == "port":
        return str(port)
    if ref.property == "hostport":
        return f"{address.host}:{port}"
    return f"{address.scheme}://{hostport}"


def env(spec: Spec, name: str, target: str, resolve: Resolve | None) -> tuple[dict[str, object], list[Note]]:
    """The container's plain env with each reference replaced by ``resolve(ref)``."""
    from streamdeploy.targets import docker

    plain, notes = docker.runtime_env(spec, name, target)
    service = spec.services[name]
    if service.env_refs and resolve is None:
        raise TypeError(f"the {target} target must resolve the service references of `{name}`")
    out: dict[str, object] = {}
    for key, value in service.env.items():
        if isinstance(value, ServiceRef):
            out[key] = resolve(value)  # type: ignore[misc]
        elif key in plain:
            out[key] = plain[key]
    for key, value in plain.items():  # PORT, volume paths: what the platform config derives
        out.setdefault(key, value)
    return out, notes


def referenced_by(spec: Spec, name: str) -> list[str]:
    """The services whose env holds an address of ``name``."""
    return [user for user, service in spec.services.items() if user != name
            and any(ref.service == name for ref in service.env_refs.values())]


def deploy_order(spec: Spec) -> list[str]:
    """Services in the order to ship them: each after the services it references.

    Stable (the description's order otherwise); services that reference each other in a
    cycle keep the description's order among themselves.
    """
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order or name in visiting or name not in spec.services:
            return
        visiting.add(name)
        for ref in spec.services[name].env_refs.values():
            visit(ref.service)
        visiting.discard(name)
        order.append(name)

    for name in spec.services:
        visit(name)
    return order


def for_people(spec: Spec, name: str) -> bool:
    """A private web service no other service references: only people would use it (a dashboard)."""
    service = spec.services[name]
    return service.is_web and not service.public and not referenced_by(spec, name)


def bare_name_urls(spec: Spec, name: str) -> Iterator[tuple[str, str, str]]:
    """(env key, other service, value): literal values that address another service by its bare name,
    as `http://api:8000` does, which only Compose, Docker and Kubernetes resolve."""
    service: Service = spec.services[name]
    for other in spec.services:
        if other == name:
            continue
        pattern = re.compile(rf"((//|@){re.escape(other)}(:\d+)?(/|$)|^{re.escape(other)}:\d+$)")
        for key, value in service.plain_env.items():
            if pattern.search(value):
                yield key, other, value


def main_url(spec: Spec, urls: list[tuple[str, str]]) -> str | None:
    """The URL `verify` checks fully: the description's first web service's, when it has one."""
    for name in spec.services:
        for service, url in urls:
            if service == name:
                return url
    return None
