{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_rows_of_replaced_files(ref('stg_health__expert_rounds')) }}"
    )
}}
-- incremental by delivered file (macros/incremental_by_file.sql)

with

expert_rounds as (

    select
        township_code,
        round_id,
        round_date,
        expert_department_name_zh,
        care_department_name_zh,
        patients_seen_count,
        batch_id,
        source_file_id,
        source_row_number
    from {{ ref('stg_health__expert_rounds') }} as staged
    where {{ only_new_source_files('staged.source_file_id') }}

),

care_departments as (

    select
        care_department_key,
        name_zh
    from {{ ref('dim_care_department') }}

)

select
    {{ surrogate_key(['expert_rounds.township_code', 'expert_rounds.round_id']) }} as expert_round_key,
    -- the township whose health centre had the round (dim_area.area_key)
    {{ surrogate_key(['expert_rounds.township_code']) }} as township_key,
    expert_rounds.round_id,
    expert_rounds.round_date,
    care_departments.care_department_key,
    -- the county hospital's department, not one of the health centre's:
    -- kept as written, there is no dimension of county departments
    expert_rounds.expert_department_name_zh,
    expert_rounds.patients_seen_count,
    expert_rounds.batch_id,
    expert_rounds.source_file_id,
    expert_rounds.source_row_number
from expert_rounds
left join care_departments
    on expert_rounds.care_department_name_zh = care_departments.name_zh
