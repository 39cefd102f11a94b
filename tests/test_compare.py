"""Cost arithmetic (`pricing`) and the verdicts of `compare`, against hand-computed numbers."""

from __future__ import annotations

from datetime import date

import pytest

from conftest import EXAMPLES
from streamdeploy import capabilities, loader, pricing
from streamdeploy.commands import compare

TODAY = date(2026, 11, 22)
MB, GB, MIB, GIB = 1000**2, 1000**3, 1024**2, 1024**3
HOURS = 730  # a month of per-second / per-hour billing


@pytest.fixture(autouse=True)
def no_app_scanner(monkeypatch):
    monkeypatch.setattr(capabilities, "_scan", lambda where: None)


def p(name):
    return capabilities.platform(name)


# ----------------------------------------------------------------------------- one instance


@pytest.mark.parametrize("platform,cpu,memory,label,monthly", [
    # Railway bills $20/vCPU and $10/GB a month
    ("railway", 1, 1 * GB, "1 vCPU, 1GB", 20 + 10),
    ("railway", 0.5, 512 * MB, "0.5 vCPU, 512MB", 10 + 5.12),
    # Render: the smallest plan with enough cpu and memory
    ("render", 0.5, 512 * MB, "starter", 7),
    ("render", 1, 1 * GB, "standard", 25),
    ("render", 1.5, 1 * GB, "pro", 85),
    ("render", 4, 10 * GB, "pro max", 225),
    # Fly: a preset ($1.94 per shared CPU with 256 MB) plus ~$5 per extra GiB, memory in 256 MiB steps
    ("fly", 1, 256 * MIB, "shared-cpu-1x, 256 MB", 1.94),
    ("fly", 1, 512 * MB, "shared-cpu-1x, 512 MB", 1.94 + 0.25 * 5),  # the docs' own $3.19
    ("fly", 1, 1 * GB, "shared-cpu-1x, 1024 MB", 1.94 + 0.75 * 5),  # the docs' own $5.70 (to a cent)
    ("fly", 2, 4 * GIB, "shared-cpu-2x, 4096 MB", 2 * 1.94 + 3.5 * 5),
    ("fly", 1, 3 * GIB, "shared-cpu-2x, 3072 MB", 2 * 1.94 + 2.5 * 5),  # 1x tops out at 2 GiB
    ("fly", 8, 32 * GIB, "performance-8x, 32768 MB", 8 * 31 + 16 * 5),  # shared-cpu-8x tops out at 16 GiB
    # DigitalOcean: sizes from its API reference
    ("digitalocean", 1, 1 * GB, "apps-s-1vcpu-1gb-fixed", 10),
    ("digitalocean", 2, 3 * GB, "apps-s-2vcpu-4gb", 50),
    # Cloud Run: $0.000018/vCPU-s + $0.000002/GiB-s, all month, CPU in whole steps above 1
    ("cloudrun", 1, 1 * GIB, "1 vCPU, 1.00 GiB", (0.000018 + 0.000002) * 3600 * HOURS),
    ("cloudrun", 1.5, 2 * GIB, "2 vCPU, 2.00 GiB", (2 * 0.000018 + 2 * 0.000002) * 3600 * HOURS),
    # App Runner: the smallest valid pair, $0.064/vCPU-h + $0.007/GB-h
    ("apprunner", 1, 1 * GB, "1 vCPU / 2 GB", (0.064 + 2 * 0.007) * HOURS),
    ("apprunner", 0.25, 256 * MB, "0.25 vCPU / 0.5 GB", (0.25 * 0.064 + 0.5 * 0.007) * HOURS),
])
def test_one_instance(platform, cpu, memory, label, monthly):
    sizing = pricing.fit(p(platform), cpu, memory)
    assert sizing.label == label
    assert sizing.monthly == pytest.approx(monthly)


