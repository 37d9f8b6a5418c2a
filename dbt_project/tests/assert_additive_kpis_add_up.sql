{#- dim_kpi.adds_up_over_time against the data: for a KPI said to add up,
    every quarter's and year's value is the sum of its months' (a month
    without a row counts 0), so year to date (fct_kpi_comparison) may sum
    them. Returns the quarters and years that disagree. -#}
with

additive as (

    select kpi_code
    from {{ ref('dim_kpi') }}
    where adds_up_over_time

),

kpi_values as (

    select
        kpi_values.kpi_code,
        kpi_values.period_grain,
        kpi_values.period_start_date,
        kpi_values.area_code,
        coalesce(kpi_values.breakdown_dimension, '') as breakdown_dimension,
        coalesce(kpi_values.breakdown_member, '') as breakdown_member,
        kpi_values.value
    from {{ ref('fct_kpi_value') }} as kpi_values
    inner join additive
        on kpi_values.kpi_code = additive.kpi_code

),

months_summed as (

    select
        kpi_code,
        grains.period_grain,
        cast(date_trunc(grains.period_grain, period_start_date) as date) as period_start_date,
        area_code,
        breakdown_dimension,
        breakdown_member,
        sum(value) as sum_of_months
    from kpi_values
    cross join (values ('quarter'), ('year')) as grains (period_grain)
    where kpi_values.period_grain = 'month'
    group by 1, 2, 3, 4, 5, 6

),

totals as (

    select
        kpi_code,
        period_grain,
        period_start_date,
        area_code,
        breakdown_dimension,
        breakdown_member,
        value
    from kpi_values
    where period_grain in ('quarter', 'year')

)

select
    coalesce(totals.kpi_code, months_summed.kpi_code) as kpi_code,
    coalesce(totals.period_grain, months_summed.period_grain) as period_grain,
    coalesce(totals.period_start_date, months_summed.period_start_date) as period_start_date,
    coalesce(totals.area_code, months_summed.area_code) as area_code,
    coalesce(totals.breakdown_member, months_summed.breakdown_member) as breakdown_member,
    totals.value,
    months_summed.sum_of_months
from totals
full join months_summed
    on totals.kpi_code = months_summed.kpi_code
    and totals.period_grain = months_summed.period_grain
    and totals.period_start_date = months_summed.period_start_date
    and totals.area_code = months_summed.area_code
    and totals.breakdown_dimension = months_summed.breakdown_dimension
    and totals.breakdown_member = months_summed.breakdown_member
where coalesce(totals.value, 0) <> coalesce(months_summed.sum_of_months, 0)
