"""Per-locality counters, like HPX performance counters (/parcels/count/sent, ...)."""
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
        self._c = dict.fromkeys(KEYS, 0)

    def add(self, key, n=1):
        with self._lock:
            self._c[key] = self._c.get(key, 0) + n

    def add_many(self, **kv):
        with self._lock:
            c = self._c
            for k, v in kv.items():
                c[k] = c.get(k, 0) + v

    def snapshot(self):
        with self._lock:
            return dict(self._c)

    def reset(self):
        with self._lock:
            for k in self._c:
                self._c[k] = 0
