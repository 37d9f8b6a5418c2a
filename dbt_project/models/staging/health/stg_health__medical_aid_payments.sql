with

source as (

    select * from {{ source('health', 'health_medical_aid') }}

),

current_files as (

    select file_id from {{ ref('stg_audit__load_manifest') }}
    where is_row_source

),

renamed as (

    select
        ----------  ids
        township_code,
        payment_id,
        household_head_id,

        ----------  strings
        household_head_sex,
        village_name as village_name_zh,
        funding_source_name as funding_source_name_zh,

        ----------  numerics
        household_head_birth_year,
        amount_yuan,

        ----------  dates
        paid_date,

        ----------  lineage
        _batch_id as batch_id,
        _file_id as source_file_id,
        _row_number as source_row_number

    from source
    -- only rows of current files count (of a snapshot extract, its latest file)
    inner join current_files
        on source._file_id = current_files.file_id

)

select * from renamed
