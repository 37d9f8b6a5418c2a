{#-
    Type-2 officer dimension built from the roster's assignment dates: one
    row per officer per squad assignment. Validity ranges are half-open,
    [valid_from, valid_to): the roster writes the last day of an assignment
    (任职结束日期, inclusive), so valid_to is that day + 1; a transfer ends
    the old row the day before the new one starts, so the two versions meet
    exactly. An officer who left has a last version with a valid_to and no
    current version. Overlaps are kept as delivered and reported by the
    non_overlapping_ranges test.
-#}
with

assignments as (

    select
        township_code,
        officer_id,
        person_id,
        squad_name_zh,
        assigned_from,
        assigned_to_inclusive,
        batch_id,
        source_file_id,
        source_row_number
    from {{ ref('stg_enforcement__officer_assignments') }}

),

squads as (

    select
        squad_key,
        name_zh
    from {{ ref('dim_squad') }}

)

select
    {{ surrogate_key(['assignments.township_code', 'assignments.officer_id', 'assignments.assigned_from']) }} as officer_version_key,
    -- the officer, whatever the assignment, in the township's brigade
    {{ surrogate_key(['assignments.township_code', 'assignments.officer_id']) }} as officer_key,
    assignments.officer_id,
    -- the township of the brigade (dim_area.area_key)
    {{ surrogate_key(['assignments.township_code']) }} as township_key,
    {{ surrogate_key(['assignments.person_id']) }} as person_key,
    squads.squad_key,
    -- the squad as a unit of this township's brigade (squad_key is the kind
    -- of squad, the same in every township)
    {{ surrogate_key(['assignments.township_code', 'squads.squad_key']) }} as township_squad_key,
    assignments.assigned_from as valid_from,
    -- exclusive end: the day after the last day of the assignment
    assignments.assigned_to_inclusive + 1 as valid_to,
    assignments.assigned_to_inclusive is null as is_current,
    assignments.batch_id,
    assignments.source_file_id,
    assignments.source_row_number
from assignments
left join squads
    on assignments.squad_name_zh = squads.name_zh
