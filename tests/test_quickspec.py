"""quickspec builds the description's objects without pydantic only where pydantic agrees.

The oracle is the models themselves: for every description quickspec accepts, pydantic
must accept it too and build the same values, of the same types, in the same classes' kinds.
Descriptions come from every example and corpus app, then thousands of mutations of them
(the fuzzer's, plus gentle ones that stay valid and go deep).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES, REPO
from streamdeploy import description, loader, quickspec

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the dev extra (make setup)")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzzing import GENTLE, UNIT_LIKE, _mutate, _paths, example_data, strategies  # noqa: E402

DESCRIPTIONS = sorted(EXAMPLES.glob("*/streamdeploy.yaml")) + sorted((REPO / "tests" / "corpus" / "expected").glob("*.yaml"))


def _parsed(text: str) -> object:
    return loader.parse_yaml(text, "streamdeploy.yaml")[0]


def assert_same(quick: object, model: object, where: str = "spec") -> None:
    """The same values, of the same types, all the way down."""
    from pydantic import BaseModel

    if isinstance(model, BaseModel):
        assert isinstance(quick, quickspec.QuickModel), where
        assert type(quick).__name__ == type(model).__name__, where
        kinds = [k for k in type(model).__mro__ if issubclass(k, description.Kind) and k.__module__ == description.__name__]
        assert all(isinstance(quick, k) for k in kinds), f"{where}: not a {kinds}"
        assert list(type(quick).model_fields) == list(type(model).model_fields), where
        for name in type(model).model_fields:
            assert_same(getattr(quick, name), getattr(model, name), f"{where}.{name}")
        return
    assert type(quick) is type(model), f"{where}: {type(quick).__name__} vs {type(model).__name__}"
    if isinstance(model, list):
        assert len(quick) == len(model), where
        for i, (q, m) in enumerate(zip(quick, model)):
            assert_same(q, m, f"{where}[{i}]")
    elif isinstance(model, dict):
        assert list(quick) == list(model), where
        for key in model:
            assert_same(quick[key], model[key], f"{where}[{key!r}]")
    elif isinstance(model, float) and math.isnan(model):
        assert math.isnan(quick), where
    else:
        assert quick == model, where


def agrees(data: object) -> bool:
    """True when quickspec vouched for it (and pydantic agreed); False when it left it to pydantic."""
    from pydantic import ValidationError

    from streamdeploy.spec import Spec

    before = copy.deepcopy(data)
    quick = quickspec.build(data)
    assert data == before, "quickspec changed its input"
    if quick is None:
        return False
    try:
        model = Spec.model_validate(data)
    except ValidationError as error:  # pragma: no cover - the failure this test exists for
        pytest.fail(f"quickspec accepted what pydantic refuses: {error}")
    assert_same(quick, model)
    assert quick.model_dump() == model.model_dump()
    assert quick.model_dump(by_alias=True) == model.model_dump(by_alias=True)
    return True


@pytest.mark.parametrize("path", DESCRIPTIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_and_corpus_description_takes_the_quick_path(path: Path):
    assert agrees(_parsed(path.read_text(encoding="utf-8"))), "a valid description pydantic had to build"


def test_what_it_does_not_vouch_for_goes_to_pydantic():
    base = _parsed((EXAMPLES / "app" / "streamdeploy.yaml").read_text())
    api = next(iter(base["services"]))
    doubtful = [
        ("port", "8000"),  # pydantic converts text to a number
        ("port", 8000.0),  # and a whole float
        ("port", True),
        ("replicas", 0),  # out of range: pydantic's message
        ("start", ""),
        ("public", "yes"),  # pydantic's lax bool
        ("nonsense", 1),  # an unknown key
        ("secret_entries", []),  # the attribute's name where the file says `secrets`
    ]
    for key, value in doubtful:
        data = copy.deepcopy(base)
        data["services"][api][key] = value
        assert quickspec.build(data) is None, (key, value)
    data = copy.deepcopy(base)
    data["name"] = "stream-gen-ui\n"  # Python's `$` matches before the newline; Rust's does not
    assert quickspec.build(data) is None
    data["name"] = "ståll"  # non-ASCII text: pydantic's regex decides
    assert quickspec.build(data) is None


def test_quick_objects_are_read_only_and_behave_like_the_models():
    quick = quickspec.build(_parsed((EXAMPLES / "multi" / "streamdeploy.yaml").read_text()))
    from streamdeploy.spec import Spec

    model = Spec.model_validate(_parsed((EXAMPLES / "multi" / "streamdeploy.yaml").read_text()))
    with pytest.raises(AttributeError):
        quick.name = "other"
    assert quick == quickspec.build(_parsed((EXAMPLES / "multi" / "streamdeploy.yaml").read_text()))
    for name, service in model.services.items():
        twin = quick.services[name]
        for prop in ("secrets", "required_secrets", "optional_secrets", "secret_groups", "plain_env", "is_web",
                     "workers", "graceful_shutdown"):
            assert getattr(twin, prop) == getattr(service, prop), (name, prop)
        assert twin.described_env() == service.described_env()
        assert list(twin.env_refs) == list(service.env_refs)
    assert quick.first_service == model.first_service
    assert description.target_names(quick.targets) == description.target_names(model.targets)
    assert quick.model_dump_json() == model.model_dump_json()
    fly = {"fly": quick.targets.fly.model_copy(update={"snapshot_retention": 30})}
    twin = {"fly": model.targets.fly.model_copy(update={"snapshot_retention": 30})}
    assert_same(quick.targets.model_copy(update=fly), model.targets.model_copy(update=twin))
    assert quick.targets.fly.snapshot_retention is None  # the copy, not the original
    with pytest.raises(AttributeError):
        quick.model_copy(update={"nonsense": 1})


def _gentle_mutations():
    """Changes that mostly keep a description valid, so the quick path is exercised deep down."""
    names = sorted(example_data())
    values, _, _ = strategies()

    @st.composite
    def mutated(draw) -> object:
        data = copy.deepcopy(example_data()[draw(st.sampled_from(names))])
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            where = draw(st.sampled_from(_paths(data)[1:] or [()]))
            if draw(st.integers(0, 3)) == 0:
                data = _mutate(draw, data, values)  # the fuzzer's own: hostile values too
                continue
            if not where:
                continue
            parent = data
            for part in where[:-1]:
                parent = parent[part]
            old = parent[where[-1]]
            pool = [old, *GENTLE, *UNIT_LIKE[:4], "x", "/x", "a" * 300, None, [], {}]
            if isinstance(old, (int, float)) and not isinstance(old, bool):
                pool += [old + 1, -old, old * 1000, float(old), int(old)]
            if isinstance(old, str):
                pool += [old.upper(), old + "1", old[:1], " " + old]
            parent[where[-1]] = draw(st.sampled_from(pool))
        return data

    return mutated()


@settings(max_examples=1500, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck), print_blob=False)
@given(data=_gentle_mutations())
def test_quickspec_agrees_with_pydantic_on_mutated_descriptions(data):
    event("quick" if agrees(data) else "pydantic")


def test_the_quick_path_is_taken_often_under_mutation():
    """The property test above is only worth something if many cases take the quick path."""
    from hypothesis import find  # noqa: F401 (imported to be sure hypothesis is whole)

    strategy = _gentle_mutations()
    taken = total = 0

    @settings(max_examples=300, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(data=strategy)
    def count(data):
        nonlocal taken, total
        total += 1
        taken += quickspec.build(data) is not None

    count()
    assert total >= 100 and taken / total > 0.1, (taken, total)


def test_loader_gives_quick_objects_and_never_imports_pydantic_for_them(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from streamdeploy import loader; "
            f"l = loader.load({str(EXAMPLES / 'app' / 'streamdeploy.yaml')!r}); "
            "from streamdeploy import quickspec; assert isinstance(l.spec, quickspec.QuickModel); "
            "assert 'pydantic' not in sys.modules, sorted(m for m in sys.modules if 'pydantic' in m)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_a_doubtful_description_still_gets_pydantic_s_message(tmp_path):
    (tmp_path / ".git").mkdir()
    text = (EXAMPLES / "app" / "streamdeploy.yaml").read_text()
    data = yaml.safe_load(text)
    api = next(iter(data["services"]))
    data["services"][api]["replicas"] = 0
    path = tmp_path / "streamdeploy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(loader.ProblemsError) as caught:
        loader.load(path)
    assert any("replicas" in p.key and p.line for p in caught.value.problems)
