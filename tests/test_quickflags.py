"""The typer-free flag parser (streamdeploy/quickflags.py) agrees with the typer app it mirrors.

Every flag, default and call in ``quickflags.COMMANDS`` is checked against the typer
definitions in streamdeploy/cli.py: the same flags with the same meaning, and for every
combination of them, the same call with the same arguments through both paths."""

from __future__ import annotations

import importlib
import itertools
import sys
from pathlib import Path

import pytest
import typer.main

from conftest import EXAMPLES, run_cli
from streamdeploy import cli, quickflags

CLICK_APP = typer.main.get_command(cli.app)
HELP = {"--help", "-h"}


def click_params(name: str) -> list:
    return [p for p in CLICK_APP.commands[name].params if not set(p.opts) & HELP]


@pytest.mark.parametrize("name", sorted(quickflags.COMMANDS))
def test_the_table_has_the_typer_commands_flags_and_defaults(name):
    command = quickflags.COMMANDS[name]
    params = click_params(name)
    spellings = {}
    for p in params:
        # Only what the table can express: plain options, no arguments, no environment
        # variables, prompts, callbacks or multiple values (typer would act on those).
        assert p.param_type_name == "option", (name, p.name)
        assert (p.envvar, p.prompt, p.callback, p.multiple, p.nargs, p.secondary_opts) == (None, None, None, False, 1, []), p.name
        assert not p.required and not p.is_eager, p.name
        assert command.defaults[p.name] == p.default, p.name
        assert (p.name in command.switches) == p.is_flag, p.name
        spellings.update({opt: p.name for opt in p.opts})
    assert command.options == spellings
    assert set(command.defaults) == {p.name for p in params}


def sample_lines(name: str):
    """Every combination of the command's flags, each with a value, short and long spellings in turn."""
    command = quickflags.COMMANDS[name]
    spellings: dict[str, list[str]] = {}
    for opt, param in command.options.items():
        spellings.setdefault(param, []).append(opt)
    params = list(spellings)
    for n in range(len(params) + 1):
        for i, chosen in enumerate(itertools.combinations(params, n)):
            argv = [name]
            for param in chosen:
                opt = spellings[param][i % len(spellings[param])]
                argv += [opt] if param in command.switches else [opt, f"{param}-value"]
            yield argv


def record_calls(monkeypatch, call: str) -> list:
    module, _, function = call.partition(":")
    calls = []
    monkeypatch.setattr(importlib.import_module(module), function,
                        lambda *args, **kwargs: calls.append((args, kwargs)) or 0)
    return calls


@pytest.mark.parametrize("name", sorted(quickflags.COMMANDS))
def test_every_combination_of_flags_makes_the_same_call_both_ways(name, monkeypatch):
    command = quickflags.COMMANDS[name]
    calls = record_calls(monkeypatch, command.call)
    lines = list(sample_lines(name))
    for argv in lines:
        invocation = quickflags.parse(argv)
        assert invocation is not None, argv
        assert invocation() == 0
        assert cli.app(argv, standalone_mode=False, prog_name="streamdeploy") == 0, argv
        quick, typed = calls[-2:]
        assert quick == typed, argv
    assert len(calls) == 2 * len(lines) >= 2


def test_paths_are_paths_and_the_rest_strings():
    invocation = quickflags.parse(["render", "-f", "a.yaml", "-o", "out", "-t", "fly"])
    assert invocation.values["file"] == Path("a.yaml") and invocation.values["out"] == Path("out")
    assert invocation.values["target"] == "fly"


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["-V"], ["up", "--dry-run"], ["init"],  # not a quick command
    ["validate", "--help"], ["render", "-h"], ["validate", "--bogus"], ["validate", "extra"],
    ["render", "--target"], ["render", "--target", "--stdout"], ["render", "--target="],
    ["render", "--target=fly"], ["render", "-tfly"], ["render", "--stdout", "--stdout"],
    ["render", "-t", "fly", "--target", "docker"], ["render", "--no-stdout"], ["validate", "-f", ""],
    ["validate", "--", "-f"], ["validate", "-f", "-"],
])
def test_what_the_table_does_not_cover_goes_to_typer(argv):
    assert quickflags.parse(argv) is None


def test_shell_completion_goes_to_typer(monkeypatch):
    monkeypatch.setenv("_STREAMDEPLOY_COMPLETE", "bash_complete")
    assert quickflags.parse(["validate"]) is None


def test_a_quick_command_never_imports_typer():
    import json
    import subprocess
    import sys

    from conftest import REPO

    probe = ("import json, sys\nsys.argv = ['streamdeploy', 'validate', '-f', sys.argv[1]]\n"
             "from streamdeploy.launcher import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe, str(EXAMPLES / "app" / "streamdeploy.yaml")],
                          capture_output=True, text=True, cwd=REPO, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "streamdeploy.quickspec" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("typer", "click", "rich", "jinja2", "pydantic")}


@pytest.mark.parametrize("argv,code", [
    (["validate", "-f", "missing.yaml"], 2), (["validate", "-f", "missing.yaml", "--json"], 2),
    (["render", "-t", "nowhere", "-f", str(EXAMPLES / "app" / "streamdeploy.yaml"), "--stdout"], 2),
])
def test_a_user_error_reads_the_same_both_ways(argv, code, tmp_path):
    """The same line through the quick path, and through typer (`--file=X`, which only typer parses)."""
    at = argv.index("-f")
    typed_argv = [*argv[:at], f"--file={argv[at + 1]}", *argv[at + 2:]]
    assert quickflags.parse(argv) is not None and quickflags.parse(typed_argv) is None
    quick, typed = run_cli(*argv, cwd=tmp_path), run_cli(*typed_argv, cwd=tmp_path)
    assert quick.returncode == typed.returncode == code
    assert (quick.stdout, quick.stderr) == (typed.stdout, typed.stderr)


def _ending(raised: BaseException):
    def command(*args, **kwargs):
        raise raised

    return command


def _exit_of(main, argv, monkeypatch, capsys) -> tuple[object, str]:
    monkeypatch.setattr(sys, "argv", ["streamdeploy", *argv])
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # typer may wrap it after a closed pipe: put it back
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize("raised", [KeyboardInterrupt(), EOFError(), BrokenPipeError(32, "Broken pipe")],
                         ids=["ctrl-c", "eof", "closed-pipe"])
@pytest.mark.parametrize("argv", [["validate"], ["validate", "--json"]])
def test_a_quick_command_ends_as_typer_ends_it(raised, argv, capsys, monkeypatch):
    from streamdeploy import launcher
    from streamdeploy.commands import validate

    monkeypatch.setattr(validate, "run", _ending(raised))
    monkeypatch.setattr(launcher, "_silence_closed_pipe", lambda: None)  # capsys has no file descriptor
    assert quickflags.parse(argv) is not None
    quick = _exit_of(launcher.main, argv, monkeypatch, capsys)
    typed = _exit_of(cli.main, argv, monkeypatch, capsys)
    assert quick == typed


def test_a_problem_in_a_quick_command_is_a_message_and_its_exit_code(capsys):
    from streamdeploy import launcher
    from streamdeploy.problems import fail

    assert launcher.run(_ending(fail("no login for fly", fix="run `fly auth login`", exit_code=3)), as_json=False) == 3
    assert capsys.readouterr().err == "error: no login for fly\n  fix: run `fly auth login`\n"
