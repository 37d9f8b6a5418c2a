{#-
    One row per event that a count KPI counts: which measure, the date that
    puts it in a period, the village it is counted in, its breakdown member
    (if the measure has a breakdown), and the key that is counted distinct.

    Two measures exist only to feed rates and are not KPIs themselves (they
    have no row in dim_kpi, so fct_kpi_value leaves them out): certificates
    and placements dated by the enrolment they follow. A rate compares a
    cohort with itself: "of the people who enrolled in March, how many were
    certified / placed", so it stays meaningful at month and quarter grain,
    where issue and placement dates fall in later periods than enrolment.

    A measure with a breakdown emits each event once per breakdown dimension
    (today only hrss_trainees_placed by 'trade'); a measure without one emits
    it once with a null breakdown. A new department adds its measures here,
    as one CTE each, and nothing else in the KPI models changes.
-#}
with

training_classes as (

    select
        training_class_key,
        class_id,
        trade_code,
        start_date,
        venue_area_key
    from {{ ref('dim_training_class') }}

),

enrolments as (

    select
        person_key,
        training_class_key,
        area_key,
        enrolled_date
    from {{ ref('fct_training_enrolment') }}

),

certificates as (

    select
        certificate_id,
        person_key,
        training_class_key,
        area_key,
        issued_date
    from {{ ref('fct_certificate') }}

),

placements as (

    select
        person_key,
        training_class_key,
        area_key,
        placed_date
    from {{ ref('fct_job_placement') }}

),

areas as (

    select
        area_key,
        area_code
    from {{ ref('dim_area') }}

),

-- left joins to areas throughout: an event whose area is unknown keeps a
-- null area_code, which the not_null test on area_code reports, instead of
-- silently dropping out of the counts

class_events as (

    select
        'hrss_training_classes' as measure_code,
        training_classes.start_date as event_date,
        areas.area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        training_classes.class_id as counted_key
    from training_classes
    left join areas
        on training_classes.venue_area_key = areas.area_key

),

trainee_events as (

    select
        'hrss_trainees' as measure_code,
        enrolments.enrolled_date as event_date,
        areas.area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        enrolments.person_key as counted_key
    from enrolments
    left join areas
        on enrolments.area_key = areas.area_key

),

certificate_events as (

    select
        'hrss_certificates' as measure_code,
        certificates.issued_date as event_date,
        areas.area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        certificates.certificate_id as counted_key
    from certificates
    left join areas
        on certificates.area_key = areas.area_key

),

placement_events as (

    select
        'hrss_trainees_placed' as measure_code,
        placements.placed_date as event_date,
        areas.area_code,
        'trade' as breakdown_dimension,
        training_classes.trade_code as breakdown_member,
        placements.person_key as counted_key
    from placements
    left join training_classes
        on placements.training_class_key = training_classes.training_class_key
    left join areas
        on placements.area_key = areas.area_key

),

-- rate numerators: the same certificates and placements, dated by the
-- enrolment in the class they follow (inner joins: a certificate or
-- placement without its enrolment already fails the facts' not_null tests)
certificate_cohort_events as (

    select
        'hrss_certificates_by_enrolment_date' as measure_code,
        enrolments.enrolled_date as event_date,
        areas.area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        certificates.certificate_id as counted_key
    from certificates
    inner join enrolments
        on certificates.person_key = enrolments.person_key
        and certificates.training_class_key = enrolments.training_class_key
    left join areas
        on enrolments.area_key = areas.area_key

),

placement_cohort_events as (

    select
        'hrss_trainees_placed_by_enrolment_date' as measure_code,
        enrolments.enrolled_date as event_date,
        areas.area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        placements.person_key as counted_key
    from placements
    inner join enrolments
        on placements.person_key = enrolments.person_key
        and placements.training_class_key = enrolments.training_class_key
    left join areas
        on enrolments.area_key = areas.area_key

),

unioned as (

    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from class_events
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from trainee_events
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from certificate_events
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from placement_events
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from certificate_cohort_events
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from placement_cohort_events

)

select * from unioned
