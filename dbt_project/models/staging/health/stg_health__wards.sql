with

source as (

    select * from {{ source('health', 'health_ward') }}

),

current_files as (

    select file_id from {{ ref('stg_audit__load_manifest') }}
    where is_row_source

),

renamed as (

    select
        ----------  ids
        township_code,
        ward_id,

        ----------  strings
        site_name as site_name_zh,
        care_department_name as care_department_name_zh,

        ----------  numerics
        open_bed_count,

        ----------  dates
        -- as in the register: valid_to (停用日期) is the ward's last day in
        -- service, inclusive; dim_ward turns it into an exclusive end
        valid_from,
        valid_to as valid_to_inclusive,

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