def test_replicas_skip_single_instance_sizes():
    assert pricing.fit(p("digitalocean"), 1, 1 * GB, replicas=2).label == "apps-s-1vcpu-1gb"


def test_a_disk_skips_sizes_without_one():
    assert pricing.fit(p("render"), 0.1, 256 * MB).label == "free"
    assert pricing.fit(p("render"), 0.1, 256 * MB, disk=True).label == "starter"


@pytest.mark.parametrize("platform,cpu,memory", [("render", 16, 1 * GB), ("apprunner", 1, 16 * GB),
                                                 ("cloudrun", 10, 1 * GB), ("fly", 32, 1 * GB)])
def test_nothing_fits(platform, cpu, memory):
    assert pricing.fit(p(platform), cpu, memory) is None
    assert pricing.largest(p(platform))


def test_rates_convert_to_a_month():
    assert pricing.monthly_rate(p("cloudrun").price("cpu")) == pytest.approx(0.000018 * 3600 * 730)
    assert pricing.monthly_rate(p("apprunner").price("cpu")) == pytest.approx(0.064 * 730)
    assert pricing.monthly_rate(p("railway").price("disk")) == pytest.approx(0.15)


# ----------------------------------------------------------------------------- a whole description


def test_the_example_app_everywhere():
    spec = loader.load(EXAMPLES / "app" / "streamdeploy.yaml").spec  # api: 0.5 CPU, 512MB, one 1GB volume
    expected = {
        "railway": (0.5 * 20 + 0.512 * 10 + 0.15, True),
        "render": (7 + 0.25, True),  # starter fits 0.5 CPU / 512 MB
        "fly": (1.94 + 0.25 * 5 + 0.15, True),  # shared-cpu-1x: 256 MB included, +256 MB
        "digitalocean": (5, False),  # no volume to price
        "cloudrun": ((0.000018 * 0.5 + 0.000002 * 0.512 * GB / GIB) * 3600 * HOURS, False),
        "apprunner": ((0.064 * 0.5 + 1 * 0.007) * HOURS, False),  # smallest size: 0.5 vCPU / 1 GB
        "kubernetes": (None, False),
        "compose": (None, False),
        "local": (0, True),
    }
    for name, (monthly, complete) in expected.items():
        estimate = pricing.estimate(spec, p(name))
        assert estimate.complete is complete, name
        if monthly is None:
            assert estimate.monthly is None, name
        else:
            assert estimate.monthly == pytest.approx(monthly), name


def test_replicas_stores_and_disks_add_up():
    spec = loader.load(EXAMPLES / "scaled" / "streamdeploy.yaml").spec  # api x3 (1 CPU, 1GB), chroma 1CPU/1GB, 20GB
    estimate = pricing.estimate(spec, p("render"))
    assert [(i.what, i.detail, i.count) for i in estimate.items] == [
        ("services.api", "standard", 3), ("stores.chroma", "standard", 1), ("stores.chroma.data", "20 GB", 1)]
    assert estimate.monthly == pytest.approx(3 * 25 + 25 + 20 * 0.25)
    railway = pricing.estimate(spec, p("railway"))
    assert railway.monthly == pytest.approx(3 * 30 + 30 + 20 * 0.15)


def test_a_plan_minimum_is_added(tmp_path):
    (tmp_path / "streamdeploy.yaml").write_text(
        "version: 1\nname: tiny\nservices:\n  api:\n    start: uvicorn m:app --host 0.0.0.0 --port $PORT\n    port: 8000\n"
        "    resources: {cpu: 0.1, memory: 128MB}\n", encoding="utf-8")
    spec = loader.load(tmp_path / "streamdeploy.yaml").spec
    estimate = pricing.estimate(spec, p("railway"))
    usage = 0.1 * 20 + 0.128 * 10
    assert estimate.items[-1].what == "plan minimum"
    assert estimate.items[-1].monthly == pytest.approx(5 - usage)
    assert estimate.monthly == pytest.approx(5)


