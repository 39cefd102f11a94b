"""``@record``: the part of ``@dataclass`` that streamdeploy's start-up path uses, made cheaply.

Why not dataclasses (measured here, Python 3.11): ``import dataclasses`` costs 14-20 ms, most
of it ``inspect``; and ``@dataclass`` costs ~1.2 ms a class, because it writes the source of
``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__`` and ``__delattr__`` and
``exec()``s it. ``render --target all`` decorated 49 classes (57 ms), 34 of them outside
``detect``; as records those 34 take ~1.6 ms. A record's methods are closures over the class's
field names, made without exec or compile.

What a record does, the same way a dataclass does (tests/test_records.py holds each converted
class to a real dataclass made from the same fields):

- ``__init__`` takes the fields positionally or by keyword, in annotation order, a record base
  class's fields first; a field that is redefined keeps its place and takes the new default;
- defaults, and ``factory(list)`` for a fresh object per instance (``field(default_factory=list)``);
- ``__post_init__()`` is called after ``__init__`` when the class has one;
- ``__repr__`` is ``Name(a=1, b='x')``, byte for byte what a dataclass prints;
- ``__eq__`` is True for the same class with equal field values, NotImplemented for another class;
- ``frozen=True``: assigning or deleting an attribute raises :class:`FrozenInstanceError`, and
  ``__hash__`` is the hash of the field values; a record that is not frozen is unhashable, like a
  dataclass (eq without frozen);
- ``__match_args__``; methods the class defines itself are kept (as dataclass keeps them).

Annotations are only read (``from __future__ import annotations`` makes them strings), never
evaluated: no ``typing`` at run time. One that names ``ClassVar`` is not a field. Not here:
``field(repr=False, compare=False, kw_only=True)``, ``InitVar``, ``order=True``, ``slots=True``,
``asdict`` -- nothing on that path uses them; a class that needs them stays a dataclass.

Nothing from streamdeploy is imported here.
"""

from _thread import get_ident
from operator import attrgetter

__all__ = ["FrozenInstanceError", "factory", "fields", "record", "replace"]


class FrozenInstanceError(AttributeError):
    """Assigning to (or deleting) a field of a frozen record (as dataclasses.FrozenInstanceError)."""


class factory:
    """A default made fresh for each instance: ``items: list[str] = factory(list)``."""

    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make

    def __repr__(self) -> str:
        return f"factory({self.make!r})"


_MISSING = object()
_repr_running = set()  # (id, thread) of the records being repr'd: a cycle prints "..." (reprlib.recursive_repr)


def record(cls=None, /, *, frozen: bool = False):
    """Class decorator: ``@record`` or ``@record(frozen=True)``."""
    if cls is None:
        return lambda cls: _build(cls, frozen)
    return _build(cls, frozen)


def fields(cls_or_obj) -> tuple[str, ...]:
    """The field names of a record class or instance, in ``__init__`` order."""
    try:
        return cls_or_obj.__record_fields__
    except AttributeError:
        raise TypeError("must be called with a record type or instance") from None


def replace(obj, /, **changes):
    """A new record like ``obj`` with ``changes`` (as dataclasses.replace)."""
    for name in fields(obj):
        if name not in changes:
            changes[name] = getattr(obj, name)
    return obj.__class__(**changes)


