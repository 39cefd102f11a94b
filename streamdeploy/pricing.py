"""Monthly cost of a description on a platform, from the prices in ``platforms.toml``.

Where a platform sells fixed sizes, the smallest size that fits the cpu and memory is
chosen; where it bills per resource, the rates are multiplied out. Per-second and
per-hour rates assume a service that runs all month (730 hours), which a service holding
streams open does. Egress, builds and free tiers are left out; plan minimums are added.
"""

from __future__ import annotations

import math
import re
from typing import Any

from streamdeploy import records, units
from streamdeploy.capabilities import Fact, Platform
from streamdeploy.records import record

HOURS_PER_MONTH = 730
_PERIODS = {"month": 1.0, "hour": HOURS_PER_MONTH, "minute": HOURS_PER_MONTH * 60, "second": HOURS_PER_MONTH * 3600}
_MEMORY_UNITS = {"GB": 1000**3, "GiB": 1024**3, "MB": 1000**2, "MiB": 1024**2}
_MIB = 1024**2
_GIB = 1024**3


@record(frozen=True)
class Size:
    """One fixed instance size a platform sells."""

    name: str
    cpu: float
    memory: int  # bytes
    price: float | None  # USD per month; None: priced from the cpu/memory rates
    single_instance_only: bool = False
    disk: bool | None = None  # False: this size cannot have a disk


@record(frozen=True)
class Sizing:
    """What one instance of a workload runs as on a platform."""

    label: str
    cpu: float
    memory: int
    monthly: float | None  # USD per instance per month; None: unknown


@record(frozen=True)
class LineItem:
    what: str  # services.api, services.api.volumes.chroma_data, ...
    detail: str  # the size chosen, or why it has no price
    count: int
    monthly: float | None  # for all `count` of them; None: cannot be priced
    # A service with `scale_to_zero` where the platform stops it: what a month asleep costs (its
    # compute; disks are their own items). None: it never sleeps there.
    idle_monthly: float | None = None
    idle: str | None = None  # what idle means there, from the platform's facts

    def as_dict(self) -> dict:
        out = {"what": self.what, "detail": self.detail, "count": self.count,
               "monthly": None if self.monthly is None else round(self.monthly, 2)}
        if self.idle is not None:
            out["idle_monthly"] = None if self.idle_monthly is None else round(self.idle_monthly, 2)
            out["idle"] = self.idle
        return out


@record(frozen=True)
class Estimate:
    platform: str
    model: str  # usage | sizes | presets | unknown | free
    items: tuple[LineItem, ...]
    monthly: float | None  # the sum of what could be priced; None: no price known at all
    complete: bool  # False: some item has no price
    notes: tuple[str, ...] = ()
    as_of: str | None = None  # the oldest price used
    sources: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {
            "monthly": None if self.monthly is None else round(self.monthly, 2),
            "currency": "USD",
            "complete": self.complete,
            "model": self.model,
            "items": [item.as_dict() for item in self.items],
            "notes": list(self.notes),
            "prices_as_of": self.as_of,
            "sources": list(self.sources),
        }


# ----------------------------------------------------------------------------- rates


def monthly_rate(fact: Fact) -> float | None:
    """A rate such as USD/vCPU/second as USD per unit per month."""
    if not isinstance(fact.value, (int, float)) or not fact.unit:
        return None
    period = fact.unit.rsplit("/", 1)[-1]
    if period not in _PERIODS:
        raise ValueError(f"unknown price period in {fact.unit!r}")
    return float(fact.value) * _PERIODS[period]


def _memory_in(fact: Fact, n_bytes: int) -> float:
    """Memory in the unit the rate is quoted in (GB or GiB)."""
    match = re.match(r"USD/([A-Za-z]+)/", fact.unit or "")
    unit = match.group(1) if match else "GB"
    return n_bytes / _MEMORY_UNITS.get(unit, 1000**3)


# ----------------------------------------------------------------------------- sizes


def sizes(p: Platform) -> list[Size]:
    table = p.pricing.get("instances") or {}
    out = []
    for raw in table.get("sizes", []):
        out.append(Size(
            name=raw["name"],
            cpu=float(raw["cpu"]),
            memory=units.parse_size(raw["memory"]),
            price=float(raw["price"]) if "price" in raw else None,
            single_instance_only=bool(raw.get("single_instance_only", False)),
            disk=raw.get("disk"),
        ))
    return out


def size_named(p: Platform, name: str) -> Size | None:
    return next((s for s in sizes(p) if s.name == name), None)


