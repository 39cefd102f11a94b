"""Which release `rollback` returns to: one rule (streamdeploy/releases.py) for every target."""

from __future__ import annotations

import json

import pytest

from streamdeploy import exitcodes, releases
from streamdeploy.problems import ProblemsError
from streamdeploy.releases import Release


def history(*codes: str) -> list[Release]:
    return [Release(f"v{i}", code) for i, code in enumerate(codes, start=1)]


@pytest.mark.parametrize("codes,live,previous", [
    (["A"], "A", None),  # one release: nothing before it
    (["A", "A"], "A", None),  # the same code deployed again is the same release
    (["A", "B"], "B", "A"),
    (["A", "B", "C"], "C", "B"),
    (["A", "B", "A"], "A", None),  # rolled back to A: the release B is not gone back to
    (["A", "B", "C", "B"], "B", "A"),  # a second rollback goes one further back
    (["A", "B", "A", "C"], "C", "A"),  # after a rollback, new code: back to what was live then
    (["A", "B", "C", "A"], "A", None),  # `up` of older code (a git revert) is that release again
])
def test_going_back_is_a_stack(codes, live, previous):
    stack = releases.lineage(history(*codes))
    assert stack[-1].code == live
    found = releases.previous(history(*codes))
    assert (found.code if found else None) == previous


def test_the_newest_release_of_a_code_is_the_one_named():
    assert releases.previous(history("A", "B", "A", "B")).id == "v3"


def test_the_local_history_records_what_ran_and_knows_what_ran_before(tmp_path):
    assert releases.local_previous(tmp_path, "compose") == (None, None)
    releases.record(tmp_path, "compose", {"api": "x-api:1"})
    releases.record(tmp_path, "compose", {"api": "x-api:2"})
    releases.record(tmp_path, "docker", {"api": "x-api:9"})
    assert releases.local_previous(tmp_path, "compose") == ({"api": "x-api:2"}, {"api": "x-api:1"})
    assert releases.local_previous(tmp_path, "docker") == ({"api": "x-api:9"}, None)
    data = json.loads((tmp_path / releases.HISTORY).read_text())
    assert [e["images"] for e in data["targets"]["compose"]] == [{"api": "x-api:1"}, {"api": "x-api:2"}]
    assert (tmp_path / ".streamdeploy" / ".gitignore").read_text().startswith("*\n")  # never committed


def test_the_local_history_keeps_the_last_releases_and_survives_a_broken_file(tmp_path):
    for number in range(releases.KEEP + 5):
        releases.record(tmp_path, "compose", {"api": f"x-api:{number}"})
    assert len(releases.read(tmp_path, "compose")) == releases.KEEP
    (tmp_path / releases.HISTORY).write_text("{not json")
    assert releases.read(tmp_path, "compose") == []
    releases.record(tmp_path, "compose", {"api": "x-api:new"})  # starts again rather than failing
    assert releases.read(tmp_path, "compose") == [{"api": "x-api:new"}]


def test_no_earlier_release_is_exit_1_with_the_way_to_older_code(tmp_path):
    with pytest.raises(ProblemsError) as raised:
        raise releases.none_here("compose", {"api": "x-api:1"})
    assert raised.value.exit_code == exitcodes.FAILED
    [problem] = raised.value.problems
    assert "no earlier release" in problem.message and "x-api:1" in problem.message
    assert "git checkout" in problem.fix


# --- each platform's list, read the same way ----------------------------------------------------


def fly_release(version: int, image: str, status: str = "complete") -> dict:
    return {"Version": version, "Status": status, "ImageRef": f"registry.fly.io/app:{image}"}


def test_fly_goes_back_to_the_previous_complete_release_of_other_code():
    listed = [fly_release(4, "c", "failed"), fly_release(3, "b"), fly_release(2, "b"), fly_release(1, "a")]
    assert releases.fly_previous(listed) == ("registry.fly.io/app:c", "registry.fly.io/app:b")  # newest first
    listed[0]["Status"] = "interrupted"  # never ran: the Machines still run b
    assert releases.fly_previous(listed) == ("registry.fly.io/app:b", "registry.fly.io/app:a")
    assert releases.fly_previous([fly_release(1, "a")]) == ("registry.fly.io/app:a", None)
    assert releases.fly_previous({"error": "not a list"}) == (None, None)


def test_railway_goes_back_to_the_deployment_the_live_one_replaced():
    listed = [{"id": "d3", "status": "SUCCESS", "createdAt": "2026-08-22T10:00:03Z"},
              {"id": "d4", "status": "FAILED", "createdAt": "2026-08-22T10:00:04Z"},
              {"id": "d2", "status": "REMOVED", "createdAt": "2026-08-22T10:00:02Z"},
              {"id": "d1", "status": "REMOVED", "createdAt": "2026-08-22T10:00:01Z"}]
    live, before = releases.railway_previous(listed)
    assert live["id"] == "d3" and before["id"] == "d2"  # a failed one never went live
    assert releases.railway_previous(listed[:1]) == (listed[0], None)


def replica_set(service: str, image: str, revision: int, history: str = "") -> dict:
    annotations = {releases.REVISION: str(revision)}
    if history:
        annotations[releases.REVISION_HISTORY] = history
    return {"metadata": {"annotations": annotations, "ownerReferences": [{"kind": "Deployment", "name": service}]},
            "spec": {"template": {"spec": {"containers": [{"name": service, "image": image}]}}}}


def test_kubernetes_reads_the_revisions_each_replica_set_held():
    # A (1), B (2), back to A (3, the same ReplicaSet), C (4): back to A, never to B.
    sets = [replica_set("api", "app:a", 3, "1"), replica_set("api", "app:b", 2), replica_set("api", "app:c", 4),
            replica_set("worker", "work:x", 1)]
    assert releases.kubernetes_previous(sets, "api") == ("app:c", "app:a")
    assert releases.kubernetes_previous(sets, "worker") == ("work:x", None)
    assert releases.kubernetes_previous(sets, "admin") == (None, None)


def test_render_reads_the_deploys_that_went_live_by_their_commit():
    def deploy(number: int, commit: str, status: str = "deactivated", trigger: str = "api") -> dict:
        return {"id": f"dep-{number}", "status": status, "trigger": trigger, "commit": {"id": commit},
                "createdAt": f"2026-08-22T10:00:0{number}Z"}

    listed = [deploy(4, "c", "build_failed"), deploy(3, "b", "live"), deploy(2, "a"), deploy(1, "a")]
    live, before = releases.render_previous(listed)
    assert (live["id"], before["id"]) == ("dep-3", "dep-2")  # a failed build never went live
    listed = [deploy(4, "a", "live", "rollback"), deploy(3, "b"), deploy(2, "a")]
    assert releases.render_previous(listed) == (listed[0], None)  # rolled back to a: nothing before it
