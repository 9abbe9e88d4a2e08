"""What each locality owns, reads and sends in a distributed step: ``DistPlan``.

From the ``exchange.ExchangePlan`` tables (identical on every locality) each locality derives,
once per node set: the nodes whose ghosts it fills (its leaves and, transitively, the interior
parents their face interpolation reads), the nodes whose interior it reads (copy and
interpolation sources) and, since interior nodes hold restricted data, the leaves below those.
Those leaves' interiors are the halo it receives each RK stage.  It then runs the serial
restriction and ghost-fill tables filtered to those targets, in the serial order, so every
value it computes is bitwise the serial one (``octosim.distributed`` runs the step).
"""
import numpy as np

from octosim import exchange
from octosim.exchange import GhostTables
from octosim.partition import partition


def _filter_ghosts(gt, mask):
    """Return a ``GhostTables`` with the rows whose target slot is in ``mask``."""
    out = GhostTables.__new__(GhostTables)
    for name, off in (("prolong", "poff"), ("copies", "coff"), ("bcs", "boff")):
        rows, offs = getattr(gt, name), getattr(gt, off)
        keep = mask[rows[:, 0]] if len(rows) else np.zeros(0, dtype=bool)
        cum = np.concatenate([[0], np.cumsum(keep)]).astype(np.int64)
        setattr(out, name, np.ascontiguousarray(rows[keep]))
        setattr(out, off, cum[offs])
    return out


class Closure:
    """What one locality fills and reads in a stage, from the serial plan's tables."""

    def __init__(self, lay, plan, lo, hi, full=False, extra=()):
        nslot = len(lay.keys)
        own = np.zeros(nslot, dtype=bool)
        own[lay.leaf_slots[lo:hi]] = True
        fill = own.copy()               # nodes whose ghosts we fill
        fill[list(extra)] = True
        gt = plan.ghosts if full else plan.stage_ghosts
        nlev = len(gt.poff) - 1
        for lev in range(nlev - 1, -1, -1):
            rows = gt.prolong[gt.poff[lev]:gt.poff[lev + 1]]
            if len(rows):
                fill[rows[fill[rows[:, 0]], 1]] = True
        need = fill.copy()              # nodes whose interior we read
        for rows in (gt.copies, gt.prolong):
            if len(rows):
                need[rows[fill[rows[:, 0]], 1]] = True
        rst = plan.restrict            # finest level first: walk it coarse to fine
        for r in range(len(rst) - 1, -1, -1):
            if need[rst[r, 0]]:
                need[rst[r, 1]] = True
        self.ghosts = _filter_ghosts(gt, fill)
        self.restrict = np.ascontiguousarray(rst[need[rst[:, 0]]]) if len(rst) else rst
        isleaf = np.zeros(nslot, dtype=bool)
        isleaf[lay.leaf_slots] = True
        self.need_leaf = need & isleaf & ~own     # remote leaves whose interiors we read


