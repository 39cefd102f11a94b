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
