with

source as (

    select * from {{ source('enforcement', 'enf_case') }}

),

current_files as (

    select file_id from {{ ref('stg_audit__load_manifest') }}
    where is_row_source

),

renamed as (

    select
        ----------  ids
        township_code,
        case_id,
        subject_person_id,
        -- a business's Unified Social Credit Code: not personal data
        subject_uscc,

        ----------  strings
        domain_name as domain_name_zh,
        squad_name as squad_name_zh,
        village_name as village_name_zh,
        outcome_name as outcome_name_zh,
        assisting_agency_names as assisting_agency_names_zh,
        subject_type_name as subject_type_name_zh,
        subject_person_sex,

        ----------  numerics
        subject_person_birth_year,
        penalty_yuan,

        ----------  dates
        opened_date,
        closed_date,

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
