with

enrolled_people as (

    select
        person_id,
        person_sex,
        person_birth_year
    from {{ ref('stg_hrss__enrolments') }}

),

certified_people as (

    select
        person_id,
        person_sex,
        person_birth_year
    from {{ ref('stg_hrss__certificates') }}

),

placed_people as (

    select
        person_id,
        person_sex,
        person_birth_year
    from {{ ref('stg_hrss__placements') }}

),

-- union, not union all: one row per distinct (person, sex, birth year).
-- Sex and birth year come from the resident ID behind the pseudonym, so they
-- cannot differ between extracts; if they ever did, the person would get two
-- rows and the unique test on person_key would say so.
people as (

    select person_id, person_sex, person_birth_year from enrolled_people
    union
    select person_id, person_sex, person_birth_year from certified_people
    union
    select person_id, person_sex, person_birth_year from placed_people

)

select
    {{ surrogate_key(['person_id']) }} as person_key,
    person_id,
    person_sex as sex,
    person_birth_year as birth_year
from people
