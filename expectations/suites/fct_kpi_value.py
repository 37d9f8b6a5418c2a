"""Suite for `fct_kpi_value` (one row per KPI, period, area and breakdown member) in the audit build.

The published numbers themselves. The formulas are dbt's to test (unit
tests in the models' YAML); this suite checks what any correct formula must
satisfy: every KPI of a department that has delivered is published, values
are in range, a township figure is never smaller than one of its villages' nor the county's than a township's,
periods start where their grain starts, stock figures taken at the end of a
period exist for the township only, and money KPIs add up to their facts
(the marts-vs-KPI half of the reconciliation totals in `_reconciliation`).
"""

from __future__ import annotations

import great_expectations as gx
from great_expectations.expectations.expectation import Expectation

from expectations.suites._checks import (
    MANIFEST,
    Relation,
    candidate,
    named,
    row_floor,
    sql_literal,
    unexpected_rows,
)
from expectations.suites._reconciliation import AMOUNT_TOTALS, marts_vs_kpi_total

RELATION = candidate("fct_kpi_value")
DIM_KPI = candidate("dim_kpi")
DIM_SQUAD = candidate("dim_squad")
DIM_AREA = candidate("dim_area")
READS = (DIM_KPI, DIM_SQUAD, DIM_AREA, *(candidate(total.table) for total in AMOUNT_TOTALS))

# Units whose values are counts of things (classes, certificates) or of
# people: a count over the whole township can never be smaller than over
# one village, whether it is a sum or a distinct count.
COUNT_UNITS = ("count", "person")

# Percentages that are shares of a whole: the numerator is part of the
# denominator (people placed among the cohort that enrolled, cases closed
# among those opened, occupied bed-days among available ones), so 100 is a
# hard ceiling; above it means the data contradict themselves (more
# inpatients than open beds). hrss_certificate_rate_pct is not one: it
# counts certificates per trainee, and one person can earn two.
SHARE_KPIS = ("hrss_placement_rate_pct", "enf_case_closure_rate_pct", "health_bed_occupancy_rate_pct")

# Stocks counted as of the last day of the period (beds and wards open,
# officers and squads on duty). Beds and officers belong to the health
# centre and the brigade, not to a village, so these exist for the
# township only; a village row means a formula spread them by area.
AS_OF_PERIOD_END_KPIS = ("health_open_beds", "health_wards", "enf_officers", "enf_squads")

# KPIs counting members of a dimension in a township: a township's value can
# never exceed the dimension's rows (a brigade has at most one squad of each
# kind). The county's counts every township's, so it is not bounded by them.
DIMENSION_COUNT_KPIS = (("enf_squads", DIM_SQUAD),)


def in_scope(validation_run_id: int | None, alias: str = "") -> str:
    """`and <the row's partition is in the run's scope>` (expectations.gate.record_kpi_scope); '' for every row."""
    if validation_run_id is None:
        return ""
    prefix = f"{alias}." if alias else ""
    return (
        f"and ({prefix}kpi_code, {prefix}period_grain, {prefix}period_start_date) in ("
        "select kpi_code, period_grain, period_start_date from audit.validation_kpi_scope "
        f"where validation_run_id = {int(validation_run_id)})"
    )


