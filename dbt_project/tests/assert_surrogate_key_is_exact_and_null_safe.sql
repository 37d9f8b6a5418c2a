-- surrogate_key() must give exactly md5 of the '|'-joined values, write a
-- null as '_null_' (never returning null itself), and tell apart keys whose
-- nulls sit in different places. Expected hashes computed outside
-- PostgreSQL (Python hashlib). Returns one row per failed check.
with

checks as (

    select
        'single value' as check_name,
        {{ surrogate_key(["'p1'"]) }} as actual_key,
        'ec6ef230f1828039ee794566b9c58adc' as expected_key
    union all
    select
        'two values joined with |',
        {{ surrogate_key(["'C2023-01'", "'p1'"]) }},
        'a9e951f3d12e40bb790d07453eb2a92f'
    union all
    select
        'null in the middle, non-text value',
        {{ surrogate_key(["'a'", "cast(null as text)", "1"]) }},
        '5ff28f76bf6452ec6eb715c25b2da3f3'
    union all
    select
        'a lone null still gives a key',
        {{ surrogate_key(["cast(null as date)"]) }},
        '68633484e25105c6d6f21d8b4698ba59'
    union all
    select
        'null position matters',
        case
            when {{ surrogate_key(["cast(null as text)", "'a'"]) }} <> {{ surrogate_key(["'a'", "cast(null as text)"]) }}
                then 'different'
        end,
        'different'

)

select
    check_name,
    actual_key,
    expected_key
from checks
where actual_key is distinct from expected_key
