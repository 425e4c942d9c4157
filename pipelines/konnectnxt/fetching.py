"""Many cases' reports through one client: the first request alone, then at most `workers` in flight."""

from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from .client import FetchOutcome, KonnectNxtClient
from .errors import AuthenticationFailed


def fetch_reports(client: KonnectNxtClient, case_ids: Sequence[str], workers: int) -> Iterator[FetchOutcome]:
    """Outcomes for all ids, at most `workers` requests in flight, in completion order.

    The first id is requested alone: a 401 or 403 there means the key is bad, and no other request
    is sent. A 401 later stops the run too; a later 403 is a failure of that one case.
    """
    if not case_ids:
        return
    first = client.fetch_report(case_ids[0])
    if first.http_status == 403:
        raise AuthenticationFailed(
            "authentication failed: the API answered 403 Forbidden to the first request; check api_key "
            "in .dlt/secrets.toml [sources.konnectnxt] or SOURCES__KONNECTNXT__API_KEY"
        )
    yield first
    remaining = iter(case_ids[1:])
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="konnectnxt-fetch")
    pending: set[Future] = set()
    try:
        for case_id in remaining:
            pending.add(pool.submit(client.fetch_report, case_id))
            if len(pending) >= workers * 2:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
                next_id = next(remaining, None)
                if next_id is not None:
                    pending.add(pool.submit(client.fetch_report, next_id))
    finally:
        client.stop()
        pool.shutdown(wait=True, cancel_futures=True)