def build_suite(candidate_schema: str, *, validation_run_id: int | None = None) -> gx.ExpectationSuite:
    """Coverage, range, township-vs-village, period-start, as-of-period-end and money-total checks.

    With `validation_run_id`, the checks made partition by partition (a
    value against its own partition's rows, or against nothing) read only
    the KPI partitions recorded for that run (docs/adr/0026); the checks
    over the whole table read every row.
    """
    fact = RELATION.qualified(candidate_schema)
    dim_kpi = DIM_KPI.qualified(candidate_schema)
    dim_area = DIM_AREA.qualified(candidate_schema)
    as_of_kpis = ", ".join(sql_literal(code) for code in AS_OF_PERIOD_END_KPIS)
    count_units = ", ".join(f"'{unit}'" for unit in COUNT_UNITS)
    share_kpis = ", ".join(f"'{code}'" for code in SHARE_KPIS)

    # Only KPIs of departments with a current file in the manifest: a
    # department that has not delivered has nothing to publish yet.
    missing_kpis = f"""
        select k.kpi_code, k.department
        from {dim_kpi} as k
        left join (select distinct v.kpi_code from {{batch}} as v) as published
            on published.kpi_code = k.kpi_code
        where published.kpi_code is null
          and k.department in (
              select m.department from {MANIFEST.qualified()} as m
              where m.status = 'loaded' and m.superseded_by_file_id is null
          )
        order by k.kpi_code
    """
    as_of_below_township = f"""
        select kpi_code, period_grain, period_start_date, area_level, area_code, value
        from {{batch}}
        where kpi_code in ({as_of_kpis}) and area_level not in ('township', 'county')
          {in_scope(validation_run_id)}
        order by kpi_code, period_start_date, area_code
    """
    pct_out_of_range = f"""
        select v.kpi_code, v.period_grain, v.period_start_date, v.area_code,
               v.breakdown_dimension, v.breakdown_member, v.value
        from {{batch}} as v
        join {dim_kpi} as k on k.kpi_code = v.kpi_code
        where k.unit = 'pct' and v.kpi_code in ({share_kpis}) and v.value not between 0 and 100
          {in_scope(validation_run_id, "v")}
        order by v.kpi_code, v.period_start_date, v.area_code
    """
    # A part never above its whole: a village's count above its own
    # township's, or a township's above the county's (distinct counts and
    # sums alike).
    def below_a_part(level: str, part_level: str) -> str:
        # In a run scoped to some partitions, both sides are those
        # partitions' rows, taken first (materialized): left to the planner,
        # the scope was applied after joining every partition (5 s at 100x).
        if validation_run_id is None:
            wholes = f"(select * from {{batch}} as b where b.area_level = '{level}')"
            parts = f"(select * from {fact} as p where p.area_level = '{part_level}')"
            scoped = ""
        else:
            wholes, parts = "whole_rows", "part_rows"
            scoped = f"""
        with scope as materialized (
            select kpi_code, period_grain, period_start_date from audit.validation_kpi_scope
            where validation_run_id = {int(validation_run_id)}
        ),
        whole_rows as materialized (
            select b.* from {{batch}} as b
            join scope on scope.kpi_code = b.kpi_code and scope.period_grain = b.period_grain
                and scope.period_start_date = b.period_start_date
            where b.area_level = '{level}'
        ),
        part_rows as materialized (
            select p.* from {fact} as p
            join scope on scope.kpi_code = p.kpi_code and scope.period_grain = p.period_grain
                and scope.period_start_date = p.period_start_date
            where p.area_level = '{part_level}'
        )"""
        return f"""{scoped}
        select
            whole.kpi_code,
            whole.period_grain,
            whole.period_start_date,
            whole.breakdown_dimension,
            whole.breakdown_member,
            whole.area_code as {level}_code,
            whole.value as {level}_value,
            part.area_code as {part_level}_code,
            part.value as {part_level}_value
        from {wholes} as whole
        join {dim_kpi} as k on k.kpi_code = whole.kpi_code
        join {parts} as part
            on part.kpi_code = whole.kpi_code
            and part.period_grain = whole.period_grain
            and part.period_start_date = whole.period_start_date
            -- equalities a hash join can use (is not distinct from cannot,
            -- and a nested loop over a county's KPI rows took minutes)
            and coalesce(part.breakdown_dimension, '') = coalesce(whole.breakdown_dimension, '')
            and coalesce(part.breakdown_member, '') = coalesce(whole.breakdown_member, '')
        join {dim_area} as a on a.area_code = part.area_code and a.parent_area_code = whole.area_code
        where k.unit in ({count_units})
          and whole.value < part.value
        order by whole.kpi_code, whole.period_start_date, part.area_code
    """

    township_below_village = below_a_part("township", "village")
    county_below_township = below_a_part("county", "township")
    # A grain other than month, quarter or year gives a null expected start
    # and is reported too, rather than making date_trunc raise. The cast to
    # timestamp (without time zone) keeps the session time zone out of it.
    period_not_at_start = f"""
        select kpi_code, period_grain, period_start_date, area_code
        from {{batch}}
        where period_start_date is distinct from (
            case when period_grain in ('month', 'quarter', 'year')
                then date_trunc(period_grain, period_start_date::timestamp)::date
            end
        )
          {in_scope(validation_run_id)}
        order by kpi_code, period_start_date, area_code
    """
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=[
            row_floor(table=RELATION.table, relation=fact),
            unexpected_rows(
                check="contract: every KPI is published",
                expected=(
                    f"at least one {fact} row for every kpi_code in {dim_kpi} whose department "
                    "has a current file in the load manifest"
                ),
                relation=fact,
                query=missing_kpis,
            ),
            named(
                gx.expectations.ExpectColumnValuesToBeBetween,
                check="contract: KPI values not negative",
                expected="value >= 0 wherever a value is published",
                relation=fact,
                column="value",
                min_value=0,
            ),
            unexpected_rows(
                check="contract: share KPIs within 0-100",
                expected="value between 0 and 100 for the percentages that are shares of a population (" + ", ".join(SHARE_KPIS) + ")",
                relation=fact,
                query=pct_out_of_range,
            ),
            unexpected_rows(
                check="contract: township count not below a village's",
                expected=(
                    "for count KPIs (unit " + " or ".join(COUNT_UNITS) + "), the township value of "
                    "each period and breakdown member at least the value of any single village"
                ),
                relation=fact,
                query=township_below_village,
            ),
            unexpected_rows(
                check="contract: county count not below a township's",
                expected=(
                    "for count KPIs (unit " + " or ".join(COUNT_UNITS) + "), the county value of "
                    "each period and breakdown member at least the value of any of its townships"
                ),
                relation=fact,
                query=county_below_township,
            ),
            unexpected_rows(
                check="contract: period starts at its grain",
                expected=(
                    "period_start_date on the first day of its month, quarter or year, as period_grain says"
                ),
                relation=fact,
                query=period_not_at_start,
            ),
            unexpected_rows(
                check="contract: as-of-period-end KPIs for the township only",
                expected=(
                    "the stocks counted at the end of a period (" + ", ".join(AS_OF_PERIOD_END_KPIS) + ") "
                    "only at area_level 'township' (and their county totals), never for a village"
                ),
                relation=fact,
                query=as_of_below_township,
            ),
            *(_at_most_dimension_rows(code, dimension, fact, candidate_schema) for code, dimension in DIMENSION_COUNT_KPIS),
            *(
                marts_vs_kpi_total(total, fact, candidate(total.table).qualified(candidate_schema))
                for total in AMOUNT_TOTALS
            ),
        ],
    )


def _at_most_dimension_rows(kpi_code: str, dimension: Relation, fact: str, candidate_schema: str) -> Expectation:
    dimension_name = dimension.qualified(candidate_schema)
    query = f"""
        select
            v.kpi_code, v.period_grain, v.period_start_date, v.area_code,
            v.breakdown_dimension, v.breakdown_member, v.value,
            d.row_count as {dimension.table}_rows
        from {{batch}} as v
        cross join (select count(*) as row_count from {dimension_name}) as d
        where v.kpi_code = {sql_literal(kpi_code)} and v.area_level <> 'county' and v.value > d.row_count
        order by v.period_start_date, v.area_code
    """
    return unexpected_rows(
        check=f"contract: {kpi_code} not above {dimension.table} rows",
        expected=f"every township's and village's {kpi_code} value at most the number of rows in {dimension_name}",
        relation=fact,
        query=query,
    )
