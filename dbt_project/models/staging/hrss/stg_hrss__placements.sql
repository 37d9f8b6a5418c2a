with

source as (

    select * from {{ source('hrss', 'hrss_placement') }}

),

current_files as (

    select file_id from {{ ref('stg_audit__load_manifest') }}
    where is_row_source

),

renamed as (

    select
        ----------  ids
        township_code,
        person_id,
        class_id,

        ----------  strings
        person_sex,
        employer_name,
        employer_type as employer_type_zh,
        employment_form,

        ----------  numerics
        person_birth_year,
        monthly_wage_yuan,

        ----------  dates
        placed_date,

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
