"""The MPI (two-sided) parcelport, after HPX's parcelport_mpi (paper section 3.3).

Per parcel, one header message (tag 1) carries the transport fields, the routing header and,
when it fits under ``eager_threshold``, frame 0 of the archive (index data + chunk table).
Frame 0 that does not fit follows as its own message; then one message per pointer chunk
(pieces of at most ``max_message`` bytes, so > 2 GiB arrays go through), each sent from the
caller's buffer and received straight into the array that ``decode_header().allocate()``
returned (zero-copy receive; buffer-mode Isend/Irecv only, nothing pickled).

Chunks of at least ``pool_min_bytes`` are received into arrays from a RecvPool (warm pages,
recycled once the program drops them) instead of fresh ``allocate()`` arrays; smaller ones
into ``decode_header(frame0).allocate()``.  While a large receive is in flight it is polled
back to back for up to ``spin_s`` (MPI moves large messages only while polled), except
while the program computes (``quiet``, see ``runtime.computing``).  While a large send is
in flight the progress schedule polls hard too (``poll_large_sends``): where the
shared-memory transport cannot copy once (Open MPI's vader without CMA permission, as in
containers) the sender copies the message through shared fragments, as fast as it polls.
While any transfer of >= ``spin_bytes`` is in flight (sent, received, or held by a
completion thread) ``in_flight()`` says ``"drive"``: the schedule keeps polling however
long it lasts (Backoff's ``drive_s``), where before it began to sleep 20 ms after the last
completion, which a window of 64 MiB messages outlasts (device, Open MPI 4.1.6, ``osu bw
--parcelport mpi --threads 1,2 --min-size 1048576``, three interleaved pairs: 64 MiB at
0.62-0.77 of native before, 0.82-1.03 after; 8-32 MiB 0.75-0.98 before, 0.79-1.02 after;
1-4 MiB within the runs' spread).

Completion threads (``completion_thread``; by default on where every locality of the node
has at least two cores, except under MPICH). The receiver's work per large parcel is
Python (header, decode, buffers, delivery: 50-80 us) plus the copy that MPI makes inside
its progress calls (about 150 us per MiB over shared memory). Done by one thread they add
up, capping 1 MiB messages near 0.7 of native bandwidth. So, outside compute phases, a
parcel whose chunk receives are posted goes to a second thread that waits for them inside
MPI (GIL released, MPI progressing: the copy happens there), while the progress thread
handles the next headers; likewise a large send goes to a third thread (the transport may
move it only as fast as the sender polls, see ``poll_large_sends``; one thread for both
held received parcels behind sends in bibw). A transfer whose wait returned goes back to
the progress loop, which delivers the parcel (or releases the send), so the completion
thread is at once back in MPI for the next one (``completion_hand_off``; device, Open
MPI, bw at 1 MiB: 4.72 GB/s against 4.48 when the thread delivers itself, mean of six
runs each, within the runs' spread; equal at 2 MiB). The wait is a blocking
``Waitall``: the receives and sends it waits for are matched by messages and receives that
the peers' progress threads post (never this thread), and a failing locality ends the job
(``runtime.fatal``), so it returns. In a compute phase parcels stay with the progress
thread, which polls gently (a thread blocked in MPI spins a core). With one core per
locality the two threads only take turns on it: on a 2-core machine with 2 ranks, one run
of ``osu bw --completion on,off`` gave 0.66 of native at 1 MiB with them and 0.98
without, hence the default.

Tags: each parcel takes a fresh range of follow-up tags from a per-destination counter in
``[2, MPI.TAG_UB]`` that wraps around; a range is not reused while its sends are in flight,
and the receiver posts receives per source in header order, so MPI's non-overtaking rule
pairs every message with its own receive even after wrap-around.  Header receives are a
ring of persistent requests completed in posting order.  Parcels carry no ordering
assumption between each other.  Safe to call ``send`` from any thread (MPI_THREAD_MULTIPLE);
``progress`` runs in one thread at a time (others return at once).
"""
import bisect
import collections
import os
import struct
import sys
import threading
import time
import traceback

import numpy as np

