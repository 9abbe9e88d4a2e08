"""The interface every parcelport implements, and helpers shared by implementations."""
import numpy as np

__all__ = ["Parcelport", "byte_view"]


def byte_view(buf):
    """Return a flat uint8 view of a contiguous buffer (numpy array, memoryview, bytes)."""
    a = buf if isinstance(buf, np.ndarray) else np.frombuffer(buf, np.uint8)
    return a.reshape(-1).view(np.uint8)


class Parcelport:
    """Moves serialized parcels between localities and hands received ones to the runtime.

    The runtime calls ``send(dest, route, archive, on_sent)``: ``route`` is the packed parcel
    header (bytes, see runtime/parcel.py), ``archive`` a serialization archive (``.frames``,
    frame 0 = index data and chunk table, frames[1:] pointer chunks).  ``on_sent()`` is called
    once every frame has left and its buffer may be reused.  For each parcel received the
    parcelport decodes it (zero-copy where it can), counts it in ``stats`` (parcels_received,
    messages_*, bytes_*, deserialization_time_s) and calls ``runtime.deliver(route, args)``.
    """

    name = "base"
    #: True when the transport needs a launcher (several localities).
    distributed = False
    #: True while the program computes (``runtime.computing``): poll without spinning.
    quiet = False

    def __init__(self, runtime, **options):
        self.runtime = runtime
        self.stats = runtime.stats
        self.rank = 0
        self.size = 1

    def start(self):
        """Bring the transport up; after this ``rank`` and ``size`` are valid."""

    def send(self, dest, route, archive, on_sent=None):
        raise NotImplementedError

    def progress(self):
        """Advance communication; return True if anything happened."""
        return False

    def idle(self):
        """Return True when no send or receive is in flight."""
        return True

    def in_flight(self):
        """Return what is in flight, for the progress schedule (``Backoff.delay``):
        ``"drive"`` when a large transfer moves only while polled (the mpi and rma
        parcelports), ``"recv"`` when it must be polled hard (receives), ``"send"`` when
        only sends are, else False."""
        return False if self.idle() else "recv"

    def stop(self):
        """Tear the transport down (after the runtime drained every parcel)."""

    def abort(self, code=1):
        """End every locality now (after the caller printed why)."""
        import os
        os._exit(code)