def _size_price(p: Platform, size: Size) -> float | None:
    if size.price is not None:
        return size.price
    cpu, memory = monthly_rate(p.price("cpu")), monthly_rate(p.price("memory"))
    if cpu is None or memory is None:
        return None
    return size.cpu * cpu + _memory_in(p.price("memory"), size.memory) * memory


def has_sizes(p: Platform) -> bool:
    """Whether the platform has limits a workload can exceed (fixed sizes, presets, cpu steps)."""
    model = p.pricing.get("model")
    return model in ("sizes", "presets") or (model == "usage" and "cpu_steps" in p.pricing)


def fit(p: Platform, cpu: float, memory: int, *, replicas: int = 1, disk: bool = False) -> Sizing | None:
    """The cheapest way to run one instance with at least this cpu and memory; None if none fits."""
    model = p.pricing.get("model")
    if model == "sizes":
        return _fit_sizes(p, cpu, memory, replicas, disk)
    if model == "presets":
        return _fit_presets(p, cpu, memory)
    if model == "usage":
        return _fit_usage(p, cpu, memory)
    return Sizing(f"{cpu:g} vCPU, {units.format_size(memory)}", cpu, memory, 0.0 if model == "free" else None)


def _fit_sizes(p: Platform, cpu: float, memory: int, replicas: int, disk: bool) -> Sizing | None:
    best: tuple[float, int, Size] | None = None
    for order, size in enumerate(sizes(p)):
        if size.cpu < cpu or size.memory < memory:
            continue
        if replicas > 1 and size.single_instance_only:
            continue
        if disk and size.disk is False:
            continue
        price = _size_price(p, size)
        rank = (math.inf if price is None else price, order)
        if best is None or rank < best[:2]:
            best = (*rank, size)
    if best is None:
        return None
    price, _, size = best
    return Sizing(size.name, size.cpu, size.memory, None if price == math.inf else price)


def _fit_presets(p: Platform, cpu: float, memory: int) -> Sizing | None:
    table = p.pricing.get("presets") or {}
    extra = monthly_rate(p.price("extra_memory"))
    best: tuple[float, int, Sizing] | None = None
    order = 0
    for family in table.get("families", []):
        included = units.parse_size(family["memory_per_cpu"])
        most = units.parse_size(family["max_memory_per_cpu"])
        step = units.parse_size(family["memory_step"])
        for n in family["cpus"]:
            order += 1
            if n < cpu:
                continue
            provisioned = max(math.ceil(memory / step) * step, n * included)
            if provisioned > n * most:
                continue
            if extra is None:
                price = None
            else:
                price = n * float(family["price_per_cpu"]) + (provisioned - n * included) / _GIB * extra
            label = f"{family['name'].format(n=n)}, {provisioned // _MIB} MB"
            rank = (math.inf if price is None else price, order)
            if best is None or rank < best[:2]:
                best = (*rank, Sizing(label, float(n), provisioned, price))
    return best[2] if best else None


def _fit_usage(p: Platform, cpu: float, memory: int) -> Sizing | None:
    steps = p.pricing.get("cpu_steps")
    billed_cpu = cpu
    if isinstance(steps, dict) and cpu > 1:
        larger = [s for s in steps.get("value", []) if s >= cpu]
        if not larger:
            return None
        billed_cpu = float(min(larger))
    cpu_rate, memory_fact = monthly_rate(p.price("cpu")), p.price("memory")
    memory_rate = monthly_rate(memory_fact)
    price = None
    if cpu_rate is not None and memory_rate is not None:
        price = billed_cpu * cpu_rate + _memory_in(memory_fact, memory) * memory_rate
    unit = re.match(r"USD/([A-Za-z]+)/", memory_fact.unit or "")
    memory_label = (f"{memory / _GIB:.2f} GiB" if unit and unit.group(1) == "GiB" else units.format_size(memory))
    return Sizing(f"{billed_cpu:g} vCPU, {memory_label}", billed_cpu, memory, price)


def largest(p: Platform) -> str | None:
    """The biggest instance a platform offers, for messages."""
    model = p.pricing.get("model")
    if model == "sizes":
        biggest = max(sizes(p), key=lambda s: (s.cpu, s.memory), default=None)
        return f"{biggest.name} ({biggest.cpu:g} CPU, {units.format_size(biggest.memory)})" if biggest else None
    if model == "presets":
        families = (p.pricing.get("presets") or {}).get("families", [])
        if not families:
            return None
        family = max(families, key=lambda f: max(f["cpus"]))
        n = max(family["cpus"])
        most = units.parse_size(family["max_memory_per_cpu"]) * n
        return f"{family['name'].format(n=n)} with {most // _GIB} GB"
    steps = p.pricing.get("cpu_steps")
    if isinstance(steps, dict) and steps.get("value"):
        return f"{max(steps['value'])} vCPU"
    return None


