{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_rows_of_replaced_files(ref('stg_enforcement__cases')) }}"
    )
}}
-- incremental by delivered file (macros/incremental_by_file.sql)

with

cases as (

    select
        township_code,
        case_id,
        subject_person_id,
        subject_uscc,
        domain_name_zh,
        squad_name_zh,
        village_name_zh,
        outcome_name_zh,
        assisting_agency_names_zh,
        subject_type_name_zh,
        penalty_yuan,
        opened_date,
        closed_date,
        batch_id,
        source_file_id,
        source_row_number
    from {{ ref('stg_enforcement__cases') }} as staged
    where {{ only_new_source_files('staged.source_file_id') }}

),

domains as (

    select
        enforcement_domain_key,
        name_zh
    from {{ ref('dim_enforcement_domain') }}

),

squads as (

    select
        squad_key,
        name_zh
    from {{ ref('dim_squad') }}

),

village_areas as (

    select
        area_key,
        township_code,
        name_zh
    from {{ ref('dim_area') }}
    where area_level = 'village'

),

subject_types as (

    select
        name_zh,
        subject_type
    from {{ ref('enforcement_subject_types') }}

),

cases_classified as (

    select
        cases.township_code,
        cases.case_id,
        domains.enforcement_domain_key,
        squads.squad_key,
        village_areas.area_key,
        cases.opened_date,
        cases.closed_date,
        cases.outcome_name_zh,
        cases.penalty_yuan,
        -- 协助单位 lists the agencies as written, e.g. 司法所、派出所
        coalesce(strpos(cases.assisting_agency_names_zh, '司法所') > 0, false) as is_assisted_by_justice_office,
        coalesce(strpos(cases.assisting_agency_names_zh, '派出所') > 0, false) as is_assisted_by_police,
        subject_types.subject_type,
        cases.subject_uscc,
        cases.subject_person_id,
        cases.batch_id,
        cases.source_file_id,
        cases.source_row_number
    from cases
    left join domains
        on cases.domain_name_zh = domains.name_zh
    left join squads
        on cases.squad_name_zh = squads.name_zh
    left join village_areas
        on cases.township_code = village_areas.township_code
        and cases.village_name_zh = village_areas.name_zh
    left join subject_types
        on cases.subject_type_name_zh = subject_types.name_zh

)

select
    {{ surrogate_key(['township_code', 'case_id']) }} as case_key,
    case_id,
    -- the township whose brigade has the case (dim_area.area_key)
    {{ surrogate_key(['township_code']) }} as township_key,
    enforcement_domain_key,
    squad_key,
    -- the village where the matter happened
    area_key,
    opened_date,
    closed_date,
    closed_date - opened_date as days_to_close,
    outcome_name_zh,
    penalty_yuan,
    is_assisted_by_justice_office,
    is_assisted_by_police,
    (is_assisted_by_justice_office or is_assisted_by_police) as is_assisted,
    subject_type,
    -- a business party is identified by its credit code, an individual by
    -- the person dimension; neither is filled for the other kind of party
    case when subject_type = 'business' then subject_uscc end as subject_uscc,
    case
        when subject_type = 'individual' and subject_person_id is not null
            then {{ surrogate_key(['subject_person_id']) }}
    end as person_key,
    batch_id,
    source_file_id,
    source_row_number
from cases_classified
