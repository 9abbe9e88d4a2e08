"""The RMA (one-sided) parcelport, after HPX's libfabric parcelport (paper, 3.3-3.4).

Per parcel with chunks, one eager header message (tag 1, flag ``X_RMA``) carries the
routing header, the parcel's id, one key per chunk ``(window id, displacement, nbytes)``
and, when it fits under ``eager_threshold``, frame 0 (else frame 0 travels like a chunk,
by key).  The receiver gets every chunk with a one-sided ``MPI_Rget`` from the sender's
memory straight into its destination: an RmaVector from its own pool for RMA chunks, the
decoded array for pointer chunks; then it acknowledges (tag 0; one message per source for
all parcels fetched in one progress call) and delivers; large parcels' gets are waited
for, and the parcels delivered, by the mpi parcelport's receive completion thread when it
runs (``completion_thread``).  The sender holds the archive until the acknowledgement, then
releases what it registered and calls ``on_sent`` (async_cb fires then).  Parcels without
chunks, and parcels with too many chunks for one header, go the MPI parcelport's two-sided
way.

Memory.  At start every locality allocates, collectively, its pool's arena as an MPI window
(``MPI_Win_allocate``, ``arena_bytes``) and two dynamic windows
(``MPI_Win_create_dynamic``): one for the pool's growth segments, one for buffers
registered on the fly; all stay in a passive-target ``lock_all`` epoch for the run, so
gets need no target-side synchronisation.  Chunks already in registered memory (RmaVector,
rma_object, or any view of pool memory) travel by their key.  Other pointer chunks are
registered on the fly per ``register``: ``"copy"`` (default) copies it into a pool block
(attaching when the pool is full); ``"attach"`` attaches the caller's buffer to its dynamic
window until the acknowledgement (refcounted, so one buffer in several parcels is attached
once; a buffer sharing a page with an attached one is copied instead: Open MPI's regions
are whole pages, see ``_attach``).  Copy is the default because on one node it is the
faster: under MPICH, whose gets from a dynamic window are emulated (below), octosim's
sedov at level 3 on 2 ranks spent 1.61 s in halo exchange with attach and 0.20 s with copy;
the OSU benchmark keeps attach as its default, the paper's registration on the fly.
Without dynamic-window support (its creation fails) ``"copy"`` is used; a chunk that can
be neither attached nor copied sends its parcel the two-sided way.

Open MPI.  Dynamic windows there (osc/rdma; Open MPI 4.1 and 5.0) broke this design in
two ways.  (1) One window takes at most ``osc_rdma_max_attach`` regions (32 in 4.1, 64 in
5.0; MPICH: no limit); past it ``MPI_Win_attach`` fails with MPI_ERR_RMA_ATTACH ("Could
not attach RMA segment") and the window is unusable (5.0.11: the next ``MPI_Win_detach``
hangs).  Four ranks sending from four threads reached it.  (2) ``sedov.yaml --max-level 3``
on 4 ranks (Open MPI 5.0.11) died in the checkpoint gather at step 50 with
MPI_ERR_RMA_RANGE ("invalid RMA address range") from ``MPI_Rget`` on the dynamic window,
before any attach failed.  Osc/rdma widens regions to whole pages and keeps them in one
sorted table that a same-node origin searches without the table's lock while attach and
detach rewrite it in place; a small test of either (regions sharing a page, attach/detach
racing gets) did not reproduce it, so the mechanism is not pinned down.  Hence, under
Open MPI by default (``dynamic=None``) there are no dynamic windows: every unregistered
buffer is copied into the arena (``register`` becomes ``"copy"``;
``rma_stats()['dynamic_off']`` says why), pool growth segments are plain memory, and a
chunk that fits nowhere registered sends its parcel two-sided (``two_sided``).  With
``dynamic=True`` (and always under MPICH) the limit is probed at start on a scratch window
(``probe_attach_limit``, ``attach_limit`` in ``rma_stats()``) and never reached (buffers
past it are copied, ``attach_fallbacks``; the pool unmaps cached segments or refuses to
grow, ``RmaPool(max_segments=)``); growth segments and attachments use separate windows;
attached regions never share a page (``page_fallbacks``).  So configured, the sedov run
above and the rma tests pass under Open MPI 5.0.11 with dynamic windows too.

Where shared memory makes RMA no faster.  On one node MPI's shared-memory transport
already moves a large two-sided message with a single copy by the receiver (the
rendezvous hands over the address), and a get from the arena window is that same memcpy
out of the shared segment: one read of the source, one write of the destination, bound
by memory bandwidth either way, so the ``rma`` parcelport can at best match ``mpi`` there
and saves only the rendezvous handshake, while it adds a header round and an
acknowledgement per parcel.  Memory registered on the fly costs more than it saves: a
copy into the pool is a second memcpy the two-sided path never makes, and a get from a
dynamic window (MPICH) is emulated with active messages that both sides must poll for,
a fragment or so per progress call.  So while such a get of at least ``spin_bytes`` is
in flight (sender: until its acknowledgement) both sides poll hard (``in_flight()`` says
``"drive"``: Backoff yields up to 1 s instead of the 20 ms of receives) and each progress
call ends with a burst of cheap MPI progress calls (``_drive``).  Before, a get of 4 MiB
or more outlived the 20 ms and then moved a fragment per 0.1 ms sleep: ``osu bw
--parcelport rma --buffer serialize_buffer --threads 1 --loop 4 --window 16`` under MPICH
5.0.2 gave 96-209 MB/s at 4-64 MiB, now 2.4-3.7 GB/s (2-core VM) and 3.4-3.8 GB/s
(16-core device), against 4.5 GB/s for a bare mpi4py get loop whose target only polls.
It stays slower than a get from the arena.  One-sided transfers pay off where a NIC reads
registered memory with no CPU on either side (RDMA networks); on one node use RmaVector (no
registration) or ``"copy"``.

Timeouts: a get not complete after ``get_timeout`` s, or an acknowledgement not back after
``ack_timeout`` s (default: the runtime's timeout), is a fatal error naming the peer.
"""
import collections
import itertools
import mmap
import struct
import sys
import threading
import time

