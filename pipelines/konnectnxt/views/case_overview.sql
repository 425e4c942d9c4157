-- One row per case: candidate, status, checks by result, age, turnaround if terminal, last polled.
-- age_days: whole days since we first saw the case. turnaround_days: from first seen to its LAST
-- completion (last_completed_at: a case that re-opened and completed again counts to the new one), only
-- for terminal cases that were still open when first seen (null for backfilled ones and while re-opened).
-- first_completed_at stays the first completion.
select
    c.case_id,
    c.reference_id,
    c.candidate_name,
    c.status,
    c.result,
    count(k.check_key) as checks_total,
    count(case when k.result = 'clear' then k.check_key end) as checks_clear,
    count(case when k.result = 'minor_discrepancy' then k.check_key end) as checks_minor_discrepancy,
    count(case when k.result = 'discrepancy' then k.check_key end) as checks_discrepancy,
    count(case when k.result = 'unable_to_verify' then k.check_key end) as checks_unable_to_verify,
    count(case when k.result = 'not_available' then k.check_key end) as checks_not_available,
    count(case when k.result = 'pending' then k.check_key end) as checks_pending,
    cast(floor(extract(epoch from current_timestamp - c.first_seen_at) / 86400) as integer) as age_days,
    case
        when lower(trim(c.status)) in ('completed', 'rejected') and c.first_completed_at > c.first_seen_at
        then cast(extract(epoch from c.last_completed_at - c.first_seen_at) / 86400 as double)
    end as turnaround_days,
    c.first_seen_at,
    c.first_completed_at,
    c.last_completed_at,
    t.last_polled_at
from cases c
left join checks k on k.case_id = c.case_id
left join tracked_cases t on t.case_id = c.case_id
group by
    c.case_id, c.reference_id, c.candidate_name, c.status, c.result, c.first_seen_at, c.first_completed_at,
    c.last_completed_at, t.last_polled_at