def _build(cls, frozen: bool):
    own = cls.__dict__
    defaults = {}  # name -> default or factory; the order of insertion is the order of the fields
    for base in reversed(cls.__mro__[1:]):
        if "__record_fields__" in base.__dict__:
            if base.__record_frozen__ != frozen:
                raise TypeError("cannot inherit " + ("frozen record from a non-frozen one" if frozen
                                                     else "non-frozen record from a frozen one"))
            base_defaults = base.__record_defaults__
            for name in base.__record_fields__:
                defaults[name] = base_defaults.get(name, _MISSING)
    for name, annotation in own.get("__annotations__", {}).items():
        if isinstance(annotation, str) and annotation.partition("[")[0] in ("ClassVar", "typing.ClassVar"):
            continue
        default = own.get(name, _MISSING)
        if isinstance(default, factory):
            delattr(cls, name)  # as dataclass does for a default_factory: no class attribute
        elif default is not _MISSING and type(default).__hash__ is None:
            raise ValueError(f"mutable default {type(default)} for field {name} is not allowed: use factory")
        defaults[name] = default  # a field a base defined keeps its place (a dict keeps a key's)
    names = tuple(defaults)
    defaults = {name: defaults[name] for name in names if defaults[name] is not _MISSING}
    required = 0
    for name in names:
        if name in defaults:
            break
        required += 1
    for name in names[required:]:
        if name not in defaults:
            raise TypeError(f"non-default argument {name!r} follows default argument")

    cls.__record_fields__ = names
    cls.__record_defaults__ = defaults
    cls.__record_frozen__ = frozen
    values = _getter(names)
    qualname = cls.__qualname__
    init = _init(cls, names, defaults, required, frozen, hasattr(cls, "__post_init__"))

    def __repr__(self):
        key = (id(self), get_ident())
        if key in _repr_running:
            return "..."
        _repr_running.add(key)
        try:
            return (self.__class__.__qualname__ + "("
                    + ", ".join([f"{name}={value!r}" for name, value in zip(names, values(self))]) + ")")
        finally:
            _repr_running.discard(key)

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented

    methods = {"__init__": init, "__repr__": __repr__, "__eq__": __eq__}
    if frozen:
        field_set = frozenset(names)

        def __setattr__(self, name, value):
            if type(self) is cls or name in field_set:
                raise FrozenInstanceError(f"cannot assign to field {name!r}")
            super(cls, self).__setattr__(name, value)

        def __delattr__(self, name):
            if type(self) is cls or name in field_set:
                raise FrozenInstanceError(f"cannot delete field {name!r}")
            super(cls, self).__delattr__(name)

        for name, method in (("__setattr__", __setattr__), ("__delattr__", __delattr__)):
            if name in own:
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
            methods[name] = method
    for name, method in methods.items():
        if name not in own:
            method.__qualname__ = f"{qualname}.{name}"
            setattr(cls, name, method)

    # dataclass's rule for eq=True: a hash the class wrote itself stays; frozen hashes the fields;
    # otherwise the instances are unhashable (defining __eq__ in a class body sets __hash__ = None)
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    if not explicit_hash:
        if frozen:
            def __hash__(self):
                return hash(values(self))
            __hash__.__qualname__ = f"{qualname}.__hash__"
            cls.__hash__ = __hash__
        else:
            cls.__hash__ = None
    if "__match_args__" not in own:
        cls.__match_args__ = names
    return cls


def _getter(names: tuple):
    """A function: instance -> the tuple of its field values (attrgetter, in C)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _init(cls, names: tuple, defaults: dict, required: int, frozen: bool, post_init: bool):
    """``__init__(self, <names>)`` as a closure; its TypeErrors read as Python's own."""
    count = len(names)
    qualname = cls.__qualname__
    set_field = object.__setattr__ if frozen else setattr  # a frozen class's own __setattr__ refuses

    def __init__(self, *args, **kwargs):
        given = len(args)
        if given > count:
            takes = f"{count + 1}" if required == count else f"from {required + 1} to {count + 1}"
            raise TypeError(f"{qualname}.__init__() takes {takes} positional argument"
                            f"{'' if count == 0 else 's'} but {given + 1} were given")
        if given == count and not kwargs:
            values = args
        else:
            values = list(args)
            missing = []
            for name in names[given:]:
                if name in kwargs:
                    values.append(kwargs.pop(name))
                    continue
                default = defaults.get(name, _MISSING)
                if default is _MISSING:
                    missing.append(name)
                else:
                    values.append(default.make() if default.__class__ is factory else default)
            for name in kwargs:
                if name in names:
                    raise TypeError(f"{qualname}.__init__() got multiple values for argument {name!r}")
                raise TypeError(f"{qualname}.__init__() got an unexpected keyword argument {name!r}")
            if missing:
                quoted = [repr(name) for name in missing]
                listed = (quoted[0] if len(quoted) == 1 else f"{quoted[0]} and {quoted[1]}" if len(quoted) == 2
                          else ", ".join(quoted[:-1]) + f", and {quoted[-1]}")
                raise TypeError(f"{qualname}.__init__() missing {len(missing)} required positional argument"
                                f"{'s' if len(missing) > 1 else ''}: {listed}")
        for name, value in zip(names, values):
            set_field(self, name, value)
        if post_init:
            self.__post_init__()

    return __init__
