with

source as (

    select * from {{ source('enforcement', 'enf_officer_assignment') }}

),

current_files as (

    select file_id from {{ ref('stg_audit__load_manifest') }}
    where is_row_source

),

renamed as (

    select
        ----------  ids
        township_code,
        officer_id,
        person_id,

        ----------  strings
        person_sex,
        squad_name as squad_name_zh,

        ----------  numerics
        person_birth_year,

        ----------  dates
        -- as in the roster: assigned_to (任职结束日期) is the last day of the
        -- assignment, inclusive; dim_officer turns it into an exclusive end
        assigned_from,
        assigned_to as assigned_to_inclusive,

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