import numpy as np

from . import register_parcelport
from .base import byte_view
from .mpi import X_EAGER, _XPORT, HDR_TAG, MpiParcelport, cancel_persistent
from .. import stats as S
from ..memory import pool as _pool
from ..memory.pool import ARENA, DYNAMIC, PoolExhausted, RmaPool
from ..parcel import ROUTE_SIZE
from ..serialization import RMA

__all__ = ["RmaParcelport"]

X_RMA = 4
ACK_TAG = 0
ATTACHED = 2                      # key window id: the dynamic window of on-the-fly attachments
PROBE_CAP = 512                   # attach-limit probe: more regions than this count as no limit
_RMAHDR = struct.Struct("<QI4x")  # parcel id, number of keys
_KEY = struct.Struct("<qqq")      # window id, displacement, nbytes
_U64 = struct.Struct("<Q")
DRIVE_POLLS = 16                  # cheap progress calls per progress() while gets are emulated
ACK_BATCH = 64                    # parcel ids in one acknowledgement message at most
_PAGE = mmap.PAGESIZE


class _Unregistered(Exception):
    """A chunk can be neither attached nor copied into the pool: send the parcel two-sided."""


def probe_attach_limit(MPI, comm, create, cap=PROBE_CAP):
    """Return how many regions one dynamic window takes at once (None: at least ``cap``).

    Collective.  Attaches page-sized regions to a scratch window (``create()``, a
    dynamic window on ``comm``) until the library refuses
    one (Open MPI's ``osc_rdma_max_attach``; MPICH has no limit) and frees the window:
    past a refusal Open MPI's window is unusable, so the real windows must never see one.
    """
    page = mmap.PAGESIZE
    mem = mmap.mmap(-1, page * cap)
    a = np.frombuffer(mem, np.uint8)
    win = create()
    n = 0
    try:
        while n < cap:
            win.Attach(a[n * page:n * page + 8])
            n += 1
    except MPI.Exception:
        pass
    else:
        for i in range(n):
            win.Detach(a[i * page:i * page + 8])
    win.Free()
    del a
    mem.close()
    n = comm.allreduce(n, op=MPI.MIN)
    return None if n >= cap else n


class _Send:
    """A parcel whose chunks the receiver is getting: what to hold and release until the ack."""

    __slots__ = ("archive", "on_sent", "dest", "regs", "req", "head", "deadline", "polled")


class _Get:
    """A parcel being fetched: keys, frame 0, destination buffers, get requests."""

    __slots__ = ("source", "route", "pid", "keys", "frame0", "hdr", "bufs", "reqs", "deadline",
                 "nbytes", "dt")