def test_prices_carry_their_dates_and_sources():
    spec = loader.load(EXAMPLES / "app" / "streamdeploy.yaml").spec
    render = pricing.estimate(spec, p("render"))
    assert render.as_of == "2026-01-22"  # the oldest price used: the disk
    assert "https://render.com/pricing" in render.sources
    assert any("third-party" in note for note in render.notes)
    assert pricing.estimate(spec, p("railway")).as_of == "2026-08-21"
    data = render.as_dict()
    assert data["monthly"] == 7.25 and data["currency"] == "USD" and data["prices_as_of"] == "2026-01-22"


# ----------------------------------------------------------------------------- verdicts


def test_compare_on_the_example_app():
    results = {v.platform.name: v for v in compare.verdicts(loader.load(EXAMPLES / "app" / "streamdeploy.yaml"),
                                                             today=TODAY)}
    infeasible = {name for name, v in results.items() if not v.feasible}
    assert infeasible == {"digitalocean", "cloudrun", "apprunner"}
    reasons = {name: {f.rule for f in results[name].blocking} for name in infeasible}
    assert reasons == {
        "digitalocean": {"volume-unsupported"},
        "cloudrun": {"volume-network-only"},
        "apprunner": {"volume-unsupported", "stream-too-long"},
    }
    assert all(f.key.startswith("services.api") for name in infeasible for f in results[name].blocking)


def test_runnable_platforms_come_first_cheapest_first():
    results = compare.verdicts(loader.load(EXAMPLES / "app" / "streamdeploy.yaml"), today=TODAY)
    flags = [v.feasible for v in results]
    assert flags == sorted(flags, reverse=True)
    priced = [v.estimate.monthly for v in results if v.feasible and v.estimate.complete
              and v.platform.kind != "local"]
    assert priced == sorted(priced)
    assert results[-1].platform.name in {"digitalocean", "cloudrun", "apprunner"}


def test_verdicts_follow_the_facts(monkeypatch):
    # Give App Platform volumes in the data and it becomes a place this app can run.
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in capabilities._data().items()}
    do = dict(data["digitalocean"])
    do["facts"] = {**do["facts"], "volume": {**do["facts"]["volume"], "value": "block"}}
    data["digitalocean"] = do
    monkeypatch.setattr(capabilities, "_data", lambda: data)
    capabilities.platforms.cache_clear()
    try:
        results = {v.platform.name: v for v in compare.verdicts(
            loader.load(EXAMPLES / "app" / "streamdeploy.yaml"), today=TODAY)}
        assert results["digitalocean"].feasible
    finally:
        capabilities.platforms.cache_clear()


def test_an_error_on_every_platform_blocks_every_platform(tmp_path):
    (tmp_path / "requirements.txt").write_text("chromadb\nfastapi\n", encoding="utf-8")
    (tmp_path / "streamdeploy.yaml").write_text(
        "version: 1\nname: x\nservices:\n  api:\n    start: uvicorn m:app --host 0.0.0.0 --port $PORT --workers 2\n    port: 8000\n"
        "    volumes: [{name: chroma_data, mount: /data/chroma}]\n    resources: {memory: 1GB}\n", encoding="utf-8")
    results = compare.verdicts(loader.load(tmp_path / "streamdeploy.yaml"), today=TODAY)
    assert not any(v.feasible for v in results)
    assert all("workers-embedded-store" in {f.rule for f in v.blocking} for v in results)


def test_notes_say_cold_starts_and_scale_to_zero():
    results = {v.platform.name: v for v in compare.verdicts(loader.load(EXAMPLES / "app" / "streamdeploy.yaml"),
                                                             today=TODAY)}
    assert any(n.startswith("scale to zero: yes") for n in results["cloudrun"].notes)
    assert any("closed to new customers" in n for n in results["apprunner"].notes)
    assert "scale to zero: unknown" in results["digitalocean"].notes
