"""streamdeploy.records against the stdlib dataclass, its oracle.

Every ``@record`` class in streamdeploy is rebuilt as a real dataclass from the same fields and
defaults, and the two must behave alike on sample instances: repr, ==, hash, frozen assignment,
replace, defaults and factories, and the TypeErrors of a wrong call (message for message).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

import streamdeploy
from conftest import EXAMPLES, REPO
from streamdeploy import records
from streamdeploy.records import FrozenInstanceError, factory, record

# the modules on the render/validate/check path whose classes were dataclasses (issue 16)
CONVERTED = ["quickflags", "problems", "loader", "writer", "capabilities", "pricing", "targets.base",
             "targets.peers", "targets.docker", "targets.railway", "targets.render", "targets.stores"]


def record_classes() -> list[type]:
    """Every record class defined in a streamdeploy module (each module imported)."""
    found = []
    for info in pkgutil.walk_packages(streamdeploy.__path__, "streamdeploy."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        found += [value for value in vars(module).values()
                  if isinstance(value, type) and value.__module__ == info.name and "__record_fields__" in vars(value)]
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


RECORDS = record_classes()


def oracle(cls: type) -> type:
    """The dataclass ``cls`` was: its own annotations in order, the same defaults and factories."""
    own = []
    for name in cls.__dict__["__annotations__"]:
        default = cls.__record_defaults__.get(name, dataclasses.MISSING)
        if isinstance(default, factory):
            own.append((name, "object", dataclasses.field(default_factory=default.make)))
        elif default is dataclasses.MISSING:
            own.append((name, "object"))
        else:
            own.append((name, "object", dataclasses.field(default=default)))
    return dataclasses.make_dataclass(cls.__name__, own, bases=cls.__bases__, frozen=cls.__record_frozen__,
                                      namespace={"__qualname__": cls.__qualname__})


def samples(names: tuple[str, ...], salt: int = 0) -> list:
    """Hashable values of assorted types, one per field; ``salt`` makes another set."""
    kinds = [lambda i: f"text {i}'s \"quoted\"", lambda i: i, lambda i: (i, "x", None), lambda i: None,
             lambda i: frozenset({i}), lambda i: 1.5 * i, lambda i: Path(f"/tmp/{i}"), lambda i: i % 2 == 0]
    return [kinds[(at + salt) % len(kinds)](at + 10 * salt) for at in range(len(names))]


def required(cls: type) -> tuple[str, ...]:
    return tuple(name for name in records.fields(cls) if name not in cls.__record_defaults__)


def hashed(obj) -> int | str:
    try:
        return hash(obj)
    except TypeError as error:  # a frozen one holding a dict from its factory
        return str(error)


def raised(make) -> str:
    with pytest.raises(TypeError) as error:
        make()
    return str(error.value)


def test_every_class_on_the_start_up_path_is_a_record():
    modules = {cls.__module__ for cls in RECORDS}
    assert {f"streamdeploy.{name}" for name in CONVERTED} <= modules
    assert len(RECORDS) >= 34
    for name in CONVERTED:
        module = importlib.import_module(f"streamdeploy.{name}")
        assert not [v for v in vars(module).values() if dataclasses.is_dataclass(v)
                    and getattr(v, "__module__", None) == module.__name__], name


@pytest.fixture(params=RECORDS, ids=lambda cls: f"{cls.__module__.removeprefix('streamdeploy.')}.{cls.__qualname__}")
def pair(request) -> tuple[type, type]:
    return request.param, oracle(request.param)


def test_the_fields_are_the_annotations_in_order(pair):
    cls, dc = pair
    assert records.fields(cls) == tuple(f.name for f in dataclasses.fields(dc)) == cls.__match_args__ == dc.__match_args__
    assert records.fields(cls(*samples(records.fields(cls)))) == records.fields(cls)


def test_repr_eq_and_hash_are_the_dataclass_ones(pair):
    cls, dc = pair
    names = records.fields(cls)
    for salt in (0, 1):
        values = samples(names, salt)
        for args, kwargs in ((values, {}), ((), dict(zip(names, values))),
                             (values[:len(required(cls))], {})):  # the defaults filled in
            mine, theirs = cls(*args, **kwargs), dc(*args, **kwargs)
            assert repr(mine) == repr(theirs)
            assert (mine == cls(*args, **kwargs)) is (theirs == dc(*args, **kwargs)) is True
            assert mine.__eq__(theirs) is NotImplemented and theirs.__eq__(mine) is NotImplemented
            assert mine != theirs and mine.__eq__(object()) is NotImplemented
            assert list(vars(mine)) == list(vars(theirs))  # as_dict() keeps the field order
            if cls.__record_frozen__:
                assert hashed(mine) == hashed(theirs) == hashed(cls(*args, **kwargs))
    other = cls(*samples(names, 1))
    assert (cls(*samples(names)) == other) is (dc(*samples(names)) == dc(*samples(names, 1)))
    assert (cls.__hash__ is None) is (dc.__hash__ is None) is (not cls.__record_frozen__)


def test_frozen_ones_refuse_assignment(pair):
    cls, dc = pair
    names = records.fields(cls)
    mine, theirs = cls(*samples(names)), dc(*samples(names))
    for obj in (mine, theirs):
        for name in (*names[:2], "not_a_field"):
            if cls.__record_frozen__:
                with pytest.raises(AttributeError, match=f"cannot assign to field '{name}'"):
                    setattr(obj, name, 1)
                with pytest.raises(AttributeError, match=f"cannot delete field '{name}'"):
                    delattr(obj, name)
            else:
                setattr(obj, name, 1)
                assert getattr(obj, name) == 1
    if cls.__record_frozen__:
        with pytest.raises(FrozenInstanceError):
            setattr(mine, names[0], 1)
    assert repr(mine) == repr(theirs)


def test_replace_is_dataclasses_replace(pair):
    cls, dc = pair
    names = records.fields(cls)
    mine, theirs = cls(*samples(names)), dc(*samples(names))
    for name, value in zip(names, samples(names, 2)):
        changed = records.replace(mine, **{name: value})
        assert repr(changed) == repr(dataclasses.replace(theirs, **{name: value}))
        assert type(changed) is cls and getattr(changed, name) == value
    assert repr(records.replace(mine)) == repr(mine) and records.replace(mine) is not mine
    assert raised(lambda: records.replace(mine, nope=1)) == raised(lambda: dataclasses.replace(theirs, nope=1))


def test_defaults_and_factories(pair):
    cls, dc = pair
    needed = samples(required(cls))
    first, second, theirs = cls(*needed), cls(*needed), dc(*needed)
    for name, default in cls.__record_defaults__.items():
        assert getattr(first, name) == getattr(theirs, name)
        if isinstance(default, factory):
            assert getattr(first, name) is not getattr(second, name)  # a fresh one each time
            assert name not in vars(cls) and name not in vars(dc)
        else:
            assert getattr(first, name) is default and getattr(cls, name) is getattr(dc, name)


def test_a_wrong_call_raises_the_same_type_error(pair):
    cls, dc = pair
    names = records.fields(cls)
    values = samples(names)
    calls = [((*values, "extra"), {}), (values, {"unexpected": 1}), ((), {"unexpected": 1})]
    if names:
        calls.append((values[:1], {names[0]: 1}))  # multiple values
    for cut in range(len(required(cls))):
        calls.append((values[:cut], {}))  # missing
        calls.append(((), dict(zip(names[cut + 1:], values[cut + 1:]))))
    for args, kwargs in calls:
        assert raised(lambda: cls(*args, **kwargs)) == raised(lambda: dc(*args, **kwargs)), (args, kwargs)


def test_problems_error_is_still_an_exception():
    from streamdeploy.problems import Problem, ProblemsError

    error = ProblemsError([Problem("bad")], 3)
    assert isinstance(error, Exception) and error.exit_code == 3 and error.problems == [Problem("bad")]
    assert repr(error) == "ProblemsError(problems=[Problem(message='bad', file=None, line=None, column=None, " \
                          "key=None, fix=None)], exit_code=3)"
    with pytest.raises(ProblemsError) as caught:
        raise error
    assert caught.value is error and ProblemsError().problems == []


# --- records beyond what the converted classes use, against dataclass ----------------------------


def both(body: dict, *, frozen: bool = False, bases: tuple = ()) -> tuple[type, type]:
    """The same class body as a record and as a dataclass (a factory becomes a default_factory)."""
    as_dataclass = {name: dataclasses.field(default_factory=value.make) if isinstance(value, factory) else value
                    for name, value in body.items()}
    mine = record(type("Thing", bases[:1], dict(body)), frozen=frozen)
    theirs = dataclasses.dataclass(type("Thing", bases[1:], as_dataclass), frozen=frozen)
    return mine, theirs


def test_base_fields_come_first_and_a_redefined_one_keeps_its_place():
    @record
    class Base:
        a: int
        b: int = 2

    @record
    class Child(Base):
        c: int = 3
        a: int = 10

    @dataclasses.dataclass
    class DBase:
        a: int
        b: int = 2

    @dataclasses.dataclass
    class DChild(DBase):
        c: int = 3
        a: int = 10

    assert records.fields(Child) == ("a", "b", "c")
    assert repr(Child()).partition("(")[2] == repr(DChild()).partition("(")[2] == "a=10, b=2, c=3)"
    assert Child(1, 2, 3) != Base(1, 2)
    with pytest.raises(TypeError, match="cannot inherit"):
        record(type("Frozen", (Base,), {}), frozen=True)


def test_class_vars_methods_and_post_init():
    @record(frozen=True)
    class Thing:
        kind: ClassVar[str] = "thing"
        a: int
        b: list = factory(list)

        def __post_init__(self):
            self.b.append(self.a)

        def __repr__(self):
            return "mine"

    assert records.fields(Thing) == ("a", "b") and Thing.kind == "thing"
    assert Thing(1).b == [1] and repr(Thing(1)) == "mine"


def test_what_dataclass_refuses_record_refuses():
    with pytest.raises(ValueError, match="mutable default"):
        record(type("Thing", (), {"__annotations__": {"a": "list"}, "a": []}))
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        record(type("Thing", (), {"__annotations__": {"a": "int", "b": "int"}, "a": 1}))


def test_a_cycle_prints_dots_like_dataclass():
    mine, theirs = both({"__annotations__": {"items": "list"}, "items": factory(list)})
    a, b = mine(), theirs()
    a.items.append(a)
    b.items.append(b)
    assert repr(a) == repr(b) == "Thing(items=[...])"


def test_no_fields():
    mine, theirs = both({"__annotations__": {}}, frozen=True)
    assert repr(mine()) == repr(theirs()) == "Thing()" and mine() == mine() and hash(mine()) == hash(theirs())
    assert raised(lambda: mine(1)) == raised(lambda: theirs(1))


def test_records_imports_nothing_slow():
    code = "import sys, streamdeploy.records; print(sorted(m for m in sys.modules if m in ('dataclasses', 'inspect', 'typing')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.stdout.strip() == "[]", done.stderr


# --- the start-up path ------------------------------------------------------------------------


def after(*argv: str) -> dict:
    """Run streamdeploy ``argv`` in a fresh interpreter: the modules it loaded, and which module
    made each dataclass (``dataclasses`` is spied on only once something imports it)."""
    probe = f"""
