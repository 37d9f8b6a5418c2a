{#-
    Generic data test for type-2 dimensions: the validity ranges of one
    entity (e.g. the versions of one ward) must not overlap. Ranges are
    half-open, [lower, upper), and a null upper bound means "still valid",
    so a range that ends on the day the next one starts does not overlap it.

    Sorted by their lower bound, ranges of an entity overlap somewhere if and
    only if some range overlaps the one right after it, so one window
    function finds them. Fails with one row per range that overlaps its
    successor, and one per range that ends before (or when) it starts.
-#}
{% test non_overlapping_ranges(model, partition_by, lower_bound_column, upper_bound_column) %}

    {%- if partition_by is string or partition_by | length == 0 -%}
        {{ exceptions.raise_compiler_error("non_overlapping_ranges needs a non-empty list of columns in partition_by, got: " ~ partition_by) }}
    {%- endif %}

with

ranges_in_order as (

    select
        {%- for column in partition_by %}
        {{ column }},
        {%- endfor %}
        {{ lower_bound_column }} as range_lower_bound,
        {{ upper_bound_column }} as range_upper_bound,
        lead({{ lower_bound_column }}) over (
            partition by {% for column in partition_by %}{{ column }}{% if not loop.last %}, {% endif %}{% endfor %}
            order by {{ lower_bound_column }}, {{ upper_bound_column }} nulls last
        ) as next_range_lower_bound
    from {{ model }}

),

problems as (

    select
        {%- for column in partition_by %}
        {{ column }},
        {%- endfor %}
        range_lower_bound,
        range_upper_bound,
        'overlaps the next range' as problem
    from ranges_in_order
    where next_range_lower_bound is not null
        and (range_upper_bound is null or next_range_lower_bound < range_upper_bound)

    union all

    select
        {%- for column in partition_by %}
        {{ column }},
        {%- endfor %}
        range_lower_bound,
        range_upper_bound,
        'ends before it starts' as problem
    from ranges_in_order
    where range_upper_bound <= range_lower_bound

)

select * from problems

{% endtest %}
