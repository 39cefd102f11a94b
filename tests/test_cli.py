"""The command line itself: help, exit codes, `python -m`, and what start-up imports.

Start-up time is measured in benchmarks/cli_startup.py, not here; these tests pin down
the import discipline that keeps it low."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from conftest import EXAMPLES, REPO, assert_no_traceback, run_cli
from streamdeploy import __version__, cli, exitcodes
from streamdeploy.problems import fail

COMMANDS = ["init", "validate", "schema", "check", "compare", "render", "plan", "up", "rollback", "down", "doctor",
            "verify", "version"]
NEVER = {"fastapi", "chromadb", "uvicorn", "numpy", "starlette", "sse_starlette"}  # the app's stack, not ours
NOT_AT_START = {"yaml", "jinja2", "httpx", "tomli_w", "rich.console"}


def test_help_lists_every_command_with_its_whole_summary():
    result = run_cli("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: python -m streamdeploy [OPTIONS] COMMAND [ARGS]...")
    listed = [line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines()
              if line.startswith("  ") and not line.startswith("    ")]
    assert listed == COMMANDS
    # summaries wrap, they are not cut off with "..."
    assert "Look at an existing app and write a commented streamdeploy.yaml" in result.stdout
    assert "..." not in result.stdout.replace("Dockerfile, ...", "").replace("[ARGS]...", "")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: python -m streamdeploy {command}")


def test_short_help_flag():
    assert run_cli("-h").returncode == 0


def test_no_command_shows_usage():
    result = run_cli()
    assert result.returncode == 2
    assert "Commands:" in result.stdout + result.stderr


@pytest.mark.parametrize("args,fragment", [
    (["bogus"], "No such command 'bogus'"),
    (["validate", "--bogus"], "No such option: --bogus"),
    (["render", "--target"], "requires an argument"),
])
def test_usage_errors_exit_2_without_traceback(args, fragment):
    result = run_cli(*args)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert fragment in result.stderr


@pytest.mark.parametrize("command,extra", [
    (["render"], ["--stdout"]), (["plan"], []), (["up"], ["--dry-run"]), (["check"], []),
])
def test_every_target_the_help_names_is_accepted(command, extra, tmp_path):
    import re

    help_text = " ".join(run_cli(*command, "--help").stdout.split())
    listed = re.search(r"--target <str> (.+?)\.", help_text).group(1)
    names = re.split(r", | or ", listed)
    assert len(names) >= 7, names
    description = EXAMPLES / "app" / "streamdeploy.yaml"
    for name in names:
        result = run_cli(*command, "-f", str(description), "-t", name, *extra, cwd=tmp_path,
                         env={"OPENAI_API_KEY": "x", "API_KEY": "y"})
        assert_no_traceback(result)
        assert "unknown target" not in result.stderr and "one target at a time" not in result.stderr, (name, result.stderr)


def test_version():
    result = run_cli("version")
    assert (result.returncode, result.stdout) == (0, f"streamdeploy {__version__}\n")


def test_the_console_script_and_python_m_agree():
    script = REPO / ".venv" / "bin" / "streamdeploy"
    if not script.exists():
        pytest.skip("no console script in .venv")
    direct = subprocess.run([str(script), "validate", "-f", str(EXAMPLES / "app" / "streamdeploy.yaml")],
                            capture_output=True, text=True, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
    module = run_cli("validate", "-f", str(EXAMPLES / "app" / "streamdeploy.yaml"))
    assert direct.returncode == module.returncode == 0
    assert direct.stdout == module.stdout


def test_exit_codes_have_one_meaning_each():
    assert (exitcodes.OK, exitcodes.FAILED, exitcodes.BAD_INPUT, exitcodes.NOT_READY, exitcodes.INTERRUPTED) == (
        0, 1, 2, 3, 130)


def test_a_user_error_becomes_a_message_and_its_exit_code(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise fail("no login for fly", fix="run `fly auth login`", exit_code=exitcodes.NOT_READY)

    monkeypatch.setattr(cli, "app", broken)
    monkeypatch.setattr(sys, "argv", ["streamdeploy", "up"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert "error: no login for fly" in err and "fix: run `fly auth login`" in err


def test_a_user_error_with_json(monkeypatch, capsys):
    monkeypatch.setattr(cli, "app", lambda **_: (_ for _ in ()).throw(fail("bad", file="x.yaml", line=3)))
    monkeypatch.setattr(sys, "argv", ["streamdeploy", "validate", "--json"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    assert json.loads(capsys.readouterr().out) == {"ok": False, "errors": [{"message": "bad", "file": "x.yaml",
                                                                              "line": 3}]}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_usage_error_with_json_is_the_problems_json_on_stdout(command):
    """A script that asked for JSON reads click's own errors (an unknown flag) as JSON too."""
    result = run_cli(command, "--json", "--no-such-flag")
    assert_no_traceback(result)
    assert result.returncode == exitcodes.BAD_INPUT
    [error] = json.loads(result.stdout)["errors"]
    assert error["message"] == "No such option: --no-such-flag" and f"{command} --help" in error["fix"]


