"""Property-based fuzzing: descriptions mutated from every example (and the corpus's expected
descriptions) through validate, check, render and plan, in-process.

Whatever the description says: no traceback, an exit code from the README's table, one JSON
document on stdout with --json, FILE:LINE on every error about a key, nothing written when
the command fails, nothing written outside the project. Reproducible (derandomize, no
database); STREAMDEPLOY_FUZZ_SCALE=10 runs ten times as many cases locally.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the dev extra (make setup)")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzzing import Sandbox, check_invariants, invoke, strategies  # noqa: E402

SCALE = float(os.environ.get("STREAMDEPLOY_FUZZ_SCALE", "1"))
VALUES, DESCRIPTIONS, YAML_FEATURES = strategies()
RENDER_TARGETS = ["all", "docker", "fly", "railway", "render", "compose", "kubernetes", "cloudrun", "github"]
PLAN_TARGETS = ["local", "docker", "fly", "railway", "render", "compose", "kubernetes"]


def fuzz(examples: int):
    """A budget of cases, scaled; the per-test timeout grows with it (a scaled run is one test)."""
    return lambda test: pytest.mark.timeout(int(300 * max(1.0, SCALE)))(_settings(examples)(test))


def _settings(examples: int):
    return settings(max_examples=max(1, int(examples * SCALE)), derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much, HealthCheck.large_base_example],
                    print_blob=False)


@pytest.fixture(scope="module")
def box():
    with tempfile.TemporaryDirectory(prefix="streamdeploy-fuzz-") as folder:
        yield Sandbox(Path(folder))


def run(box: Sandbox, *command: str):
    before = box.snapshot()
    result = invoke(*command, cwd=box.svc)
    check_invariants(result, command, before, box.snapshot())
    event(f"{command[0]} exit {result.code}")  # --hypothesis-show-statistics: how deep cases go
    return result


@fuzz(2000)
@given(text=DESCRIPTIONS)
def test_validate_keeps_the_contract_for_any_mutated_description(box, text):
    box.reset(text)
    run(box, "validate", "--json")


@fuzz(600)
@given(text=DESCRIPTIONS, render_target=st.sampled_from(RENDER_TARGETS), plan_target=st.sampled_from(PLAN_TARGETS),
       force=st.booleans())
def test_every_command_keeps_the_contract_for_any_mutated_description(box, text, render_target, plan_target, force):
    box.reset(text)
    valid = run(box, "validate", "--json").code == 0
    run(box, "check", "--target", render_target, "--json")
    run(box, "render", "--target", render_target, *(["--force"] if force else []), "--json")
    run(box, "render", "--target", render_target, "--check")  # after a render: no drift or exit 1, no write
    run(box, "plan", "--target", plan_target, "--json")
    if not valid:  # a description validate refuses is refused by every command, the same way
        run(box, "render", "--target", render_target)


@fuzz(600)
@given(text=YAML_FEATURES, target=st.sampled_from(RENDER_TARGETS))
def test_anchors_merge_keys_and_tags_keep_the_contract(box, text, target):
    box.reset(text)
    run(box, "validate", "--json")
    run(box, "render", "--target", target, "--json")
