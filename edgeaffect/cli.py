"""The one entry point: ``edgeaffect <verb>``.

Each verb lives next to the code it drives, in a small ``cli.py`` module that
exposes ``register(app)``; the verb parses flags into one typed config
dataclass and makes one call.  This file assembles the verbs and holds the one
top-level handler: whatever a user can cause (an :class:`EdgeAffectError`, a
bad flag or an unknown verb, an unreadable or unwritable path) ends as
``error:`` / ``fix:`` and exit code 2, with no traceback; anything else is a
bug in edgeaffect and ends as a one-line message naming the file that holds
the traceback, exit code 1 (``--verbose`` prints the traceback too).  SIGINT and
SIGTERM during any verb end as ``interrupted`` and exit code 130 / 143 (128 +
the signal), never 0: the handlers installed here raise :class:`Interrupted`,
so every ``finally`` on the way removes its temporary files.
"""
from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import traceback

import typer

from edgeaffect.errors import EdgeAffectError, Interrupted

# One line per verb module; each defines ``register(app: typer.Typer)``.
VERB_MODULES = (
    "edgeaffect.data.cli",  # data inspect | split | synth
    "edgeaffect.train.cli",  # train, eval, explain
    "edgeaffect.train.tune_cli",  # tune
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
    def _root(verbose: bool = typer.Option(False, "--verbose", "-v",
                                           help="Log debug messages; print tracebacks.")) -> None:
        global _VERBOSE
        _VERBOSE = verbose
        logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s")
        if not verbose:
            _quiet_opencv()

    for name in VERB_MODULES:
        importlib.import_module(name).register(app)
    return app


_VERBOSE = False  # set by the root callback; decides whether an internal error prints its traceback


def _quiet_opencv() -> None:
    """OpenCV's own warnings off the CLI's stderr (``--verbose`` keeps them): a missing camera printed two C++
    lines per retry ("can't open camera by index", "configured with libavdevice") beside edgeaffect's own message
    that says the same with a fix.  A library user's process keeps OpenCV's settings, and so does a user who set
    OPENCV_LOG_LEVEL."""
    if "OPENCV_LOG_LEVEL" in os.environ:
        return
    import cv2  # a core dependency, which nearly every verb loads anyway

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def _click_classes() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(usage errors, exits, aborts) of the command-line parser.

    typer >= 0.22 raises its own vendored copy of click's exceptions and older
    typer raises click's, so both families are caught where they exist.
    """
    # typer.TyperException is the base of the vendored ClickException (absent from typer before the vendoring)
    usage: list[type] = [c for c in (getattr(typer, "TyperException", None),) if c is not None]
    exits: list[type] = [typer.Exit]
    aborts: list[type] = [typer.Abort]
    try:
        import click
    except ImportError:
        pass
    else:
        usage.append(click.ClickException)
        exits.append(click.exceptions.Exit)
        aborts.append(click.exceptions.Abort)
    return tuple(usage), tuple(exits), tuple(aborts)


def _error(what: str, fix: str = "") -> None:
    print(f"error: {what}", file=sys.stderr)
    if fix:
        print(f"  fix: {fix}", file=sys.stderr)


def _usage_error(exc: Exception) -> int:
    """A bad flag, value or verb: the parser's own sentence, and where the help is."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":  # a bare 'edgeaffect' or 'edgeaffect models': the help is the answer
        print(exc.format_message(), file=sys.stderr)
        return 2
    command = ctx.command_path if ctx is not None else "edgeaffect"
    _error(exc.format_message(), f"see '{command} --help'")
    return getattr(exc, "exit_code", 2) or 2


def _os_error(exc: OSError) -> int:
    """A path the user named cannot be read or written: say which and why."""
    if exc.errno == errno.EPIPE:  # the reader of our stdout went away ('| head'): quietly, as SIGPIPE ends a tool
        return 141
    where = f": {exc.filename}" if exc.filename else ""
    _error(f"{exc.strerror or exc}{where}",
           "check the path exists, is the kind expected (file or folder) and that you may read/write it")
    return 2


def _internal_error(exc: BaseException) -> int:
    """A bug: one line for the user, the traceback in a file (and on screen with --verbose)."""
    text = "".join(traceback.format_exception(exc))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        fd, path = tempfile.mkstemp(prefix=f"edgeaffect-crash-{stamp}-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError:
        path = ""
    if _VERBOSE:
        print(text, file=sys.stderr, end="")
    where = f"; traceback in {path}" if path else ""
    print(f"internal error: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
    if not _VERBOSE:
        print("  rerun with 'edgeaffect --verbose ...' to print it, and report it with that file", file=sys.stderr)
    return 1


def _raise_interrupted(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def _interruptible():
    """SIGINT/SIGTERM raise :class:`Interrupted` for the verb's duration (the default SIGTERM kills
    without cleanup, and typer turns Ctrl-C into a return value that was easy to drop)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be installed from the main thread
        return
    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    Interrupted.armed = True
    try:
        yield
        Interrupted.check()  # a verb that "succeeded" after a signal whose exception something swallowed
    finally:
        Interrupted.armed = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupted(code: int, name: str = "") -> int:
    """130 from typer may stand for a SIGTERM our handler turned into an interrupt: report that one (143)."""
    if code == 130 and not name and Interrupted.latest is not None:
        code, name = Interrupted.latest.exit_code, Interrupted.latest.name
    print(f"interrupted ({name or 'SIGINT'}): the work did not finish", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 2 the user's to fix, 1 a bug, 130 interrupted)."""
    global _VERBOSE
    _VERBOSE = False
    Interrupted.latest = None
    usage, exits, aborts = _click_classes()
    try:
        with _interruptible():
            code = build_app()(args=argv, prog_name="edgeaffect", standalone_mode=False)
    except Interrupted as exc:
        return _interrupted(exc.exit_code, exc.name)
    except EdgeAffectError as exc:
        _error(exc.what, exc.fix)
        return exc.exit_code
    except exits as exc:
        return _interrupted(130) if exc.exit_code == 130 else exc.exit_code
    except usage as exc:
        return _usage_error(exc)
    except (KeyboardInterrupt, *aborts):
        return _interrupted(130)
    except OSError as exc:
        return _os_error(exc)
    except SystemExit as exc:
        # click meets a closed stdout ('| head') itself: it wraps the streams to stay quiet and exits 1, our code for a bug
        if exc.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
            return 141
        raise
    except Exception as exc:  # noqa: BLE001  (the last line of defence: no traceback for the user)
        return _internal_error(exc)
    if isinstance(code, int) and not isinstance(code, bool) and code:  # typer returns Exit codes when not standalone
        return _interrupted(130) if code == 130 else code
    return 0


if __name__ == "__main__":
    sys.exit(main())
