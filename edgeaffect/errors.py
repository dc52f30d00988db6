"""Errors a user can act on.

Every expected failure (bad data, a missing extra, a broken bundle, a failed
verification) is an :class:`EdgeAffectError` carrying two sentences: what went
wrong and what to do about it.  The CLI prints both and exits with code 2; no
traceback is shown for these.
"""
from __future__ import annotations


class EdgeAffectError(Exception):
    """Base class: ``what`` went wrong, ``fix`` says what the user can do."""

    exit_code = 2

    def __init__(self, what: str, fix: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.what}\n  fix: {self.fix}" if self.fix else self.what


class DataError(EdgeAffectError):
    """A dataset, file or label cannot be read or does not fit."""


class ConfigError(EdgeAffectError):
    """A recipe, flag or option value is invalid."""


class ModelError(EdgeAffectError):
    """A model name, checkpoint or head does not fit."""


class MissingExtraError(EdgeAffectError):
    """An optional dependency is not installed."""


class ExportError(EdgeAffectError):
    """An export could not be produced or did not load back."""


class VerificationError(ExportError):
    """An exported model differs from the float model past the threshold."""


class BundleError(EdgeAffectError):
    """A bundle is incomplete, edited or built for other tool versions."""


class SourceError(EdgeAffectError):
    """A camera, stream or video cannot be opened."""


class DeviceError(EdgeAffectError):
    """A device profile is unknown or cannot run what was asked."""


def unknown_name(kind: str, name: object, choices, *, error: type[EdgeAffectError] = ConfigError, where: str = "",
                 fix: str | None = None, cutoff: float = 0.6) -> EdgeAffectError:
    """The one error for a name that is not among ``choices`` (a registry, a key set): the closest
    choice as "did you mean", then ``fix`` or the list of choices.  ``where`` names the file or flag."""
    import difflib

    choices = [str(c) for c in choices]
    near = difflib.get_close_matches(str(name), choices, n=1, cutoff=cutoff)
    hint = f"did you mean '{near[0]}'? " if near else ""
    what = f"unknown {kind} '{name}'"
    return error(f"{where}: {what}" if where else what, hint + (fix or f"choose one of: {', '.join(sorted(choices))}"))


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: the work stopped before it finished.

    A KeyboardInterrupt, so that no ``except Exception`` on the way swallows it and code
    that already handles Ctrl-C (data-loader workers, which swallow it and let the main
    process stop) treats SIGTERM alike; every ``finally`` still runs, so temporary files
    are removed.  The CLI
    prints ``interrupted`` and exits with 128 + the signal number (130 for Ctrl-C,
    143 for SIGTERM), the shells' convention, so a script never mistakes it for success.
    """

    latest: "Interrupted | None" = None  # typer turns any KeyboardInterrupt into a bare 130; this keeps which signal
    armed = False  # the CLI's handlers are installed: a signal seen now must not end as success

    @classmethod
    def check(cls) -> None:
        """Raise again an interrupt that arrived and was swallowed on the way (a library's own handling of
        an exception raised inside its C++ code): called before an output is put in place."""
        if cls.armed and cls.latest is not None:
            raise cls.latest

    def __init__(self, signum: int) -> None:
        import signal

        Interrupted.latest = self
        self.signum = int(signum)
        try:
            self.name = signal.Signals(self.signum).name
        except ValueError:
            self.name = f"signal {self.signum}"
        super().__init__(self.name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def check_range(name: str, value: object, lo: float, hi: float, *, whole: bool = False, fix: str = ""):
    """``value`` unchanged when it is a finite number (a whole one with ``whole``) in ``lo..hi``.

    Otherwise a :class:`ConfigError` naming the setting, the value and the allowed range: NaN,
    infinities and absurd sizes never reach a library (an OverflowError, a division by zero, a
    thread pool of a million).  Used for every number a flag or a file gives.
    """
    import math
    import numbers

    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) \
        and lo <= value <= hi and (not whole or float(value).is_integer())
    if not ok:
        kind = "a whole number" if whole else "a finite number"
        raise ConfigError(f"{name} = {value!r} is outside the allowed range: {kind} in {lo:g}..{hi:g}",
                          fix or f"give {name} a value in {lo:g}..{hi:g}")
    return value
