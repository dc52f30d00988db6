"""The one entry point: ``edgeaffect <verb>``.

Each verb lives next to the code it drives, in a small ``cli.py`` module that
exposes ``register(app)``; the verb parses flags into one typed config
dataclass and makes one call.  This file only assembles the verbs and turns
expected failures (:class:`EdgeAffectError`) into a two-line message and exit
code 2 — no traceback for things the user can fix.
"""
from __future__ import annotations

import importlib
import logging
import sys

import click
import typer

from edgeaffect.errors import EdgeAffectError

# One line per verb module; each defines ``register(app: typer.Typer)``.
VERB_MODULES = (
    "edgeaffect.data.cli",  # data inspect | split | synth
    "edgeaffect.train.cli",  # train, eval, explain
    "edgeaffect.compress.cli",  # compress, export
    "edgeaffect.devices.cli",  # devices
    "edgeaffect.runtime.cli",  # run, models
    "edgeaffect.bench.cli",  # bench
    "edgeaffect.report.cli",  # report
    "edgeaffect.demo",  # demo
)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="edgeaffect",
        help="Train, compress, export and run affective-computing vision models on edge devices.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages.")) -> None:
        logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s")

    for name in VERB_MODULES:
        importlib.import_module(name).register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    try:
        build_app()(args=argv, prog_name="edgeaffect", standalone_mode=False)
    except EdgeAffectError as exc:
        print(f"error: {exc.what}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {exc.fix}", file=sys.stderr)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:  # bad flags: click prints usage + cause
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
