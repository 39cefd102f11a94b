"""Which Python a local run uses, and how its dependencies get into the virtualenv.

- The interpreter: the version the description names (``targets.local.python``, else
  ``build.python``), found as this interpreter, ``python3.X`` on PATH, a pyenv version or
  a uv-managed one. Not installed: `up` stops and says how to get it (exit 3).
- The installer: uv when it is installed (much faster, and the only one that reads
  ``uv.lock``), else ``python -m venv`` + pip.
- What is installed, and what pins it: ``uv.lock`` (``uv sync --locked``), ``poetry.lock``
  (its pins for the main dependencies, as a requirements file), a requirements file as
  written (pins and hashes included), or ``pyproject.toml``: the project itself when it
  is a package, its dependencies only when it is not (an app without ``[build-system]``).

All of it is data for the plan; the helpers that write a requirements file run as steps
(``python -m streamdeploy.targets.local_python requirements ...``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from streamdeploy import exitcodes
from streamdeploy.problems import fail
from streamdeploy.targets.base import Note, Step

HELPER = (sys.executable, "-m", "streamdeploy.targets.local_python")
INSTALL_TIMEOUT = 1800.0


# --- the interpreter ---------------------------------------------------------------------


@dataclass(frozen=True)
class Interpreter:
    path: Path
    version: str  # "3.12"
    source: str  # where it was found, for the step's description

    def matches(self) -> tuple[str, ...]:
        """A probe that exits 0 when a venv's python is this version."""
        major, minor = self.version.split(".")
        return ("-c", f"import sys; sys.exit(sys.version_info[:2] != ({major}, {minor}))")


def current_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _uv_python_dir() -> Path:
    given = os.environ.get("UV_PYTHON_INSTALL_DIR")
    if given:
        return Path(given)
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "uv" / "python"


def _patch(path: Path) -> tuple[int, ...]:
    """(3, 12, 4) from .../3.12.4/... or cpython-3.12.4-linux...: the newest patch wins."""
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", str(path))
    return tuple(int(g) for g in match.groups()) if match else (0,)


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_python(version: str) -> Interpreter | None:
    """Python ``version`` ("3.12") on this machine, or None."""
    if current_version() == version:
        return Interpreter(Path(sys.executable), version, "this interpreter")
    name = f"python{version}"
    pyenv = _pyenv_root()
    # pyenv's shims answer for every version it knows and fail for the ones not selected:
    # look past them on PATH, and into pyenv's versions directly.
    dirs = [d for d in os.environ.get("PATH", os.defpath).split(os.pathsep)
            if d and not d.rstrip("/").endswith("shims")]
    found = shutil.which(name, path=os.pathsep.join(dirs))
    if found:
        return Interpreter(Path(found), version, "PATH")
    for source, pattern, root in (("pyenv", f"{version}.*/bin/{name}", pyenv / "versions"),
                                  ("uv", f"cpython-{version}.*/bin/{name}", _uv_python_dir())):
        # uv keeps free-threaded builds beside the others; the images run the regular one
        candidates = sorted((p for p in root.glob(pattern) if _executable(p) and "freethreaded" not in str(p)),
                            key=_patch, reverse=True) if root.is_dir() else []
        if candidates:
            return Interpreter(candidates[0], version, source)
    return None


def installed_versions() -> list[str]:
    """Every 3.x version find_python would find, for the message when one is missing."""
    found = {current_version()}
    for minor in range(8, 16):
        version = f"3.{minor}"
        if version not in found and find_python(version) is not None:
            found.add(version)
    return sorted(found, key=lambda v: int(v.split(".")[1]))


def choose(version: str, key: str) -> Interpreter:
    """The interpreter for ``version``, or the error `up` stops with (not ready: exit 3)."""
    found = find_python(version)
    if found is not None:
        return found
    have = installed_versions()
    uv = f"`uv python install {version}`, " if uv_binary() else ""
    raise fail(
        f"Python {version} ({key}) is not installed on this machine (found: {', '.join(have)})",
        key=key,
        fix=f"install it ({uv}`pyenv install {version}`, or your OS's python{version} package), or run "
            f"locally with one you have: `targets: {{local: {{python: \"{have[-1]}\"}}}}`",
        exit_code=exitcodes.NOT_READY,
    )


INSTALLER_ENV = "STREAMDEPLOY_INSTALLER"  # "pip" installs with pip even where uv is installed


def uv_binary() -> str | None:
    """uv on PATH, or beside this interpreter (the `uv` wheel installed with streamdeploy)."""
    if os.environ.get(INSTALLER_ENV, "").strip().lower() == "pip":
        return None
    found = shutil.which("uv")
    if found:
        return found
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if _executable(beside) else None


# --- what to install ---------------------------------------------------------------------