def smallest_name(p: Platform, cpu: float, memory: int) -> str | None:
    sizing = fit(p, cpu, memory)
    return sizing.label if sizing else None


# ----------------------------------------------------------------------------- a whole description


def estimate(spec: Any, p: Platform) -> Estimate:
    """The monthly cost of every service (times replicas), store and volume on ``p``."""
    model = p.pricing.get("model", "unknown")
    items: list[LineItem] = []
    used: list[Fact] = []
    disk_fact = p.price("disk")
    for name, service in spec.services.items():
        item = _workload(p, f"services.{name}", service.resources, service.replicas, bool(service.volumes))
        items.append(_asleep(p, item) if service.scale_to_zero else item)
        for volume in service.volumes:
            items.append(_disk(p, f"services.{name}.volumes.{volume.name}", volume.size, service.replicas))
    from streamdeploy.description import store_urls

    elsewhere = store_urls(spec, p.target) if p.target else {}
    for name, store in spec.stores.items():
        if name in elsewhere:
            items.append(LineItem(f"stores.{name}", f"runs at {elsewhere[name]} (targets.{p.target}.store_urls): "
                                  "priced where it runs", 1, None))
            continue
        items.append(_workload(p, f"stores.{name}", store.resources, 1, True))
        items.append(_disk(p, f"stores.{name}.data", store.size, 1))
    balancer = p.price("load_balancer")
    if balancer.known and any(s.is_web for s in spec.services.values()):
        items.append(LineItem("load balancer", balancer.note or "one load balancer", 1, monthly_rate(balancer)))
    notes = [str(p.pricing["note"])] if p.pricing.get("note") else []
    for key in ("cpu", "memory", "extra_memory", "minimum", "load_balancer"):
        if p.price(key).known:
            used.append(p.price(key))
    if any("volumes." in i.what or i.what.endswith(".data") for i in items) and disk_fact.as_of:
        used.append(disk_fact)
    for key in ("instances", "presets"):
        table = p.pricing.get(key)
        if isinstance(table, dict):
            used.append(Fact(None, as_of=str(table.get("as_of")), source=table.get("source"),
                             confidence=table.get("confidence", "doc")))
    priced = [i.monthly for i in items if i.monthly is not None]
    if model == "unknown":
        total = None
    else:
        total = sum(priced) if priced else (0.0 if model == "free" else None)
    minimum = p.price("minimum")
    if total is not None and isinstance(minimum.value, (int, float)) and total < minimum.value:
        items.append(LineItem("plan minimum", minimum.note or "monthly minimum", 1, minimum.value - total))
        total = float(minimum.value)
    if any(f.confidence == "3p" for f in used):
        notes.append("some prices come from third-party copies of the pricing page")
    dates = sorted(f.as_of for f in used if f.as_of)
    sources = tuple(dict.fromkeys(f.source for f in used if f.source))
    complete = model != "unknown" and all(i.monthly is not None for i in items)
    return Estimate(p.name, model, tuple(items), total, complete, tuple(notes), dates[0] if dates else None,
                    sources)


def _workload(p: Platform, what: str, resources: Any, count: int, disk: bool) -> LineItem:
    sizing = fit(p, resources.cpu, resources.memory, replicas=count, disk=disk)
    if sizing is None:
        return LineItem(what, f"no size has {resources.cpu:g} CPU and {units.format_size(resources.memory)}",
                        count, None)
    monthly = None if sizing.monthly is None else sizing.monthly * count
    return LineItem(what, sizing.label, count, monthly)


def _asleep(p: Platform, item: LineItem) -> LineItem:
    """The same workload when it sleeps all month, where the platform stops idle services."""
    idle = p.fact("scale_to_zero").get("idle")
    if not idle or item.monthly is None:
        return item
    return records.replace(item, idle_monthly=0.0, idle=str(idle))


def _disk(p: Platform, what: str, size: int, count: int) -> LineItem:
    rate = p.price("disk")
    gigabytes = units.gigabytes(size)  # platforms provision whole GB
    detail = f"{gigabytes} GB"
    if rate.none:
        return LineItem(what, f"{detail}: no volumes on {p.title}", count, None)
    monthly = monthly_rate(rate)
    if monthly is None:
        return LineItem(what, f"{detail}: price unknown", count, None)
    return LineItem(what, detail, count, gigabytes * monthly * count)
