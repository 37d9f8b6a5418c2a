"""Errors a user can cause: a bad file, a missing setting, a failed check.

Each carries what was wrong and what to do, so the message can be shown as
it is; tracebacks are kept for bugs. `GovkpiError` is the base of every such
error in govkpi: the CLI prints it without a traceback, and a task that
raises one fails without retrying, unless it is a `TransientError`.
"""

from __future__ import annotations


class GovkpiError(Exception):
    """Base class for errors caused by input or configuration, not by a bug."""


class TransientError(GovkpiError):
    """A step could not run to the end for a reason a retry may remove (no connection, a busy server).

    Airflow retries it (dag_support.RETRY_POLICY); every other GovkpiError
    fails its task at once.
    """


class SettingsError(GovkpiError, ValueError):
    """A required environment variable is missing or malformed."""
