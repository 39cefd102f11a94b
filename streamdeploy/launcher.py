"""The console entry point: the everyday commands start without typer, the rest go to cli.py.

A command line ``quickflags`` understands runs its command directly; any other goes to the
typer app (``cli.main``), which also answers ``--help``, completion and every usage error.
The quick path ends a command the way typer's standalone mode does (exit codes, Ctrl-C,
a closed pipe), so which path ran never shows.
"""

from __future__ import annotations

import sys


def main() -> None:
    from streamdeploy import quickflags

    invocation = quickflags.parse(sys.argv[1:])
    if invocation is None:
        from streamdeploy import cli

        cli.main()
        return
    sys.exit(run(invocation, as_json="--json" in sys.argv[1:]))


def run(invocation, as_json: bool) -> int:
    """Run a parsed command; user errors become messages and exit codes, as in ``cli.main``."""
    import errno

    from streamdeploy import exitcodes
    from streamdeploy.problems import ProblemsError

    try:
        return invocation()
    except ProblemsError as error:
        from streamdeploy import console

        console.problems(error.problems, as_json=as_json)
        return error.exit_code
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED  # typer: Exit(130), nothing printed
    except EOFError:
        sys.stderr.write("\n")  # typer ends the line, then aborts
        if as_json:  # cli._run_for_json: typer.Abort
            sys.stderr.write("interrupted\n")
            return exitcodes.INTERRUPTED
        sys.stderr.write("Aborted!\n")  # click's standalone Abort
        return exitcodes.FAILED
    except OSError as error:
        if error.errno != errno.EPIPE:
            raise
        _silence_closed_pipe()  # `render --stdout | head`: exit 1 quietly, as click does
        return exitcodes.FAILED


def _silence_closed_pipe() -> None:
    """Point stdout at /dev/null, so the flush at exit does not fail on the closed pipe again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
