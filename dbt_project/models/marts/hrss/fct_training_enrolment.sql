{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_rows_of_replaced_files(ref('stg_hrss__enrolments')) }}"
    )
}}
-- incremental by delivered file (macros/incremental_by_file.sql)

with

enrolments as (

    select
        township_code,
        person_id,
        class_id,
        village_name_zh,
        enrolled_date,
        has_completed,
        batch_id,
        source_file_id,
        source_row_number
    from {{ ref('stg_hrss__enrolments') }} as staged
    where {{ only_new_source_files('staged.source_file_id') }}

),

village_areas as (

    select
        area_key,
        township_code,
        name_zh
    from {{ ref('dim_area') }}
    where area_level = 'village'

)

select
    {{ surrogate_key(['enrolments.township_code', 'enrolments.class_id', 'enrolments.person_id']) }} as enrolment_key,
    {{ surrogate_key(['enrolments.person_id']) }} as person_key,
    {{ surrogate_key(['enrolments.township_code', 'enrolments.class_id']) }} as training_class_key,
    {{ surrogate_key(['enrolments.township_code']) }} as township_key,
    village_areas.area_key,
    enrolments.enrolled_date,
    enrolments.has_completed,
    enrolments.batch_id,
    enrolments.source_file_id,
    enrolments.source_row_number
from enrolments
left join village_areas
    on enrolments.township_code = village_areas.township_code
    and enrolments.village_name_zh = village_areas.name_zh
