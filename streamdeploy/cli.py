"""The typer app. Each command parses its flags and hands over to ``commands/<name>.py``.

Only typer is imported at start-up; everything else loads inside the command that
needs it, so `streamdeploy --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from streamdeploy import exitcodes

app = typer.Typer(
    name="streamdeploy",
    help="Describe a Python streaming service once in streamdeploy.yaml; check, render and ship it "
    "to Fly.io, Railway, Render, Docker, Compose, Kubernetes or this machine.",
    no_args_is_help=True,
    # --install-completion / --show-completion for bash, zsh, fish and PowerShell (click's own).
    add_completion=True,
    # Tracebacks with locals could print secret values; a traceback is a bug anyway.
    pretty_exceptions_enable=False,
    # Plain (click) help: typer's rich help imports rich, markdown-it and pygments first,
    # which doubles the time `--help` takes (benchmarks/cli.md).
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)

FileOpt = Annotated[
    Optional[Path],
    typer.Option("--file", "-f", help="The description (default: ./streamdeploy.yaml, searched upward)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
TargetOpt = Annotated[
    str,
    typer.Option("--target", "-t", help="fly, railway, render, docker, compose, kubernetes or all."),
]
# `up` and `plan` ship one target at a time, and `local` renders no file but runs here.
OneTargetOpt = Annotated[
    str,
    typer.Option("--target", "-t", help="fly, railway, render, docker, compose, kubernetes or local."),
]


def _print_version(value: bool) -> None:
    if value:
        from streamdeploy import __version__

        print(f"streamdeploy {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True,
                                          help="Print streamdeploy's version and exit.")] = False,
) -> None:
    """Describe a Python streaming service once in streamdeploy.yaml; check, render and ship it
    to Fly.io, Railway, Render, Docker, Compose, Kubernetes or this machine."""


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="The app's directory.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing streamdeploy.yaml.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Look at an existing app and write a commented streamdeploy.yaml for it."""
    from streamdeploy.commands import init as command

    raise typer.Exit(command.run(directory, force=force, as_json=as_json))


@app.command()
def validate(file: FileOpt = None, as_json: JsonOpt = False) -> None:
    """Check the description itself: keys, types, units and how fields fit together."""
    from streamdeploy.commands import validate as command

    raise typer.Exit(command.run(file, as_json=as_json))


@app.command()
def schema(as_json: Annotated[bool, typer.Option("--json", help="Accepted for symmetry: the schema is JSON.")] = False
           ) -> None:
    """Print the JSON Schema of streamdeploy.yaml (for editors and CI)."""
    from streamdeploy.commands import validate as command

    raise typer.Exit(command.print_schema())


@app.command()
def check(
    file: FileOpt = None,
    target: Annotated[str, typer.Option(
        "--target", "-t", help="railway, render, fly, digitalocean, cloudrun, apprunner, kubernetes, compose, "
        "docker, local or all.")] = "all",
    as_json: JsonOpt = False,
) -> None:
    """What each platform cannot do for this service, why, and the fix (exit 1 on errors)."""
    from streamdeploy.commands import check as command

    raise typer.Exit(command.run(file, target=target, as_json=as_json))


@app.command()
def compare(file: FileOpt = None, as_json: JsonOpt = False) -> None:
    """Which platforms can run this service, and at what monthly cost."""
    from streamdeploy.commands import compare as command

    raise typer.Exit(command.run(file, as_json=as_json))


@app.command()
def render(
    file: FileOpt = None,
    target: TargetOpt = "all",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write here instead of next to the description.")] = None,
    stdout: Annotated[bool, typer.Option("--stdout", help="Print the files instead of writing them.")] = False,
    check_only: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if any file on disk differs from what would be generated.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite hand-edited files, and render despite `check` errors.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the platform's own config files (fly.toml, render.yaml, Dockerfile, ...)."""
    from streamdeploy.commands import render as command

    raise typer.Exit(
        command.run(file, target=target, out=out, to_stdout=stdout, check_only=check_only, force=force, as_json=as_json)
    )


@app.command()
def plan(
    file: FileOpt = None,
    target: OneTargetOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """Show the steps `up` would run, with secrets as names only. Runs nothing."""
    from streamdeploy.commands import up as command

    raise typer.Exit(command.show_plan(file, target=target, as_json=as_json))


@app.command()
def up(
    file: FileOpt = None,
    target: OneTargetOpt = "local",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and run nothing.")] = False,
    env_file: Annotated[Optional[Path], typer.Option("--env-file", help="Read secrets from this dotenv file.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Ship despite `check` errors; overwrite hand-edited configs.")] = False,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="local: leave the service running in the background.")] = False,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip `verify` after deploying.")] = False,
    step_timeout: Annotated[float, typer.Option("--step-timeout", help="Seconds each step may take.")] = 900.0,
    as_json: JsonOpt = False,
) -> None:
    """Render, then ship through the platform's own CLI, then verify the running service."""
    from streamdeploy.commands import up as command

    raise typer.Exit(
        command.run(
            file,
            target=target,
            dry_run=dry_run,
            env_file=env_file,
            force=force,
            detach=detach,
            verify=not no_verify,
            step_timeout=step_timeout,
            as_json=as_json,
        )
    )


