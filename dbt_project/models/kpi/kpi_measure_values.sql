{#-
    Every measure's value at every key, whatever its kind: one row per
    measure x period grain x period x area x breakdown member, with how it
    was aggregated ('count_distinct', 'sum', 'median',
    'count_distinct_at_period_end', 'sum_at_period_end', 'sum_per_day') and
    the value. Nothing is computed here: the three aggregators each own
    their kind, and ratios and fct_kpi_value read them all from one place.
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
    from {{ ref('kpi_measures_counted') }}

),

measure_amounts as (

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
    from {{ ref('kpi_amounts_aggregated') }}

),

measure_ranges as (

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
    from {{ ref('kpi_ranges_aggregated') }}

),

unioned as (

    select
        measure_code,
        'count_distinct' as aggregation,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        cast(distinct_count as numeric) as measure_value
    from measure_counts

    union all

    select
        measure_code,
        aggregation,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        cast(measure_value as numeric) as measure_value
    from measure_amounts

    union all

    select
        measure_code,
        aggregation,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        cast(measure_value as numeric) as measure_value
    from measure_ranges

)

select * from unioned
