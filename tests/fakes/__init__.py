"""Fake platform CLIs on PATH, for tests of `up`, `doctor` and the runner.

    from fakes import fake_clis          # the pytest fixture

    def test_something(fake_clis):
        fake_clis.fail("fly deploy", exit=1, stderr="Error: boom")
        result = fake_clis.run("up", "--target", "fly", cwd=project)
        assert [c.line for c in fake_clis.calls("fly")] == [...]

The executables (fly, flyctl, railway, render, docker, kubectl, gcloud, doctl, terraform) are shims that call
``fake_cli.main``. ``env()`` is a clean environment: PATH holds only the fakes and real
git (never a real fly or docker that happens to be installed), HOME is a temporary
directory, and the platforms' tokens are fake ones (``logged_in=False`` leaves them out).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fakes import store

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
REPO = TESTS.parent
EXECUTABLES = {"fly": "fly", "flyctl": "fly", "railway": "railway", "render": "render", "docker": "docker",
               "kubectl": "kubectl", "npm": "npm", "node": "node",  # npm/node: Railway's IaC step
               "gcloud": "gcloud", "doctl": "doctl", "terraform": "terraform"}
REAL_TOOLS = ("git",)  # linked into the tools directory: tests use real git repositories
TOKENS = {
    "FLY_API_TOKEN": "fake-fly-token",
    "RAILWAY_API_TOKEN": "fake-railway-token",
    "RENDER_API_KEY": "rnd_fake",
    "RENDER_WORKSPACE": "tea-fake",
    "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": "/nonexistent/fake-gcloud-token",
    "DIGITALOCEAN_ACCESS_TOKEN": "dop_v1_fake",
    "AWS_ACCESS_KEY_ID": "AKIAFAKE", "AWS_SECRET_ACCESS_KEY": "fake-aws-secret",
}
# Variables of the developer's environment that must not reach a test (real tokens, config).
_NEVER_INHERIT = ("FLY_", "RAILWAY_", "RENDER_", "DOCKER_", "KUBECONFIG", "CI", "GITHUB_", "CLOUDSDK_", "GOOGLE_",
                  "DIGITALOCEAN_", "AWS_", "TF_")


@dataclass
class Call:
    id: int
    cli: str
    binary: str
    argv: list[str]
    command: list[str]
    stdin: str | None
    env: dict[str, bool]
    cwd: str
    exit: int | None
    usage_error: str | None = None
    signal: str | None = None

    @property
    def line(self) -> str:
        """`fly deploy -a x`, for readable assertions."""
        import shlex

        return shlex.join([self.binary, *self.argv])

    @property
    def name(self) -> str:
        return " ".join([self.cli, *self.command])


class FakeClis:
    def __init__(self, root: Path):
        self.root = root
        self.bin = root / "bin"
        self.home = root / "home"
        self.user_home = root / "user"
        for directory in (self.bin, self.home, self.user_home):
            directory.mkdir(parents=True, exist_ok=True)
        for name, cli in EXECUTABLES.items():
            self._write_shim(name, cli)
        for tool in REAL_TOOLS:
            real = shutil.which(tool)
            if real:
                (self.bin / tool).symlink_to(real)
        self.kubeconfig = self.user_home / ".kube" / "config"
        self.kubeconfig.parent.mkdir(parents=True)
        self.kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: fake\n", encoding="utf-8")

    def _write_shim(self, name: str, cli: str) -> None:
        shim = self.bin / name
        shim.write_text(
            f"#!{sys.executable}\n"
            "import sys\n"
            f"sys.path.insert(0, {str(TESTS)!r})\n"
            "from fakes.fake_cli import main\n"
            f"sys.exit(main({cli!r}))\n",
            encoding="utf-8",
        )
        shim.chmod(0o755)

    # --- environment ---------------------------------------------------------------------

    def env(self, logged_in: bool = True, **extra: str) -> dict[str, str]:
        """A clean environment for a streamdeploy or fake-CLI subprocess."""
        # `_` is the program a shell started; each run below sets its own, as bash would.
        base = {k: v for k, v in os.environ.items() if not k.startswith(_NEVER_INHERIT) and k != "_"}
        base.update({
            "PATH": str(self.bin),
            "HOME": str(self.user_home),
            "FAKE_CLI_HOME": str(self.home),
            "NO_COLOR": "1",
            "COLUMNS": "200",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
        })
        if logged_in:
            base.update(TOKENS)
            base["KUBECONFIG"] = str(self.kubeconfig)
        base.update(extra)
        return base

    def run(self, *args: str, cwd: Path | None = None, env: dict | None = None, input: str | None = None,
            timeout: float = 120, logged_in: bool = True) -> subprocess.CompletedProcess:
        """`python -m streamdeploy ARGS` with the fakes on PATH."""
        return self._run([sys.executable, "-m", "streamdeploy", *args], cwd or REPO, env, input, timeout, logged_in)

    def cli(self, *argv: str, cwd: Path | None = None, input: str | None = None, logged_in: bool = True,
            env: dict | None = None) -> subprocess.CompletedProcess:
        """Run one fake directly, as typed in bash (`_` is its path): `fake_clis.cli("fly", "version")`."""
        return self._run([str(self.bin / argv[0]), *argv[1:]], cwd or self.root,
                         {"_": str(self.bin / argv[0]), **(env or {})}, input, 60, logged_in)

    def _run(self, argv: list[str], cwd: Path, env: dict | None, input: str | None, timeout: float,
             logged_in: bool) -> subprocess.CompletedProcess:
        """In the clean environment; stdin closed unless `input` is given (a prompt gets EOF)."""
        return subprocess.run(argv, cwd=cwd, env={**self.env(logged_in=logged_in), **(env or {})}, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)

    # --- controlling the fakes ---------------------------------------------------------------

    def fail(self, match: str, exit: int = 1, stderr: str = "", stdout: str = "", times: int | None = None) -> None:
        """Make commands starting with `match` (e.g. "fly deploy") fail."""
        self._add_fault({"match": match, "exit": exit, "stderr": stderr, "stdout": stdout, "times": times})

    def slow(self, match: str, seconds: float, ignore_signals: bool = False, times: int | None = None) -> None:
        """Make matching commands take `seconds` (then succeed normally)."""
        self._add_fault({"match": match, "sleep": seconds, "ignore_signals": ignore_signals, "times": times})

    def _add_fault(self, fault: dict) -> None:
        with store.locked(self.home):
            faults = store.read_json(self.home / store.FAULTS, [])
            faults.append(fault)
            store.write_json(self.home / store.FAULTS, faults)

    def remove(self, executable: str) -> None:
        """Uninstall one CLI (for "missing CLI" tests)."""
        (self.bin / executable).unlink()

    def state(self) -> dict:
        return store.read_json(self.home / store.STATE, {})

    def seed(self, cli: str, data: dict) -> None:
        """Put things in a platform's state, as if made earlier (e.g. Render's Dashboard step)."""
        with store.state(self.home) as state:
            _merge(state.setdefault(cli, {}), data)

    def calls(self, cli: str | None = None) -> list[Call]:
        path = self.home / store.CALLS
        if not path.exists():
            return []
        calls: dict[int, Call] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record["event"] == "call":
                calls[record["id"]] = Call(
                    id=record["id"], cli=record["cli"], binary=record["binary"], argv=record["argv"],
                    command=record.get("command", []), stdin=record.get("stdin"), env=record["env"],
                    cwd=record["cwd"], exit=None, usage_error=record.get("usage_error"),
                )
            elif record["event"] == "exit" and record["id"] in calls:
                calls[record["id"]].exit = record["exit"]
            elif record["event"] == "signal" and record["id"] in calls:
                calls[record["id"]].signal = record["signal"]
        ordered = [calls[k] for k in sorted(calls)]
        return [c for c in ordered if cli is None or c.cli == cli]

    def clear_calls(self) -> None:
        (self.home / store.CALLS).unlink(missing_ok=True)


def _merge(into: dict, data: dict) -> None:
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def __getattr__(name: str):
    # The fixture is built on first use so that the fake executables, which import this
    # package, do not pay for importing pytest on every call.
    if name == "fake_clis":
        import pytest

        @pytest.fixture
        def fake_clis(tmp_path) -> FakeClis:
            return FakeClis(tmp_path / "fakes")

        globals()["fake_clis"] = fake_clis
        return fake_clis
    raise AttributeError(name)
