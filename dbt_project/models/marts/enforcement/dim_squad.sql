with

enforcement_squads as (

    select
        squad_code,
        name_zh,
        name_en
    from {{ ref('enforcement_squads') }}

)

select
    {{ surrogate_key(['squad_code']) }} as squad_key,
    squad_code,
    name_zh,
    name_en
from enforcement_squads
