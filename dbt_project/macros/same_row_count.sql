{#-
    Fails (one row) when the model has a different number of rows from
    `compared_model`: a model that extends each row of another (left joins
    only) must neither drop nor repeat any. With the other model's own
    uniqueness test this proves the extension unique, for the price of two
    counts instead of a grouping of every row.
-#}
{% test same_row_count(model, compared_model) %}

select
    model_rows,
    compared_rows
from (select count(*) as model_rows from {{ model }}) as counted
cross join (select count(*) as compared_rows from {{ compared_model }}) as compared
where model_rows <> compared_rows

{% endtest %}
