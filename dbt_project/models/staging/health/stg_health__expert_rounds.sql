with

source as (

    select * from {{ source('health', 'health_expert_round') }}

),

current_files as (

    select file_id from {{ ref('stg_audit__load_manifest') }}
    where is_row_source

),

renamed as (

    select
        ----------  ids
        township_code,
        round_id,

        ----------  strings
        expert_department_name as expert_department_name_zh,
        care_department_name as care_department_name_zh,

        ----------  numerics
        patients_seen_count,

        ----------  dates
        round_date,

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
