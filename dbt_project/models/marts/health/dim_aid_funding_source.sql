with

health_aid_funding_sources as (

    select
        aid_funding_source_code,
        name_zh,
        name_en
    from {{ ref('health_aid_funding_sources') }}

)

select
    {{ surrogate_key(['aid_funding_source_code']) }} as aid_funding_source_key,
    aid_funding_source_code,
    name_zh,
    name_en
from health_aid_funding_sources
