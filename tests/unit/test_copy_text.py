"""Rows reach COPY exactly: missing values as NULL, special characters escaped."""

from __future__ import annotations

import polars as pl

from ingestion.loader import copy_text
from ingestion.readers import ROW_NUMBER


def test_copy_text_escapes_and_marks_nulls():
    frame = pl.DataFrame(
        {"a": ["x\ty", None, "back\\slash"], "b": [1, None, 3], "c": ["p", "q", "r\nline"], ROW_NUMBER: [2, 3, 4]},
    )
    assert copy_text(frame, ["a", "b", "c"], (7, 8)).decode() == (
        "x\\ty\t1\tp\t7\t8\t2\n"
        "\\N\t\\N\tq\t7\t8\t3\n"
        "back\\\\slash\t3\tr\\nline\t7\t8\t4\n"
    )
