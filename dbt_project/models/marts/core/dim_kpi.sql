{#- One row per KPI: its definition now in force (the newest version in
    seeds/kpi_definitions.csv). Every version, with the periods it applies
    to, is in dim_kpi_version. -#}
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
        adds_up_over_time,
        row_number() over (partition by kpi_code order by version desc) as newest_first
    from {{ ref('kpi_definitions') }}

)

select
    kpi_code,
    name_zh,
    name_en,
    department,
    unit,
    definition,
    direction,
    version as kpi_version,
    valid_from as version_valid_from,
    adds_up_over_time
from kpi_definitions
where newest_first = 1
