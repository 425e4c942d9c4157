-- Checks over their SLA (sla_targets: days per check type, else the 'default' row). Elapsed days run
-- from the case's first_seen_at to the check's completed_at, or to now while it is open. Completed
-- checks of backfilled cases (completed before we first saw them) cannot be measured and are left out.
create or replace view konnectnxt.sla_breaches as
with measured as (
    select
        c.case_id,
        c.candidate_name,
        k.check_key,
        k.check_type,
        k.status,
        k.result,
        c.first_seen_at,
        k.completed_at,
        k.completed_at is null as still_open,
        coalesce(t.sla_days, d.sla_days) as sla_days,
        epoch(coalesce(k.completed_at, now()) - c.first_seen_at) / 86400.0 as elapsed_days
    from konnectnxt.checks k
    join konnectnxt.cases c on c.case_id = k.case_id
    left join konnectnxt.sla_targets t on t.check_type = k.check_type
    cross join (select sla_days from konnectnxt.sla_targets where check_type = 'default') d
    where (k.completed_at is null and k.status is distinct from 'completed')
        or k.completed_at > c.first_seen_at
)
select *, elapsed_days - sla_days as days_over
from measured
where elapsed_days > sla_days
order by days_over desc;
