{#-
    What the KPI values of each measure and month are computed from, as one
    fingerprint per measure x calendar month: the number of input rows and
    the sum of their hashes, mixed with the measure's registry row
    and whether the catalogue (dim_kpi) publishes it.

    The inputs of a month are
    - events and amounts dated in it (kpi_measure_events, kpi_measure_amounts);
    - validity ranges overlapping it, within the months their extract has
      delivered for their township (kpi_measure_ranges), and one row per
      township that delivered the month (a newly delivered month changes
      even when no range is valid in it).

    Two builds that give a (measure, month) the same fingerprint give its
    month, and its share of the quarter and the year, the same inputs; a
    different fingerprint, or one that appears or disappears, marks the
    month changed (kpi_changed_partitions). The sum of 64-bit hashes does
    not depend on row order, and costs one pass without sorting.
    docs/adr/0024-kpi-values-by-changed-period.md.
-#}
{{ config(materialized='table', post_hook="analyze {{ this }}") }}

with

definitions as (

    -- a change to a measure's registry row changes all its months
    select measure_code, definition
    from (
        values
        {%- for measure in kpi_measures() %}
            ('{{ measure.measure }}', '{{ tojson(measure, sort_keys=true) | replace("'", "''") }}'){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as registry (measure_code, definition)

),

-- a measure published or not (its row in the catalogue, dim_kpi):
-- fct_kpi_value keeps only published measures, so adding a catalogue row
-- must recompute the measure
published as (

    select kpi_code
    from {{ ref('dim_kpi') }}

),

event_rows as (

    select
        measure_code,
        cast(date_trunc('month', cast(event_date as timestamp)) as date) as month_start_date,
        hashtextextended(cast(row(event_date, area_code, township_code, breakdown_dimension, breakdown_member, counted_key) as text), 0) as row_hash
    from {{ ref('kpi_measure_events') }}

),

amount_rows as (

    select
        measure_code,
        cast(date_trunc('month', cast(event_date as timestamp)) as date) as month_start_date,
        hashtextextended(cast(row(aggregation, event_date, area_code, township_code, breakdown_dimension, breakdown_member, amount) as text), 0) as row_hash
    from {{ ref('kpi_measure_amounts') }}

),

delivered_months as (

    select
        extract_name,
        township_code,
        month_start_date,
        month_end_date
    from {{ ref('kpi_delivered_months') }}

),

range_measures as (

    select distinct
        measure_code,
        extract_name
    from {{ ref('kpi_measure_ranges') }}

),

range_rows as (

    select
        ranges.measure_code,
        delivered_months.month_start_date,
        hashtextextended(cast(row(ranges.aggregation, ranges.valid_from, ranges.valid_to, ranges.area_code, ranges.township_code, ranges.breakdown_dimension, ranges.breakdown_member, ranges.counted_key, ranges.amount) as text), 0) as row_hash
    from {{ ref('kpi_measure_ranges') }} as ranges
    inner join delivered_months
        on ranges.extract_name = delivered_months.extract_name
        and ranges.township_code = delivered_months.township_code
        and ranges.valid_from <= delivered_months.month_end_date
        and (ranges.valid_to is null or ranges.valid_to > delivered_months.month_start_date)

),

delivered_rows as (

    select
        range_measures.measure_code,
        delivered_months.month_start_date,
        hashtextextended('delivered ' || delivered_months.township_code, 0) as row_hash
    from range_measures
    inner join delivered_months
        on range_measures.extract_name = delivered_months.extract_name

),

input_rows as (

    select measure_code, month_start_date, row_hash from event_rows
    union all
    select measure_code, month_start_date, row_hash from amount_rows
    union all
    select measure_code, month_start_date, row_hash from range_rows
    union all
    select measure_code, month_start_date, row_hash from delivered_rows

),

per_month as (

    select
        measure_code,
        month_start_date,
        count(*) as input_rows,
        sum(cast(row_hash as numeric)) as hash_sum
    from input_rows
    group by measure_code, month_start_date

)

select
    per_month.measure_code,
    per_month.month_start_date,
    per_month.input_rows,
    md5(
        coalesce(definitions.definition, '')
        || case when published.kpi_code is null then ' helper ' else ' published ' end
        || per_month.input_rows || ' ' || per_month.hash_sum
    ) as fingerprint
from per_month
left join definitions
    on per_month.measure_code = definitions.measure_code
left join published
    on per_month.measure_code = published.kpi_code
