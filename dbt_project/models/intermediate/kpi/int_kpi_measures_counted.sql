{#-
    Generic distinct counter: one row per measure x period grain x period x
    area x breakdown member (plus the total, with a null breakdown).

    Every count is a count(distinct counted_key) over exactly the events of
    that period and area, computed at each grain separately: a person
    enrolled in January and March is 1 in January, 1 in March, 1 in Q1 and 1
    in the year, and a person enrolled from two villages is 1 in each
    village and 1 in the township. Counts are never added up across grains.

    The cross join repeats each event once per grain; grouping sets then
    count, in one pass, village x member, village total, township x member
    and township total. An event placed at the township itself (a
    township-only measure) counts in the township rows and gives no village
    row.
-#}
with

measure_events as (

    select
        measure_code,
        event_date,
        area_code,
        breakdown_dimension,
        breakdown_member,
        counted_key
    from {{ ref('int_kpi_measure_events_unioned') }}

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
        measure_events.breakdown_dimension,
        measure_events.breakdown_member,
        measure_events.counted_key
    from measure_events
    cross join period_grains

),

grouped as (

    select
        measure_code,
        period_grain,
        period_start_date,
        -- grouping() is 1 where the column was rolled up in this grouping set
        grouping(area_code) as is_area_rolled_up,
        grouping(breakdown_dimension, breakdown_member) as is_breakdown_rolled_up,
        area_code,
        breakdown_dimension,
        breakdown_member,
        count(distinct counted_key) as distinct_count
    from events_in_periods
    group by
        measure_code,
        period_grain,
        period_start_date,
        grouping sets (
            (area_code, breakdown_dimension, breakdown_member),
            (area_code),
            (breakdown_dimension, breakdown_member),
            ()
        )

),

counted as (

    select
        measure_code,
        period_grain,
        period_start_date,
        case when is_area_rolled_up = 1 then 'township' else 'village' end as area_level,
        case
            when is_area_rolled_up = 1 then '{{ var("township_area_code") }}'
            else area_code
        end as area_code,
        breakdown_dimension,
        breakdown_member,
        distinct_count
    from grouped
    -- a measure without a breakdown has a null breakdown_dimension, so its
    -- "per member" grouping sets only repeat the totals: keep the totals
    where (is_breakdown_rolled_up <> 0 or breakdown_dimension is not null)
        -- events placed at the township itself (a township-only measure)
        -- have no village
        and (is_area_rolled_up = 1 or area_code is distinct from '{{ var("township_area_code") }}')

)

select * from counted
