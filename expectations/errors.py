"""Errors a user can cause when running the gate: a bad URL, a missing audit build."""

from __future__ import annotations

from govkpi.errors import GovkpiError


class GateError(GovkpiError):
    """The gate could not run at all (as opposed to running and finding failed checks).

    The message says what was wrong and what to do; it never contains a password.
    """
