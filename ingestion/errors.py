"""Errors a user can cause: a bad file, a missing setting.

Each carries what was wrong, where (file, row, column) and what to do, so
the message can be shown as it is; tracebacks are kept for bugs.
"""

from __future__ import annotations


class GovkpiError(Exception):
    """Base class for errors caused by input or configuration, not by a bug."""


class SettingsError(GovkpiError):
    """A required environment variable is missing or malformed."""


class ExtractError(GovkpiError):
    """A delivered file cannot be loaded as a whole.

    `file`, `row` and `column` locate the problem as a clerk would find it in
    a spreadsheet (row 1 is the first line of the file).
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str,
        row: int | None = None,
        column: str | None = None,
        action: str,
    ) -> None:
        self.problem = problem
        self.file = file
        self.row = row
        self.column = column
        self.action = action
        super().__init__(self.render())

    def render(self) -> str:
        where = [f"file {self.file}"]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.problem}. {self.action}"
