{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_rows_of_replaced_files(ref('stg_health__remote_readings')) }}"
    )
}}
-- incremental by delivered file (macros/incremental_by_file.sql)

with

remote_readings as (

    select
        township_code,
        request_id,
        patient_id,
        village_name_zh,
        exam_type_name_zh,
        requested_at,
        reported_at,
        batch_id,
        source_file_id,
        source_row_number
    from {{ ref('stg_health__remote_readings') }} as staged
    where {{ only_new_source_files('staged.source_file_id') }}

),

village_areas as (

    select
        area_key,
        township_code,
        name_zh
    from {{ ref('dim_area') }}
    where area_level = 'village'

),

exam_types as (

    select
        exam_type_key,
        name_zh
    from {{ ref('dim_exam_type') }}

)

select
    {{ surrogate_key(['remote_readings.township_code', 'remote_readings.request_id']) }} as remote_reading_key,
    {{ surrogate_key(['remote_readings.township_code']) }} as township_key,
    remote_readings.request_id,
    {{ surrogate_key(['remote_readings.patient_id']) }} as person_key,
    -- the patient's village of residence
    village_areas.area_key,
    exam_types.exam_type_key,
    remote_readings.requested_at,
    remote_readings.reported_at,
    -- the calendar day of the request at the health centre, whatever the
    -- session time zone: this date puts the reading in a KPI period
    cast(remote_readings.requested_at at time zone '{{ var("local_time_zone") }}' as date) as requested_date,
    round(
        cast(extract(epoch from remote_readings.reported_at - remote_readings.requested_at) as numeric) / 3600,
        2
    ) as turnaround_hours,
    remote_readings.batch_id,
    remote_readings.source_file_id,
    remote_readings.source_row_number
from remote_readings
left join village_areas
    on remote_readings.township_code = village_areas.township_code
    and remote_readings.village_name_zh = village_areas.name_zh
left join exam_types
    on remote_readings.exam_type_name_zh = exam_types.name_zh
