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
    (hrss_trainees_placed by 'trade', health_remote_readings by 'exam_type',
    the enforcement case counts by 'enforcement_domain'); a measure without
    one emits it once with a null breakdown. A new department adds its
    measures here, as one CTE each, and nothing else in the KPI models
    changes.

    A measure counted for the township only (the health centre's rounds, the
    domains the brigade worked in) places its events at the township itself
    (area_code = var township_area_code): int_kpi_measures_counted then
    gives it a township row and no village rows.

    Helper measures that only feed ratios (no row in dim_kpi): the two hrss
    cohort measures below, health_discharges (stays by discharge date, the
    denominator of the average length of stay) and
    enf_cases_closed_by_opened_date (cases of an opening cohort that are
    closed, the numerator of the closure rate).

    Amounts that are summed or whose median is taken are in
    int_kpi_measure_amounts_unioned; states valid over a range of days
    (wards, officers, stays as bed-days) in int_kpi_measure_ranges_unioned.
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

stays as (

    select
        admission_id,
        area_key,
        admitted_date,
        discharged_date
    from {{ ref('fct_inpatient_stay') }}

),

expert_rounds as (

    select
        round_id,
        round_date
    from {{ ref('fct_expert_round') }}

),

remote_readings as (

    select
        request_id,
        area_key,
        exam_type_key,
        requested_date
    from {{ ref('fct_remote_reading') }}

),

exam_types as (

    select
        exam_type_key,
        exam_type_code
    from {{ ref('dim_exam_type') }}

),

aid_payments as (

    select
        person_key,
        area_key,
        paid_date
    from {{ ref('fct_medical_aid_payment') }}

),

cases as (

    select
        case_id,
        enforcement_domain_key,
        area_key,
        opened_date,
        closed_date,
        is_assisted
    from {{ ref('fct_enforcement_case') }}

),

enforcement_domains as (

    select
        enforcement_domain_key,
        enforcement_domain_code
    from {{ ref('dim_enforcement_domain') }}

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

-- ---- health ----

-- stays by admission date, in the patient's village
admission_events as (

    select
        'health_admissions' as measure_code,
        stays.admitted_date as event_date,
        areas.area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        stays.admission_id as counted_key
    from stays
    left join areas
        on stays.area_key = areas.area_key

),

-- helper: stays by discharge date (denominator of the average length of stay)
discharge_events as (

    select
        'health_discharges' as measure_code,
        stays.discharged_date as event_date,
        areas.area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        stays.admission_id as counted_key
    from stays
    left join areas
        on stays.area_key = areas.area_key
    where stays.discharged_date is not null

),

-- rounds happen at the health centre: township only
expert_round_events as (

    select
        'health_expert_rounds' as measure_code,
        round_date as event_date,
        '{{ var("township_area_code") }}' as area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        round_id as counted_key
    from expert_rounds

),

remote_reading_events as (

    select
        'health_remote_readings' as measure_code,
        remote_readings.requested_date as event_date,
        areas.area_code,
        'exam_type' as breakdown_dimension,
        exam_types.exam_type_code as breakdown_member,
        remote_readings.request_id as counted_key
    from remote_readings
    left join exam_types
        on remote_readings.exam_type_key = exam_types.exam_type_key
    left join areas
        on remote_readings.area_key = areas.area_key

),

-- a household is counted by the person its aid was paid to
aid_household_events as (

    select
        'health_medical_aid_households' as measure_code,
        aid_payments.paid_date as event_date,
        areas.area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        aid_payments.person_key as counted_key
    from aid_payments
    left join areas
        on aid_payments.area_key = areas.area_key

),

-- ---- enforcement ----

-- the domains the brigade opened cases in: township only
domain_events as (

    select
        'enf_domains' as measure_code,
        cases.opened_date as event_date,
        '{{ var("township_area_code") }}' as area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        enforcement_domains.enforcement_domain_code as counted_key
    from cases
    left join enforcement_domains
        on cases.enforcement_domain_key = enforcement_domains.enforcement_domain_key

),

case_opened_events as (

    select
        'enf_cases_opened' as measure_code,
        cases.opened_date as event_date,
        areas.area_code,
        'enforcement_domain' as breakdown_dimension,
        enforcement_domains.enforcement_domain_code as breakdown_member,
        cases.case_id as counted_key
    from cases
    left join enforcement_domains
        on cases.enforcement_domain_key = enforcement_domains.enforcement_domain_key
    left join areas
        on cases.area_key = areas.area_key

),

-- a case still open has no closing date and is in no period of this measure
case_closed_events as (

    select
        'enf_cases_closed' as measure_code,
        cases.closed_date as event_date,
        areas.area_code,
        'enforcement_domain' as breakdown_dimension,
        enforcement_domains.enforcement_domain_code as breakdown_member,
        cases.case_id as counted_key
    from cases
    left join enforcement_domains
        on cases.enforcement_domain_key = enforcement_domains.enforcement_domain_key
    left join areas
        on cases.area_key = areas.area_key
    where cases.closed_date is not null

),

-- helper: the cases of an opening cohort that are closed (numerator of the
-- closure rate), dated by their opening like the cohort itself
case_closed_cohort_events as (

    select
        'enf_cases_closed_by_opened_date' as measure_code,
        cases.opened_date as event_date,
        areas.area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        cases.case_id as counted_key
    from cases
    left join areas
        on cases.area_key = areas.area_key
    where cases.closed_date is not null

),

case_assisted_events as (

    select
        'enf_cases_assisted' as measure_code,
        cases.opened_date as event_date,
        areas.area_code,
        cast(null as text) as breakdown_dimension,
        cast(null as text) as breakdown_member,
        cases.case_id as counted_key
    from cases
    left join areas
        on cases.area_key = areas.area_key
    where cases.is_assisted

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
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from admission_events
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from discharge_events
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from expert_round_events
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from remote_reading_events
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from aid_household_events
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from domain_events
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from case_opened_events
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from case_closed_events
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from case_closed_cohort_events
    union all
    select measure_code, event_date, area_code, breakdown_dimension, breakdown_member, counted_key
    from case_assisted_events

)

select * from unioned
