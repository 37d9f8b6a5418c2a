{#-
    Generic aggregator of amounts: one row per measure x period grain x
    period x area (each village and the township) x breakdown member, plus
    the total (null breakdown).

    - 'sum' measures: the sum of the period's amounts.
    - 'median' measures: percentile_cont(0.5) of the period's amounts (the
      mean of the two middle values when there is an even number), rounded
      to 2 decimals.

    Like the distinct counts, every grain and every area level is computed
    from the events themselves, never from another grain: a quarter's median
    is the median of the quarter's values, not of its months' medians. (For
    sums it would come to the same; computing them alike keeps one rule.)

    An event placed at the township itself (a township-only measure) counts
    in the township rows and gives no village row.
-#}
{#- A table, rebuilt each build with the partitions kpi_changed_partitions
    lists (all of them on a full build): computed once, then read by
    kpi_measure_values (twice, for the values and for the ratios) and by the
    tests (docs/adr/0024). -#}
{{ config(materialized='table', post_hook="analyze {{ this }}") }}

with

measure_amounts as (

    select
        measure_code,
        aggregation,
        event_date,
        area_code,
        township_code,
        breakdown_dimension,
        breakdown_member,
        amount
    from {{ ref('kpi_measure_amounts') }}

),

period_grains as (

    select period_grain
    from (values ('month'), ('quarter'), ('year')) as grains (period_grain)

),

amounts_in_periods as (

    select
        measure_amounts.measure_code,
        measure_amounts.aggregation,
        period_grains.period_grain,
        cast(date_trunc(period_grains.period_grain, cast(measure_amounts.event_date as timestamp)) as date) as period_start_date,
        measure_amounts.area_code,
        measure_amounts.township_code,
        measure_amounts.breakdown_dimension,
        measure_amounts.breakdown_member,
        measure_amounts.amount
    from measure_amounts
    cross join period_grains
    -- only the periods whose inputs changed (all of them on a full build)
    inner join {{ ref('kpi_changed_partitions') }} as changed
        on measure_amounts.measure_code = changed.measure_code
        and period_grains.period_grain = changed.period_grain
        and cast(date_trunc(period_grains.period_grain, cast(measure_amounts.event_date as timestamp)) as date) = changed.period_start_date

),

aggregated as (

    {% call kpi_rollup('amounts_in_periods', ['measure_code', 'aggregation', 'period_grain', 'period_start_date']) -%}
        case aggregation
            when 'sum' then sum(amount)
            when 'median' then round(cast(percentile_cont(0.5) within group (order by amount) as numeric), 2)
        end as measure_value
    {%- endcall %}

)

select * from aggregated
