with

days as (

    select cast(day_timestamp as date) as date_day
    from generate_series(
        cast('2015-01-01' as date),
        cast('2035-12-31' as date),
        interval '1 day'
    ) as days (day_timestamp)

)

select
    date_day,
    cast(extract(year from date_day) as integer) as year,
    cast(extract(quarter from date_day) as integer) as quarter,
    cast(extract(month from date_day) as integer) as month,
    cast(extract(day from date_day) as integer) as day_of_month,
    cast(extract(doy from date_day) as integer) as day_of_year,
    -- ISO numbering: 1 = Monday ... 7 = Sunday
    cast(extract(isodow from date_day) as integer) as day_of_week,
    cast(extract(week from date_day) as integer) as iso_week_of_year,
    cast(extract(isoyear from date_day) as integer) as iso_year,
    trim(to_char(date_day, 'Month')) as month_name_en,
    trim(to_char(date_day, 'Day')) as day_name_en,
    cast(date_trunc('month', cast(date_day as timestamp)) as date) as month_start_date,
    cast(date_trunc('month', cast(date_day as timestamp)) + interval '1 month - 1 day' as date) as month_end_date,
    cast(date_trunc('quarter', cast(date_day as timestamp)) as date) as quarter_start_date,
    cast(date_trunc('year', cast(date_day as timestamp)) as date) as year_start_date,
    extract(isodow from date_day) in (6, 7) as is_weekend
from days
