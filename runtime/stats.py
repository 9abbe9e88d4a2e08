"""Per-locality counters, like HPX performance counters (/parcels/count/sent, ...).

Each thread counts into its own list (no lock on the hot path): hot paths do
``c = stats.local(); c[PARCELS_SENT] += 1``; ``snapshot()`` sums every thread's list.
"""
import threading

__all__ = ["Statistics", "KEYS"]

KEYS = (
    "parcels_sent", "parcels_received", "parcels_forwarded", "local_calls",
    "messages_sent", "messages_received", "bytes_sent", "bytes_received",
    "bytes_zero_copy", "bytes_copied", "bytes_received_zero_copy",
    "serialization_time_s", "deserialization_time_s", "actions_executed",
    "app_sent", "app_done",  # parcels of the program (not the runtime's own bookkeeping)
    "recv_pool_hits", "tag_wraps", "parcels_coalesced",
)
INDEX = {k: i for i, k in enumerate(KEYS)}
(PARCELS_SENT, PARCELS_RECEIVED, PARCELS_FORWARDED, LOCAL_CALLS, MESSAGES_SENT, MESSAGES_RECEIVED,
 BYTES_SENT, BYTES_RECEIVED, BYTES_ZERO_COPY, BYTES_COPIED, BYTES_RECEIVED_ZERO_COPY,
 SERIALIZATION_TIME, DESERIALIZATION_TIME, ACTIONS_EXECUTED, APP_SENT, APP_DONE,
 RECV_POOL_HITS, TAG_WRAPS, PARCELS_COALESCED) = range(len(KEYS))


class Statistics:
    """Thread-safe counters; ``snapshot()`` returns a plain dict keyed by ``KEYS``."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tls = threading.local()
        self._all = []

    def local(self):
        """Return this thread's counter list (index it with the constants above)."""
        try:
            return self._tls.c
        except AttributeError:
            c = self._tls.c = [0] * len(KEYS)
            with self._lock:
                self._all.append(c)
            return c

    def add(self, key, n=1):
        self.local()[INDEX[key]] += n

    def add_many(self, **kv):
        c = self.local()
        for k, v in kv.items():
            c[INDEX[k]] += v

    def snapshot(self):
        with self._lock:
            lists = list(self._all)
        return {k: sum(c[i] for c in lists) for i, k in enumerate(KEYS)}

    def reset(self):
        with self._lock:
            for c in self._all:
                c[:] = [0] * len(KEYS)
