"""Suite for `fct_inpatient_stay` (one row per inpatient stay) in the audit build.

Reconciled row for row with the current inpatient registers, plus the
contract on stay dates: a discharge before the admission is a typing error
in the register, and a stay of more than a year is one too at a township
health centre (long-term care is not inpatient care there). Either would
distort the bed-days and the average length of stay.
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate, named, unexpected_rows
from expectations.suites._reconciliation import delivered_row_floor, reconciliation

RELATION = candidate("fct_inpatient_stay")
READS = ()

MAX_LENGTH_OF_STAY_DAYS = 365


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """Reconciliation with `raw.health_admission`, a row floor, date order and length of stay."""
    fact = RELATION.qualified(candidate_schema)
    discharged_before_admitted = """
        select admission_id, admitted_date, discharged_date, source_file_id, source_row_number
        from {batch}
        where discharged_date < admitted_date
        order by source_file_id, source_row_number
    """
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=[
            delivered_row_floor(RELATION.table, fact),
            *reconciliation(RELATION.table, fact),
            unexpected_rows(
                check="contract: discharged not before admitted",
                expected="discharged_date on or after admitted_date wherever the patient has been discharged",
                relation=fact,
                query=discharged_before_admitted,
            ),
            named(
                gx.expectations.ExpectColumnValuesToBeBetween,
                check="contract: length of stay range",
                expected=(
                    f"length_of_stay_days between 0 and {MAX_LENGTH_OF_STAY_DAYS} "
                    "wherever the patient has been discharged"
                ),
                relation=fact,
                column="length_of_stay_days",
                min_value=0,
                max_value=MAX_LENGTH_OF_STAY_DAYS,
            ),
        ],
    )
