"""The step loop on many localities: ``DistributedSimulation(config)``.

Placement.  Every locality holds the whole octree (topology is cheap and replicated) and the
pooled arrays of every node, but *owns* only a contiguous share of the leaves in Morton order
(the tree's curve, ``mesh.curve``; ``partition``: equal shares of work).  Without gravity a leaf is one grid-step of hydro
work, so the shares are equal counts.  With gravity the FMM is nearly all of a step and its
pairs per leaf vary several-fold, so once the first solve has counted them
(``OwnedSolver.owned_weights``: a leaf's interactions and its share of those of the
interior nodes above it) the shares are re-cut to equal weights and leaves migrate
(``_rebalance``, at the first step), and every regrid cuts the new tree the same way
(``mesh.balance: work``, the default; ``leaves`` keeps equal counts).  The weights miss
what a share costs beyond them (the cells it walks on both sides of its edge, the pairs it
walks and drops, the core it runs on), so ``mesh.balance: time`` then corrects
them by the measured FMM solve time of each locality (``_retune``): the cut then varies
from run to run, the fields never do.  It
advances only its own leaves; the data of the other nodes is valid only where this
locality needs it.

What a locality needs (``octosim.distplan``): the halo of leaf interiors it receives each RK
stage, derived once per node set from the serial exchange tables, which it then runs
filtered to its own targets in the serial order, so every value it computes is bitwise the
serial one.

Messages.  Per stage: one parcel per (source, destination) locality carrying the stacked
interiors ``(k, nf, N, N, N)`` of the leaves the destination needs (one contiguous array, a
zero-copy pointer chunk); same-locality reads are direct memory.  Flux correction: one
parcel per pair carrying the fine leaves' face fluxes ``(k, nf, N, N)`` that a coarse leaf
on the destination averages with ``correct_fluxes_pool`` (the serial kernel, rows filtered
to the destination's coarse leaves).  Receives are keyed by (tag, cycle, source) in a
mailbox, so arrival order never matters.  The CFL time step is ``all_reduce(min)``: the
only collective of a step (min is exact, so dt is bitwise the serial one).

Gravity.  Every locality sends its leaves' density to every other one (zero-copy
``(k, N, N, N)`` arrays), computes the multipoles of the interior nodes whose leaves are
all its own and sends them to every other one (one ``(k, N^3, nterm + 4)`` array: moments,
centre of mass and radius per cell), computes those above leaves of several localities
itself, and walks only the FMM pairs whose target side holds its own cells, in the serial
order (``octosim.gravity.distributed``): its leaves' accelerations are bitwise those of one
locality.  (With ``runtime.threads`` > 1 each locality still computes every multipole.)
With ``gravity.steal`` the last part of each share is left in chunks that localities done
with their own may solve instead (``_solve_stealing``); a leaf's fields do not depend on
who solves it.

Regrid (``DistributedSimulation.regrid``).  Each locality fills the full ghosts of its
leaves (halo parcels) and flags them; the flags are all-gathered; the parents whose
children are all unflagged (the only possible merges) are judged by the owners of their
first children, after a second halo, and the verdicts all-gathered; every locality replays
``amr.regrid`` on the replicated tree with flags and verdicts (same refinement, 2:1
balance and merges everywhere; new nodes are children of old leaves, whose owner computes
their data).  The new leaves are split along the Morton curve and the ones whose data
lives elsewhere migrate to their new owner, one parcel per pair of localities, interiors
zero-copy.

Reproducibility.  Fields are bitwise identical at any locality count and parcelport;
conserved totals gather per-leaf sums in Morton order and add them with ``math.fsum``.
"""

import gc
import itertools
import math
import threading
import time as _time
import weakref

import numpy as np

import runtime
from octosim import exchange, totals
from octosim.distplan import Closure, DistPlan, face_views
from octosim.driver import Simulation
from octosim.partition import partition  # also this module's API
from octosim.fields import EGAS, GHOST, RHO, SX, SY, SZ

#: A leaf's hydro work per RK stage in the units of ``fmm.traverse``'s count (one side of an
#: order-3 M2L): one core did 0.12 ms a leaf-stage (sedov level 4, 2672 grids/s, 3 stages)
#: and 55 ns a unit (binary level 5: a 17.4 s solve counts 3.17e8), so 2200; rounded up
#: for the ghosts.
HYDRO_WORK = 3000.0

#: ``mesh.balance: time``: re-cut when the slowest locality's FMM solves took this much longer
#: than the mean, at most ``TIME_TUNES`` times per tree (each after one step on its cut).
TIME_TOLERANCE = 1.05
TIME_TUNES = 2

# -- mailbox: receives keyed by (tag, cycle, source), independent of arrival order ----------
_box_lock = threading.Lock()
_box = {}


def _slot(key):
    with _box_lock:
        p = _box.get(key)
        if p is None:
            p = _box[key] = runtime.Promise()
        return p


