{#-
    One row per event a count measure counts: which measure, the date that
    puts it in a period, the village it is counted in, its breakdown member
    (if the measure has a breakdown) and the key counted distinct.

    Generated from the registry's `count` rows (var kpi_measures in
    dbt_project.yml, macros/kpi_measures.sql): a new count KPI is a row
    there, not a change here. A measure with a breakdown emits each event
    with its member (hrss_trainees_placed by trade, health_remote_readings
    by exam type, the case counts by domain); a township-only measure places
    its events at the township, and kpi_measures_counted gives it no
    village rows.
-#}
with

measure_rows as (
{{ kpi_measure_rows(["count"], "events") }}
)

select
    measure_code,
    event_date,
    area_code,
    township_code,
    breakdown_dimension,
    breakdown_member,
    counted_key
from measure_rows
