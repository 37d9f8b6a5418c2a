{#-
    The KPI rollup shared by kpi_measures_counted,
    kpi_amounts_aggregated and kpi_ranges_aggregated: one select
    that aggregates rows already placed in their periods, in one pass, per
    village x breakdown member, village total, township x member and
    township total, and returns

        <key_columns>, area_level, area_code, breakdown_dimension,
        breakdown_member, <the aggregate columns of the call block>

    Why one macro: the grouping sets, the mapping of grouping() to
    area_level and the rules for which rows to keep are the definition of a
    KPI row; written once, the three kinds of KPI cannot drift apart.

    Every area level is aggregated from the rows themselves, never from
    another level: a township distinct count or median is taken over all
    its villages' rows, not over their values.

    Rows kept:
    - township rows carry the code var('township_area_code');
    - a measure without a breakdown has a null breakdown_dimension, so its
      "per member" grouping sets only repeat the totals: only the totals
      are kept;
    - rows placed at the township itself (a township-only measure) count in
      the township rows and give no village row;
    - rows with a null area_code count in the township rows; they give a
      village row with a null area_code (so that an event of an unknown
      village does not drop out: the not_null test on the area_code of the
      unioned events reports it), unless village_rows_need_area_code is
      true (kpi_ranges_aggregated, whose rows without a range pad every
      delivered period so that its township total exists).

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

    {%- set township_area_code = var("township_area_code") -%}

    {#- area_code is qualified wherever the input column is meant: the output
        column of the same name is the township's code on township rows -#}
    select
        {%- for column in key_columns %}
        {{ column }},
        {%- endfor %}
        -- grouping() is 1 where the column was rolled up in this grouping set
        case when grouping(rows_in_periods.area_code) = 1 then 'township' else 'village' end as area_level,
        case
            when grouping(rows_in_periods.area_code) = 1 then '{{ township_area_code }}'
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
            (rows_in_periods.area_code, breakdown_dimension, breakdown_member),
            (rows_in_periods.area_code),
            (breakdown_dimension, breakdown_member),
            ()
        )
    -- a measure without a breakdown has a null breakdown_dimension, so its
    -- "per member" grouping sets only repeat the totals: keep the totals
    having (grouping(breakdown_dimension, breakdown_member) <> 0 or breakdown_dimension is not null)
        -- rows placed at the township itself have no village
        and (
            grouping(rows_in_periods.area_code) = 1
            {%- if village_rows_need_area_code %}
            or (rows_in_periods.area_code is not null and rows_in_periods.area_code <> '{{ township_area_code }}')
            {%- else %}
            or rows_in_periods.area_code is distinct from '{{ township_area_code }}'
            {%- endif %}
        )

{%- endmacro %}