@runtime.action(name="octosim.distributed.deliver", direct=True)
def _deliver(tag, cycle, src, payload):
    _slot((tag, cycle, src)).set_value(payload)


def _receive(tag, cycle, src, timeout=None):
    """Return the payload locality ``src`` sent under ``(tag, cycle)``; TimeoutError naming
    them after ``timeout`` s (the runtime's default timeout when None)."""
    p = _slot((tag, cycle, src))
    try:
        out = p.future.get(timeout)
    except TimeoutError as e:
        raise TimeoutError(f"locality {runtime.here()}: no {tag!r} data from locality {src} "
                           f"for cycle {cycle} ({e})") from None
    with _box_lock:
        _box.pop((tag, cycle, src), None)
    return out


# -- work stealing: who holds each chunk of this locality's tail, per solve -----------------
#: A tail is cut into at most this many chunks: the owner takes them from the front, other
#: localities from the back, so several can help one slow locality.
STEAL_CHUNKS = 4
_tails_lock = threading.Lock()
_holder = {}    # solve number -> per chunk of this locality's tail, who solves it (-1: nobody)
_held = {}      # solve number -> localities whose tails are all held, as they told us
_solves = itertools.count()     # stealing solves of this process: alike on every locality


def _forget_before(sid, book):
    """Drop ``book``'s solves older than ``sid - 8`` (finished on every locality); locked."""
    if book and min(book) < sid - 8:
        for old in [k for k in book if k < sid - 8]:
            del book[old]


def _take_chunk(sid, who, nchunks, from_back):
    """Give locality ``who`` the first chunk (the last, ``from_back``) of this locality's
    tail in solve ``sid`` that nobody holds; return its index, or -1 when all are held."""
    with _tails_lock:
        h = _holder.get(sid)
        if h is None:
            _forget_before(sid, _holder)
            _forget_before(sid, _held)
            h = _holder[sid] = [-1] * nchunks
        for c in (range(nchunks - 1, -1, -1) if from_back else range(nchunks)):
            if h[c] < 0:
                h[c] = who
                return c
        return -1


def _holders(sid):
    with _tails_lock:
        return list(_holder.get(sid, ()))


@runtime.action(name="octosim.distributed.steal_chunk", direct=True)
def _steal_chunk(sid, who, nchunks):
    """Locality ``who`` asks for a chunk of this locality's tail in solve ``sid``: the last
    one nobody holds (its index), or -1."""
    return _take_chunk(sid, who, nchunks, True)


@runtime.action(name="octosim.distributed.tail_held", direct=True)
def _tail_held(sid, q):
    """Every chunk of locality ``q``'s tail in solve ``sid`` has a holder: ask it no more."""
    with _tails_lock:
        if sid not in _held:
            _forget_before(sid, _held)
        _held.setdefault(sid, set()).add(q)


def _is_held(sid, q):
    with _tails_lock:
        return q in _held.get(sid, ())


def _per_leaf(values, leaves):
    """Return ``values[k]`` for each leaf ``k``: a new child takes its parent's, a merged
    parent the mean of its children's, any other the mean of all."""
    from octosim.tree import children, parent
    mean = float(np.mean(list(values.values())))
    out = np.empty(len(leaves))
    for i, k in enumerate(leaves):
        v = values.get(k)
        if v is None and k[0] > 0:
            v = values.get(parent(k))
        if v is None:
            c = [values[c] for c in children(k) if c in values]
            v = float(np.mean(c)) if c else mean
        out[i] = v
    return out


