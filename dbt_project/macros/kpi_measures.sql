{#-
    The KPI registry (var kpi_measures in dbt_project.yml), checked: every
    row has the fields its kind needs, codes are unique, a ratio's measures
    exist, a breakdown or join is one of var kpi_breakdowns. A bad row stops
    the parse with a message naming it and what to fix.

    kpi_measures(kinds) returns the rows of those kinds, in registry order;
    kpi_measures() returns them all.
-#}
{% macro kpi_measures(kinds=none) -%}
    {%- set registry = var("kpi_measures") -%}
    {%- set breakdowns = var("kpi_breakdowns") -%}
    {%- set needs = {
        "count": ["model", "date", "key"],
        "sum": ["model", "date", "amount"],
        "median": ["model", "date", "amount"],
        "count_at_period_end": ["model", "extract", "key"],
        "sum_at_period_end": ["model", "extract", "key", "amount"],
        "sum_per_day": ["model", "extract", "key", "amount"],
        "ratio": ["numerator", "denominator", "multiplier"],
    } -%}
    {%- set fields = ["measure", "kind", "model", "date", "key", "amount", "extract", "valid_from", "valid_to",
                      "area", "area_key", "breakdown", "joins", "where", "numerator", "denominator", "multiplier"] -%}
    {%- set rows = [] -%}
    {%- for given in registry -%}
        {%- set unknown = given.keys() | reject("in", fields) | list -%}
        {%- if unknown -%}
            {{ exceptions.raise_compiler_error("kpi_measures row " ~ loop.index ~ " in dbt_project.yml: unknown field " ~ (unknown | join(", ")) ~ " (the fields are " ~ (fields | join(", ")) ~ ")") }}
        {%- endif -%}
        {%- set row = {} -%}
        {%- for field in fields -%}
            {%- do row.update({field: given.get(field)}) -%}
        {%- endfor -%}
        {%- do rows.append(row) -%}
    {%- endfor -%}
    {%- set codes = rows | map(attribute="measure") | list -%}
    {%- for row in rows -%}
        {%- set where = "kpi_measures row " ~ loop.index ~ " (" ~ (row.measure or "no measure code") ~ ") in dbt_project.yml" -%}
        {%- if not row.measure -%}
            {{ exceptions.raise_compiler_error(where ~ ": give the measure its code (measure: ...)") }}
        {%- endif -%}
        {%- if codes.count(row.measure) > 1 -%}
            {{ exceptions.raise_compiler_error(where ~ ": the code is used by more than one row; each measure has one row") }}
        {%- endif -%}
        {%- if row.kind not in needs -%}
            {{ exceptions.raise_compiler_error(where ~ ": kind " ~ row.kind ~ " is not one of " ~ (needs.keys() | sort | join(", "))) }}
        {%- endif -%}
        {%- for field in needs[row.kind] -%}
            {%- if row[field] is none -%}
                {{ exceptions.raise_compiler_error(where ~ ": a " ~ row.kind ~ " measure needs " ~ field ~ ": (needs " ~ (needs[row.kind] | join(", ")) ~ ")") }}
            {%- endif -%}
        {%- endfor -%}
        {%- for part in [row.numerator, row.denominator] if part is not none and part not in codes -%}
            {{ exceptions.raise_compiler_error(where ~ ": ratio part " ~ part ~ " is not a measure of the registry") }}
        {%- endfor -%}
        {%- for name in ([row.breakdown] if row.breakdown else []) + (row.joins or []) if name not in breakdowns -%}
            {{ exceptions.raise_compiler_error(where ~ ": " ~ name ~ " is not one of kpi_breakdowns (" ~ (breakdowns.keys() | sort | join(", ")) ~ ")") }}
        {%- endfor -%}
        {%- if row.area not in (none, "village", "township") -%}
            {{ exceptions.raise_compiler_error(where ~ ": area is village (the default) or township, not " ~ row.area) }}
        {%- endif -%}
    {%- endfor -%}
    {%- set selected = [] -%}
    {%- for row in rows if kinds is none or row.kind in kinds -%}
        {%- do selected.append(row) -%}
    {%- endfor -%}
    {{ return(selected) }}
{%- endmacro %}


{#-
    One select per registry row of the given kinds, unioned: the rows the
    aggregators of models/kpi/ take, in the shape the kinds share.

    - events (count, sum, median): measure_code, aggregation, event_date,
      area_code, township_code, breakdown_dimension, breakdown_member,
      counted_key, amount
    - ranges (count_at_period_end, sum_at_period_end, sum_per_day):
      measure_code, aggregation, extract_name, valid_from, valid_to,
      area_code, township_code, breakdown_dimension, breakdown_member,
      counted_key, amount

    The model is read as `source`; its area_key (or the registry's
    area_key column) is joined to dim_area with a left join, so that a row
    of an unknown village keeps a null area_code (the not_null test on the
    KPI rows reports it) instead of dropping out; township_code is the
    village's township (dim_area). A township-only measure joins the
    model's township_key instead: its rows are placed at their township
    (area_code = township_code). A breakdown, and each of `joins`, is
    joined by its key.
-#}
{% macro kpi_measure_rows(kinds, shape) -%}
    {%- set aggregations = {
        "count": "count_distinct",
        "sum": "sum",
        "median": "median",
        "count_at_period_end": "count_distinct_at_period_end",
        "sum_at_period_end": "sum_at_period_end",
        "sum_per_day": "sum_per_day",
    } -%}
    {%- set breakdowns = var("kpi_breakdowns") -%}
    {%- set rows = kpi_measures(kinds) -%}
    {%- if rows | length == 0 -%}
        {{ exceptions.raise_compiler_error("kpi_measure_rows(): the registry has no measure of kind " ~ (kinds | join(", "))) }}
    {%- endif -%}
    {%- for row in rows %}
    -- {{ row.measure }}
    select
        cast('{{ row.measure }}' as text) as measure_code,
        cast('{{ aggregations[row.kind] }}' as text) as aggregation,
        {%- if shape == "ranges" %}
        cast('{{ row.extract }}' as text) as extract_name,
        {{ row.valid_from or "valid_from" }} as valid_from,
        {{ row.valid_to or "valid_to" }} as valid_to,
        {%- else %}
        {{ row.date }} as event_date,
        {%- endif %}
        areas.area_code,
        areas.township_code,
        {%- if row.breakdown %}
        cast('{{ row.breakdown }}' as text) as breakdown_dimension,
        cast({{ row.breakdown }}.{{ breakdowns[row.breakdown].column }} as text) as breakdown_member,
        {%- else %}
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        {%- endif %}
        cast({{ row.key if row.key is not none else "null" }} as text) as counted_key,
        cast({{ row.amount if row.amount is not none else "null" }} as numeric) as amount
    from {{ ref(row.model) }} as source
    {%- for name in ([row.breakdown] if row.breakdown else []) + (row.joins or []) %}
    left join {{ ref(breakdowns[name].model) }} as {{ name }}
        on source.{{ breakdowns[name].key }} = {{ name }}.{{ breakdowns[name].key }}
    {%- endfor %}
    left join {{ ref("dim_area") }} as areas
        on source.{{ "township_key" if row.area == "township" else (row.area_key or "area_key") }} = areas.area_key
    {%- if row.where %}
    where {{ row.where }}
    {%- endif %}
    {% if not loop.last %}
    union all
    {% endif %}
    {%- endfor %}
{%- endmacro %}