@dataclass(frozen=True)
class Install:
    """How one dependency file (and its lock) gets into a venv."""

    how: str  # a short phrase for the step: "uv.lock (uv sync --locked)"
    inputs: tuple[Path, ...]  # what the venv is built from: the digest hashes these
    notes: tuple[Note, ...] = ()
    pins: str | None = None  # "poetry" | "pyproject": a helper writes a requirements file first
    editable: bool = False  # install the project itself too (a package with [build-system])
    sync: bool = False  # uv sync from uv.lock
    package: bool = False  # the project is a package (uv sync installs it)


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}


def decide(context: Path, install: str, uv: str | None, key: str) -> Install:
    """What to install for ``build.install`` in ``context``, honouring a lock beside it."""
    path = context / install
    if not install.endswith(".toml"):
        return Install(f"{install} as written (pip -r)" if not uv else f"{install} as written (uv pip -r)", (path,))
    data = _read_toml(path)
    package = "build-system" in data
    uv_lock, poetry_lock = context / "uv.lock", context / "poetry.lock"
    notes: list[Note] = []
    if uv_lock.is_file():
        if uv:
            return Install("uv.lock (uv sync --locked)", (path, uv_lock), sync=True, package=package)
        notes.append(Note("local", "uv.lock is not honoured: pip cannot read it, so the dependencies are "
                                   "resolved again from pyproject.toml", key=key,
                          fix="install uv (`pip install uv`) and `up` installs exactly what uv.lock pins"))
    elif poetry_lock.is_file():
        return Install("poetry.lock (its pins for the main dependencies)", (path, poetry_lock), pins="poetry",
                       editable=package and _poetry_is_package(data))
    if package:
        return Install("the project (pip install -e .)" if not uv else "the project (uv pip install -e .)",
                       (path,), tuple(notes), editable=True)
    return Install("pyproject.toml's dependencies (not a package: no [build-system])", (path,), tuple(notes),
                   pins=None if uv else "pyproject")


def _poetry_is_package(data: dict) -> bool:
    poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
    return poetry.get("package-mode", True) is not False


@dataclass
class Build:
    """The steps that create and fill one venv (before build.commands)."""

    steps: list[Step] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