from . import register_parcelport
from .base import Parcelport, byte_view
from .recvpool import RecvPool
from .. import stats as S
from ..parcel import ROUTE_SIZE

__all__ = ["MpiParcelport"]

HDR_TAG = 1
FIRST_TAG = 2
_XPORT = struct.Struct("<QIIB3x")  # frame-0 length, number of follow-up tags, first tag, flags
X_EAGER = 1      # frame 0 is in this message
X_COALESCED = 2  # the body is several small parcels, each ``u32 length | route | frame 0``
_U32 = struct.Struct("<I")


def _mpi():
    """Import mpi4py without letting it initialize MPI (we ask for THREAD_MULTIPLE ourselves)."""
    if "mpi4py.MPI" not in sys.modules:
        import mpi4py
        mpi4py.rc.initialize = False
        mpi4py.rc.finalize = False
        mpi4py.rc.thread_level = "multiple"
    from mpi4py import MPI
    return MPI


def _cores_per_local_rank(comm):
    """Return the cores this process may run on divided by the ranks on its node."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    node = comm.Split_type(_mpi().COMM_TYPE_SHARED)
    try:
        return cores / node.Get_size()
    finally:
        node.Free()


def _pieces(nbytes, maxmsg):
    return max(1, -(-nbytes // maxmsg)) if nbytes else 0


def _completion_pays(MPI, comm):
    """Return whether completion threads are worth it here: two cores per locality on the
    node, and not MPICH (its global lock makes a thread waiting in MPI slow the others:
    1-64 MiB bw 0.76-1.23 of native with them against 0.84-1.71 without, device run)."""
    if MPI.Get_library_version().lstrip().startswith("MPICH"):
        return False
    return _cores_per_local_rank(comm) >= 2


class TagRanges:
    """The follow-up tags in flight towards one destination: disjoint ranges in ``[first, ub]``.

    ``take(n)`` reserves ``n`` consecutive tags: the next after the last taken if free, else
    the end of a range in flight above it, the first tag (a wrap-around), the end of one
    below it, in that order; ``free(start)`` returns a range.  The starts of the ranges are
    kept sorted, so each try is a bisection: a window of k parcels in flight costs O(log k)
    a parcel (the linear scan it replaced took 25 us a parcel at k = 64 on a 2-core VM, 2.8
    us now).
    """

    __slots__ = ("first", "ub", "next", "size", "starts")

    def __init__(self, first, ub):
        self.first, self.ub, self.next = int(first), int(ub), int(first)
        self.size = {}    # start -> number of tags
        self.starts = []  # sorted

    def _free(self, c, n):
        """Return whether tags ``c .. c + n - 1`` exist and no range in flight holds one."""
        if c + n - 1 > self.ub:
            return False
        i = bisect.bisect_left(self.starts, c + n)  # ranges starting at c + n or above are clear
        return i == 0 or self.starts[i - 1] + self.size[self.starts[i - 1]] <= c

    def take(self, n):
        """Return ``(start, wrapped)`` of ``n`` fresh consecutive tags, or ``(None, False)``."""
        span = self.ub - self.first + 1
        if n > span:
            raise ValueError(f"parcel needs {n} messages but the tag space holds {span}")
        t = self.next
        c = t if self._free(t, n) else None
        if c is None:
            ends = [s + self.size[s] for s in self.starts]  # sorted: the ranges are disjoint
            for e in [e for e in ends if e > t] + [self.first] + [e for e in ends if e <= t]:
                if self._free(e, n):
                    c = e
                    break
            else:
                return None, False
        self.size[c] = n
        bisect.insort(self.starts, c)
        self.next = c + n
        return c, c < t

    def free(self, start):
        """Return the range that starts at ``start``."""
        del self.size[start]
        del self.starts[bisect.bisect_left(self.starts, start)]


class _Completer:
    """A thread that waits inside MPI for handed-over transfers, oldest first.

    ``busy`` counts the transfers not finished, ``done`` those whose wait returned.  With
    ``hand_off`` (a callable, the parcelport's queue) a transfer whose wait returned goes
    there as ``(finish, item, self)`` and this thread is back in MPI at once: whoever
    finishes it (the progress loop) calls ``release()``.  Without it this thread calls
    ``finish(item)`` itself, the copies of the next transfers waiting meanwhile.
    """

    def __init__(self, name, finish, fatal, hand_off=None, wake=None):
        self.finish, self.fatal, self.hand_off, self.wake = finish, fatal, hand_off, wake
        self.q = collections.deque()
        self.cv = threading.Condition()
        self.busy = self.done = 0
        self._stop = False
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def put(self, reqs, item, finish=None):
        """Queue ``item`` to be finished (``finish`` or the thread's) once ``reqs`` complete."""
        with self.cv:
            self.q.append((reqs, item, finish or self.finish))
            self.busy += 1
            self.cv.notify()

    def release(self):
        """Count one handed-off transfer as finished."""
        with self.cv:
            self.busy -= 1

    def stop(self, deadline):
        with self.cv:
            self._stop = True
            self.cv.notify()
        self.thread.join(max(0.1, deadline - time.monotonic()))

    def _loop(self):
        Waitall = _mpi().Request.Waitall
        cv, q, hand_off = self.cv, self.q, self.hand_off
        while True:
            with cv:
                while not q and not self._stop:
                    cv.wait(0.5)
                if not q:
                    return
                reqs, item, finish = q.popleft()
            handed = False
            try:
                Waitall(reqs)  # GIL released; MPI progresses (and copies) in here
                self.done += 1
                if hand_off is not None:
                    hand_off((finish, item, self))
                    handed = True
                    self.wake()
                else:
                    finish(item)
            except BaseException:  # noqa: BLE001 - fatal, as in the progress thread
                self.fatal(traceback.format_exc())
                return
            finally:
                # drop the parcel now: kept until the next one, its buffers (an RmaVector's
                # pool block, say) would stay in use while the thread waits
                reqs = item = None
                if not handed:
                    with cv:
                        self.busy -= 1


class _Recv:
    """A parcel being received: header fields, decoded chunk table, target buffers, requests."""

    __slots__ = ("source", "route", "tag", "ntags", "flen", "eager", "frame0", "hdr", "bufs",
                 "reqs", "ready", "nbytes", "nmsg", "dt", "big")


def cancel_persistent(slots):
    """Cancel, complete and free the persistent receives of ``[(buffer, request), ...]``."""
    for _, req in slots:
        req.Cancel()
        req.Wait()
        req.Free()


@register_parcelport("mpi")
class MpiParcelport(Parcelport):
    """Two-sided MPI transport: eager header, rendezvous pointer chunks.

    Options (``runtime.init(parcelport="mpi", **options)``): ``eager_threshold`` (bytes of
    frame 0 carried in the header message, 8192), ``max_message`` (largest single message;
    bigger chunks are split, 1 GiB), ``header_slots`` (pre-posted header receives, 16),
    ``tag_ub`` (cap on the tag space, to test wrap-around), ``spin_bytes``/``spin_s`` (poll
    receives of at least this size back to back for up to this long, 256 KiB / 20 ms),
    ``pool_min_bytes``/``pool_max_bytes`` (receive pool: chunk size from which it is used,
    1 MiB, 0 disables; idle bytes it keeps, 256 MiB), ``completion_thread`` (wait for the
    chunks of parcels of at least ``spin_bytes`` in a second thread, see the module
    docstring; None: when the node has at least two cores per locality and the library is
    not MPICH), ``completion_hand_off`` (a completion thread passes each finished transfer
    to the progress loop and waits for the next at once, True; False: it delivers the parcel
    itself first), ``poll_large_sends`` (poll hard while sends of >= ``spin_bytes`` are in
    flight; True), ``coalesce`` (at most this many small parcels to one destination share a
    message, sent when full or at the next progress; 0, the default, sends each at once).
    Subclasses may override ``_isend_chunks``, ``_allocate`` and ``_irecv_chunks`` to move
    chunks another way.
    """

    distributed = True

    def __init__(self, runtime, eager_threshold=8192, max_message=1 << 30, header_slots=16,
                 tag_ub=None, spin_bytes=1 << 18, spin_s=0.02, pool_min_bytes=1 << 20,
                 pool_max_bytes=1 << 28, coalesce=0, completion_thread=None,
                 completion_hand_off=True, poll_large_sends=True, **options):
        super().__init__(runtime)
        self.completion_hand_off = bool(completion_hand_off)
        self._completed = collections.deque()  # (finish, item, completer) for progress()
        self.poll_large_sends = bool(poll_large_sends)
        self._completion_opt = completion_thread
        self._recv_done = self._send_done = None  # the completion threads, when on
        self._big_sends = 0             # sends of >= spin_bytes of chunks in flight
        self._big_recvs = 0             # receives of >= spin_bytes of chunks in _recvs
        self.spin_bytes, self.spin_s = int(spin_bytes), float(spin_s)
        self.pool = RecvPool(pool_min_bytes, pool_max_bytes) if pool_min_bytes else None
        if options:
            raise TypeError(f"unknown option(s) for the mpi parcelport: {', '.join(sorted(options))}")
        self.eager_threshold = int(eager_threshold)
        self.coalesce = int(coalesce)
        self._coal_bytes = ROUTE_SIZE + self.eager_threshold
        self.max_message = int(max_message)
        self.nslots = int(header_slots)
        self._tag_ub_opt = tag_ub
        self._send_lock = threading.Lock()
        self._plock = threading.Lock()
        # [reqs, archive, on_sent, dest, first tag, ntags, big (counted in _big_sends)], oldest first
        self._sends = []
        self._scan = 0
        self._recvs = []           # _Recv with receives posted
        self._posting = collections.defaultdict(collections.deque)  # source -> _Recv awaiting posting
        self._backlog = {}         # dest -> parcels waiting for free tags, oldest first
        self._coal = {}            # dest -> [entries, bytes, callbacks] of small parcels to coalesce
        self._tags = {}            # dest -> TagRanges: the follow-up tags in flight
        self.recent_buffers = collections.deque(maxlen=64)  # (address, nbytes) of receive buffers

    # ---- life cycle --------------------------------------------------------------------
    def start(self):
        MPI = self.MPI = _mpi()
        self._owns_mpi = not MPI.Is_initialized()
        if self._owns_mpi:
            provided = MPI.Init_thread(MPI.THREAD_MULTIPLE)
        else:
            provided = MPI.Query_thread()
        if provided < MPI.THREAD_MULTIPLE:
            raise RuntimeError("the MPI library does not provide MPI_THREAD_MULTIPLE")
        self.comm = MPI.COMM_WORLD.Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        ub = MPI.COMM_WORLD.Get_attr(MPI.TAG_UB) or 32767
        self.tag_ub = min(ub, self._tag_ub_opt) if self._tag_ub_opt else ub
        from ..serialization import decode_header
        self._decode_header = decode_header
        self.hdr_size = _XPORT.size + ROUTE_SIZE + self.eager_threshold
        self._slots = []
        for _ in range(self.nslots):
            buf = bytearray(self.hdr_size)
            req = self.comm.Recv_init([buf, MPI.BYTE], MPI.ANY_SOURCE, HDR_TAG)
            req.Start()
            self._slots.append((buf, req))
        self._head = 0
        self._status = MPI.Status()
        self.completion_thread = (self._completion_opt if self._completion_opt is not None
                                  else self.size > 1 and _completion_pays(MPI, self.comm))
        if self.completion_thread and self.size > 1:
            fatal = self.runtime.fatal
            hand = (self._completed.append, self._kick) if self.completion_hand_off else ()
            self._recv_done = _Completer("rt-recv-completion", self._deliver, fatal, *hand)
            self._send_done = _Completer("rt-send-completion",
                                         lambda s: self._sends_done([s]), fatal, *hand)

    def _drain(self, timeout):
        """Progress until idle or ``timeout`` seconds pass; return the deadline."""
        deadline = time.monotonic() + timeout
        while not self.idle() and time.monotonic() < deadline:
            if not self.progress():
                time.sleep(1e-4)
        return deadline

    def stop(self, timeout=30.0):
        deadline = self._drain(timeout)
        for c in (self._recv_done, self._send_done):
            if c is not None:
                c.stop(deadline)
        self._recv_done = self._send_done = None
        cancel_persistent(self._slots)
        self._slots = []
        self.comm.Free()
        if self._owns_mpi and not self.MPI.Is_finalized():
            self.MPI.Finalize()

    def abort(self, code=1):
        self.MPI.COMM_WORLD.Abort(code)

    def idle(self):
        return not (self._sends or self._recvs or self._backlog or self._coal
                    or self._handed_over())

    def _handed_over(self):
        """Return the number of transfers the completion threads have not finished."""
        r, s = self._recv_done, self._send_done
        return (r.busy + s.busy) if r is not None else 0

    @property
    def completed_in_thread(self):
        """Parcels received and sends finished by the completion threads so far."""
        r, s = self._recv_done, self._send_done
        return (r.done + s.done) if r is not None else 0

    def _receiving(self):
        """Return True while receives are in flight (a subclass adds its own)."""
        return bool(self._recvs) or bool(self._handed_over())

    def in_flight(self):
        # a large transfer moves only while polled (a send too, where the transport has no
        # single copy): poll hard while one is in flight, however long it takes ("drive")
        if self._big_sends or self._big_recvs or self._handed_over():
            return "drive"
        if self._receiving():
            return "recv"
        return False if self.idle() else "send"

    # ---- sending -----------------------------------------------------------------------
    def _take_tags(self, dest, n):
        """Reserve ``n`` consecutive follow-up tags towards ``dest`` not in flight; None if none now."""
        ranges = self._tags.get(dest)
        if ranges is None:
            ranges = self._tags[dest] = TagRanges(FIRST_TAG, self.tag_ub)
        c, wrapped = ranges.take(n)
        if wrapped:
            self.stats.add("tag_wraps")
        return c

    def send(self, dest, route, archive, on_sent=None):
        frames = archive.frames
        f0 = frames[0]
        if len(frames) == 1 and not self.coalesce and type(f0) in (bytes, bytearray):
            flen = len(f0)
            if flen <= self.eager_threshold:  # one eager message, no follow-up tags
                self._send_eager(dest, route, archive, on_sent, f0, flen)
                return
        flen = memoryview(f0).nbytes
        eager = flen <= self.eager_threshold
        views = [byte_view(f) for f in frames[1:]]
        ntags = (0 if eager else 1) + sum(_pieces(v.nbytes, self.max_message) for v in views)
        if self.coalesce and not ntags:
            self._coalesce(dest, route + bytes(f0), on_sent)  # copied: the caller's buffers are free
            return
        item = (dest, route, archive, on_sent, f0, flen, eager, views, ntags)
        if ntags:
            with self._send_lock:
                backlog = self._backlog.get(dest)
                tag = None if backlog else self._take_tags(dest, ntags)
                if tag is None:  # every tag is in flight: send once some come back, in order
                    self._backlog.setdefault(dest, collections.deque()).append(item)
                    return
        else:
            tag = 0
        self._post(item, tag)

    def _post(self, item, tag):
        dest, route, archive, on_sent, f0, flen, eager, views, ntags = item
        MPI, comm = self.MPI, self.comm
        head = _XPORT.pack(flen, ntags, tag, X_EAGER if eager else 0) + route + (bytes(f0) if eager else b"")
        req = comm.Isend([head, MPI.BYTE], dest, HDR_TAG)
        if not ntags and req.Test():  # eager parcel already out (the common small case)
            c = self.stats.local()
            c[S.MESSAGES_SENT] += 1
            c[S.BYTES_SENT] += len(head)
            if on_sent is not None:
                on_sent()
            return
        reqs = [req]
        t = tag
        if not eager:
            reqs.append(comm.Isend([f0, MPI.BYTE], dest, t))
            t += 1
        nbytes = len(head) + (0 if eager else flen)
        creqs, cbytes = self._isend_chunks(dest, t, views)
        reqs += creqs
        self.stats.add_many(messages_sent=len(reqs), bytes_sent=nbytes + cbytes)
        big = bool(self.spin_bytes) and cbytes >= self.spin_bytes
        if big and self._send_done is not None and not self.quiet:
            self._send_done.put(reqs, [reqs, archive, on_sent, dest, tag, ntags, False])
            return
        big = big and self.poll_large_sends
        with self._send_lock:
            self._sends.append([reqs, archive, on_sent, dest, tag, ntags, big])
            self._big_sends += big

    def _send_eager(self, dest, route, archive, on_sent, f0, flen):
        """Send a parcel that is one header message (the common small case)."""
        head = b"".join((_XPORT.pack(flen, 0, 0, X_EAGER), route, f0))
        req = self.comm.Isend([head, self.MPI.BYTE], dest, HDR_TAG)
        c = self.stats.local()
        c[S.MESSAGES_SENT] += 1
        c[S.BYTES_SENT] += len(head)
        if req.Test():
            if on_sent is not None:
                on_sent()
            return
        with self._send_lock:
            self._sends.append([[req], archive, on_sent, dest, 0, 0, False])

    def _coalesce(self, dest, entry, on_sent):
        """Add a small parcel to ``dest``'s batch; the batch goes when full or at the next progress."""
        full = None
        n = _U32.size + len(entry)
        with self._send_lock:
            batch = self._coal.get(dest)
            if batch is not None and (batch[1] + n > self._coal_bytes or len(batch[0]) >= self.coalesce):
                full = self._coal.pop(dest)
                batch = None
            if batch is None:
                batch = self._coal[dest] = [[], 0, []]
            batch[0].append(entry)
            batch[1] += n
            if on_sent is not None:
                batch[2].append(on_sent)
        if full is not None:
            self._send_batch(dest, full)

    def _flush_coalesced(self):
        with self._send_lock:
            batches, self._coal = self._coal, {}
        for dest, batch in batches.items():
            self._send_batch(dest, batch)
        return bool(batches)

    def _send_batch(self, dest, batch):
        entries, nbytes, callbacks = batch
        if len(entries) == 1:  # an ordinary eager parcel
            head = _XPORT.pack(len(entries[0]) - ROUTE_SIZE, 0, 0, X_EAGER) + entries[0]
        else:
            body = b"".join(_U32.pack(len(e)) + e for e in entries)
            head = _XPORT.pack(len(body), 0, 0, X_COALESCED) + body
        req = self.comm.Isend([head, self.MPI.BYTE], dest, HDR_TAG)
        c = self.stats.local()
        if len(entries) > 1:
            c[S.PARCELS_COALESCED] += len(entries)
        c[S.MESSAGES_SENT] += 1
        c[S.BYTES_SENT] += len(head)
        cb = (lambda: [f() for f in callbacks]) if callbacks else None
        if req.Test():
            if cb is not None:
                cb()
            return
        with self._send_lock:
            self._sends.append([[req], head, cb, dest, 0, 0, False])

    def _post_backlog(self):
        """Send parcels that waited for tags, oldest first per destination."""
        ready = []
        with self._send_lock:
            for dest, q in list(self._backlog.items()):
                while q:
                    tag = self._take_tags(dest, q[0][8])
                    if tag is None:
                        break
                    ready.append((q.popleft(), tag))
                if not q:
                    del self._backlog[dest]
        for item, tag in ready:
            self._post(item, tag)
        return bool(ready)

    def _isend_chunks(self, dest, tag, views):
        """Send each pointer chunk (flat uint8 views) as messages from ``tag`` on; return (requests, bytes)."""
        MPI, comm, mm = self.MPI, self.comm, self.max_message
        reqs, nbytes, t = [], 0, tag
        for v in views:
            for off in range(0, v.nbytes, mm):
                reqs.append(comm.Isend([v[off:off + mm], MPI.BYTE], dest, t))
                t += 1
            nbytes += v.nbytes
        return reqs, nbytes

    def _allocate(self, hdr):
        """Return the receive buffers of a parcel's chunks (pooled when large)."""
        pool = self.pool
        if pool is not None and any(pool.wants(c.nbytes) for c in hdr.chunks):
            h0 = pool.hits
            bufs = [pool.empty(c.shape, c.dtype) if pool.wants(c.nbytes)
                    else np.empty(c.shape, c.dtype) for c in hdr.chunks]
            self.stats.add("recv_pool_hits", pool.hits - h0)
            return bufs
        return hdr.allocate()

    def _irecv_chunks(self, source, tag, hdr, bufs):
        """Post the receives of each chunk straight into ``bufs``; return (requests, bytes, next tag)."""
        MPI, comm, mm = self.MPI, self.comm, self.max_message
        reqs, nbytes, t = [], 0, tag
        for b in bufs:
            v = byte_view(b)
            if v.nbytes:
                self.recent_buffers.append((v.__array_interface__["data"][0], v.nbytes))
            for off in range(0, v.nbytes, mm):
                reqs.append(comm.Irecv([v[off:off + mm], MPI.BYTE], source, t))
                t += 1
            nbytes += v.nbytes
        return reqs, nbytes, t

    def _progress_sends(self):
        if not self._sends:
            return False
        Testall = self.MPI.Request.Testall
        self._scan += 1
        if self._scan % 32:  # sends mostly finish in order: test the oldest ones only
            with self._send_lock:
                sends = self._sends[:4]
            done = []
            for s in sends:
                if not Testall(s[0]):
                    break
                done.append(s)
        else:  # now and then everything, for those that finished out of order
            with self._send_lock:
                sends = list(self._sends)
            done = [s for s in sends if Testall(s[0])]
        if not done:
            return False
        with self._send_lock:
            for s in done:
                self._sends.remove(s)
        self._sends_done(done)
        return True

    def _sends_done(self, done):
        """Free the tags of completed sends, release their archives, call ``on_sent``."""
        with self._send_lock:
            for s in done:
                self._big_sends -= s[6]
                if s[5]:
                    self._tags[s[3]].free(s[4])
        for s in done:
            s[1] = None  # release the archive (the caller's buffers)
            if s[2] is not None:
                s[2]()
        if self._backlog:
            self._post_backlog()

    # ---- receiving ---------------------------------------------------------------------
    def _progress_headers(self):
        did = False
        st = self._status
        for _ in range(self.nslots):
            buf, req = self._slots[self._head]
            if not req.Test(st):
                break
            n = st.Get_count(self.MPI.BYTE)
            data = bytes(buf[:n])
            source = st.Get_source()
            req.Start()
            self._head = (self._head + 1) % self.nslots
            self._on_header(source, data)
            did = True
        return did

    def _on_header(self, source, data):
        flen, ntags, tag, flags = _XPORT.unpack_from(data, 0)
        eager = bool(flags & X_EAGER)
        o = _XPORT.size
        if flags & X_COALESCED:
            self._on_batch(data, o)
            return
        q = self._posting[source]
        if eager and not ntags:  # fast path: the whole parcel is in this message
            t0 = time.perf_counter()
            hdr = self._decode_header(data[o + ROUTE_SIZE:])
            args = hdr.finish(hdr.allocate() if hdr.chunks else ())  # chunks here hold 0 bytes
            c = self.stats.local()
            c[S.PARCELS_RECEIVED] += 1
            c[S.MESSAGES_RECEIVED] += 1
            c[S.BYTES_RECEIVED] += len(data)
            c[S.DESERIALIZATION_TIME] += time.perf_counter() - t0
            self.runtime.deliver(data[o:o + ROUTE_SIZE], args)
            return
        r = _Recv()
        r.source, r.tag, r.ntags, r.flen, r.eager = source, tag, ntags, flen, eager
        r.route = data[o:o + ROUTE_SIZE]
        r.bufs, r.hdr, r.nbytes, r.nmsg, r.dt, r.big = [], None, len(data), 1, 0.0, False
        q.append(r)
        if eager:
            r.frame0 = memoryview(data)[o + ROUTE_SIZE:]
            r.ready = True
            self._post_ready(source)
        else:  # frame 0 follows; its receive is posted now, in header order
            r.frame0 = bytearray(flen)
            r.ready = False
            r.reqs = [self.comm.Irecv([r.frame0, self.MPI.BYTE], source, tag)]
            r.nmsg += 1
            r.nbytes += flen
            self._recvs.append(r)

    def _on_batch(self, data, o):
        """Deliver each parcel of a coalesced message."""
        mv = memoryview(data)
        c = self.stats.local()
        c[S.MESSAGES_RECEIVED] += 1
        c[S.BYTES_RECEIVED] += len(data)
        end = len(data)
        while o < end:
            (n,) = _U32.unpack_from(data, o)
            o += _U32.size
            t0 = time.perf_counter()
            hdr = self._decode_header(mv[o + ROUTE_SIZE:o + n])
            args = hdr.finish(hdr.allocate() if hdr.chunks else ())
            c[S.PARCELS_RECEIVED] += 1
            c[S.DESERIALIZATION_TIME] += time.perf_counter() - t0
            self.runtime.deliver(data[o:o + ROUTE_SIZE], args)
            o += n

    def _post_ready(self, source):
        """Post chunk receives for parcels from ``source`` whose frame 0 is here, in header order."""
        decode_header = self._decode_header
        q = self._posting[source]
        while q and q[0].ready:
            r = q.popleft()
            t0 = time.perf_counter()
            r.hdr = hdr = decode_header(r.frame0)
            r.bufs = bufs = self._allocate(hdr)
            r.dt += time.perf_counter() - t0
            reqs, nbytes, t = self._irecv_chunks(source, r.tag + (0 if r.eager else 1), hdr, bufs)
            r.nbytes += nbytes
            assert t - r.tag == r.ntags, f"parcel from {source}: {t - r.tag} messages, header says {r.ntags}"
            r.nmsg += len(reqs)
            if not reqs:
                self._deliver(r)
                continue
            r.reqs = reqs
            big = bool(self.spin_bytes) and r.nbytes >= self.spin_bytes
            if self._recv_done is not None and not self.quiet and big:
                self._recv_done.put(reqs, r)
            else:
                r.big = big
                self._big_recvs += big
                self._recvs.append(r)

    def _progress_recvs(self):
        if not self._recvs:
            return False
        did = False
        Testall = self.MPI.Request.Testall
        spin_bytes, spin_s = self.spin_bytes, self.spin_s
        for r in list(self._recvs):
            done = Testall(r.reqs)
            if (not done and r.hdr is not None and spin_bytes and r.nbytes >= spin_bytes
                    and not self.quiet):
                # a large transfer in flight: MPI moves it only while polled, so poll it
                # back to back for a bounded time (the GIL is released in each call)
                deadline = time.monotonic() + spin_s
                k = 0
                while not done and time.monotonic() < deadline:
                    done = Testall(r.reqs)
                    k += 1
                    if not done and k % 16 == 0:
                        self._progress_headers()  # post the receives of parcels behind it
                        os.sched_yield()          # let a sender sharing this core run
            if not done:
                continue
            self._recvs.remove(r)
            self._big_recvs -= r.big
            did = True
            if r.hdr is None:  # frame 0 arrived: the chunks' receives may now be posted
                r.ready = True
                self._post_ready(r.source)
            else:
                self._deliver(r)
        return did

    def _deliver(self, r):
        t0 = time.perf_counter()
        args = r.hdr.finish(r.bufs)
        zc = sum(b.nbytes for b in r.bufs)
        self.stats.add_many(parcels_received=1, messages_received=r.nmsg, bytes_received=r.nbytes,
                            bytes_received_zero_copy=zc,
                            deserialization_time_s=r.dt + time.perf_counter() - t0)
        self.runtime.deliver(r.route, args)

    def _kick(self):
        """Wake a sleeping progress thread (a completion thread handed a transfer over)."""
        sched = getattr(self.runtime, "sched", None)
        if sched is not None:
            sched.kick()

    def _finish_completed(self):
        """Finish (deliver, release) the transfers that the completion threads handed over."""
        q = self._completed
        while q:
            finish, item, completer = q.popleft()
            try:
                finish(item)
            finally:
                completer.release()
        return True

    def progress(self):
        if not self._plock.acquire(blocking=False):
            return False
        try:
            f = self._flush_coalesced() if self._coal else False
            d = self._finish_completed() if self._completed else False
            a = self._progress_headers()
            b = self._progress_recvs()
            c = self._progress_sends()
            return a or b or c or d or f
        finally:
            self._plock.release()
