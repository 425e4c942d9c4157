"""A run in which every answer is a 404 points at a wrong base_url, not at missing cases.

Such 404s must count toward nothing: no case's not-found clock or attempts may move, or a typo in the
URL would mark every case not found after `not_found_after_hours`.
"""

from collections.abc import Iterable, Iterator

from .client import FetchOutcome


class EveryAnswer404:
    """Passes fetch outcomes on, holding back 404s until an answer that is not a 404 comes.

    When the run ends with only 404 answers, at least `minimum` of them, the held ones are dropped
    and `dropped` says how many. Outcomes without an answer (transport failures, never requested)
    pass at once: they tell nothing about the URL.
    """

    def __init__(self, minimum: int) -> None:
        self.minimum = minimum
        self.dropped = 0

    def outcomes(self, outcomes: Iterable[FetchOutcome]) -> Iterator[FetchOutcome]:
        held: list[FetchOutcome] = []
        other_answer = False
        for outcome in outcomes:
            if other_answer or outcome.http_status is None or outcome.attempts == 0:
                yield outcome
            elif outcome.http_status == 404 and not outcome.ok:
                held.append(outcome)
            else:
                other_answer = True
                yield from held
                held = []
                yield outcome
        if len(held) >= self.minimum:
            self.dropped = len(held)
        else:
            yield from held