@register_parcelport("rma")
class RmaParcelport(MpiParcelport):
    """One-sided transport: eager header with chunk keys, MPI gets, acknowledgement.

    Options besides the mpi parcelport's: ``arena_bytes`` (the pool's window, 64 MiB),
    ``pool_grow`` (growth segments on the dynamic window once the arena is full, True),
    ``pool_max_bytes`` (registered bytes at most, 1 GiB), ``pool_cache_bytes`` (released
    growth segments kept attached for reuse, 256 MiB), ``register`` (``"copy"``, the
    default, or ``"attach"``, see the module docstring), ``ack_timeout`` /
    ``get_timeout`` (seconds), ``ack_slots`` (pre-posted acknowledgement receives, 16), ``attach_limit`` (regions
    attached at once per dynamic window at most; None, the default: what the library takes,
    probed at start), ``dynamic`` (use dynamic windows: on-the-fly attach and registered
    pool growth; None, the default: yes except under Open MPI, see the module docstring).
    """

    def __init__(self, runtime, arena_bytes=64 << 20, pool_grow=True, pool_max_bytes=1 << 30,
                 pool_cache_bytes=256 << 20, register="copy", ack_timeout=None, get_timeout=None,
                 ack_slots=16, attach_limit=None, dynamic=None, **options):
        super().__init__(runtime, **options)
        if register not in ("attach", "copy"):
            raise ValueError("rma parcelport: register must be 'attach' or 'copy', "
                             f"not {register!r}")
        t = float(getattr(runtime, "timeout", 60.0))
        self.arena_bytes = -(-int(arena_bytes) // _pool.SLAB) * _pool.SLAB
        self.pool_grow, self.pool_max_bytes = bool(pool_grow), int(pool_max_bytes)
        self.pool_cache_bytes = int(pool_cache_bytes)
        self.register = register
        self.ack_timeout = t if ack_timeout is None else float(ack_timeout)
        self.get_timeout = t if get_timeout is None else float(get_timeout)
        self.nacks = int(ack_slots)
        self._attach_limit_opt = None if attach_limit is None else int(attach_limit)
        self._dynamic_opt = None if dynamic is None else bool(dynamic)
        self.attach_limit = None
        self._ids = itertools.count(1)
        self._await = {}      # parcel id -> _Send, oldest first
        self._polled = 0      # of those, parcels whose gets the target must drive (see send)
        self._gets = []       # _Get with requests in flight
        self._acks_out = []   # (request, buffer) of acknowledgements being sent
        self._ack_due = collections.defaultdict(list)  # source -> parcel ids to acknowledge
        self._ack_lock = threading.Lock()  # the completion thread adds to _ack_due too
        self._alock = threading.Lock()
        self._reg_lock = threading.Lock()
        self._attached = {}   # (address, nbytes) -> [count, buffer] on the dynamic window
        self._checks = 0
        self._counts = collections.Counter()  # see rma_stats()

    # ---- life cycle --------------------------------------------------------------------
    def start(self):
        super().start()
        MPI, comm = self.MPI, self.comm
        self.win = MPI.Win.Allocate(self.arena_bytes, 1, comm=comm)
        self.library = MPI.Get_library_version().strip("\x00 \n").splitlines()[0]
        self.dynamic_off = None  # why there are no dynamic windows, if there are none
        if self._dynamic_opt is None and self.library.startswith("Open MPI"):
            self.dynamic_off = "Open MPI: dynamic windows off by default (module docstring)"
        elif self._dynamic_opt is False:
            self.dynamic_off = "dynamic=False"
        # two dynamic windows, so that growth segments and on-the-fly attachments each have
        # the library's whole attach limit (Open MPI: 32 or 64 regions per window)
        self.dyn = self.att = None
        if self.dynamic_off is None:
            try:
                self.dyn = self._create_dynamic()
                self.att = self._create_dynamic()
            except MPI.Exception as e:
                self.dynamic_off = f"MPI_Win_create_dynamic failed: {e}"
        if self.dyn is not None:
            limit = probe_attach_limit(MPI, comm, self._create_dynamic)
            opt = self._attach_limit_opt
            self.attach_limit = opt if limit is None else limit if opt is None else min(opt, limit)
        if self.dyn is None and self.register == "attach":
            self.register = "copy"
        self.win.Lock_all(MPI.MODE_NOCHECK)
        if self.dyn is not None:
            self.dyn.Lock_all(MPI.MODE_NOCHECK)
            self.att.Lock_all(MPI.MODE_NOCHECK)
        self.wins = {ARENA: self.win, DYNAMIC: self.dyn, ATTACHED: self.att}
        # without dynamic windows growth segments are plain memory, registered on the fly
        # (copied into the arena) when sent, as any other buffer
        reg = self.dyn is not None
        self.rma_pool = RmaPool(self.win.tomemory() if self.arena_bytes else None,
                                arena_bytes=self.arena_bytes, grow=self.pool_grow,
                                max_bytes=self.pool_max_bytes,
                                window=ARENA if self.arena_bytes else _pool.UNREGISTERED,
                                attach=self.dyn.Attach if reg else None,
                                detach=self.dyn.Detach if reg else None, rank=self.rank,
                                cache_bytes=self.pool_cache_bytes,
                                max_segments=self.attach_limit)
        self._old_pool = _pool.set_default_pool(self.rma_pool)
        self._ack_slots = []
        for _ in range(self.nacks):
            buf = bytearray(_U64.size * ACK_BATCH)
            req = comm.Recv_init([buf, MPI.BYTE], MPI.ANY_SOURCE, ACK_TAG)
            req.Start()
            self._ack_slots.append((buf, req))
        self._ahead = 0

    def _create_dynamic(self):
        """Collectively create a dynamic window (tests wrap it to emulate a library's limits)."""
        return self.MPI.Win.Create_dynamic(comm=self.comm)

    def stop(self, timeout=30.0):
        deadline = self._drain(timeout)
        cancel_persistent(self._ack_slots)
        self._ack_slots = []
        self.win.Unlock_all()
        if self.dyn is not None:
            self.dyn.Unlock_all()
            self.att.Unlock_all()
        _pool.set_default_pool(self._old_pool)
        left = self.rma_pool.close()
        # windows are freed collectively; memory still viewed by a live array is leaked instead
        if self.comm.allreduce(left, op=self.MPI.MAX) == 0:
            self.win.Free()
            if self.dyn is not None:
                self.dyn.Free()
                self.att.Free()
        else:
            sys.stderr.write(f"octosim runtime: rma pool windows kept at shutdown: {left} bytes "
                             "still in use on this locality (drop RmaVectors before finalize)\n")
        _pool.retire_pool(self.rma_pool)
        super().stop(max(0.1, deadline - time.monotonic()))

    def idle(self):
        return super().idle() and not (self._await or self._gets or self._acks_out
                                       or self._ack_due)

    def _receiving(self):
        return super()._receiving() or bool(self._gets)

    def in_flight(self):
        # MPICH emulates gets from dynamic windows with messages that both sides must poll
        # for: a large one takes longer than the usual hard-polling window (Backoff)
        return "drive" if self._polled or self._gets else super().in_flight()

    def _count(self, key, n=1):
        with self._reg_lock:
            self._counts[key] += n

    def rma_stats(self):
        """Return this locality's RMA counters and pool occupancy.

        ``registered_bytes``: chunk bytes sent from registered memory (no registration);
        ``attached_bytes`` / ``copied_bytes``: registered on the fly by attach / by copy
        into the pool; ``gets``: chunks fetched; ``pool_fallbacks``: RMA chunks received
        into plain memory because the pool was full; ``attach_fallbacks``: chunks copied
        into the pool because ``attach_limit`` regions were attached (or the library refused
        one: ``attach_failures``) or because they share a page with an attached region
        (``page_fallbacks``, see ``_attach``); ``two_sided``: parcels with chunks sent the mpi
        parcelport's way because a chunk could be neither attached nor copied;
        ``attach_limit``: regions per dynamic window (None: no limit found);
        ``dynamic_windows`` / ``dynamic_off``: whether they are used, else why not;
        ``attached``:
        regions attached on the fly now; ``pool``: ``RmaPool.stats()``.
        """
        with self._reg_lock:
            d = dict(self._counts)
            d["attached"] = len(self._attached)
        for k in ("registered_bytes", "attached_bytes", "copied_bytes", "gets", "pool_fallbacks",
                  "attach_fallbacks", "page_fallbacks", "attach_failures", "two_sided"):
            d.setdefault(k, 0)
        d["register"] = self.register
        d["attach_limit"] = self.attach_limit
        d["dynamic_windows"] = self.dyn is not None
        d["dynamic_off"] = self.dynamic_off
        d["mpi_library"] = self.library
        d["pool"] = self.rma_pool.stats()
        return d

    # ---- sending -----------------------------------------------------------------------
    def send(self, dest, route, archive, on_sent=None):
        frames = archive.frames
        if len(frames) == 1:
            return super().send(dest, route, archive, on_sent)
        f0 = frames[0]
        flen = memoryview(f0).nbytes
        nkeys = len(frames) - 1
        need = _XPORT.size + ROUTE_SIZE + _RMAHDR.size + _KEY.size * nkeys
        eager = need + flen <= self.hdr_size
        if not eager and need + _KEY.size > self.hdr_size:  # too many keys for one header
            return super().send(dest, route, archive, on_sent)
        s = _Send()
        s.archive, s.on_sent, s.dest, s.regs = archive, on_sent, dest, []
        try:
            keys = [] if eager else [self._register(byte_view(f0), s.regs, copy=True)]
            keys += [self._register(byte_view(f), s.regs) for f in frames[1:]]
        except _Unregistered:  # nothing left to register with: the two-sided way
            self._release(s.regs)
            self._count("two_sided")
            return super().send(dest, route, archive, on_sent)
        pid = next(self._ids)
        head = b"".join([_XPORT.pack(flen, 0, 0, X_RMA | (X_EAGER if eager else 0)), route,
                         _RMAHDR.pack(pid, len(keys))] + [_KEY.pack(*k) for k in keys]
                        + ([bytes(f0)] if eager else []))
        s.head = head
        s.deadline = time.monotonic() + self.ack_timeout
        # gets from a dynamic window are emulated (MPICH): they move only as fast as this
        # locality polls, so a large one makes the progress schedule poll hard until acked
        s.polled = bool(self.spin_bytes) and self.poll_large_sends and sum(
            k[2] for k in keys if k[0] in (ATTACHED, DYNAMIC)) >= self.spin_bytes
        with self._alock:  # the acknowledgement cannot be handled before both are set
            s.req = self.comm.Isend([head, self.MPI.BYTE], dest, HDR_TAG)
            self._await[pid] = s
            self._polled += s.polled
        # the chunks leave this locality too, fetched by the receiver's gets
        self.stats.add_many(messages_sent=1, bytes_sent=len(head) + sum(k[2] for k in keys))

    def _register(self, v, regs, copy=False):
        """Return the key of flat uint8 view ``v``, registering it on the fly if it is not."""
        n = v.nbytes
        if not n:
            return (ARENA, 0, 0)
        addr = v.__array_interface__["data"][0]
        hit = self.rma_pool.lookup(addr, n)
        if hit is not None:
            self._count("registered_bytes", n)
            return hit + (n,)
        if self.register == "attach" and not copy:
            key = self._attach(v, addr, n)
            if key is not None:
                regs.append(key)
                self._count("attached_bytes", n)
                return (ATTACHED, addr, n)
        try:
            blk = self.rma_pool.empty(n, segment=self.dyn is not None)
        except PoolExhausted:
            key = self._attach(v, addr, n) if self.dyn is not None else None
            if key is None:
                raise _Unregistered from None
            regs.append(key)
            self._count("attached_bytes", n)
            return (ATTACHED, addr, n)
        hit = self.rma_pool.lookup(blk.__array_interface__["data"][0], n)
        if hit is None:  # arena full and growth unregistered (no dynamic windows)
            raise _Unregistered
        blk[:] = v
        regs.append(blk)
        self._count("copied_bytes", n)
        return hit + (n,)

    def _attach(self, v, addr, n):
        """Attach [addr, addr+n) to the attachment window (or count a use of a region holding
        it); return the region, or None if it shares a page with another region or
        ``attach_limit`` regions are attached.

        Whole pages: Open MPI (osc/rdma) widens every region to page boundaries, and a
        detach removes the first region holding the base address it is given, which may be
        a neighbour sharing that page; the neighbour's later gets then fail with
        MPI_ERR_RMA_RANGE.  So regions attached at once never share a page.
        """
        lo, hi = addr & -_PAGE, -(-(addr + n) // _PAGE) * _PAGE
        with self._reg_lock:
            for (a, m), ent in self._attached.items():
                if a <= addr and addr + n <= a + m:
                    ent[0] += 1
                    return (a, m)
            for ent in self._attached.values():
                if ent[2] < hi and lo < ent[3]:
                    self._counts["page_fallbacks"] += 1
                    return None  # shares a page with an attached region: copy instead
            limit = self.attach_limit
            if limit is not None and len(self._attached) >= limit:
                self._counts["attach_fallbacks"] += 1
                return None
            try:
                self.att.Attach(v)
            except self.MPI.Exception:  # refused below the probed limit: attach no more
                self.attach_limit = len(self._attached)
                self._counts["attach_failures"] += 1
                return None
            self._attached[(addr, n)] = [1, v, lo, hi]
            return (addr, n)

    def _release(self, regs):
        for r in regs:
            if type(r) is tuple:
                with self._reg_lock:
                    ent = self._attached[r]
                    ent[0] -= 1
                    if not ent[0]:
                        del self._attached[r]
                        self.att.Detach(ent[1])
        regs.clear()  # pool blocks go back when their last view does

    def _progress_acks(self):
        did = False
        st = self._status
        for _ in range(self.nacks):
            buf, req = self._ack_slots[self._ahead]
            if not req.Test(st):
                break
            pids = struct.unpack_from(f"<{st.Get_count(self.MPI.BYTE) // _U64.size}Q", buf)
            req.Start()
            self._ahead = (self._ahead + 1) % self.nacks
            for pid in pids:
                with self._alock:
                    s = self._await.pop(pid, None)
                    if s is not None:
                        self._polled -= s.polled
                assert s is not None, f"rma parcelport: acknowledgement of unknown parcel {pid}"
                s.req.Wait()  # the receiver has the header: this returns at once
                self._release(s.regs)
                s.archive = s.head = None
                if s.on_sent is not None:
                    s.on_sent()
            did = True
        if self._acks_out:
            left = [a for a in self._acks_out if not a[0].Test()]
            did = did or len(left) < len(self._acks_out)
            self._acks_out = left
        self._checks += 1
        if self._await and not self._checks % 64:
            with self._alock:
                s = next(iter(self._await.values()), None)
            if s is not None and time.monotonic() > s.deadline:
                raise TimeoutError(f"rma parcelport: locality {s.dest} did not acknowledge "
                                   f"a parcel within {self.ack_timeout:g} s")
        return did

    # ---- receiving ---------------------------------------------------------------------
    def _on_header(self, source, data):
        flen, _, _, flags = _XPORT.unpack_from(data, 0)
        if not flags & X_RMA:
            return super()._on_header(source, data)
        t0 = time.perf_counter()
        o = _XPORT.size
        g = _Get()
        g.source, g.route = source, data[o:o + ROUTE_SIZE]
        o += ROUTE_SIZE
        g.pid, nkeys = _RMAHDR.unpack_from(data, o)
        o += _RMAHDR.size
        g.keys = [_KEY.unpack_from(data, o + i * _KEY.size) for i in range(nkeys)]
        o += nkeys * _KEY.size
        g.nbytes, g.hdr, g.dt = len(data), None, 0.0
        g.deadline = time.monotonic() + self.get_timeout
        if flags & X_EAGER:
            g.frame0 = data[o:o + flen]
            self._get_chunks(g, t0)
        else:  # frame 0 first, by its key; the chunks once it is here
            g.frame0 = bytearray(flen)
            g.reqs = self._rget(np.frombuffer(g.frame0, np.uint8), source, g.keys.pop(0))
            g.nbytes += flen
            g.dt += time.perf_counter() - t0
            self._gets.append(g)

    def _get_chunks(self, g, t0):
        g.hdr = hdr = self._decode_header(g.frame0)
        specs = hdr.chunks
        assert len(specs) == len(g.keys), \
            f"parcel from {g.source}: {len(specs)} chunks, {len(g.keys)} keys"
        g.bufs = bufs = [self._dest(c) for c in specs]
        reqs = []
        for c, b, k in zip(specs, bufs, g.keys):
            assert k[2] == c.nbytes, \
                f"parcel from {g.source}: chunk of {c.nbytes} bytes, key says {k[2]}"
            if c.nbytes:
                v = byte_view(b)
                self.recent_buffers.append((v.__array_interface__["data"][0], v.nbytes))
                reqs += self._rget(v, g.source, k)
                g.nbytes += c.nbytes
        g.reqs = reqs
        g.dt += time.perf_counter() - t0
        if not reqs:
            self._finish(g)
        elif (self._recv_done is not None and not self.quiet and self.spin_bytes
              and g.nbytes >= self.spin_bytes):
            self._recv_done.put(reqs, g, self._finish)  # waited for and delivered there
        else:
            self._gets.append(g)

    def _dest(self, spec):
        """Return the buffer a chunk is fetched into: an RmaVector block for RMA chunks."""
        if spec.kind == RMA:
            try:
                return self.rma_pool.empty(spec.shape, spec.dtype)
            except PoolExhausted:
                self._count("pool_fallbacks")
        if self.pool is not None and self.pool.wants(spec.nbytes):
            return self.pool.empty(spec.shape, spec.dtype)
        return np.empty(spec.shape, spec.dtype)

    def _rget(self, v, source, key):
        """Start the gets of ``key``'s bytes at ``source`` into flat uint8 view ``v``."""
        win_id, disp, n = key
        win = self.wins.get(win_id)
        assert win is not None and n == v.nbytes, f"bad RMA key {key} from locality {source}"
        BYTE, mm = self.MPI.BYTE, self.max_message
        return [win.Rget([v[off:off + mm], BYTE], source, (disp + off, min(mm, n - off), BYTE))
                for off in range(0, n, mm)]

    def _progress_gets(self):
        if not self._gets:
            return False
        did = False
        Testall = self.MPI.Request.Testall
        for g in list(self._gets):
            if not Testall(g.reqs):
                if time.monotonic() > g.deadline:
                    raise TimeoutError(f"rma parcelport: gets from locality {g.source} "
                                       f"not complete after {self.get_timeout:g} s")
                continue
            self._gets.remove(g)
            did = True
            if g.hdr is None:
                g.frame0 = bytes(g.frame0)
                self._get_chunks(g, time.perf_counter())
            else:
                self._finish(g)
        return did

    def _drive(self, n=DRIVE_POLLS):
        """Call MPI's progress engine ``n`` times cheaply (stopping at an acknowledgement):
        an emulated get moves a fragment or so a call, and a whole ``progress`` costs tens
        of microseconds of Python."""
        iprobe, src = self.comm.Iprobe, self.MPI.ANY_SOURCE
        for _ in range(n):
            if iprobe(src, ACK_TAG):
                return

    def _finish(self, g):
        """Acknowledge (the sender may release its memory), then deliver."""
        with self._ack_lock:  # sent at the end of a progress call
            self._ack_due[g.source].append(g.pid)
        t0 = time.perf_counter()
        args = g.hdr.finish(g.bufs)
        zc = sum(b.nbytes for b in g.bufs)
        c = self.stats.local()
        c[S.PARCELS_RECEIVED] += 1
        c[S.MESSAGES_RECEIVED] += 1
        c[S.BYTES_RECEIVED] += g.nbytes
        c[S.BYTES_RECEIVED_ZERO_COPY] += zc
        c[S.DESERIALIZATION_TIME] += g.dt + time.perf_counter() - t0
        self._count("gets", len(g.bufs))
        self.runtime.deliver(g.route, args)

    def _send_acks(self):
        """Acknowledge the parcels fetched in this progress call, one message per source."""
        with self._ack_lock:
            due, self._ack_due = self._ack_due, collections.defaultdict(list)
        c = self.stats.local()
        for source, pids in due.items():
            for i in range(0, len(pids), ACK_BATCH):
                part = pids[i:i + ACK_BATCH]
                ack = struct.pack(f"<{len(part)}Q", *part)
                req = self.comm.Isend([ack, self.MPI.BYTE], source, ACK_TAG)
                c[S.MESSAGES_SENT] += 1
                c[S.BYTES_SENT] += len(ack)
                if not req.Test():
                    self._acks_out.append((req, ack))

    def progress(self):
        if not self._plock.acquire(blocking=False):
            return False
        try:
            f = self._flush_coalesced() if self._coal else False
            h = self._finish_completed() if self._completed else False
            a = self._progress_headers()
            d = self._progress_gets()
            b = self._progress_recvs()
            c = self._progress_sends()
            e = self._progress_acks()
            if self._ack_due:
                self._send_acks()
            if self._polled or self._gets:
                self._drive()
            return a or b or c or d or e or f or h
        finally:
            self._plock.release()
