"""A user-facing problem: where it is, what is wrong, how to fix it.

Every error about the user's input is one of these, never a traceback.
"""

from __future__ import annotations

from streamdeploy import exitcodes
from streamdeploy.records import factory, record


@record(frozen=True)
class Problem:
    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    key: str | None = None  # dotted path, e.g. services.api.health.timeout
    fix: str | None = None

    @property
    def where(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@record
class ProblemsError(Exception):
    """One or more problems that stop the command; exit code says what kind."""

    problems: list[Problem] = factory(list)
    exit_code: int = exitcodes.BAD_INPUT

    def __str__(self) -> str:
        return "; ".join(p.message for p in self.problems)


def fail(message: str, *, fix: str | None = None, exit_code: int = exitcodes.BAD_INPUT, **where) -> ProblemsError:
    """A one-problem error, to ``raise fail(...)``."""
    return ProblemsError([Problem(message, fix=fix, **where)], exit_code)
