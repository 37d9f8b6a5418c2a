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
        delivery,
        -- the township the file is for; null for a county file (its rows
        -- name their townships)
        township_code,

        ----------  numerics
        size_bytes,
        rows_read as rows_read_count,
        rows_loaded as rows_loaded_count,
        rows_rejected as rows_rejected_count,

        ----------  booleans
        {% if var('as_of_file_ids', none) is not none -%}
        -- as of a past publication (`govkpi audit verify`): the files it
        -- recorded were the current ones
        (
            status = 'loaded'
            and file_id = any(cast(array[{{ var('as_of_file_ids') | join(', ') }}] as bigint[]))
        ) as is_current,
        {%- else -%}
        (status = 'loaded' and superseded_by_file_id is null) as is_current,
        {%- endif %}

        ----------  dates
        -- a period is a year ('2023') or a month ('2023-03'); null for
        -- anything else, which the not_null test reports
        case
            when period ~ '^[0-9]{4}$' then cast(period || '-12-31' as date)
            when period ~ '^[0-9]{4}-[0-9]{2}$'
                then cast(cast(period || '-01' as date) + interval '1 month - 1 day' as date)
        end as period_end_date,

        ----------  timestamps
        received_at,
        loaded_at

    from source

),

latest_snapshots as (

    select
        extract_name,
        township_code,
        max(period_end_date) as latest_period_end_date
    from renamed
    where is_current and delivery = 'snapshot'
    -- each township's register, or the county's, stands on its own
    group by extract_name, township_code

)

select
    renamed.*,
    -- whether the file's rows reach staging: every current file of an
    -- events extract; of a snapshot extract (a register delivered whole
    -- each period) only the current file of the latest period, per
    -- township (or county file)
    (
        renamed.is_current
        and (
            renamed.delivery = 'events'
            or renamed.period_end_date = latest_snapshots.latest_period_end_date
        )
    ) as is_row_source
from renamed
left join latest_snapshots
    on renamed.extract_name = latest_snapshots.extract_name
    and renamed.township_code is not distinct from latest_snapshots.township_code
