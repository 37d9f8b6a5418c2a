"""The gate's expectation suites, one module per checked relation.

Each module exposes `RELATION` (the table its suite validates; `schema=None`
means the candidate audit-build schema), `READS` (other relations its checks
join to, so the gate can say up front what is missing) and
`build_suite(candidate_schema) -> gx.ExpectationSuite`. A suite is named
after its relation's table, so names stay stable whatever schema the audit
build is written to.

Adding a relation to the gate is adding a module and listing it below.
"""

from __future__ import annotations

from types import ModuleType

from expectations.suites import (
    dim_area,
    dim_kpi,
    dim_officer,
    dim_training_class,
    dim_ward,
    fct_certificate,
    fct_enforcement_case,
    fct_expert_round,
    fct_inpatient_stay,
    fct_job_placement,
    fct_kpi_value,
    fct_medical_aid_payment,
    fct_remote_reading,
    fct_training_enrolment,
    load_manifest,
)

# Upstream first, so a failure report reads from the cause to its effects:
# the manifest against the raw tables, then each department's marts against
# their raw rows, then the shared dimensions and the KPIs.
SUITE_MODULES: tuple[ModuleType, ...] = (
    load_manifest,
    # HR & SS
    dim_training_class,
    fct_training_enrolment,
    fct_certificate,
    fct_job_placement,
    # county health alliance
    dim_ward,
    fct_inpatient_stay,
    fct_expert_round,
    fct_remote_reading,
    fct_medical_aid_payment,
    # enforcement brigade
    dim_officer,
    fct_enforcement_case,
    # shared
    dim_area,
    dim_kpi,
    fct_kpi_value,
)

# The suites that check what the loader wrote, independent of any dbt build:
# they run before the build too, so a lost or doubled raw row is named as
# such instead of surfacing as whatever dbt test it happens to break first.
RAW_SUITE_MODULES: tuple[ModuleType, ...] = (load_manifest,)
