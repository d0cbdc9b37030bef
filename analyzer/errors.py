"""The one error type the analyzer raises for problems a user can fix."""

from __future__ import annotations

from collections.abc import Iterable


class AnalyzerError(Exception):
    """A problem with the input, the store or the environment, told in one line.

    The CLI prints it as one red line and exits non-zero; `exit_code` says with what.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class NoDataError(AnalyzerError):
    """The store holds no telemetry (or no recommendation) for what was asked.

    Exit code 3: distinct from 2, click's usage error, so a scheduled job can tell "nothing
    to do yet" from a mistake in its command line.
    """

    exit_code = 3


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`; did you mean 'X'?` for the closest of `choices` to a mistyped name, else nothing."""
    import difflib  # only on the error path

    close = difflib.get_close_matches(value.lower(), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def printable(text: str) -> str:
    """`text` safe to print on one terminal line: control and format characters (a newline,
    an ANSI escape, a bidi override) written as escapes, so a string taken from a file can
    neither split the line nor drive the terminal."""
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


class TooManyServices(AnalyzerError):
    """More services than one config carries (`MAX_SERVICES` of the runtime's schema), none
    named: per-service work over them all would cost as much and ship nothing."""

    def __init__(self, what: str, count: int, limit: int) -> None:
        super().__init__(
            f"{what} {count:,} services, more than {limit:,} (the most one config carries); "
            "name them with --service"
        )
