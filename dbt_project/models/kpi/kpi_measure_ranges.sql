{#-
    One row per validity range a measure takes: a state that holds from
    valid_from (inclusive) to valid_to (exclusive; null = still holds), with
    the extract whose delivered months bound it, the village it is counted
    in, a breakdown member (if any), the key counted distinct and an amount.

    - 'count_distinct_at_period_end': distinct counted_key over the ranges
      valid on the last day of the period (wards open, officers assigned).
    - 'sum_at_period_end': sum of amount over the ranges valid on the last
      day of the period (open beds).
    - 'sum_per_day': sum over each day of the period of the amounts of the
      ranges valid that day, i.e. amount x days of overlap (bed-days).

    Generated from the registry's range rows (var kpi_measures,
    macros/kpi_measures.sql); kpi_ranges_aggregated takes each only over
    the months its extract has delivered (kpi_delivered_months).
-#}
with

measure_rows as (
{{ kpi_measure_rows(["count_at_period_end", "sum_at_period_end", "sum_per_day"], "ranges") }}
)

select
    measure_code,
    aggregation,
    extract_name,
    valid_from,
    valid_to,
    area_code,
    township_code,
    breakdown_dimension,
    breakdown_member,
    counted_key,
    amount
from measure_rows
