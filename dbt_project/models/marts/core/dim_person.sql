{#-
    The conformed person dimension: everyone any department's extracts
    mention, under the keyed pseudonym of their resident ID number. The
    loader gives the same person the same pseudonym in every extract, so a
    trainee who is later a patient, or an officer who is also a party to a
    case, is one row here.
-#}
with

hrss_enrolled_people as (

    select
        person_id,
        person_sex,
        person_birth_year
    from {{ ref('stg_hrss__enrolments') }}

),

hrss_certified_people as (

    select
        person_id,
        person_sex,
        person_birth_year
    from {{ ref('stg_hrss__certificates') }}

),

hrss_placed_people as (

    select
        person_id,
        person_sex,
        person_birth_year
    from {{ ref('stg_hrss__placements') }}

),

inpatients as (

    select
        patient_id as person_id,
        patient_sex as person_sex,
        patient_birth_year as person_birth_year
    from {{ ref('stg_health__admissions') }}

),

remote_reading_patients as (

    select
        patient_id as person_id,
        patient_sex as person_sex,
        patient_birth_year as person_birth_year
    from {{ ref('stg_health__remote_readings') }}

),

aid_household_heads as (

    select
        household_head_id as person_id,
        household_head_sex as person_sex,
        household_head_birth_year as person_birth_year
    from {{ ref('stg_health__medical_aid_payments') }}

),

officers as (

    select
        person_id,
        person_sex,
        person_birth_year
    from {{ ref('stg_enforcement__officer_assignments') }}

),

-- only parties that are people have a pseudonym; businesses have a USCC
case_parties as (

    select
        subject_person_id as person_id,
        subject_person_sex as person_sex,
        subject_person_birth_year as person_birth_year
    from {{ ref('stg_enforcement__cases') }}
    where subject_person_id is not null

),

-- union, not union all: one row per distinct (person, sex, birth year).
-- Sex and birth year come from the resident ID behind the pseudonym, so they
-- cannot differ between extracts; if they ever did, the person would get two
-- rows and the unique test on person_key would say so.
people as (

    select person_id, person_sex, person_birth_year from hrss_enrolled_people
    union
    select person_id, person_sex, person_birth_year from hrss_certified_people
    union
    select person_id, person_sex, person_birth_year from hrss_placed_people
    union
    select person_id, person_sex, person_birth_year from inpatients
    union
    select person_id, person_sex, person_birth_year from remote_reading_patients
    union
    select person_id, person_sex, person_birth_year from aid_household_heads
    union
    select person_id, person_sex, person_birth_year from officers
    union
    select person_id, person_sex, person_birth_year from case_parties

)

select
    {{ surrogate_key(['person_id']) }} as person_key,
    person_id,
    person_sex as sex,
    person_birth_year as birth_year
from people
