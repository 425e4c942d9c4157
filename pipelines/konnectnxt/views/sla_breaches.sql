-- Checks over their SLA (sla_targets: days per check type, else the 'default' row). Elapsed days run
-- from the case's first_seen_at to the check's completed_at, or to now while it is open. Completed
-- checks of backfilled cases (completed before we first saw them) cannot be measured and are left out.
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
        cast(extract(epoch from coalesce(k.completed_at, current_timestamp) - c.first_seen_at) / 86400 as double)
            as elapsed_days
    from checks k
    join cases c on c.case_id = k.case_id
    left join sla_targets t on t.check_type = k.check_type
    cross join (select sla_days from sla_targets where check_type = 'default') d
    where (k.completed_at is null and lower(trim(k.status)) is distinct from 'completed')
        or k.completed_at > c.first_seen_at
)
select *, elapsed_days - sla_days as days_over
from measured
where elapsed_days > sla_days
order by days_over desc
