"""Suite for `fct_kpi_value` (one row per KPI, period, area and breakdown member) in the audit build.

The published numbers themselves. The formulas are dbt's to test (unit
tests in the models' YAML); this suite checks what any correct formula must
satisfy: every KPI is published, values are in range, a township figure is
never smaller than one of its villages', and periods start where their
grain starts.
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate, named, row_floor, unexpected_rows

RELATION = candidate("fct_kpi_value")
DIM_KPI = candidate("dim_kpi")
READS = (DIM_KPI,)

# Units whose values are counts of things (classes, certificates) or of
# people: a count over the whole township can never be smaller than over
# one village, whether it is a sum or a distinct count.
COUNT_UNITS = ("count", "person")

# Percentages that are shares of a population: the numerator's people are
# among the denominator's (people placed among the cohort that enrolled),
# so 100 is a hard ceiling. Other percentages are ratios that may exceed
# 100: hrss_certificate_rate_pct counts certificates per trainee, and one
# person can earn two.
SHARE_KPIS = ("hrss_placement_rate_pct",)


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """Coverage, range, township-vs-village and period-start checks on the KPI values."""
    fact = RELATION.qualified(candidate_schema)
    dim_kpi = DIM_KPI.qualified(candidate_schema)
    count_units = ", ".join(f"'{unit}'" for unit in COUNT_UNITS)
    share_kpis = ", ".join(f"'{code}'" for code in SHARE_KPIS)

    missing_kpis = f"""
        select k.kpi_code, k.department
        from {dim_kpi} as k
        left join (select distinct v.kpi_code from {{batch}} as v) as published
            on published.kpi_code = k.kpi_code
        where published.kpi_code is null
        order by k.kpi_code
    """
    pct_out_of_range = f"""
        select v.kpi_code, v.period_grain, v.period_start_date, v.area_code,
               v.breakdown_dimension, v.breakdown_member, v.value
        from {{batch}} as v
        join {dim_kpi} as k on k.kpi_code = v.kpi_code
        where k.unit = 'pct' and v.kpi_code in ({share_kpis}) and v.value not between 0 and 100
        order by v.kpi_code, v.period_start_date, v.area_code
    """
    township_below_village = f"""
        select
            township.kpi_code,
            township.period_grain,
            township.period_start_date,
            township.breakdown_dimension,
            township.breakdown_member,
            township.value as township_value,
            village.area_code as village_code,
            village.value as village_value
        from {{batch}} as township
        join {dim_kpi} as k on k.kpi_code = township.kpi_code
        join {fact} as village
            on village.kpi_code = township.kpi_code
            and village.period_grain = township.period_grain
            and village.period_start_date = township.period_start_date
            and village.breakdown_dimension is not distinct from township.breakdown_dimension
            and village.breakdown_member is not distinct from township.breakdown_member
            and village.area_level = 'village'
        where township.area_level = 'township'
          and k.unit in ({count_units})
          and township.value < village.value
        order by township.kpi_code, township.period_start_date, village.area_code
    """
    # A grain other than month, quarter or year gives a null expected start
    # and is reported too, rather than making date_trunc raise. The cast to
    # timestamp (without time zone) keeps the session time zone out of it.
    period_not_at_start = """
        select kpi_code, period_grain, period_start_date, area_code
        from {batch}
        where period_start_date is distinct from (
            case when period_grain in ('month', 'quarter', 'year')
                then date_trunc(period_grain, period_start_date::timestamp)::date
            end
        )
        order by kpi_code, period_start_date, area_code
    """
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=[
            row_floor(table=RELATION.table, relation=fact),
            unexpected_rows(
                check="contract: every KPI is published",
                expected=f"at least one {fact} row for every kpi_code in {dim_kpi}",
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
                check="contract: period starts at its grain",
                expected=(
                    "period_start_date on the first day of its month, quarter or year, as period_grain says"
                ),
                relation=fact,
                query=period_not_at_start,
            ),
        ],
    )
