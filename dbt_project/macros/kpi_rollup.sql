{#-
    The KPI rollup shared by kpi_measures_counted, kpi_amounts_aggregated
    and kpi_ranges_aggregated: one select that aggregates rows already
    placed in their periods, in one pass, at the three levels of the area
    hierarchy, each per breakdown member and in total:

        village   (rows_in_periods.area_code)
        township  (rows_in_periods.township_code)
        county    (all rows)

    and returns

        <key_columns>, area_level, area_code, breakdown_dimension,
        breakdown_member, <the aggregate columns of the call block>

    Why one macro: the grouping sets, the mapping of grouping() to
    area_level and the rules for which rows to keep are the definition of a
    KPI row; written once, the three kinds of KPI cannot drift apart.

    Every level is aggregated from the rows themselves, never from another
    level: a county distinct count or median is taken over all its
    townships' rows, so a person trained in two townships counts once in
    the county.

    Rows kept:
    - township rows carry the township's code, county rows
      var('county_area_code');
    - a measure without a breakdown has a null breakdown_dimension, so its
      "per member" grouping sets only repeat the totals: only the totals
      are kept;
    - rows placed at a township itself (a township-only measure: area_code
      = township_code) count in that township and the county and give no
      village row;
    - rows with a null area_code (an unknown village) count in the county
      and give a village and a township row with a null area_code (so that
      they do not drop out: the not_null test on the KPI rows reports
      them), unless village_rows_need_area_code is true
      (kpi_ranges_aggregated, whose rows without a range pad every delivered
      period so that its totals exist; they carry their township).

    The aggregate expressions are the body of the call block, with their
    aliases; they may use any column of rows_in_periods:

        {% call kpi_rollup('events_in_periods', ['measure_code', 'period_grain', 'period_start_date']) -%}
            count(distinct counted_key) as distinct_count
        {%- endcall %}
-#}
{% macro kpi_rollup(rows_in_periods, key_columns, village_rows_need_area_code=false) -%}

    {%- if key_columns is string or key_columns | length == 0 -%}
        {{ exceptions.raise_compiler_error("kpi_rollup() takes a non-empty list of key columns, got: " ~ key_columns) }}
    {%- endif -%}

    {%- set county_area_code = var("county_area_code") -%}

    {#- area_code is qualified wherever the input column is meant: the output
        column of the same name is the township's or county's code on their
        rows -#}
    select
        {%- for column in key_columns %}
        {{ column }},
        {%- endfor %}
        -- grouping() is 1 where the column was rolled up in this grouping set
        case
            when grouping(rows_in_periods.township_code) = 1 then 'county'
            when grouping(rows_in_periods.area_code) = 1 then 'township'
            else 'village'
        end as area_level,
        case
            when grouping(rows_in_periods.township_code) = 1 then '{{ county_area_code }}'
            when grouping(rows_in_periods.area_code) = 1 then rows_in_periods.township_code
            else rows_in_periods.area_code
        end as area_code,
        breakdown_dimension,
        breakdown_member,
        {{ caller() }}
    from {{ rows_in_periods }} as rows_in_periods
    group by
        {%- for column in key_columns %}
        {{ column }},
        {%- endfor %}
        grouping sets (
            (rows_in_periods.township_code, rows_in_periods.area_code, breakdown_dimension, breakdown_member),
            (rows_in_periods.township_code, rows_in_periods.area_code),
            (rows_in_periods.township_code, breakdown_dimension, breakdown_member),
            (rows_in_periods.township_code),
            (breakdown_dimension, breakdown_member),
            ()
        )
    -- a measure without a breakdown has a null breakdown_dimension, so its
    -- "per member" grouping sets only repeat the totals: keep the totals
    having (grouping(breakdown_dimension, breakdown_member) <> 0 or breakdown_dimension is not null)
        -- rows placed at a township itself have no village
        and (
            grouping(rows_in_periods.area_code) = 1
            {%- if village_rows_need_area_code %}
            or (rows_in_periods.area_code is not null and rows_in_periods.area_code is distinct from rows_in_periods.township_code)
            {%- else %}
            or rows_in_periods.area_code is distinct from rows_in_periods.township_code
            or rows_in_periods.area_code is null
            {%- endif %}
        )

{%- endmacro %}
