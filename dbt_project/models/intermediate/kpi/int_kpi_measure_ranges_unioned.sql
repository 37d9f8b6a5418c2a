{#-
    One row per validity range a KPI measures: a state that holds from
    valid_from (inclusive) to valid_to (exclusive; null = still holds), with
    the extract whose delivered months bound it, the village it is counted
    in, a breakdown member (if any), the key counted distinct and an amount.
    How the measure is aggregated:

    - 'count_distinct_at_period_end': distinct counted_key over the ranges
      valid on the last day of the period (wards open, officers assigned).
    - 'sum_at_period_end': sum of amount over the ranges valid on the last
      day of the period (open beds).
    - 'sum_per_day': sum over each day of the period of the amounts of the
      ranges valid that day, i.e. amount x days of overlap (bed-days).

    int_kpi_ranges_aggregated takes each only over the months the extract
    has delivered (int_kpi_delivered_months_expanded). A new snapshot or
    day-sum KPI is a CTE here plus a row in seeds/kpi_definitions.csv.
-#}
with

ward_versions as (

    select
        ward_id,
        open_bed_count,
        valid_from,
        valid_to
    from {{ ref('dim_ward') }}

),

stays as (

    select
        admission_id,
        admitted_date,
        discharged_date
    from {{ ref('fct_inpatient_stay') }}

),

officer_versions as (

    select
        officer_id,
        squad_key,
        valid_from,
        valid_to
    from {{ ref('dim_officer') }}

),

-- ---- health: all at the health centre, township only ----

open_bed_ranges as (

    select
        'health_open_beds' as measure_code,
        'sum_at_period_end' as aggregation,
        'health_ward' as extract_name,
        valid_from,
        valid_to,
        '{{ var("township_area_code") }}' as area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        ward_id as counted_key,
        cast(open_bed_count as numeric) as amount
    from ward_versions

),

ward_ranges as (

    select
        'health_wards' as measure_code,
        'count_distinct_at_period_end' as aggregation,
        'health_ward' as extract_name,
        valid_from,
        valid_to,
        '{{ var("township_area_code") }}' as area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        ward_id as counted_key,
        cast(null as numeric) as amount
    from ward_versions

),

-- helper: available bed-days, the denominator of the occupancy rate
available_bed_day_ranges as (

    select
        'health_available_bed_days' as measure_code,
        'sum_per_day' as aggregation,
        'health_ward' as extract_name,
        valid_from,
        valid_to,
        '{{ var("township_area_code") }}' as area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        ward_id as counted_key,
        cast(open_bed_count as numeric) as amount
    from ward_versions

),

-- helper: occupied bed-days, the numerator of the occupancy rate. A stay
-- holds one bed from its admission day (inclusive) to its discharge day
-- (exclusive); with no discharge yet, to the end of the delivered months.
-- A stay admitted and discharged on the same day holds no bed-day.
occupied_bed_day_ranges as (

    select
        'health_occupied_bed_days' as measure_code,
        'sum_per_day' as aggregation,
        'health_admission' as extract_name,
        admitted_date as valid_from,
        discharged_date as valid_to,
        '{{ var("township_area_code") }}' as area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        admission_id as counted_key,
        cast(1 as numeric) as amount
    from stays
    where discharged_date is null
        or discharged_date > admitted_date

),

-- ---- enforcement: the brigade as a whole, township only ----

officer_ranges as (

    select
        'enf_officers' as measure_code,
        'count_distinct_at_period_end' as aggregation,
        'enf_officer_assignment' as extract_name,
        valid_from,
        valid_to,
        '{{ var("township_area_code") }}' as area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        officer_id as counted_key,
        cast(null as numeric) as amount
    from officer_versions

),

-- a squad counts when at least one officer is assigned to it
staffed_squad_ranges as (

    select
        'enf_squads' as measure_code,
        'count_distinct_at_period_end' as aggregation,
        'enf_officer_assignment' as extract_name,
        valid_from,
        valid_to,
        '{{ var("township_area_code") }}' as area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        squad_key as counted_key,
        cast(null as numeric) as amount
    from officer_versions

),

unioned as (

    select measure_code, aggregation, extract_name, valid_from, valid_to, area_code, breakdown_dimension, breakdown_member, counted_key, amount
    from open_bed_ranges
    union all
    select measure_code, aggregation, extract_name, valid_from, valid_to, area_code, breakdown_dimension, breakdown_member, counted_key, amount
    from ward_ranges
    union all
    select measure_code, aggregation, extract_name, valid_from, valid_to, area_code, breakdown_dimension, breakdown_member, counted_key, amount
    from available_bed_day_ranges
    union all
    select measure_code, aggregation, extract_name, valid_from, valid_to, area_code, breakdown_dimension, breakdown_member, counted_key, amount
    from occupied_bed_day_ranges
    union all
    select measure_code, aggregation, extract_name, valid_from, valid_to, area_code, breakdown_dimension, breakdown_member, counted_key, amount
    from officer_ranges
    union all
    select measure_code, aggregation, extract_name, valid_from, valid_to, area_code, breakdown_dimension, breakdown_member, counted_key, amount
    from staffed_squad_ranges

)

select * from unioned
