{#- One row per fct_kpi_value row, with what a reader compares it with:
    - the previous period of the same grain (month on month, quarter on
      quarter, year on year) and the same period a year earlier: their
      values, the change and the change in percent (null when that period
      has no value for the area, or its value is zero);
    - year to date, for KPIs whose months add up (dim_kpi.adds_up_over_time):
      the months, or quarters, of the year so far summed; a year's own value
      for the year; null for the others (distinct people, stocks, rates);
    - the rank among the areas with the same parent (townships in the
      county, villages in a township) for the same KPI, period and breakdown
      member: best first by the KPI's direction (highest first for
      higher_is_better and neutral, lowest first for lower_is_better), ties
      sharing a rank (1, 1, 3), areas without a value unranked; the number
      ranked; and the change of rank from the previous period (positive:
      moved up). The county is not ranked. -#}
with

kpi_values as (

    select
        kpi_code,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        value
    from {{ ref('fct_kpi_value') }}

),

areas as (

    select
        area_code,
        parent_area_code
    from {{ ref('dim_area') }}

),

kpis as (

    select
        kpi_code,
        direction,
        adds_up_over_time
    from {{ ref('dim_kpi') }}

),

ranked as (

    select
        kpi_values.kpi_code,
        kpi_values.period_grain,
        kpi_values.period_start_date,
        kpi_values.area_level,
        kpi_values.area_code,
        kpi_values.breakdown_dimension,
        kpi_values.breakdown_member,
        kpi_values.value,
        case
            when kpi_values.value is not null and areas.parent_area_code is not null then
                rank() over (
                    partition by
                        kpi_values.kpi_code, kpi_values.period_grain, kpi_values.period_start_date,
                        kpi_values.breakdown_dimension, kpi_values.breakdown_member,
                        areas.parent_area_code, kpi_values.value is null
                    order by
                        case when kpis.direction = 'lower_is_better' then kpi_values.value else -kpi_values.value end
                )
        end as rank_in_parent,
        case
            when areas.parent_area_code is not null then
                count(kpi_values.value) over (
                    partition by
                        kpi_values.kpi_code, kpi_values.period_grain, kpi_values.period_start_date,
                        kpi_values.breakdown_dimension, kpi_values.breakdown_member,
                        areas.parent_area_code
                )
        end as ranked_areas,
        case
            when kpis.adds_up_over_time and kpi_values.period_grain = 'year' then kpi_values.value
            when kpis.adds_up_over_time then
                sum(kpi_values.value) over (
                    partition by
                        kpi_values.kpi_code, kpi_values.period_grain, kpi_values.area_code,
                        kpi_values.breakdown_dimension, kpi_values.breakdown_member,
                        date_trunc('year', kpi_values.period_start_date)
                    order by kpi_values.period_start_date
                    rows between unbounded preceding and current row
                )
        end as ytd_value
    from kpi_values
    inner join kpis
        on kpi_values.kpi_code = kpis.kpi_code
    left join areas
        on kpi_values.area_code = areas.area_code

),

compared as (

    select
        ranked.kpi_code,
        ranked.period_grain,
        ranked.period_start_date,
        ranked.area_level,
        ranked.area_code,
        ranked.breakdown_dimension,
        ranked.breakdown_member,
        ranked.value,
        {{ previous_period_start('ranked.period_grain', 'ranked.period_start_date') }} as previous_period_start_date,
        previous.value as previous_value,
        ranked.value - previous.value as change,
        {{ change_pct('ranked.value', 'previous.value') }} as change_pct,
        last_year.value as last_year_value,
        ranked.value - last_year.value as change_on_last_year,
        {{ change_pct('ranked.value', 'last_year.value') }} as change_on_last_year_pct,
        ranked.ytd_value,
        ranked.rank_in_parent,
        ranked.ranked_areas,
        previous.rank_in_parent as previous_rank_in_parent,
        previous.rank_in_parent - ranked.rank_in_parent as rank_change
    from ranked
    -- equalities a hash join can use: a breakdown's null (the total) as ''
    left join ranked as previous
        on previous.kpi_code = ranked.kpi_code
        and previous.period_grain = ranked.period_grain
        and previous.area_code = ranked.area_code
        and coalesce(previous.breakdown_dimension, '') = coalesce(ranked.breakdown_dimension, '')
        and coalesce(previous.breakdown_member, '') = coalesce(ranked.breakdown_member, '')
        and previous.period_start_date = {{ previous_period_start('ranked.period_grain', 'ranked.period_start_date') }}
    left join ranked as last_year
        on last_year.kpi_code = ranked.kpi_code
        and last_year.period_grain = ranked.period_grain
        and last_year.area_code = ranked.area_code
        and coalesce(last_year.breakdown_dimension, '') = coalesce(ranked.breakdown_dimension, '')
        and coalesce(last_year.breakdown_member, '') = coalesce(ranked.breakdown_member, '')
        and last_year.period_start_date = cast(ranked.period_start_date - interval '1 year' as date)

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
    cast(previous_period_start_date as date) as previous_period_start_date,
    cast(previous_value as numeric) as previous_value,
    cast(change as numeric) as change,
    cast(change_pct as numeric) as change_pct,
    cast(last_year_value as numeric) as last_year_value,
    cast(change_on_last_year as numeric) as change_on_last_year,
    cast(change_on_last_year_pct as numeric) as change_on_last_year_pct,
    cast(ytd_value as numeric) as ytd_value,
    cast(rank_in_parent as integer) as rank_in_parent,
    cast(ranked_areas as integer) as ranked_areas,
    cast(previous_rank_in_parent as integer) as previous_rank_in_parent,
    cast(rank_change as integer) as rank_change
from compared