import json, sys
made = []

class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "dataclasses":
            sys.meta_path.remove(self)
            import dataclasses
            real = dataclasses._process_class
            def spy(cls, *args, **kwargs):
                made.append(cls.__module__)
                return real(cls, *args, **kwargs)
            dataclasses._process_class = spy
            return dataclasses.__spec__

sys.meta_path.insert(0, Spy())
sys.argv = ['streamdeploy', *{list(argv)!r}]
from streamdeploy.launcher import main
try:
    main()
except SystemExit:
    pass
print(json.dumps({{"modules": sorted(sys.modules), "dataclasses": sorted(set(made))}}))
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO,
                          env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


DESCRIPTION = str(EXAMPLES / "app" / "streamdeploy.yaml")


def test_validate_never_imports_dataclasses():
    loaded = after("validate", "-f", DESCRIPTION)
    assert "streamdeploy.loader" in loaded["modules"]
    assert "dataclasses" not in loaded["modules"] and "inspect" not in loaded["modules"]


@pytest.mark.parametrize("argv", [["render", "--target", "all", "--stdout"], ["check"]], ids=["render", "check"])
def test_render_and_check_make_no_dataclass_of_their_own(argv):
    """streamdeploy.detect (still dataclasses, to be taken off this path) imports dataclasses,
    and `check` prints with rich, whose Console makes two; no other module makes one."""
    loaded = after(*argv, "-f", DESCRIPTION)
    assert "streamdeploy.targets.base" in loaded["modules"]
    assert [m for m in loaded["dataclasses"] if m.startswith("streamdeploy.")] in ([], ["streamdeploy.detect"])
