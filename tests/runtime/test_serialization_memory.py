"""Large arrays are never copied: Python-visible allocations stay tiny while 64 MiB travels."""
import tracemalloc

import numpy as np

from runtime.serialization import decode_header, dumps, dumps_archive, loads

MIB = 1 << 20


def _peak(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = fn()
        return tracemalloc.get_traced_memory()[1], out
    finally:
        tracemalloc.stop()


def test_dumping_64mib_allocates_under_1mib():
    a = np.ones(64 * MIB // 8, dtype=np.float64)
    peak, ar = _peak(lambda: dumps_archive((1, "payload", a)))
    assert peak < MIB, peak
    assert ar.bytes_zero_copy == a.nbytes and ar.bytes_copied < 1024
    peak, out = _peak(lambda: loads(ar.frames))
    assert peak < MIB, peak
    assert np.shares_memory(out[2], a)


def test_receiving_64mib_allocates_only_the_destination():
    a = np.arange(64 * MIB // 4, dtype=np.float32)
    frames = dumps(a)
    hdr = decode_header(frames[0])
    bufs = hdr.allocate()
    np.frombuffer(bufs[0], np.uint8)[:] = np.frombuffer(frames[1], np.uint8)
    peak, out = _peak(lambda: hdr.finish(bufs))
    assert peak < MIB and out is bufs[0]
