{#-
    One row per event that carries an amount a measure aggregates: which
    measure, how ('sum' or 'median'), the date that puts it in a period,
    the village, the breakdown member (if any) and the amount.

    - 'sum': the period's value is the sum of the amounts (yuan paid, yuan
      fined, days in hospital).
    - 'median': the period's value is the median (percentile_cont(0.5)) of
      the amounts, e.g. hours from request to report.

    Generated from the registry's `sum` and `median` rows (var kpi_measures,
    macros/kpi_measures.sql). Their `where` leaves out events without an
    amount (an unanswered reading, an open case): they have nothing to add
    or rank.
-#}
with

measure_rows as (
{{ kpi_measure_rows(["sum", "median"], "events") }}
)

select
    measure_code,
    aggregation,
    event_date,
    area_code,
    township_code,
    breakdown_dimension,
    breakdown_member,
    amount
from measure_rows