def venv_steps(venv: Path, interpreter: Interpreter, context: Path, cwd: str, install: str,
               uv: str | None, key: str, fresh, label: str) -> Build:
    """Create the venv with ``interpreter`` and install into it; ``fresh`` skips the install."""
    out = Build()
    python = venv / "bin" / "python"
    if uv:
        create = (uv, "venv", "--python", str(interpreter.path), "--clear", str(venv))
    else:
        create = (str(interpreter.path), "-m", "venv", "--clear", str(venv))
    from streamdeploy.targets.base import Probe

    out.steps.append(Step(
        argv=create,
        description=f"Creating virtualenv {label} (Python {interpreter.version} from {interpreter.source}, "
                    f"{'uv' if uv else 'venv'})",
        # the venv is made again when it is missing or holds another Python than the one named
        skip_if=Probe(argv=(str(python), *interpreter.matches()), skip_when="exit0"),
        timeout=300.0,
    ))
    plan = decide(context, install, uv, key)
    out.notes.extend(plan.notes)
    tool = "uv" if uv else "pip"
    pip = (uv, "pip", "install", "--python", str(python)) if uv else (
        str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off")
    hint = f"check {install}; {tool}'s output above names the package that failed"
    if plan.sync:
        argv = (uv, "sync", "--locked", "--no-dev", "--python", str(python))
        if not plan.package:
            argv += ("--no-install-project",)
        out.steps.append(Step(
            argv=argv, description=f"Installing {plan.how} into {label}", skip_if=fresh, cwd=cwd,
            env=(("UV_PROJECT_ENVIRONMENT", str(venv)),), timeout=INSTALL_TIMEOUT,
            hint="if uv says the lockfile needs to be updated, run `uv lock` and commit uv.lock"))
        return out
    targets: tuple[str, ...]
    if plan.pins is not None:
        pinned = venv / f"requirements.{plan.pins}.txt"
        out.steps.append(Step(
            argv=(*HELPER, "requirements", plan.pins, str(context / install), str(pinned)),
            description=f"Reading {plan.how}", skip_if=fresh, timeout=30.0))
        targets = ("-r", str(pinned))
    elif install.endswith(".toml") and not plan.editable:
        targets = ("-r", str(context / install))  # uv reads [project].dependencies itself
    elif install.endswith(".toml"):
        targets = ("-e", str(context))
    else:
        targets = ("-r", str(context / install))
    out.steps.append(Step(argv=(*pip, *targets), description=f"Installing {plan.how} into {label}",
                          skip_if=fresh, cwd=cwd, timeout=INSTALL_TIMEOUT, hint=hint))
    if plan.pins is not None and plan.editable:
        out.steps.append(Step(argv=(*pip, "--no-deps", "-e", str(context)),
                              description=f"Installing the project itself into {label}",
                              skip_if=fresh, cwd=cwd, timeout=INSTALL_TIMEOUT, hint=hint))
    return out


def digest(context: Path, install: str, commands: list[str], interpreter: Interpreter | None,
           uv: str | None) -> str:
    """What a virtualenv was built from: dependency file, lock, build commands, Python, installer."""
    h = hashlib.sha256()
    h.update((context / install).read_bytes())
    plan = decide(context, install, uv, "") if interpreter is not None else None
    for extra in (plan.inputs[1:] if plan else ()):
        h.update(b"\0lock\0" + extra.read_bytes())
    h.update(b"\0".join(c.encode("utf-8") for c in commands))
    h.update((interpreter.version if interpreter else current_version()).encode())
    if plan is not None:
        h.update(plan.how.encode())
    return h.hexdigest()


# --- pins from a lock or a pyproject ----------------------------------------------------


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _poetry_constraint(name: str, spec) -> str | None:
    """A PEP 508 line for a Poetry dependency (^ and ~ turned into ranges); None: not from an index."""
    extras = ""
    if isinstance(spec, dict):
        if any(k in spec for k in ("path", "git", "url")):
            return None
        extras = f"[{','.join(spec['extras'])}]" if spec.get("extras") else ""
        spec = spec.get("version", "*")
    if not isinstance(spec, str):
        return None
    parts = []
    for clause in (c.strip() for c in spec.split(",")):
        match = re.match(r"^([\^~])\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", clause)
        if match:
            op, nums = match.group(1), [int(n) if n else None for n in match.groups()[1:]]
            low = ".".join(str(n) for n in nums if n is not None)
            major, minor = nums[0], nums[1] or 0
            if op == "^":
                high = f"{major + 1}.0" if major else (f"0.{minor + 1}" if minor or nums[1] is not None else "1.0")
            else:
                high = f"{major}.{minor + 1}" if nums[1] is not None else f"{major + 1}.0"
            parts.append(f">={low},<{high}")
        elif clause in ("*", ""):
            continue
        elif re.match(r"^\d", clause):
            parts.append(f"=={clause}")
        else:
            parts.append(clause)
    return f"{name}{extras}{','.join(parts)}"


def pyproject_requirements(data: dict) -> list[str]:
    """The main dependencies of a pyproject: [project].dependencies, or Poetry's."""
    project = data.get("project", {}) if isinstance(data.get("project"), dict) else {}
    if isinstance(project.get("dependencies"), list):
        return [str(d) for d in project["dependencies"]]
    poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
    out = []
    for name, spec in (poetry.get("dependencies") or {}).items():
        if name.lower() == "python":
            continue
        line = _poetry_constraint(name, spec)
        if line:
            out.append(line)
    return out


def poetry_lock_requirements(lock: dict, pyproject: dict) -> list[str]:
    """``name==version`` for the main dependencies and everything they pull in, from poetry.lock.

    Markers on the edges that reach a package are kept, so a Windows-only package is not
    installed on Linux. Dev groups are left out: only what the main dependencies reach."""
    packages = {_canonical(p["name"]): p for p in lock.get("package", []) if "name" in p and "version" in p}
    roots = [re.split(r"[\s\[<>=!~;(]", line, maxsplit=1)[0] for line in pyproject_requirements(pyproject)]
    markers: dict[str, set[str]] = {}
    queue = [(_canonical(r), "") for r in roots if r]
    while queue:
        name, marker = queue.pop(0)
        if name not in packages:
            continue
        known = markers.setdefault(name, set())
        if marker in known or "" in known:
            continue
        known.add(marker)
        for dep, spec in (packages[name].get("dependencies") or {}).items():
            edge = ""
            if isinstance(spec, dict):
                edge = spec.get("markers", "") or ""
                if spec.get("optional"):
                    continue
            elif isinstance(spec, list):  # several constraints per marker: any may apply
                edge = " or ".join(f"({s['markers']})" for s in spec if isinstance(s, dict) and s.get("markers"))
            combined = " and ".join(f"({m})" for m in (marker, edge) if m)
            queue.append((_canonical(dep), combined))
    lines = []
    for name in sorted(markers):
        package = packages[name]
        source = package.get("source") or {}
        if source.get("type") in ("directory", "file", "git", "url"):
            continue  # not on an index: pip cannot pin it by version
        found = markers[name]
        line = f"{package['name']}=={package['version']}"
        if "" not in found:
            line += " ; " + " or ".join(f"({m})" for m in sorted(found))
        lines.append(line)
    return lines


def write_requirements(kind: str, pyproject: Path, out: Path) -> int:
    data = _read_toml(pyproject)
    if kind == "poetry":
        lock = _read_toml(pyproject.parent / "poetry.lock")
        if not lock.get("package"):
            sys.stderr.write(f"{pyproject.parent / 'poetry.lock'} lists no packages (or is not valid TOML)\n")
            return 1
        lines = poetry_lock_requirements(lock, data)
    else:
        lines = pyproject_requirements(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return 0


def _main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "requirements" and argv[1] in ("poetry", "pyproject"):
        return write_requirements(argv[1], Path(argv[2]), Path(argv[3]))
    sys.stderr.write("usage: python -m streamdeploy.targets.local_python requirements poetry|pyproject "
                     "PYPROJECT OUT\n")
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
