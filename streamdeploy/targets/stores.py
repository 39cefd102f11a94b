"""Stores a platform reaches at a URL instead of running them (`targets.<t>.store_urls`).

Cloud Run and App Platform have no disk for a Chroma server; Fargate can run one, or use
one that runs elsewhere. The URL becomes the same variables a store run by streamdeploy
gives its services: CHROMA_HOST and CHROMA_PORT, plus CHROMA_SSL=true for https.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from streamdeploy.problems import fail
from streamdeploy.description import Spec, store_urls
from streamdeploy.records import record


@record(frozen=True)
class Address:
    host: str
    port: int
    ssl: bool


def address(url: str) -> Address:
    parts = urlsplit(url)
    ssl = parts.scheme == "https"
    return Address(parts.hostname or "", parts.port or (443 if ssl else 80), ssl)


def external_env(spec: Spec, target: str, service: str) -> dict[str, str]:
    """The store variables of a service whose store runs elsewhere; {} when it has none."""
    svc = spec.services[service]
    urls = store_urls(spec, target)
    if svc.store is None or svc.store not in urls:
        return {}
    where = address(urls[svc.store])
    host_name, port_name = spec.stores[svc.store].env_names
    env = {host_name: where.host, port_name: str(where.port)}
    if where.ssl:
        env["CHROMA_SSL"] = "true"
    return env


def require_urls(spec: Spec, target: str, title: str, why: str) -> None:
    """Refuse a store the platform cannot run and that has no URL: the service would have no data."""
    urls = store_urls(spec, target)
    for name, svc in spec.services.items():
        if svc.store in spec.stores and svc.store not in urls:
            raise fail(f"the `{svc.store}` store cannot run on {title}: {why}",
                       key=f"stores.{svc.store}",
                       fix=f"run it where it can keep a disk (a VM, Kubernetes, a managed Chroma) and set "
                           f"targets.{target}.store_urls.{svc.store}: https://HOST[:PORT]")


def refuse_volumes(spec: Spec, target: str, title: str, why: str) -> None:
    """A volume the platform cannot mount: refuse rather than render a service that loses its data."""
    for name, svc in spec.services.items():
        if svc.volumes:
            volume = svc.volumes[0]
            raise fail(f"{title} cannot keep volume `{volume.name}` of `{name}`: {why}",
                       key=f"services.{name}.volumes",
                       fix="store mode: run Chroma as a server (`stores: {chroma: {engine: chroma}}`, "
                           f"`store: chroma` on services.{name}, no volume; see examples/scaled) and set "
                           f"targets.{target}.store_urls.chroma to where it runs")
