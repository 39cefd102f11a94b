"""What platforms that mount one volume per instance do with the description's volumes.

Railway, Render and Fly attach at most one volume to a service (or Machine), and a
volume pins the service to one instance. Each target states its own limit in words; the
consequences, and the Notes that report them, are the same everywhere.
"""

from __future__ import annotations

from streamdeploy.description import Service, Volume
from streamdeploy.targets.base import Note

SCALE_OUT_FIX = "run the database as a server: add it under `stores:` and set `store:` on the service"


def single_volume(target: str, name: str, service: Service, notes: list[Note], *, limit: str) -> Volume | None:
    """The one volume the platform mounts; every further one becomes a warning Note.

    ``limit`` says the platform's rule, e.g. "Railway mounts one volume per service".
    """
    if not service.volumes:
        return None
    kept = service.volumes[0]
    for extra in service.volumes[1:]:
        notes.append(Note(
            target,
            f"{limit}; `{extra.name}` ({extra.mount}) of `{name}` is not mounted, and what the service "
            "writes there is lost at every deploy",
            key=f"services.{name}.volumes",
            fix=f"keep one volume on `{name}`: put its data in subdirectories of {kept.mount}",
        ))
    return kept


def instances(target: str, name: str, service: Service, notes: list[Note], *, reason: str) -> int:
    """How many instances a service really gets: one while it keeps data on a volume.

    ``reason`` says why in the platform's terms, e.g. "a Fly volume belongs to one Machine".
    """
    if not service.volumes or service.replicas <= 1:
        return service.replicas
    notes.append(Note(
        target,
        f"{reason}, so `{name}` gets 1 instance, not {service.replicas}: two instances must never open "
        "the same embedded database",
        key=f"services.{name}.replicas",
        fix=SCALE_OUT_FIX,
    ))
    return 1
