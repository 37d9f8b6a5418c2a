"""Suite for `fct_training_enrolment` (one row per trainee per class) in the audit build.

Reconciled row for row with the current trainee rosters, plus the contract
on trainees' ages: a roster row whose resident ID gives an age at enrolment
outside working age is a data-entry error (often a child's ID typed for a
parent) and must not be counted as a trainee.
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate, unexpected_rows
from expectations.suites._reconciliation import delivered_row_floor, reconciliation

RELATION = candidate("fct_training_enrolment")
DIM_PERSON = candidate("dim_person")
READS = (DIM_PERSON,)

# 16 is the minimum legal working age (Labour Law art. 15); subsidised
# vocational training is not offered past 75.
MIN_TRAINEE_AGE = 16
MAX_TRAINEE_AGE = 75


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """Reconciliation with `raw.hrss_enrolment`, a row floor and the trainee-age contract."""
    fact = RELATION.qualified(candidate_schema)
    dim_person = DIM_PERSON.qualified(candidate_schema)
    age_query = f"""
        select
            fct.enrolment_key,
            fct.source_file_id,
            fct.source_row_number,
            fct.enrolled_date,
            p.birth_year,
            extract(year from fct.enrolled_date)::integer - p.birth_year as age_at_enrolment
        from {{batch}} as fct
        join {dim_person} as p on p.person_key = fct.person_key
        where extract(year from fct.enrolled_date)::integer - p.birth_year
            not between {MIN_TRAINEE_AGE} and {MAX_TRAINEE_AGE}
        order by fct.source_file_id, fct.source_row_number
    """
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=[
            delivered_row_floor(RELATION.table, fact),
            *reconciliation(RELATION.table, fact),
            unexpected_rows(
                check="contract: trainee age at enrolment",
                expected=(
                    f"every trainee aged {MIN_TRAINEE_AGE} to {MAX_TRAINEE_AGE} at enrolment "
                    "(year of enrolled_date minus dim_person.birth_year)"
                ),
                relation=fact,
                query=age_query,
            ),
        ],
    )
