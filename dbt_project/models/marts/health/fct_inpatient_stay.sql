{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_rows_of_replaced_files(ref('stg_health__admissions')) }}"
    )
}}
-- incremental by delivered file (macros/incremental_by_file.sql)

with

admissions as (

    select
        township_code,
        admission_id,
        patient_id,
        village_name_zh,
        care_department_name_zh,
        admitted_date,
        discharged_date,
        batch_id,
        source_file_id,
        source_row_number
    from {{ ref('stg_health__admissions') }} as staged
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

care_departments as (

    select
        care_department_key,
        name_zh
    from {{ ref('dim_care_department') }}

)

select
    {{ surrogate_key(['admissions.township_code', 'admissions.admission_id']) }} as stay_key,
    {{ surrogate_key(['admissions.township_code']) }} as township_key,
    admissions.admission_id,
    {{ surrogate_key(['admissions.patient_id']) }} as person_key,
    -- the patient's village of residence
    village_areas.area_key,
    care_departments.care_department_key,
    admissions.admitted_date,
    admissions.discharged_date,
    -- nights in hospital: the stay holds a bed from the admission day
    -- (inclusive) to the discharge day (exclusive), as in the bed-days of
    -- the occupancy rate; null while the patient is still in
    admissions.discharged_date - admissions.admitted_date as length_of_stay_days,
    admissions.batch_id,
    admissions.source_file_id,
    admissions.source_row_number
from admissions
left join village_areas
    on admissions.township_code = village_areas.township_code
    and admissions.village_name_zh = village_areas.name_zh
left join care_departments
    on admissions.care_department_name_zh = care_departments.name_zh
