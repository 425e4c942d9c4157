"""The request rate cap: it holds in every sliding window of request start times, not only on average."""

import math
import threading
import time
from collections import deque


class SlidingWindowLimiter:
    """At most `capacity` request starts in any `window` seconds.

    A rate of 1 or more per second allows floor(rate) starts in any 1 s window; a lower rate one start
    per 1/rate seconds. A start is recorded when the caller is let through, not when it was promised a
    slot, so a thread that wakes late cannot bunch up with the ones after it.
    """

    def __init__(self, requests_per_second: float) -> None:
        if requests_per_second >= 1:
            self.capacity, self.window = math.floor(requests_per_second), 1.0
        else:
            self.capacity, self.window = 1, 1.0 / requests_per_second
        self._starts: deque[float] = deque(maxlen=self.capacity)
        self._lock = threading.Lock()

    def wait_for_turn(self, stopped: threading.Event) -> bool:
        """Block until a request may start now and count it as started; False if `stopped` is set meanwhile."""
        while True:
            with self._lock:
                now = time.monotonic()
                if len(self._starts) < self.capacity or now - self._starts[0] >= self.window:
                    self._starts.append(now)
                    return True
                wait = self._starts[0] + self.window - now
            if stopped.wait(wait):
                return False
