{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_rows_of_replaced_files(ref('stg_health__medical_aid_payments')) }}"
    )
}}
-- incremental by delivered file (macros/incremental_by_file.sql)

with

payments as (

    select
        township_code,
        payment_id,
        household_head_id,
        village_name_zh,
        funding_source_name_zh,
        amount_yuan,
        paid_date,
        batch_id,
        source_file_id,
        source_row_number
    from {{ ref('stg_health__medical_aid_payments') }} as staged
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

funding_sources as (

    select
        aid_funding_source_key,
        name_zh
    from {{ ref('dim_aid_funding_source') }}

)

select
    {{ surrogate_key(['payments.township_code', 'payments.payment_id']) }} as medical_aid_payment_key,
    {{ surrogate_key(['payments.township_code']) }} as township_key,
    payments.payment_id,
    -- the household head the aid was paid to
    {{ surrogate_key(['payments.household_head_id']) }} as person_key,
    -- the household's village
    village_areas.area_key,
    payments.paid_date,
    payments.amount_yuan,
    funding_sources.aid_funding_source_key,
    payments.batch_id,
    payments.source_file_id,
    payments.source_row_number
from payments
left join village_areas
    on payments.township_code = village_areas.township_code
    and payments.village_name_zh = village_areas.name_zh
left join funding_sources
    on payments.funding_source_name_zh = funding_sources.name_zh
