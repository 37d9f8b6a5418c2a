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
      moved up). The county is not ranked.
    Built by changed period (docs/adr/0034, macros/kpi_partitions.sql): an
    incremental build recomputes only the comparisons the partitions
    fct_kpi_value replaced reach, from the periods they read; a full
    refresh, or the first build, computes every row. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=["{{ create_kpi_comparison_state() }}", "{{ delete_affected_kpi_comparisons() }}"],
    post_hook=["{{ record_kpi_comparison_done() }}"]
) }}
with
{%- if is_incremental() %}

affected as (

    {{ kpi_comparison_affected_sql() | indent(4) }}

),

inputs as (

    {{ kpi_comparison_inputs_sql('affected') | indent(4) }}

),
{%- endif %}

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
    {%- if is_incremental() %}
    where (kpi_code, period_grain, period_start_date) in (
        select kpi_code, period_grain, period_start_date from inputs
    )
    {%- endif %}

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
        kpis.adds_up_over_time,
        -- rank and count over one sort: no value sorts last and is not ranked
        case
            when kpi_values.value is not null and areas.parent_area_code is not null then
                rank() over siblings
        end as rank_in_parent,
        case
            when areas.parent_area_code is not null then count(kpi_values.value) over siblings
        end as ranked_areas
    from kpi_values
    inner join kpis
        on kpi_values.kpi_code = kpis.kpi_code
    left join areas
        on kpi_values.area_code = areas.area_code
    window siblings as (
        partition by
            kpi_values.kpi_code, kpi_values.period_grain, kpi_values.period_start_date,
            kpi_values.breakdown_dimension, kpi_values.breakdown_member, areas.parent_area_code
        order by
            kpi_values.value is null,
            case when kpis.direction = 'lower_is_better' then kpi_values.value else -kpi_values.value end
        range between unbounded preceding and unbounded following
    )

),

-- The previous period and the same period a year earlier are the rows of
-- the same series (KPI, grain, area, breakdown member) whose start lies
-- exactly one period, or one year, before: window frames over one sort of
-- the series, not self-joins of the table (a merge join of 540,000 rows
-- with itself took 16 s at 100 times the sample).
compared as (

    select
        kpi_code,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        value,
        rank_in_parent,
        ranked_areas,
        {{ previous_period_start('period_grain', 'period_start_date') }} as previous_period_start_date,
        case period_grain
            when 'month' then max(value) over previous_month
            when 'quarter' then max(value) over previous_quarter
            when 'year' then max(value) over previous_year
        end as previous_value,
        case period_grain
            when 'month' then max(rank_in_parent) over previous_month
            when 'quarter' then max(rank_in_parent) over previous_quarter
            when 'year' then max(rank_in_parent) over previous_year
        end as previous_rank_in_parent,
        max(value) over previous_year as last_year_value,
        case
            when adds_up_over_time and period_grain = 'year' then value
            when adds_up_over_time then
                sum(value) over (
                    partition by
                        kpi_code, period_grain, area_code, breakdown_dimension, breakdown_member,
                        date_trunc('year', period_start_date)
                    order by period_start_date
                    rows between unbounded preceding and current row
                )
        end as ytd_value
    from ranked
    window
        series as (
            partition by kpi_code, period_grain, area_code, breakdown_dimension, breakdown_member
            order by period_start_date
        ),
        previous_month as (series range between interval '1 month' preceding and interval '1 month' preceding),
        previous_quarter as (series range between interval '3 months' preceding and interval '3 months' preceding),
        previous_year as (series range between interval '1 year' preceding and interval '1 year' preceding)

),

changes as (

    select
        kpi_code,
        period_grain,
        period_start_date,
        area_level,
        area_code,
        breakdown_dimension,
        breakdown_member,
        value,
        previous_period_start_date,
        previous_value,
        value - previous_value as change,
        {{ change_pct('value', 'previous_value') }} as change_pct,
        last_year_value,
        value - last_year_value as change_on_last_year,
        {{ change_pct('value', 'last_year_value') }} as change_on_last_year_pct,
        ytd_value,
        rank_in_parent,
        ranked_areas,
        previous_rank_in_parent,
        previous_rank_in_parent - rank_in_parent as rank_change
    from compared

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
from changes
{%- if is_incremental() %}
where (kpi_code, period_grain, period_start_date) in (
    select kpi_code, period_grain, period_start_date from affected
)
{%- endif %}
