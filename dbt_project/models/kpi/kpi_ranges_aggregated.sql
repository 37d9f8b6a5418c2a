{#-
    Generic aggregator of validity ranges, over the months their extract
    has delivered: one row per measure x period grain x period x area x
    breakdown member, plus the total (null breakdown).

    Periods: every month the extract has delivered
    (kpi_delivered_months), and every quarter and year
    containing one. Each has an as-of date: its last day, or, for a quarter
    or year only partly delivered, the last day of its last delivered month
    (so a quarter's snapshot is its last month's, and nothing is reported
    as of a day the extract does not cover).

    - '..._at_period_end': the ranges valid on the as-of date
      (valid_from <= as_of_date < valid_to, null valid_to = still valid);
      count distinct counted_key, or sum amount.
    - 'sum_per_day': each range is cut at month boundaries within the
      delivered months, a piece weighing amount x the days it is valid in
      that month; a period sums its pieces. The expansion is per month, not
      per day, and only over delivered months: an open-ended range costs one
      row per delivered month, however long ago it started.

    Every period a township has delivered has its township total, 0 when no range is valid
    (the extract was delivered and says there is nothing). Village rows
    exist only where a range is counted in a village.
-#}
{#- A table, rebuilt each build with the partitions kpi_changed_partitions
    lists (all of them on a full build): computed once, then read by
    kpi_measure_values (twice, for the values and for the ratios) and by the
    tests (docs/adr/0024). -#}
{{ config(materialized='table', post_hook="analyze {{ this }}") }}

with

measure_ranges as (

    select
        measure_code,
        aggregation,
        extract_name,
        valid_from,
        valid_to,
        area_code,
        township_code,
        breakdown_dimension,
        breakdown_member,
        counted_key,
        amount
    from {{ ref('kpi_measure_ranges') }}

),

delivered_months as (

    select
        extract_name,
        township_code,
        month_start_date,
        month_end_date
    from {{ ref('kpi_delivered_months') }}

),

period_grains as (

    select period_grain
    from (values ('month'), ('quarter'), ('year')) as grains (period_grain)

),

delivered_periods as (

    select
        delivered_months.extract_name,
        delivered_months.township_code,
        period_grains.period_grain,
        cast(date_trunc(period_grains.period_grain, cast(delivered_months.month_start_date as timestamp)) as date) as period_start_date,
        max(delivered_months.month_end_date) as as_of_date
    from delivered_months
    cross join period_grains
    group by
        delivered_months.extract_name,
        delivered_months.township_code,
        period_grains.period_grain,
        cast(date_trunc(period_grains.period_grain, cast(delivered_months.month_start_date as timestamp)) as date)

),

measures as (

    select distinct
        measure_code,
        aggregation,
        extract_name
    from measure_ranges

),

measure_periods as (

    select
        measures.measure_code,
        measures.aggregation,
        delivered_periods.township_code,
        delivered_periods.period_grain,
        delivered_periods.period_start_date,
        delivered_periods.as_of_date
    from measures
    inner join delivered_periods
        on measures.extract_name = delivered_periods.extract_name
    -- only the periods whose inputs changed (all of them on a full build)
    inner join {{ ref('kpi_changed_partitions') }} as changed
        on measures.measure_code = changed.measure_code
        and delivered_periods.period_grain = changed.period_grain
        and delivered_periods.period_start_date = changed.period_start_date

),

-- left join: a period in which no range is valid keeps one row with nulls,
-- so that its township total exists (0)
valid_at_period_end as (

    select
        measure_periods.measure_code,
        measure_periods.aggregation,
        measure_periods.period_grain,
        measure_periods.period_start_date,
        measure_ranges.area_code,
        -- a period without any valid range is padded for its township
        measure_periods.township_code,
        measure_ranges.breakdown_dimension,
        measure_ranges.breakdown_member,
        measure_ranges.counted_key,
        measure_ranges.amount
    from measure_periods
    left join measure_ranges
        on measure_periods.measure_code = measure_ranges.measure_code
        and measure_periods.township_code = measure_ranges.township_code
        and measure_ranges.valid_from <= measure_periods.as_of_date
        and (measure_ranges.valid_to is null or measure_ranges.valid_to > measure_periods.as_of_date)
    where measure_periods.aggregation in ('count_distinct_at_period_end', 'sum_at_period_end')

),

-- a range cut at the month boundaries of the delivered months: one piece per
-- month it overlaps, weighing amount x its days in that month (valid_to is
-- exclusive; an open range runs to the end of each delivered month)
month_pieces as (

    select
        measure_ranges.measure_code,
        delivered_months.month_start_date,
        measure_ranges.area_code,
        measure_ranges.township_code,
        measure_ranges.breakdown_dimension,
        measure_ranges.breakdown_member,
        measure_ranges.counted_key,
        measure_ranges.amount * (
            least(coalesce(measure_ranges.valid_to, delivered_months.month_end_date + 1), delivered_months.month_end_date + 1)
            - greatest(measure_ranges.valid_from, delivered_months.month_start_date)
        ) as amount
    from measure_ranges
    inner join delivered_months
        on measure_ranges.extract_name = delivered_months.extract_name
        and measure_ranges.township_code = delivered_months.township_code
        and measure_ranges.valid_from <= delivered_months.month_end_date
        and (measure_ranges.valid_to is null or measure_ranges.valid_to > delivered_months.month_start_date)
    where measure_ranges.aggregation = 'sum_per_day'

),

-- left join as above: every delivered period gets its township total
summed_per_day as (

    select
        measure_periods.measure_code,
        measure_periods.aggregation,
        measure_periods.period_grain,
        measure_periods.period_start_date,
        month_pieces.area_code,
        measure_periods.township_code,
        month_pieces.breakdown_dimension,
        month_pieces.breakdown_member,
        month_pieces.counted_key,
        month_pieces.amount
    from measure_periods
    left join month_pieces
        on measure_periods.measure_code = month_pieces.measure_code
        and measure_periods.township_code = month_pieces.township_code
        and month_pieces.month_start_date between measure_periods.period_start_date and measure_periods.as_of_date
    where measure_periods.aggregation = 'sum_per_day'

),

contributions as (

    select measure_code, aggregation, period_grain, period_start_date, area_code, township_code, breakdown_dimension, breakdown_member, counted_key, amount
    from valid_at_period_end
    union all
    select measure_code, aggregation, period_grain, period_start_date, area_code, township_code, breakdown_dimension, breakdown_member, counted_key, amount
    from summed_per_day

),

-- village_rows_need_area_code: the padding rows of periods without any
-- range have a null area_code and must give no village row (a range with an
-- unknown village cannot get here: the not_null test on
-- kpi_measure_ranges.area_code stops the build first)
aggregated as (

    {% call kpi_rollup('contributions', ['measure_code', 'aggregation', 'period_grain', 'period_start_date'], village_rows_need_area_code=true) -%}
        case aggregation
            when 'count_distinct_at_period_end' then cast(count(distinct counted_key) as numeric)
            else coalesce(sum(amount), 0)
        end as measure_value
    {%- endcall %}

)

select * from aggregated
