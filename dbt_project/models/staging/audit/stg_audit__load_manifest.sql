with

source as (

    select * from {{ source('audit', 'load_manifest') }}

),

renamed as (

    select
        ----------  ids
        file_id,
        batch_id,
        superseded_by_file_id,

        ----------  strings
        department,
        extract_name,
        period,
        file_name,
        file_path,
        sha256,
        encoding,
        status,
        message,

        ----------  numerics
        size_bytes,
        rows_read as rows_read_count,
        rows_loaded as rows_loaded_count,
        rows_rejected as rows_rejected_count,

        ----------  booleans
        (status = 'loaded' and superseded_by_file_id is null) as is_current,

        ----------  timestamps
        received_at,
        loaded_at

    from source

)

select * from renamed
