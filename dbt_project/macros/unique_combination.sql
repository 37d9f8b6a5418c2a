{#-
    Fails with one row per combination of the given columns that occurs more
    than once. Nulls compare equal here (group by semantics), unlike in a
    unique constraint: a KPI total row has a null breakdown, and two total
    rows for the same KPI, period and area are duplicates all the same.
-#}
{% test unique_combination(model, combination_of_columns) %}

    {%- if combination_of_columns is string or combination_of_columns | length == 0 -%}
        {{ exceptions.raise_compiler_error("unique_combination needs a non-empty list of columns, got: " ~ combination_of_columns) }}
    {%- endif %}

with

duplicated_combinations as (

    select
        {%- for column in combination_of_columns %}
        {{ column }},
        {%- endfor %}
        count(*) as occurrence_count

    from {{ model }}

    group by
        {%- for column in combination_of_columns %}
        {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}

    having count(*) > 1

)

select * from duplicated_combinations

{% endtest %}
