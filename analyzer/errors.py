"""The one error type the analyzer raises for problems a user can fix."""

from __future__ import annotations


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
