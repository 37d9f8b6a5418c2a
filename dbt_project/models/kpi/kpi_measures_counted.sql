{#-
    Generic distinct counter: one row per measure x period grain x period x
    area x breakdown member (plus the total, with a null breakdown).

    Every count is a count(distinct counted_key) over exactly the events of
    that period and area, computed at each grain separately: a person
    enrolled in January and March is 1 in January, 1 in March, 1 in Q1 and 1
    in the year, and a person enrolled from two villages is 1 in each
    village and 1 in the township. Counts are never added up across grains.

    The cross join repeats each event once per grain; kpi_rollup() then
    counts, in one pass, village x member, village total, township x member
    and township total. An event placed at the township itself (a
    township-only measure) counts in the township rows and gives no village
    row.
-#}
{#- A table, rebuilt each build with the partitions kpi_changed_partitions
    lists (all of them on a full build): computed once, then read by
    kpi_measure_values (twice, for the values and for the ratios) and by the
    tests (docs/adr/0024). -#}
{{ config(materialized='table', post_hook="analyze {{ this }}") }}

with

measure_events as (

    select
        measure_code,
        event_date,
        area_code,
        township_code,
        breakdown_dimension,
        breakdown_member,
        counted_key
    from {{ ref('kpi_measure_events') }}

),

period_grains as (

    select period_grain
    from (values ('month'), ('quarter'), ('year')) as grains (period_grain)

),

events_in_periods as (

    select
        measure_events.measure_code,
        period_grains.period_grain,
        cast(date_trunc(period_grains.period_grain, cast(measure_events.event_date as timestamp)) as date) as period_start_date,
        measure_events.area_code,
        measure_events.township_code,
        measure_events.breakdown_dimension,
        measure_events.breakdown_member,
        measure_events.counted_key
    from measure_events
    cross join period_grains
    -- only the periods whose inputs changed (all of them on a full build)
    inner join {{ ref('kpi_changed_partitions') }} as changed
        on measure_events.measure_code = changed.measure_code
        and period_grains.period_grain = changed.period_grain
        and cast(date_trunc(period_grains.period_grain, cast(measure_events.event_date as timestamp)) as date) = changed.period_start_date

),

counted as (

    {% call kpi_rollup('events_in_periods', ['measure_code', 'period_grain', 'period_start_date']) -%}
        count(distinct counted_key) as distinct_count
    {%- endcall %}

)

select * from counted
