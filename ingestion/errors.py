"""The error of a delivered file that cannot be loaded, located as a clerk would find it."""

from __future__ import annotations

from govkpi.errors import GovkpiError


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
