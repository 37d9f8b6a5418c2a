{#- Every version of every KPI's definition (口径), with the periods it
    applies to: a version is in force from its valid_from (version 1: from
    the start) until the day before the next version's. -#}
with

kpi_definitions as (

    select
        kpi_code,
        version,
        valid_from,
        name_zh,
        name_en,
        department,
        unit,
        definition,
        direction,
        adds_up_over_time
    from {{ ref('kpi_definitions') }}

),

versions as (

    select
        kpi_code,
        version as kpi_version,
        valid_from,
        lead(valid_from) over (partition by kpi_code order by version) as next_valid_from,
        name_zh,
        name_en,
        department,
        unit,
        definition,
        direction,
        adds_up_over_time
    from kpi_definitions

)

select
    {{ surrogate_key(['kpi_code', 'kpi_version']) }} as kpi_version_key,
    kpi_code,
    kpi_version,
    valid_from,
    cast(next_valid_from - 1 as date) as valid_to,
    next_valid_from is null as is_current,
    name_zh,
    name_en,
    department,
    unit,
    definition,
    direction,
    adds_up_over_time
from versions
