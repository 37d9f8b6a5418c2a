with

placements as (

    select
        employer_name,
        employer_type_zh
    from {{ ref('stg_hrss__placements') }}

),

employer_types as (

    select
        employer_type_zh,
        employer_type
    from {{ ref('hrss_employer_types') }}

),

-- The ledger has no employer id: an employer is a name with a type, as
-- written. Keyed on the values as delivered so that fct_job_placement can
-- compute the same key without this lookup.
employers as (

    select distinct
        employer_name,
        employer_type_zh
    from placements

)

select
    {{ surrogate_key(['employers.employer_name', 'employers.employer_type_zh']) }} as employer_key,
    employers.employer_name,
    employer_types.employer_type
from employers
left join employer_types
    on employers.employer_type_zh = employer_types.employer_type_zh