class DistributedSimulation(Simulation):
    """``Simulation`` over the localities of the runtime: each advances its share of leaves.

    ``leaf_table()``, ``state()`` and ``level`` counters: see ``distributed`` below; the
    tables this locality returns are its own leaves (``distributed = True``), gathered by
    ``octosim.io`` in locality order, which is Morton order.
    """

    distributed = True

    def __init__(self, config, kernels=None, problem=None, _init=True):
        self.here = runtime.here()
        self.nloc = len(runtime.localities())
        self._cycle = 0
        self._dplan = None
        self._solver = None             # (weakref to its layout, OwnedSolver) made last: a
                                        # re-cut of that layout's tree takes it over
        self._work = {}                 # leaf -> FMM interaction count (global, when known)
        self._scale = {}                # leaf -> time-per-count factor (``_retune``)
        self._tunes = 0                 # time re-cuts of the current tree
        self.retunes = 0                # time re-cuts of the run
        self.comm_seconds = 0.0
        self.fmm_seconds = 0.0          # the steps' FMM solves (compute, no waiting)
        self.moments_seconds = 0.0      # the steps' solves trading moments (``_exchange_moments``)
        self._moments_t = 0.0           # time in ``_exchange_moments`` since the last solve
        self.tails_taken = 0            # chunks of other localities' tails it solved (stealing)
        self.tails_lost = 0             # chunks of its own tails that another locality solved
        self.sent_bytes = {}            # array bytes sent, by message tag
        super().__init__(config, kernels, problem, _init)
        self._balance_work = (bool(self.gravity) and self.nloc > 1
                              and config["mesh"]["balance"] in ("work", "time"))
        self._balance_time = self._balance_work and config["mesh"]["balance"] == "time"
        self._steal = float(config["gravity"]["steal"]) if self.nloc > 1 else 0.0
        assert self.batched, "DistributedSimulation needs the default (batched) kernels"
        gc.freeze()     # the set-up's objects live for the run: keep them out of collections

    # -- plan -----------------------------------------------------------------------------
    def dplan(self):
        """Return this locality's ``DistPlan`` of the current node set (rebuilt when stale)."""
        lay = self.mesh.layout()
        dp = self._dplan
        if dp is None or dp.layout is not lay:
            dp = self._dplan = DistPlan(self.mesh, self.here, self.nloc,
                                         self._weights(lay.leaves))
        return dp

    # -- load balance ------------------------------------------------------------------------
    def _weights(self, leaves):
        """Return the per-leaf weights of a Morton split (None: equal counts).

        With gravity, a leaf weighs ``HYDRO_WORK`` plus its FMM weight
        (``OwnedSolver.owned_weights``) from the first solve on its tree: nearly all of a
        step; times its locality's measured factor under ``mesh.balance: time``.
        """
        if not self._work:
            return None
        w = _per_leaf(self._work, leaves) + HYDRO_WORK
        if self._scale:
            w *= _per_leaf(self._scale, leaves)
        return w

    def _own_work(self, dp):
        """This locality's leaves' FMM weights from the first solve on this plan, or None
        (no solve yet, or the plan re-cuts a tree already counted: its solver takes over the
        last one's workspace and counts nothing, ``OwnedSolver``'s ``like``)."""
        g = dp.gravity
        return None if g is None or g.work is None else g.owned_weights()

    def _learn_work(self, leaves, parts):
        """Keep the gathered weights (``_own_work`` of every locality, in locality order);
        if any is None, the weights known stand (those of this tree's first cut)."""
        if all(p is not None for p in parts):
            self._work = dict(zip(leaves, np.concatenate(parts).tolist()))

    def _rebalance(self):
        """Once the first FMM counts exist: move to Morton shares of equal work.  Collective."""
        t0 = _time.perf_counter()
        dp = self.dplan()
        lay = dp.layout
        self._learn_work(lay.leaves, runtime.all_gather(self._own_work(dp),
                                                        name="octosim.balance"))
        new = DistPlan(self.mesh, self.here, self.nloc, self._weights(lay.leaves))
        if new.bounds != dp.bounds:
            self._dplan = new
            self._migrate(new, dp.leaf_owner)
        self.timers["regrid"] += _time.perf_counter() - t0

    def _retune_due(self):
        """Whether to re-cut by measured times now: alike on every locality (solve counts,
        re-cuts of this tree)."""
        dp = self._dplan
        return (self._balance_time and self._tunes < TIME_TUNES and bool(self._work)
                and dp is not None and dp.fmm_solves >= 3)

    def _retune(self):
        """Scale each leaf's weight by its locality's FMM seconds per unit of weight in the
        solves on this cut, then re-cut and migrate, unless the slowest was within
        ``TIME_TOLERANCE`` of the mean.  Collective; every locality computes the same cut from the gathered
        times."""
        t0 = _time.perf_counter()
        dp = self.dplan()
        leaves = dp.layout.leaves
        times = runtime.all_gather(dp.fmm_seconds / dp.fmm_solves, name="octosim.balance.time")
        self._tunes += 1
        if max(times) > TIME_TOLERANCE * (sum(times) / len(times)):
            w = self._weights(leaves)
            b = dp.bounds
            rate = [times[q] / w[b[q]:b[q + 1]].sum() for q in range(self.nloc)]
            mean = sum(rate) / len(rate)
            scale = _per_leaf(self._scale, leaves) if self._scale else np.ones(len(leaves))
            scale *= np.repeat(np.array(rate) / mean, np.diff(b))
            self._scale = dict(zip(leaves, scale.tolist()))
            new = DistPlan(self.mesh, self.here, self.nloc, self._weights(leaves))
            if new.bounds != dp.bounds:
                self._dplan = new
                self._migrate(new, dp.leaf_owner)
                self.retunes += 1
            else:
                dp.fmm_seconds, dp.fmm_solves = 0.0, 0   # measure the same cut once more
        self.timers["regrid"] += _time.perf_counter() - t0

    def _migrate(self, new, src_of):
        """Send every leaf whose data lives here (``src_of``: its locality, per leaf of the
        new plan) to its owner in ``new``, and receive ours (one parcel per pair)."""
        nlay, P, me = new.layout, self.nloc, self.here
        send, recv = {}, {}
        for q in range(P):
            if q == me:
                continue
            m = (src_of == me) & (new.leaf_owner == q)
            if m.any():
                send[q] = nlay.leaf_slots[m]
            m = (src_of == q) & (new.leaf_owner == me)
            if m.any():
                recv[q] = nlay.leaf_slots[m]
        self._halo(new, nlay.pool, send, recv, tag="migrate")

    def owned_leaves(self):
        dp = self.dplan()
        return dp.layout.leaves[dp.lo:dp.hi]

    # -- messages ---------------------------------------------------------------------------
    def _next_cycle(self):
        self._cycle += 1
        return self._cycle

    def _send(self, tag, cycle, dst, payload):
        self.sent_bytes[tag] = self.sent_bytes.get(tag, 0) + payload.nbytes
        runtime.apply(_deliver, int(dst), tag, cycle, self.here, payload)

    def _halo(self, dp, pool, send=None, recv=None, tag="halo"):
        """Receive the interiors of the remote leaves this locality reads (one parcel each way).

        ``send`` / ``recv`` map a locality to the pool slots sent there / received from it
        (default: the stage halo of ``dp``); both sides list the slots in the same order.
        """
        self._recv_halo(self._post_halo(dp, pool, send, tag), dp, pool, recv, tag)

    def _post_halo(self, dp, pool, send=None, tag="halo"):
        """Send this locality's part of a halo (packed interiors, zero-copy); return the cycle."""
        from octosim.kernels_dist import pack_interiors
        t0 = _time.perf_counter()
        cyc = self._next_cycle()
        send = dp.send if send is None else send
        N, nf = self.mesh.N, pool.shape[1]
        for dst, slots in send.items():
            out = np.empty((len(slots), nf, N, N, N), dtype=pool.dtype)
            pack_interiors(pool, slots, 0, nf, out)
            self._send(tag, cyc, dst, out)
        self.comm_seconds += _time.perf_counter() - t0
        return cyc

    def _recv_halo(self, cyc, dp, pool, recv=None, tag="halo"):
        """Wait for the halo parcels of cycle ``cyc`` and unpack them into the pool."""
        from octosim.kernels_dist import unpack_interiors
        t0 = _time.perf_counter()
        recv = dp.recv if recv is None else recv
        nf = pool.shape[1]
        for src, slots in recv.items():
            unpack_interiors(pool, slots, 0, nf, _receive(tag, cyc, src))
        self.comm_seconds += _time.perf_counter() - t0

    def _allgather_leaves(self, dp, pool, field=None):
        """Send this locality's leaf interiors (or one field) to every other locality."""
        from octosim.kernels_dist import pack_interiors, unpack_interiors
        t0 = _time.perf_counter()
        cyc = self._next_cycle()
        N = self.mesh.N
        f0, f1 = (0, pool.shape[1]) if field is None else (field, field + 1)
        lay = dp.layout
        if dp.hi > dp.lo:
            mine = np.empty((dp.hi - dp.lo, f1 - f0, N, N, N), dtype=pool.dtype)
            pack_interiors(pool, dp.slots, f0, f1, mine)
            for dst in range(self.nloc):
                if dst != self.here:
                    self._send("all", cyc, dst, mine)
        for src in range(self.nloc):
            a, b = dp.bounds[src], dp.bounds[src + 1]
            if src == self.here or a == b:
                continue
            unpack_interiors(pool, lay.leaf_slots[a:b], f0, f1, _receive("all", cyc, src))
        self.comm_seconds += _time.perf_counter() - t0

    def _exchange_moments(self, rows, sources):
        """The FMM's shared upward pass: send this locality's interior nodes' moments
        (``rows``, zero-copy; None: it has none) to every other locality and return
        ``{q: rows}`` received from each of ``sources`` (``OwnedSolver.solve``)."""
        t0 = _time.perf_counter()
        cyc = self._next_cycle()
        if rows is not None:
            for dst in range(self.nloc):
                if dst != self.here:
                    self._send("moments", cyc, dst, rows)
        got = {q: _receive("moments", cyc, q) for q in sources}
        dt = _time.perf_counter() - t0
        self.comm_seconds += dt
        self._moments_t += dt
        return got

    def _flux_exchange(self, dp, lay):
        t0 = _time.perf_counter()
        cyc = self._next_cycle()
        N = self.mesh.N
        F = (lay.Fx, lay.Fy, lay.Fz)
        for dst, rows in dp.flux_send.items():
            self._send("flux", cyc, dst, np.stack(list(face_views(F, rows, N))))
        for src, rows in dp.flux_recv.items():
            data = _receive("flux", cyc, src)
            for face, blk in zip(face_views(F, rows, N), data):
                face[...] = blk
        self.comm_seconds += _time.perf_counter() - t0

    # -- step -----------------------------------------------------------------------------
    def _gravity(self, dp, step=False):
        """Return ``(phi, g)`` over this locality's leaves (``octosim.gravity.distributed``).

        A ``step``'s solve time is added to ``fmm_seconds`` (the report's per-locality
        ``fmm``), less its time trading moments (sending, and waiting for the others' upward
        passes), which goes to ``moments_seconds``; the former alone is what ``mesh.balance:
        time`` balances."""
        from octosim.gravity.distributed import OwnedSolver, ThreadedSolver
        self._allgather_leaves(dp, dp.layout.pool, RHO)
        threads = self.config["runtime"]["threads"]
        if dp.gravity is None:
            lay = dp.layout
            own = lay.leaves[dp.lo:dp.hi]
            owner_of = dict(zip(lay.leaves, dp.leaf_owner.tolist()))
            last = self._solver
            like = last[1] if last is not None and last[0]() is lay else None   # same tree
            dp.gravity = (OwnedSolver(self.mesh.tree, self.mesh.N, self.mesh.xscale, own,
                                      owner_of, self.here, like=like)
                          if threads <= 1 else
                          ThreadedSolver(self.mesh.tree, self.mesh.N, self.mesh.xscale, own,
                                         threads))
            self._solver = (weakref.ref(lay), dp.gravity) if threads <= 1 else None
        G, N = GHOST, self.mesh.N
        pool, lay = dp.layout.pool, dp.layout
        rho = {k: pool[lay.slot[k], RHO, G:G + N, G:G + N, G:G + N] for k in lay.leaves}
        p = self.grav
        kw = dict(G=p["G"], theta=p["theta"], order=max(p["order"], 1),
                  angmom=p.get("angmom", False))
        extra = {} if threads > 1 else {"exchange": self._exchange_moments}
        self._moments_t = 0.0
        t0 = _time.perf_counter()
        if step and self._steal > 0.0 and threads <= 1 and not dp.gravity.counts_next:
            out, waited = self._solve_stealing(dp, rho, kw)
        else:
            out, waited = dp.gravity.solve(rho, **kw, **extra), 0.0
        dt = _time.perf_counter() - t0 - self._moments_t - waited
        dp.fmm_seconds += dt
        dp.fmm_solves += 1
        if step:
            self.fmm_seconds += dt
            self.moments_seconds += self._moments_t
        return out

    def _tails(self, dp):
        """Each locality's tail in chunks: the last ``gravity.steal`` of its share's leaves
        (at least one, never the whole share: a share of one leaf has none), cut into at
        most ``STEAL_CHUNKS`` runs of consecutive leaves."""
        if dp.tails is None:
            leaves, b = dp.layout.leaves, dp.bounds
            dp.tails = []
            for q in range(self.nloc):
                n = b[q + 1] - b[q]
                k = min(n - 1, max(1, int(round(self._steal * n))))
                tail = leaves[b[q + 1] - k:b[q + 1]] if k > 0 else []
                c = partition(len(tail), min(STEAL_CHUNKS, len(tail))) if tail else [0]
                dp.tails.append([tuple(tail[c[i]:c[i + 1]]) for i in range(len(c) - 1)])
                assert all(dp.tails[-1]), "a chunk of no leaves"
        return dp.tails

    def _solve_stealing(self, dp, rho, kw):
        """One FMM solve with work stealing; return ``((phi, g), seconds waited)``.

        This locality solves its share less its tail (trading moments as usual), then the
        tail's chunks from the front, each unless another locality holds it already
        (``_take_chunk``, under a lock), from the same multipoles
        (``OwnedSolver.solve_more``), and tells the others when all are held.  Then it asks
        the localities not known to be done, from the next one on, for chunks of their tails
        (``_steal_chunk``: the last one free), solves each and sends its potential and
        acceleration there (one ``(k, 4, N, N, N)`` array).  A locality waits for the
        results of its chunks that others took.  Every leaf's fields are bitwise the same
        whoever solves it, so stealing changes no result, only who waits."""
        solver, tails = dp.gravity, self._tails(dp)
        mine = tails[self.here]
        nmine = sum(len(c) for c in mine)
        sid = next(_solves)
        phi, g = solver.solve(rho, exchange=self._exchange_moments,
                              leaves=dp.layout.leaves[dp.lo:dp.hi - nmine], **kw)
        waited = 0.0
        while nmine:
            c = _take_chunk(sid, self.here, len(mine), False)
            if c < 0:
                break
            more = solver.solve_more(mine[c], **kw)
            phi.update(more[0])
            g.update(more[1])
        if nmine:
            for dst in range(self.nloc):
                if dst != self.here:
                    runtime.apply(_tail_held, dst, sid, self.here)
        for i in range(1, self.nloc):
            v = (self.here + i) % self.nloc
            while tails[v] and not _is_held(sid, v):
                t = _time.perf_counter()
                c = runtime.async_(_steal_chunk, v, sid, self.here, len(tails[v])).get()
                waited += _time.perf_counter() - t
                if c < 0:
                    break
                vp, vg = solver.solve_more(tails[v][c], **kw)
                out = np.empty((len(tails[v][c]), 4) + vp[tails[v][c][0]].shape)
                for i, k in enumerate(tails[v][c]):     # phi and g of a leaf, one array
                    out[i, 0], out[i, 1:] = vp[k], vg[k]
                self._send("tail", sid * STEAL_CHUNKS + c, v, out)
                self.tails_taken += 1
        for c, holder in enumerate(_holders(sid) if nmine else ()):
            if holder == self.here:
                continue
            t = _time.perf_counter()
            got = _receive("tail", sid * STEAL_CHUNKS + c, holder)
            waited += _time.perf_counter() - t
            for i, k in enumerate(mine[c]):
                phi[k], g[k] = got[i, 0], got[i, 1:]
            self.tails_lost += 1
        return (phi, g), waited

    def advance(self, dt_max=None):
        """Advance this locality's leaves one SSP-RK3 step of the global dt; return dt.

        Each stage overlaps the halo with work (``DistPlan._split``): send the halo, fill
        the ghosts that need no remote data and compute (and update) those leaves, then
        receive the halo and do the rest.  The first stage's CFL ``all_reduce(min)`` is
        started before the halo, from the interiors alone.  The step is a
        ``runtime.computing`` phase: the progress thread leaves the core to the kernels.
        Python's cyclic collector is paused for the step and runs between steps: a pause
        on one locality in mid-stage holds up its neighbours (measured on 16 ranks: +8%).
        Before the first step after the first FMM solve, the shares are balanced by its
        interaction counts (``_rebalance``); with ``mesh.balance: time``, after a step on a
        cut, by the measured solve times (``_retune``).
        """
        if self._balance_work and not self._work and self._own_work(self.dplan()) is not None:
            self._rebalance()           # the first FMM counts: alike on every locality
        elif self._retune_due():
            self._retune()              # measured solve times, after a step on this cut
        enabled = gc.isenabled()
        gc.disable()    # no collection pauses at random points of a step on any locality
        try:
            with runtime.computing():
                return self._advance(dt_max)
        finally:
            if enabled:
                gc.enable()

    def _advance(self, dt_max):
        from octosim.hydro.batched import floors_all, min_dt_all, save_stage, update_some
        from octosim.kernels_amr import correct_fluxes_pool, restrict_pool
        from octosim.kernels_dist import fluxes_update_some
        mesh, T = self.mesh, self.timers
        clock = _time.perf_counter
        dp = self.dplan()
        lay = dp.layout
        lo, hi, slots = dp.lo, dp.hi, dp.slots
        pool = lay.pool
        U0, Fx, Fy, Fz = lay.U0[lo:hi], lay.Fx[lo:hi], lay.Fy[lo:hi], lay.Fz[lo:hi]
        ldx = lay.leaf_dx[lo:hi]
        if self._flux_work is None:
            from octosim.hydro.fluxes import make_work
            self._flux_work = make_work(pool[0])
        work, g, rc, de = self._flux_work, self.gamma, self.recon, self.de_switch
        grav = bool(self.gravity)
        save_stage(pool, slots, U0)
        own = lay.leaves[lo:hi]
        self.outflow.begin(tuple(own), own, mesh.tree.periodic, mesh.nf)
        t0 = clock()
        local = min_dt_all(pool, slots, ldx, g, de)
        dt_future = runtime.all_reduce_async(float(local), op="min", name="octosim.dt")
        T["timestep"] += clock() - t0
        dt = None
        for a in (0.0, 0.75, 1.0 / 3.0):
            t0 = clock()
            cyc = self._post_halo(dp, pool)
            restrict_pool(pool, dp.restrict_a)
            dp.ghosts_a.run(pool)
            t1 = clock()
            T["exchange"] += t1 - t0
            if dt is None:
                dt = self.cfl * dt_future.get()
                if dt_max is not None:
                    dt = min(dt, dt_max)
                assert dt > 0.0 and math.isfinite(dt), f"bad time step {dt} at step {self.step}"
                t2 = clock()
                T["timestep"] += t2 - t1
                t1 = t2
            fluxes_update_some(pool, slots, dp.which_a, dp.defer_all if grav else dp.defer_a,
                               g, rc, de, Fx, Fy, Fz, work, U0, dt, ldx, a)
            t2 = clock()
            self._recv_halo(cyc, dp, pool)
            restrict_pool(pool, dp.restrict_b)
            dp.ghosts_b.run(pool)
            t3 = clock()
            T["exchange"] += t3 - t2
            fluxes_update_some(pool, slots, dp.which_b, dp.defer_all if grav else dp.defer,
                               g, rc, de, Fx, Fy, Fz, work, U0, dt, ldx, a)
            if not grav:
                update_some(pool, slots, dp.late, U0, Fx, Fy, Fz, dt, ldx, a, g, de)
            t4 = clock()
            T["hydro"] += (t4 - t3) + (t2 - t1)
            accel = None
            if grav:
                phi, accel = self._gravity(dp, step=True)
                t5 = clock()
                T["gravity"] += t5 - t4
                t4 = t5
            self._flux_exchange(dp, lay)
            correct_fluxes_pool(lay.Fx, lay.Fy, lay.Fz, dp.reflux)
            t5 = clock()
            if accel is None:
                update_some(pool, slots, dp.deferred, U0, Fx, Fy, Fz, dt, ldx, a, g, de)
            else:
                from octosim.gravity import stage_sources
                from octosim.hydro.batched import update_all_src
                S = stage_sources(mesh.subgrids, lay.leaves[lo:hi], phi, accel, Fx, Fy, Fz)
                update_all_src(pool, slots, U0, Fx, Fy, Fz, S, dt, ldx, a, g, de)
            t6 = clock()
            self.outflow.stage(Fx, Fy, Fz, ldx, dt, a)
            T["reflux"] += t5 - t4
            T["update"] += t6 - t5
        t0 = clock()
        nfl = int(floors_all(pool, slots, self.rho_floor, self.e_floor, self.gamma))
        T["floors"] += clock() - t0
        # grid-step counters are global: every locality knows the whole tree
        return self._end_step(dt, lay.leaves, nfl)

    def _regrid_halo(self, dp, lay, plan, extra, have, tag):
        """Fill the full ghosts of this locality's leaves and of the nodes ``extra`` (slots):
        receive the remote leaf interiors they read that are not in ``have`` (a slot mask,
        updated), then restrict and fill in the serial order.  Collective."""
        from octosim.kernels_amr import restrict_pool
        b, P, me = dp.bounds, self.nloc, self.here
        cl = Closure(lay, plan, b[me], b[me + 1], full=True, extra=extra)
        slot_owner = dp.slot_owner
        need = np.flatnonzero(cl.need_leaf & ~have)  # remote leaves I read, slot order
        needs = runtime.all_gather(need, name=f"octosim.{tag}.need")
        recv, send = {}, {}
        for q in range(P):
            if q == me:
                continue
            r = need[slot_owner[need] == q]
            if len(r):
                recv[q] = r
            w = needs[q][slot_owner[needs[q]] == me]
            if len(w):
                send[q] = np.ascontiguousarray(w)
        self._halo(dp, lay.pool, send, recv, tag=tag)
        have[need] = True
        restrict_pool(lay.pool, cl.restrict)
        cl.ghosts.run(lay.pool)

    def regrid(self):
        """Regrid across localities with the serial result; repartition and migrate.

        1. Each locality fills the full ghosts of its leaves (receiving the remote leaf
           interiors they read, halo parcels) and flags them; the flags are all-gathered.
        2. A sibling group may merge only if no child is flagged (``amr.regrid``), so only
           those parents are judged: the owner of a parent's first child fills its full
           ghosts (a second halo, of what it does not hold yet) and evaluates the
           criterion, and the verdicts are all-gathered.  With every leaf flagged (uniform
           refinement) this round is skipped on every locality alike.
        3. Every locality replays ``amr.regrid`` on the replicated tree with the gathered
           flags and verdicts, so the new tree (refinement, 2:1 balance, merges) is the
           same everywhere.  New children are children of old leaves (the old tree was
           balanced), so the old owner of a parent (of a merged group: of its first child)
           computed their data exactly.
        4. The new leaves are split along the Morton curve and every leaf whose data lives
           elsewhere migrates to its new owner (one parcel per pair, interiors zero-copy).
        """
        from octosim import amr
        from octosim.tree import children, parent
        t0 = _time.perf_counter()
        mesh, tree = self.mesh, self.mesh.tree
        dp = self.dplan()
        lay, plan = exchange.plan(mesh)
        me = self.here
        leaves = lay.leaves
        old_owner = {k: int(dp.leaf_owner[i]) for i, k in enumerate(leaves)}
        have = np.zeros(len(lay.keys), dtype=bool)   # remote interiors received so far
        self._regrid_halo(dp, lay, plan, [], have, "regrid")
        crit = self.criterion
        mine = [bool(crit(mesh.subgrids[k])) for k in leaves[dp.lo:dp.hi]]
        work = self._own_work(dp) if self._balance_work else None
        parts = runtime.all_gather((mine, work), name="octosim.regrid.flags")
        flags = dict(zip(leaves, (f for fl, _ in parts for f in fl)))
        self._learn_work(leaves, [w for _, w in parts])
        cand = {}                       # parent that may merge -> the locality that judges it
        for k in leaves:
            if k[0] > 0:
                p = parent(k)
                if p not in cand and all(flags.get(c) is False for c in children(p)):
                    cand[p] = old_owner[children(p)[0]]
        judged = {}
        if cand:                        # the same on every locality: flags are global
            extra = [lay.slot[p] for p, r in cand.items() if r == me]
            self._regrid_halo(dp, lay, plan, extra, have, "regrid.merge")
            verdicts = {p: bool(crit(mesh.subgrids[p])) for p, r in cand.items() if r == me}
            for v in runtime.all_gather(verdicts, name="octosim.regrid.verdicts"):
                judged.update(v)

        def gathered(sg):
            return judged[sg.key]

        before = set(tree.nodes)
        amr.regrid(mesh, flags, None, gathered)
        self.regrids += 1
        self._tunes = 0
        # repartition along the new Morton order and migrate what lives elsewhere
        new = self.dplan()
        nlay = new.layout
        src_of = []
        for k in nlay.leaves:
            if k in old_owner:
                src_of.append(old_owner[k])
            elif k not in before:
                src_of.append(old_owner[parent(k)])
            else:
                src_of.append(old_owner[children(k)[0]])
        self._migrate(new, np.array(src_of, dtype=np.int64))
        self.timers["regrid"] += _time.perf_counter() - t0

    # -- output and diagnostics ---------------------------------------------------------------
    def _owned_subgrids(self):
        return [(k, self.mesh.subgrids[k]) for k in self.owned_leaves()]

    def state(self):
        """Return ``(time, step, keys, interiors)`` of this locality's leaves (Morton order)."""
        keys = self.owned_leaves()
        arrays = [np.ascontiguousarray(self.mesh.subgrids[k].interior) for k in keys]
        return self.time, self.step, keys, arrays

    def leaf_table(self):
        """Return the leaf table of this locality's leaves (``octosim.io`` gathers the parts)."""
        cols = {k: [] for k in ("x", "y", "z", "dx", "level") + tuple(self.field_names)}
        for key, sg in self._owned_subgrids():
            X, Y, Z = np.meshgrid(*sg.centers(), indexing="ij")
            n = X.size
            for c, v in (("x", X.ravel()), ("y", Y.ravel()), ("z", Z.ravel()),
                         ("dx", np.full(n, sg.dx)), ("level", np.full(n, key[0], np.int32))):
                cols[c].append(v)
            inner = sg.interior
            for f, name in enumerate(self.field_names):
                cols[name].append(inner[f].ravel())
        return {k: (np.concatenate(v) if v else np.zeros(0, np.int32 if k == "level" else float))
                for k, v in cols.items()}

    def momentum_scale(self):
        """Return the total of |rho v| dV: per-leaf sums gathered in Morton order, ``fsum``-ed."""
        mine = [float(np.sum(np.abs(sg.interior[SX:SZ + 1]))) * sg.dx ** 3
                for _, sg in self._owned_subgrids()]
        return math.fsum(v for part in runtime.all_gather(mine, name="octosim.pscale")
                         for v in part)

    def angular_momentum(self):
        """Return ``totals.ANGMOM_KEYS``: per-leaf sums gathered in Morton order, ``fsum``-ed."""
        mine = [totals.leaf_angular_momentum(sg) for _, sg in self._owned_subgrids()]
        return totals.add_rows([r for part in runtime.all_gather(mine, name="octosim.angmom")
                                for r in part])

    def boundary_outflow(self):
        """Return ``{quantity: amount}`` that left through the domain's faces so far: every
        locality's exact tally (``octosim.outflow``) gathered and added; None when every
        axis is periodic.  Collective."""
        if all(self.mesh.tree.periodic):
            return None
        parts = runtime.all_gather([str(n) for n in self.outflow.totals],
                                   name="octosim.outflow")
        return self.outflow.as_dict([sum(int(p[q]) for p in parts)
                                     for q in range(len(self.outflow.totals))])

    def conserved_totals(self):
        """Return the conserved totals: per-leaf sums gathered in Morton order, ``fsum``-ed."""
        dp = self.dplan()
        fields = {"mass": RHO, "momentum_x": SX, "momentum_y": SY, "momentum_z": SZ,
                  "energy": EGAS}
        parts = []
        for _, sg in self._owned_subgrids():
            vol = sg.dx ** 3
            inner = sg.interior
            parts.append([float(np.sum(inner[f])) * vol for f in fields.values()])
        pe = []
        if self.gravity:
            from octosim.gravity import potential_energy
            phi, _ = self._gravity(dp)
            pe = [potential_energy(sg.interior[RHO], phi[k], sg.dx)
                  for k, sg in self._owned_subgrids()]
        allp = runtime.all_gather((parts, pe), name="octosim.conserved")
        rows = [r for p, _ in allp for r in p]
        out = {name: math.fsum(r[i] for r in rows) for i, name in enumerate(fields)}
        if self.gravity:
            out["potential_energy"] = math.fsum(v for _, e in allp for v in e)
            out["total_energy"] = out["energy"] + out["potential_energy"]
        return out
