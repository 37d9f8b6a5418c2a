{#-
    One row per extract x township x calendar month covered by a current
    file of that extract: the months a department has delivered for each
    township, as the load manifest says. A township's own file covers that
    township; a county file (no township_code: its rows name theirs) covers
    every township of the register, so a township without a row in it had
    nothing to report. A file's period is a year ('2023': all twelve
    months) or a month ('2023-03'). Several files covering one month (e.g.
    a year file and a month file) give one row.

    The KPIs built from validity ranges (kpi_ranges_aggregated) are
    bounded by these months: a snapshot is taken only for delivered periods,
    and a range that is still open (a ward in service, a patient still in
    hospital) is counted only up to the end of what was delivered. This is
    what keeps day expansions small, whatever the length of the ranges.
-#}
with

townships as (

    select area_code
    from {{ ref('dim_area') }}
    where area_level = 'township'

),

current_files as (

    select
        files.extract_name,
        files.period,
        coalesce(files.township_code, townships.area_code) as township_code
    from {{ ref('stg_audit__load_manifest') }} as files
    -- a county file: one row per township
    left join townships
        on files.township_code is null
    where files.is_current

),

delivered_periods as (

    select distinct
        extract_name,
        township_code,
        period,
        case
            when period ~ '^[0-9]{4}$' then cast(period || '-01-01' as date)
            when period ~ '^[0-9]{4}-[0-9]{2}$' then cast(period || '-01' as date)
        end as period_start_date,
        case
            when period ~ '^[0-9]{4}$' then 12
            when period ~ '^[0-9]{4}-[0-9]{2}$' then 1
        end as period_month_count
    from current_files

),

-- left join lateral: a period the patterns above do not recognise keeps a
-- row with a null month, which the not_null test on month_start_date reports
delivered_months as (

    select distinct
        delivered_periods.extract_name,
        delivered_periods.township_code,
        cast(months.month_start as date) as month_start_date
    from delivered_periods
    left join lateral generate_series(
        cast(delivered_periods.period_start_date as timestamp),
        cast(delivered_periods.period_start_date as timestamp)
            + (delivered_periods.period_month_count - 1) * interval '1 month',
        interval '1 month'
    ) as months (month_start)
        on true

)

select
    extract_name,
    township_code,
    month_start_date,
    cast(month_start_date + interval '1 month - 1 day' as date) as month_end_date
from delivered_months
