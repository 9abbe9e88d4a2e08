"""The in-process parcelport: one locality, no MPI.

Same-locality calls normally bypass it.  With ``runtime.init(loopback=True)`` they go
through it instead, so the whole serialize -> decode_header -> allocate -> receive into the
allocated buffers -> finish path runs without a launcher (tests, debugging).
"""
import collections
import threading
import time

from . import register_parcelport
from .base import Parcelport, byte_view

__all__ = ["LocalParcelport"]


@register_parcelport("local")
class LocalParcelport(Parcelport):
    """Deliver parcels to this same process, through the zero-copy receive path."""

    distributed = False

    def __init__(self, runtime, **options):
        super().__init__(runtime)
        self._q = collections.deque()
        self._lock = threading.Lock()

    def send(self, dest, route, archive, on_sent=None):
        from ..serialization import decode_header  # noqa: cached by the import system
        assert dest == 0, f"local parcelport has one locality, not {dest}"
        frames = archive.frames
        t0 = time.perf_counter()
        hdr = decode_header(frames[0])
        bufs = hdr.allocate()
        for buf, frame in zip(bufs, frames[1:]):
            byte_view(buf)[:] = byte_view(frame)  # the "wire"
        n = sum(memoryview(f).nbytes for f in frames)
        self.stats.add_many(messages_sent=len(frames), bytes_sent=n)
        if on_sent is not None:
            on_sent()
        with self._lock:
            self._q.append((route, hdr, bufs, n, len(frames), time.perf_counter() - t0))

    def progress(self):
        with self._lock:
            if not self._q:
                return False
            route, hdr, bufs, n, nmsg, dt = self._q.popleft()
        t0 = time.perf_counter()
        args = hdr.finish(bufs)
        self.stats.add_many(parcels_received=1, messages_received=nmsg, bytes_received=n,
                            bytes_received_zero_copy=sum(b.nbytes for b in bufs),
                            deserialization_time_s=dt + time.perf_counter() - t0)
        self.runtime.deliver(route, args)
        return True

    def idle(self):
        return not self._q
