"""Per-locality counters, like HPX performance counters (/parcels/count/sent, ...).

Each thread counts into its own dict (no lock on the hot path); ``snapshot()`` sums them.
"""
import threading

__all__ = ["Statistics", "KEYS"]

KEYS = (
    "parcels_sent", "parcels_received", "parcels_forwarded", "local_calls",
    "messages_sent", "messages_received", "bytes_sent", "bytes_received",
    "bytes_zero_copy", "bytes_copied", "bytes_received_zero_copy",
    "serialization_time_s", "deserialization_time_s", "actions_executed",
    "app_sent", "app_done",  # parcels of the program (not the runtime's own bookkeeping)
)


class Statistics:
    """Thread-safe counters; ``snapshot()`` returns a plain dict."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tls = threading.local()
        self._all = []
        self._base = dict.fromkeys(KEYS, 0)

    def _mine(self):
        try:
            return self._tls.c
        except AttributeError:
            c = self._tls.c = {}
            with self._lock:
                self._all.append(c)
            return c

    def add(self, key, n=1):
        c = self._mine()
        c[key] = c.get(key, 0) + n

    def add_many(self, **kv):
        c = self._mine()
        get = c.get
        for k, v in kv.items():
            c[k] = get(k, 0) + v

    def snapshot(self):
        with self._lock:
            out = dict(self._base)
            for c in self._all:
                for k, v in list(c.items()):
                    out[k] = out.get(k, 0) + v
        return out

    def reset(self):
        with self._lock:
            for c in self._all:
                for k in list(c):
                    c[k] = 0
