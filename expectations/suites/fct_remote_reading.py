"""Suite for `fct_remote_reading` (one row per exam sent for a remote reading) in the audit build.

Reconciled row for row with the current request lists, plus the contract on
the two timestamps: a report cannot come back before the exam was sent (a
clerk swapped the columns, or typed a date wrong), and a turnaround of more
than 30 days is a lost request, not a reading; both would make the
turnaround KPI meaningless.
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate, named, unexpected_rows
from expectations.suites._reconciliation import delivered_row_floor, reconciliation

RELATION = candidate("fct_remote_reading")
READS = ()

MAX_TURNAROUND_HOURS = 720  # 30 days


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """Reconciliation with `raw.health_remote_reading`, a row floor, timestamp order and turnaround range."""
    fact = RELATION.qualified(candidate_schema)
    reported_before_requested = """
        select request_id, requested_at, reported_at, source_file_id, source_row_number
        from {batch}
        where reported_at < requested_at
        order by source_file_id, source_row_number
    """
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=[
            delivered_row_floor(RELATION.table, fact),
            *reconciliation(RELATION.table, fact),
            unexpected_rows(
                check="contract: reported not before requested",
                expected="reported_at at or after requested_at wherever a report came back",
                relation=fact,
                query=reported_before_requested,
            ),
            named(
                gx.expectations.ExpectColumnValuesToBeBetween,
                check="contract: turnaround hours range",
                expected=f"turnaround_hours between 0 and {MAX_TURNAROUND_HOURS} wherever a report came back",
                relation=fact,
                column="turnaround_hours",
                min_value=0,
                max_value=MAX_TURNAROUND_HOURS,
            ),
        ],
    )
