-- One row per case: candidate, status, checks by result, age, turnaround if terminal, last polled.
-- age_days: whole days since we first saw the case. turnaround_days: from first seen to first seen
-- terminal, only for cases that were still open when first seen (null for backfilled ones).
create or replace view konnectnxt.case_overview as
select
    c.case_id,
    c.reference_id,
    c.candidate_name,
    c.status,
    c.result,
    count(k.check_key) as checks_total,
    count(k.check_key) filter (where k.result = 'clear') as checks_clear,
    count(k.check_key) filter (where k.result = 'minor_discrepancy') as checks_minor_discrepancy,
    count(k.check_key) filter (where k.result = 'discrepancy') as checks_discrepancy,
    count(k.check_key) filter (where k.result = 'unable_to_verify') as checks_unable_to_verify,
    count(k.check_key) filter (where k.result = 'not_available') as checks_not_available,
    count(k.check_key) filter (where k.result = 'pending') as checks_pending,
    floor(epoch(now() - c.first_seen_at) / 86400)::integer as age_days,
    case
        when c.status in ('completed', 'rejected') and c.first_completed_at > c.first_seen_at
        then epoch(c.first_completed_at - c.first_seen_at) / 86400.0
    end as turnaround_days,
    c.first_seen_at,
    c.first_completed_at,
    t.last_polled_at
from konnectnxt.cases c
left join konnectnxt.checks k on k.case_id = c.case_id
left join konnectnxt.tracked_cases t on t.case_id = c.case_id
group by all;
