"""Suite for `fct_enforcement_case` (one row per enforcement case) in the audit build.

Reconciled row for row with the current case registers, and in money: the
fines of closed cases must add up to the registers' total. The contract on
the register: a case cannot close before it was opened, a fine is never
negative, and the party's type and identifier agree (a business is
identified by its Unified Social Credit Code, an individual never has one).
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate, named, raw_relation, unexpected_rows
from expectations.suites._reconciliation import delivered_row_floor, lineage, reconciliation

RELATION = candidate("fct_enforcement_case")
RAW = raw_relation(lineage(RELATION.table).spec)
READS = (RAW,)


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """Reconciliation with `raw.enf_case` (rows and fine total), a row floor, date order, fines and party identifiers."""
    fact = RELATION.qualified(candidate_schema)
    raw = RAW.qualified()
    closed_before_opened = """
        select case_id, opened_date, closed_date, source_file_id, source_row_number
        from {batch}
        where closed_date < opened_date
        order by source_file_id, source_row_number
    """
    # The model keeps the USCC of business parties only, so an individual's
    # USCC is looked up in the raw row the case came from: a USCC delivered
    # for a person means 当事人类型 or the code is wrong.
    party_identifier = f"""
        select
            fct.case_id,
            fct.subject_type,
            fct.subject_uscc,
            r.subject_uscc as delivered_subject_uscc,
            fct.source_file_id,
            fct.source_row_number
        from {{batch}} as fct
        left join {raw} as r
            on r._file_id = fct.source_file_id and r._row_number = fct.source_row_number
        where (fct.subject_type = 'business' and fct.subject_uscc is null)
           or (fct.subject_type = 'individual' and coalesce(fct.subject_uscc, r.subject_uscc) is not null)
        order by fct.source_file_id, fct.source_row_number
    """
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=[
            delivered_row_floor(RELATION.table, fact),
            *reconciliation(RELATION.table, fact),
            unexpected_rows(
                check="contract: closed not before opened",
                expected="closed_date on or after opened_date wherever the case is closed",
                relation=fact,
                query=closed_before_opened,
            ),
            named(
                gx.expectations.ExpectColumnValuesToBeBetween,
                check="contract: penalty not negative",
                expected="penalty_yuan >= 0 wherever a fine is recorded",
                relation=fact,
                column="penalty_yuan",
                min_value=0,
            ),
            unexpected_rows(
                check="contract: party type matches its credit code",
                expected=(
                    "a subject_uscc on every case against a business, and none (in the mart or as "
                    f"delivered in {raw}) on a case against an individual"
                ),
                relation=fact,
                query=party_identifier,
            ),
        ],
    )
