with

source as (

    select * from {{ source('hrss', 'hrss_training_class') }}

),

current_files as (

    select file_id from {{ ref('stg_audit__load_manifest') }}
    where is_row_source

),

renamed as (

    select
        ----------  ids
        township_code,
        class_id,

        ----------  strings
        class_name,
        trade_name as trade_name_zh,
        venue_name as venue_name_zh,
        provider_name,

        ----------  numerics
        training_hours,
        planned_trainee_count,

        ----------  dates
        start_date,
        end_date,

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