@app.command()
def rollback(
    target: Annotated[str, typer.Option(
        "--target", "-t", help="fly, railway, render, kubernetes, compose or docker (local has no releases).")],
    file: FileOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and run nothing.")] = False,
    env_file: Annotated[Optional[Path], typer.Option("--env-file", help="Read secrets from this dotenv file.")] = None,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip `verify` afterwards.")] = False,
    step_timeout: Annotated[float, typer.Option("--step-timeout", help="Seconds each step may take.")] = 900.0,
    as_json: JsonOpt = False,
) -> None:
    """Go back to the release before the live one, by the platform's own means; volumes are kept."""
    from streamdeploy.commands import rollback as command

    raise typer.Exit(command.run(file, target=target, dry_run=dry_run, env_file=env_file, verify=not no_verify,
                                 step_timeout=step_timeout, as_json=as_json))


@app.command()
def down(file: FileOpt = None, as_json: JsonOpt = False) -> None:
    """Stop a service that `up --target local --detach` left running."""
    from streamdeploy.commands import up as command

    raise typer.Exit(command.down(file, as_json=as_json))


@app.command()
def doctor(
    target: Annotated[Optional[str], typer.Option(
        "--target", "-t", help="fly, railway, render, docker, compose, kubernetes or local: exit 3 unless "
        "`up --target` could start here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Which platform CLIs are installed and logged in; git and docker state."""
    from streamdeploy.commands import doctor as command

    raise typer.Exit(command.run(as_json=as_json, target=target))


@app.command()
def verify(
    url: Annotated[str, typer.Argument(help="Base URL of the running service.")],
    file: FileOpt = None,
    service: Annotated[Optional[str], typer.Option("--service", help="Which service's verify block (default: first).")] = None,
    expect_marker: Annotated[
        Optional[str], typer.Option("--expect-marker", help="Read back a marker written before a redeploy.")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for health.")] = 120.0,
    as_json: JsonOpt = False,
) -> None:
    """Prove a running service works: health, an SSE stream held open, data that persists."""
    from streamdeploy.commands import verify as command

    raise typer.Exit(
        command.run(url, file, service=service, expect_marker=expect_marker, timeout=timeout, as_json=as_json)
    )


@app.command()
def version(as_json: JsonOpt = False) -> None:
    """Print streamdeploy's version."""
    from streamdeploy.commands import version as command

    raise typer.Exit(command.run(as_json=as_json))


# Plain help cuts a command's summary at ~45 characters; a short_help is shown whole (wrapped).
for _command in app.registered_commands:
    if _command.short_help is None and _command.callback is not None and _command.callback.__doc__:
        _command.short_help = _command.callback.__doc__.strip().splitlines()[0]


def main() -> None:
    """Console entry point: user errors become messages and exit codes, never tracebacks."""
    from streamdeploy.problems import ProblemsError

    as_json = "--json" in sys.argv[1:]
    try:
        if not as_json:
            app()
        else:
            code = _run_for_json()
            sys.exit(code if isinstance(code, int) else exitcodes.OK)
    except ProblemsError as error:
        from streamdeploy import console

        console.problems(error.problems, as_json=as_json)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(exitcodes.INTERRUPTED)


def _run_for_json() -> object:
    """The app, with click's own usage errors (unknown option, bad value) as the problems JSON
    on stdout rather than click's text on stderr: a script that asked for JSON can read them."""
    from streamdeploy import console
    from streamdeploy.problems import Problem

    # typer re-exports BadParameter whether it vendors click (0.29+) or uses click itself.
    [click_error] = [c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"]
    try:
        return app(standalone_mode=False)
    except click_error as error:
        context = getattr(error, "ctx", None)
        where = context.command_path if context is not None else "streamdeploy"
        console.problems([Problem(error.format_message(), fix=f"see `{where} --help`")], as_json=True)
        return error.exit_code
    except typer.Abort:
        sys.stderr.write("interrupted\n")
        return exitcodes.INTERRUPTED
