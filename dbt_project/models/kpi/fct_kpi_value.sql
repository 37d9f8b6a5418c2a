{#-
    The KPI contract: one row per KPI x period grain x period x area x
    breakdown member (null breakdown = the total). Measure values come from
    kpi_measure_values (distinct counts, sums, medians and
    as-of-period-end snapshots), ratios (rates in percent and averages) from
    kpi_ratios_calculated; nothing is recomputed or re-aggregated here.
-#}
{#- Built by changed period (docs/adr/0024, macros/kpi_partitions.sql): the
    partitions kpi_changed_partitions lists are deleted and inserted again
    (the aggregators read only those); a full refresh rebuilds it whole.
    Then planner statistics for the gate and for publish, as the other
    marts, and the fingerprints these rows were computed from. -#}
-- depends_on: {{ ref('kpi_changed_partitions') }}
-- depends_on: {{ ref('kpi_input_fingerprints') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_changed_kpi_partitions() }}",
    post_hook=["analyze {{ this }}", "{{ record_kpi_fingerprints() }}", "{{ add_kpi_comparison_pending() }}"]
) }}

with

measure_values as (

    select
        measure_code,
        aggregation,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        measure_value
    from {{ ref('kpi_measure_values') }}

),

ratios as (

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
        ratio_value
    from {{ ref('kpi_ratios_calculated') }}

),

kpis as (

    select kpi_code
    from {{ ref('dim_kpi') }}

),

-- a count, sum or snapshot KPI is its own numerator and has no
-- denominator; a median is neither a numerator nor a denominator of
-- anything, so both are null. Measures that only feed ratios (no row in
-- dim_kpi) are not published on their own.
measure_kpi_values as (

    select
        measure_values.measure_code as kpi_code,
        measure_values.period_grain,
        measure_values.period_start_date,
        measure_values.area_level,
        measure_values.area_code,
        measure_values.breakdown_dimension,
        measure_values.breakdown_member,
        measure_values.measure_value as value,
        case
            when measure_values.aggregation <> 'median' then measure_values.measure_value
        end as numerator,
        cast(null as numeric) as denominator
    from measure_values
    inner join kpis
        on measure_values.measure_code = kpis.kpi_code

),

ratio_kpi_values as (

    select
        kpi_code,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        ratio_value as value,
        numerator,
        denominator
    from ratios

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
    from measure_kpi_values

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
    from ratio_kpi_values

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
