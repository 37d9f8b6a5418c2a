with

source as (

    select * from {{ source('health', 'health_remote_reading') }}

),

current_files as (

    select file_id from {{ ref('stg_audit__load_manifest') }}
    where is_row_source

),

renamed as (

    select
        ----------  ids
        township_code,
        request_id,
        patient_id,

        ----------  strings
        patient_sex,
        village_name as village_name_zh,
        exam_type_name as exam_type_name_zh,

        ----------  numerics
        patient_birth_year,

        ----------  timestamps
        requested_at,
        reported_at,

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