def need_bits(lay, plan, bounds):
    """Return ``(nslot, W)`` uint64 words: bit r of a slot is set iff locality r reads its
    interior in a stage (``Closure(lay, plan, bounds[r], bounds[r + 1]).need``, for every
    r in one pass over the tables: the closures' boolean steps as bitwise ORs)."""
    nslot, nloc = len(lay.keys), len(bounds) - 1
    W = -(-nloc // 64)
    ls = lay.leaf_slots
    fill = np.zeros((nslot, W), dtype=np.uint64)
    for r in range(nloc):
        fill[ls[bounds[r]:bounds[r + 1]], r // 64] |= np.uint64(1) << np.uint64(r % 64)
    gt = plan.stage_ghosts
    for lev in range(len(gt.poff) - 2, -1, -1):
        rows = gt.prolong[gt.poff[lev]:gt.poff[lev + 1]]
        if len(rows):
            np.bitwise_or.at(fill, rows[:, 1], fill[rows[:, 0]])
    need = fill.copy()
    for rows in (gt.copies, gt.prolong):
        if len(rows):
            np.bitwise_or.at(need, rows[:, 1], fill[rows[:, 0]])
    rst = plan.restrict                     # (parent, child, ...), finest level first
    if len(rst):                            # walk it coarse to fine, a level at a time
        lev = np.array([k[0] for k in lay.keys], dtype=np.int64)[rst[:, 0]]
        cuts = np.flatnonzero(np.diff(lev)) + 1
        for blk in reversed(np.split(np.arange(len(rst)), cuts)):
            np.bitwise_or.at(need, rst[blk, 1], need[rst[blk, 0]])
    return need


def has_bit(words, r):
    """Return the per-slot mask of bit ``r`` of ``(nslot, W)`` words."""
    return (words[:, r // 64] >> np.uint64(r % 64)) & np.uint64(1) == 1


class DistPlan:
    """Per-node-set tables of this locality: owned range, filtered tables, message lists."""

    def __init__(self, mesh, here, nloc, weights=None):
        lay, plan = exchange.plan(mesh)
        self.layout = lay
        self.gravity = None             # OwnedSolver, made on the first gravity solve
        self.fmm_seconds, self.fmm_solves = 0.0, 0   # this locality's solves on this cut
        self.tails = None               # every locality's tail chunks (``gravity.steal``)
        nl = len(lay.leaves)
        b = partition(nl, nloc, weights)
        self.bounds = b
        self.lo, self.hi = b[here], b[here + 1]
        owner_of_leaf = np.repeat(np.arange(nloc), np.diff(b))
        self.leaf_owner = owner_of_leaf
        slot_owner = np.full(len(lay.keys), -1, dtype=np.int64)
        slot_owner[lay.leaf_slots] = owner_of_leaf
        self.slot_owner = slot_owner    # the locality owning each pool slot (-1: not a leaf)
        mine = Closure(lay, plan, b[here], b[here + 1])
        need = need_bits(lay, plan, b) if nloc > 1 else None
        self.ghosts, self.restrict = mine.ghosts, mine.restrict
        self.slots = np.ascontiguousarray(lay.leaf_slots[self.lo:self.hi])
        defer = np.zeros(self.hi - self.lo, dtype=np.bool_)
        rf = plan.reflux
        if len(rf):
            c = rf[:, 0]
            defer[c[(c >= self.lo) & (c < self.hi)] - self.lo] = True
        self._split(mine, defer)
        # halo: leaf slots (in slot order) we receive from / send to each other locality
        self.recv = {}
        self.send = {}
        for r in range(nloc):
            if r == here:
                continue
            s = np.nonzero(mine.need_leaf & (slot_owner == r))[0]
            if len(s):
                self.recv[r] = s
            # a leaf of mine that r reads (its own leaves are not in its halo)
            s = np.nonzero(has_bit(need, r) & (slot_owner == here))[0]
            if len(s):
                self.send[r] = s
        # reflux rows (coarse, fine, axis, side, t0, t1) over leaf indices
        rf = plan.reflux
        if len(rf):
            mine_c = (rf[:, 0] >= self.lo) & (rf[:, 0] < self.hi)
            self.reflux = np.ascontiguousarray(rf[mine_c])
            cown, fown = owner_of_leaf[rf[:, 0]], owner_of_leaf[rf[:, 1]]
        else:
            self.reflux = rf
            cown = fown = np.zeros(0, dtype=np.int64)
        self.flux_recv = {}
        self.flux_send = {}
        for r in range(nloc):
            if r == here:
                continue
            m = (cown == here) & (fown == r)
            if m.any():
                self.flux_recv[r] = rf[m][:, [1, 2, 3]]
            m = (cown == r) & (fown == here)
            if m.any():
                self.flux_send[r] = rf[m][:, [1, 2, 3]]

    def _split(self, mine, defer):
        """Split the stage's tables and own leaves into what runs before the halo arrives (A)
        and after it (B).

        A: restriction and ghost rows whose target depends on no remote leaf, then the
        fluxes of the own leaves that are clean that way ("clean"), updated at once unless
        deferred (reflux targets) or read by a B row (``late``: updated after B's rows).
        B: the other rows, in the serial order, then the other leaves (fluxes and update).
        Every row and leaf computes from the same inputs as the whole-table call, so the
        fields are bitwise the same.
        """
        tint, full = _taint(self.restrict, self.ghosts, mine.need_leaf)
        rst, gt = self.restrict, self.ghosts
        self.restrict_a = np.ascontiguousarray(rst[~tint[rst[:, 0]]]) if len(rst) else rst
        self.restrict_b = np.ascontiguousarray(rst[tint[rst[:, 0]]]) if len(rst) else rst
        self.ghosts_a = _filter_ghosts(gt, ~full)
        self.ghosts_b = _filter_ghosts(gt, full)
        read_b = np.zeros(len(full), dtype=bool)
        for rows in (self.restrict_b, self.ghosts_b.copies, self.ghosts_b.prolong):
            if len(rows):
                read_b[rows[:, 1]] = True
        clean = ~full[self.slots]
        late = clean & read_b[self.slots] & ~defer
        self.defer = defer
        self.defer_a = defer | read_b[self.slots]
        self.which_a = np.flatnonzero(clean).astype(np.int64)
        self.which_b = np.flatnonzero(~clean).astype(np.int64)
        self.late = np.flatnonzero(late).astype(np.int64)
        self.deferred = np.flatnonzero(defer).astype(np.int64)
        self.defer_all = np.ones(len(defer), dtype=np.bool_)


def _taint(restrict, ghosts, remote):
    """Return per-slot masks: interior, and interior or ghosts, computed from ``remote`` data.

    Restriction taints a parent with any tainted child; a ghost row taints its target with
    a tainted source (copies read the source's interior; prolongations the parent's cells
    and ghosts).  Levels go coarse to fine, as ``fill_ghosts_pool`` runs them.
    """
    tint = remote.copy()
    while len(restrict):
        bad = tint[restrict[:, 1]] & ~tint[restrict[:, 0]]
        if not bad.any():
            break
        tint[restrict[bad, 0]] = True
    full = tint.copy()
    gt = ghosts
    for lev in range(len(gt.poff) - 1):
        rows = gt.prolong[gt.poff[lev]:gt.poff[lev + 1]]
        if len(rows):
            full[rows[full[rows[:, 1]], 0]] = True
        rows = gt.copies[gt.coff[lev]:gt.coff[lev + 1]]
        if len(rows):
            full[rows[tint[rows[:, 1]], 0]] = True
    return tint, full


def face_views(F, rows, N):
    """Yield the fine leaves' face arrays ``(nf, N, N)`` named by rows (fine, axis, side)."""
    for f, axis, side in rows:
        i_f = N if side == 0 else 0
        yield F[axis][f][(slice(None),) + (slice(None),) * axis + (i_f,)]
