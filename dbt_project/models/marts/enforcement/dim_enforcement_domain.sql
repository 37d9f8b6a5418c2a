with

enforcement_domains as (

    select
        enforcement_domain_code,
        name_zh,
        name_en
    from {{ ref('enforcement_domains') }}

)

select
    {{ surrogate_key(['enforcement_domain_code']) }} as enforcement_domain_key,
    enforcement_domain_code,
    name_zh,
    name_en
from enforcement_domains