def test_every_command_takes_json():
    for command in COMMANDS:
        assert "--json" in run_cli(command, "--help").stdout, command


def test_ctrl_c_exits_130(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "app", interrupted)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 130
    assert capsys.readouterr().err == "interrupted\n"


# --- import discipline ----------------------------------------------------------------------


def modules_after(code: str) -> set[str]:
    """sys.modules after running ``code`` in a fresh interpreter."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO,
                          env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def run_app(*args: str) -> str:
    return (f"import sys\nfrom streamdeploy import cli\nsys.argv = ['streamdeploy', *{list(args)!r}]\n"
            "try:\n    cli.app()\nexcept SystemExit:\n    pass\n")


def test_importing_the_cli_loads_only_typer():
    loaded = modules_after("import streamdeploy.cli")
    assert not loaded & (NOT_AT_START | NEVER)
    assert not {m for m in loaded if m.split(".")[0] in ("rich", "pydantic", "yaml")}


def test_help_loads_neither_rich_nor_pydantic():
    loaded = modules_after(run_app("--help"))
    assert not {m for m in loaded if m.split(".")[0] in ("rich", "pydantic", "yaml", "jinja2", "httpx")}


def test_validate_loads_what_it_needs_and_nothing_else():
    loaded = modules_after(run_app("validate", "-f", str(EXAMPLES / "app" / "streamdeploy.yaml")))
    # a valid description is built by quickspec: pydantic and the models are for errors and `schema`
    assert {"yaml", "streamdeploy.quickspec"} <= loaded
    assert not loaded & ({"streamdeploy.spec", "jinja2", "httpx", "tomli_w", "rich.console"} | NEVER)  # typer brings pydantic here


def test_init_loads_nothing_of_the_app(tmp_path):
    app = tmp_path / "svc"
    app.mkdir()
    (app / "main.py").write_text("import numpy, chromadb\nfrom fastapi import FastAPI\napp = FastAPI()\n")
    loaded = modules_after(run_app("init", str(app)))
    assert (app / "streamdeploy.yaml").is_file()
    assert not loaded & (NEVER | {"jinja2", "httpx"})


def _imports_of(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_package_never_imports_the_apps_stack():
    offenders = {
        path.relative_to(REPO).as_posix(): _imports_of(path) & NEVER
        for path in sorted((REPO / "streamdeploy").rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_every_module_of_the_package_loads_none_of_the_apps_stack():
    loaded = modules_after(
        "import importlib, pkgutil, streamdeploy\n"
        "for m in pkgutil.walk_packages(streamdeploy.__path__, 'streamdeploy.'):\n"
        "    if m.name != 'streamdeploy.__main__':\n"
        "        importlib.import_module(m.name)\n"
    )
    assert "streamdeploy.detect" in loaded and "streamdeploy.targets.docker" in loaded
    assert not loaded & NEVER
