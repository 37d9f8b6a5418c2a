{#-
    The KPI contract: one row per KPI x period grain x period x area x
    breakdown member (null breakdown = the total). Counts come from
    int_kpi_measures_counted, rates from int_kpi_rates_calculated; nothing
    is recomputed or re-aggregated here.
-#}
with

measure_counts as (

    select
        measure_code,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        distinct_count
    from {{ ref('int_kpi_measures_counted') }}

),

rates as (

    select
        kpi_code,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        numerator,
        denominator,
        rate_pct
    from {{ ref('int_kpi_rates_calculated') }}

),

kpis as (

    select kpi_code
    from {{ ref('dim_kpi') }}

),

-- a count KPI is its own numerator and has no denominator; measures that
-- only feed rates (no row in dim_kpi) are not published on their own
count_values as (

    select
        measure_code as kpi_code,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        cast(distinct_count as numeric) as value,
        cast(distinct_count as numeric) as numerator,
        cast(null as numeric) as denominator
    from measure_counts
    inner join kpis
        on measure_counts.measure_code = kpis.kpi_code

),

rate_values as (

    select
        kpi_code,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        rate_pct as value,
        numerator,
        denominator
    from rates

),

kpi_values as (

    select
        kpi_code,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        value,
        numerator,
        denominator
    from count_values

    union all

    select
        kpi_code,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        value,
        numerator,
        denominator
    from rate_values

)

select
    cast(kpi_code as text) as kpi_code,
    cast(period_grain as text) as period_grain,
    cast(period_start_date as date) as period_start_date,
    cast(area_level as text) as area_level,
    cast(area_code as text) as area_code,
    cast(breakdown_dimension as text) as breakdown_dimension,
    cast(breakdown_member as text) as breakdown_member,
    cast(value as numeric) as value,
    cast(numerator as numeric) as numerator,
    cast(denominator as numeric) as denominator
from kpi_values
