{#-
    One row per event that carries an amount a KPI aggregates: which measure,
    how it is aggregated ('sum' or 'median'), the date that puts the event in
    a period, the village it is counted in, its breakdown member (if any)
    and the amount.

    - 'sum': the period's value is the sum of the amounts (yuan paid, yuan
      fined, days in hospital).
    - 'median': the period's value is the median (percentile_cont(0.5)) of
      the amounts, e.g. hours from request to report.

    int_kpi_amounts_aggregated aggregates them at each grain on its own,
    like int_kpi_measures_counted. A new sum or median KPI is a CTE here
    plus a row in seeds/kpi_definitions.csv. Events without an amount (an
    unanswered reading, an open case) are left out: they have nothing to
    add or rank. As in the count events, a measure for the township only
    places its events at the township (area_code = var township_area_code).
-#}
with

stays as (

    select
        area_key,
        discharged_date,
        length_of_stay_days
    from {{ ref('fct_inpatient_stay') }}

),

remote_readings as (

    select
        exam_type_key,
        requested_date,
        turnaround_hours
    from {{ ref('fct_remote_reading') }}

),

exam_types as (

    select
        exam_type_key,
        exam_type_code
    from {{ ref('dim_exam_type') }}

),

aid_payments as (

    select
        area_key,
        paid_date,
        amount_yuan
    from {{ ref('fct_medical_aid_payment') }}

),

cases as (

    select
        area_key,
        closed_date,
        days_to_close,
        penalty_yuan
    from {{ ref('fct_enforcement_case') }}

),

areas as (

    select
        area_key,
        area_code
    from {{ ref('dim_area') }}

),

-- left joins to areas throughout: an event whose area is unknown keeps a
-- null area_code, which the not_null test on area_code reports

-- ---- health ----

-- helper: days in hospital of the stays discharged in the period (numerator
-- of the average length of stay); a stay spanning months counts whole in
-- the month of its discharge
length_of_stay_amounts as (

    select
        'health_length_of_stay_days_of_discharges' as measure_code,
        'sum' as aggregation,
        stays.discharged_date as event_date,
        areas.area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        cast(stays.length_of_stay_days as numeric) as amount
    from stays
    left join areas
        on stays.area_key = areas.area_key
    where stays.discharged_date is not null

),

-- township only, by the type of exam and in total
turnaround_amounts as (

    select
        'health_remote_reading_turnaround_hours' as measure_code,
        'median' as aggregation,
        remote_readings.requested_date as event_date,
        '{{ var("township_area_code") }}' as area_code,
        'exam_type' as breakdown_dimension,
        exam_types.exam_type_code as breakdown_member,
        remote_readings.turnaround_hours as amount
    from remote_readings
    left join exam_types
        on remote_readings.exam_type_key = exam_types.exam_type_key
    where remote_readings.turnaround_hours is not null

),

aid_paid_amounts as (

    select
        'health_medical_aid_yuan' as measure_code,
        'sum' as aggregation,
        aid_payments.paid_date as event_date,
        areas.area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        aid_payments.amount_yuan as amount
    from aid_payments
    left join areas
        on aid_payments.area_key = areas.area_key

),

-- ---- enforcement ----

-- fines count when the case is closed (the decision is final)
penalty_amounts as (

    select
        'enf_penalties_yuan' as measure_code,
        'sum' as aggregation,
        cases.closed_date as event_date,
        areas.area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        cases.penalty_yuan as amount
    from cases
    left join areas
        on cases.area_key = areas.area_key
    where cases.closed_date is not null
        and cases.penalty_yuan is not null

),

days_to_close_amounts as (

    select
        'enf_median_days_to_close' as measure_code,
        'median' as aggregation,
        cases.closed_date as event_date,
        areas.area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        cast(cases.days_to_close as numeric) as amount
    from cases
    left join areas
        on cases.area_key = areas.area_key
    where cases.closed_date is not null

),

unioned as (

    select measure_code, aggregation, event_date, area_code, breakdown_dimension, breakdown_member, amount
    from length_of_stay_amounts
    union all
    select measure_code, aggregation, event_date, area_code, breakdown_dimension, breakdown_member, amount
    from turnaround_amounts
    union all
    select measure_code, aggregation, event_date, area_code, breakdown_dimension, breakdown_member, amount
    from aid_paid_amounts
    union all
    select measure_code, aggregation, event_date, area_code, breakdown_dimension, breakdown_member, amount
    from penalty_amounts
    union all
    select measure_code, aggregation, event_date, area_code, breakdown_dimension, breakdown_member, amount
    from days_to_close_amounts

)

select * from unioned
