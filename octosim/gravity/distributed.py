"""FMM gravity on many localities with results bitwise those of one locality.

Design.  Every locality holds the replicated tree and receives every leaf's density (the
driver sends each locality's leaves to all others: ``(k, N, N, N)`` arrays, zero-copy).
It then

1. computes all multipoles (M2M, ``fmm.upward``) redundantly: identical inputs and code,
   so identical moments everywhere; this is cheap next to the traversal;
2. runs the same dual traversal as the serial solver, in the same canonical pair order,
   but drops every pair (A, B) of which neither A nor B has at or below it a cell of this
   locality's leaves (``hit``).  Any pair that adds into a ``hit`` cell is reached through
   ancestor pairs that all contain a ``hit`` cell, so it is kept, and its contributions
   are made by the identical per-pair formula in the identical order: the per-target sums
   of every ``hit`` cell are bitwise those of one locality.  A pair with both sides
   ``hit`` is applied mutually by the serial kernel; a pair with one ``hit`` side adds only
   that side's half, by the same expressions (``_m2l.m2l3a``/``m2l3b``, the P2P lines of
   that side), so A-on-B stays exactly minus B-on-A across localities as well (with
   ``angmom`` both halves, whose torque fix needs them);
3. passes expansions down (L2L, ``fmm.downward``) only through the nodes whose subtree
   holds one of its leaves (``keep``) and reads potential and acceleration there.

With ``owner_of`` (every leaf's locality) and an ``exchange``, step 1 is split instead
(``node_owners``): a locality computes the moments of the interior nodes whose leaves are
all its own, sends them to the others (``exchange``: the driver's parcels, one array each
way) and receives theirs, then computes the nodes above leaves of several localities.  A
node's moments are made by the same code from the same inputs wherever they are made, so
the fields stay bitwise those of one locality.

The traversal work splits by target: a locality walks only the pairs touching its own
region (plus the coarse pairs above it, shared by all), so the FMM scales with the
number of localities while staying reproducible.  The pairs per leaf vary several-fold
(near a coarse/fine boundary, in the stars), so the first solve on a tree also counts the
interactions applied to every owned leaf (``OwnedSolver.owned_work``) and to the interior
nodes above (``owned_weights`` adds those to the leaves below): the driver balances its
Morton shares by these weights.

The same split serves the cores of one locality: ``ThreadedSolver`` cuts its leaves into
shares solved at once on threads (the kernels release the GIL), bitwise the one-thread
fields.
"""

import threading

import numpy as np

from octosim.gravity.solver import Workspace, solve_desc
from octosim.gravity.treedesc import TreeDesc
from octosim.partition import partition

__all__ = ["target_masks", "node_owners", "solve_owned", "OwnedSolver", "ThreadedSolver"]


def target_masks(desc, owned):
    """Return ``(hit, keep)``: per cell, whether a cell of an ``owned`` leaf is at or below
    it; per node, whether its subtree holds an ``owned`` leaf."""
    N = desc.N
    N3, h = N ** 3, N // 2
    n = desc.nnode
    keep = np.zeros(n, dtype=bool)
    hit = np.zeros((n, N, N, N), dtype=bool)
    for key in owned:
        i = desc.index[tuple(key)]
        keep[i] = True
        hit[i] = True
    for i in np.argsort(-desc.level, kind="mergesort"):
        if desc.leaf[i]:
            continue
        for o in range(8):
            ch = desc.children[i, o]
            if not keep[ch]:
                continue
            keep[i] = True
            oi, oj, ok = o & 1, (o >> 1) & 1, (o >> 2) & 1
            blk = hit[ch].reshape(h, 2, h, 2, h, 2).any(axis=(1, 3, 5))
            hit[i, oi * h:(oi + 1) * h, oj * h:(oj + 1) * h, ok * h:(ok + 1) * h] |= blk
    return hit.reshape(n * N3), keep


def node_owners(desc, owner_of):
    """Return per node the locality owning every leaf beneath it, or -1 (leaves of several);
    ``owner_of`` maps every leaf key to its locality."""
    own = np.full(desc.nnode, -2, dtype=np.int64)
    for i in np.argsort(-desc.level, kind="mergesort"):
        if desc.leaf[i]:
            own[i] = owner_of[desc.keys[i]]
            continue
        kids = own[desc.children[i]]
        own[i] = kids[0] if np.all(kids == kids[0]) else -1
    return own


class OwnedSolver:
    """Gravity for one locality's leaves on a fixed tree (masks built once per tree).

    With ``owner_of`` (leaf key -> locality, for every leaf) and ``here``, ``solve`` can
    share the upward pass with the other localities through its ``exchange``.  ``like``, an
    earlier solver of the same tree (another cut of it), hands over its tree description
    and its workspace (a workspace keeps no result between solves,
    ``solver.Workspace.clear``), and the interactions are not counted again: the tree's
    weights are known from the first solver's counts.  Such a solver's ``work`` stays None.
    On 16 ranks (binary level 6) the first solve after the re-cut took 1.22 times the next
    ones with a new workspace and its counts, 0.99 times with ``like``.
    """

    def __init__(self, tree, N, xscale, owned, owner_of=None, here=0, like=None):
        if like is not None:
            assert like.desc.nnode == len(tree.nodes) and like.desc.N == N, "not the same tree"
        self.desc = TreeDesc.from_octree(tree, N, xscale) if like is None else like.desc
        self.owned = list(owned)
        self.hit, self.keep = target_masks(self.desc, self.owned)
        self._masks = {}                # (hit, keep) of other target sets (``leaves=``)
        self.work = None                # per-node interaction counts of the first solve
        self._count = like is None      # whether the first solve counts
        self._ws = None                 # solver.Workspace, kept between solves
        if like is not None:
            self._ws, like._ws = like._ws, None
            if self._ws is not None:
                self._ws.mass = None    # the last cut's density: no ``solve_more`` from it
        self.up = None                  # per node: 1 computed here, 0 received, 2 above both
        self.here = int(here)
        if owner_of is not None:
            own, inner = node_owners(self.desc, owner_of), ~self.desc.leaf
            self.up = np.where(own == self.here, 1, np.where(own < 0, 2, 0)).astype(np.int8)
            self.moment_nodes = {int(q): np.flatnonzero(inner & (own == q))
                                 for q in np.unique(own[inner]) if q >= 0}

    def moment_sources(self):
        """The other localities whose interior nodes' moments a shared upward pass receives."""
        return [q for q, nodes in self.moment_nodes.items() if q != self.here and len(nodes)]

    def _pack(self, ws, nodes):
        """Rows ``(mom, zc, rad)`` of the cells of ``nodes``: one (k, N^3, nterm + 4) array."""
        n, N3 = self.desc.nnode, ws.N3
        nt = ws.mom.shape[1]
        out = np.empty((len(nodes), N3, nt + 4))
        out[:, :, :nt] = ws.mom.reshape(n, N3, nt)[nodes]
        out[:, :, nt:nt + 3] = ws.zc.reshape(n, N3, 3)[nodes]
        out[:, :, nt + 3] = ws.rad.reshape(n, N3)[nodes]
        return out

    def _unpack(self, ws, nodes, rows):
        """Store ``_pack``'s rows of ``nodes`` (made on another locality) into ``ws``."""
        n, N3 = self.desc.nnode, ws.N3
        nt = ws.mom.shape[1]
        assert rows.shape == (len(nodes), N3, nt + 4), (rows.shape, len(nodes))
        ws.mom.reshape(n, N3, nt)[nodes] = rows[:, :, :nt]
        ws.zc.reshape(n, N3, 3)[nodes] = rows[:, :, nt:nt + 3]
        ws.rad.reshape(n, N3)[nodes] = rows[:, :, nt + 3]

    @property
    def counts_next(self):
        """Whether the next ``solve`` counts the interactions (the first one, without ``like``)."""
        return self.work is None and self._count

    def _target(self, leaves):
        """Return ``(leaves, hit, keep)``: the owned leaves and their masks when ``leaves``
        is None, else ``leaves`` (any leaves of the tree) and theirs, kept per target set."""
        if leaves is None:
            return self.owned, self.hit, self.keep
        leaves = tuple(leaves)
        m = self._masks.get(leaves)
        if m is None:
            if len(self._masks) >= 64:  # a cut has a few target sets; never grow unbounded
                self._masks.clear()
            m = self._masks[leaves] = target_masks(self.desc, leaves)
        return (leaves,) + m

    def _results(self, leaves, phi, g):
        d = self.desc
        idx = [d.index[k] for k in leaves]
        return ({k: phi[i].copy() for k, i in zip(leaves, idx)},
                {k: np.ascontiguousarray(g[i]) for k, i in zip(leaves, idx)})

    def solve(self, rho, G=1.0, theta=0.5, order=3, angmom=False, exchange=None, leaves=None):
        """Return ``(phi, g)`` dicts over the owned leaves (arrays of their own); ``rho``
        maps every leaf key to its density (N, N, N).  The first solve also counts the
        interactions (``owned_work``; not with ``like``); later ones skip the counting and
        keep those counts, a load-balancing weight of this tree.  ``leaves`` solves for
        those leaves instead of the owned ones (not in a counting solve).

        ``exchange(rows, sources)`` (with ``owner_of``) shares the upward pass: it must send
        ``rows`` (this locality's interior nodes' moments, ``None`` when it has none) to
        every other locality and return ``{q: rows of q}`` for each of ``sources``."""
        d = self.desc
        assert leaves is None or not self.counts_next, "a counting solve is for the owned leaves"
        leaves, hit, keep = self._target(leaves)
        if self._ws is None or self._ws.order != order:
            self._ws = Workspace(d, order)
        work = np.zeros(d.nnode if self.counts_next else 0)
        fill = None
        if exchange is not None:
            assert self.up is not None, "exchange needs owner_of"
            mine = self.moment_nodes.get(self.here, np.zeros(0, dtype=np.int64))

            def fill(ws):
                got = exchange(self._pack(ws, mine) if len(mine) else None,
                               self.moment_sources())
                for q, rows in got.items():
                    self._unpack(ws, self.moment_nodes[q], rows)
        phi, g = solve_desc(d, rho, G, theta, order, angmom=angmom, hit=hit, keep=keep,
                            work=work, ws=self._ws, up=None if fill is None else self.up,
                            exchange=fill)
        if self.counts_next:
            self.work = work
        return self._results(leaves, phi, g)

    def solve_more(self, leaves, G=1.0, theta=0.5, order=3, angmom=False):
        """Return ``(phi, g)`` dicts over ``leaves`` (any leaves of the tree) from the density
        and multipoles of the last ``solve``: no upward pass, no trade, no density read
        (its cell masses are kept in the workspace).  Each leaf's fields are bitwise those
        of any solve that targets it (the target split above), so one locality can solve
        leaves that another owns."""
        ws = self._ws
        assert ws is not None and ws.order == order and ws.mass is not None, \
            "solve_more before a solve"
        leaves, hit, keep = self._target(leaves)
        phi, g = solve_desc(self.desc, None, G, theta, order, angmom=angmom, hit=hit,
                            keep=keep, ws=ws, mass=ws.mass,
                            up=np.zeros(self.desc.nnode, dtype=np.int8),  # no node computed
                            exchange=lambda ws: None)
        return self._results(leaves, phi, g)

    def owned_work(self):
        """Return the interactions applied to each owned leaf's cells in the first solve
        (``fmm.traverse``'s count, independent of the split: a load-balancing weight)."""
        assert self.work is not None, "owned_work() before a counting solve"
        return np.array([self.work[self.desc.index[k]] for k in self.owned])

    def owned_weights(self):
        """Return each owned leaf's load-balancing weight: its count (``owned_work``) plus a
        share of the counts of the interior nodes above it that this solver walked (the
        sums of their cells above its leaves): from the root down, a node's count and what
        it inherited are split evenly among its children that hold owned leaves (all 8
        below a node whose leaves are all owned).  Those interior sums are half of the
        binary's count at level 5 and fall unevenly on the shares: left out, 16 Morton
        shares of equal counts differed by up to 1.12 in a cost model of their traversals
        (the odd ones 1.09 above the even ones, as measured on 16 ranks), with them 1.045."""
        assert self.work is not None, "owned_weights() before a counting solve"
        d, w, keep = self.desc, self.work, self.keep
        inh = np.zeros(d.nnode)
        for n in np.argsort(d.level, kind="mergesort"):
            if d.leaf[n] or not keep[n]:
                continue
            kids = d.children[n][keep[d.children[n]]]
            inh[kids] += (w[n] + inh[n]) / len(kids)
        idx = np.array([d.index[k] for k in self.owned], dtype=np.int64)
        return w[idx] + inh[idx]


class ThreadedSolver:
    """Gravity for some leaves on ``threads`` threads: the leaves (Morton order) split into
    shares, one ``OwnedSolver`` each, all solved at once (the FMM kernels release the GIL).

    Each share's results are bitwise the one-thread solve's (the target split above), so
    the thread count changes no field.  The first solve splits equal leaf counts; once it
    has counted the interactions the shares are re-cut to equal weights (as the localities
    are) and made anew, each taking over a first share's workspace and counting nothing.
    ``work``, ``owned_work()`` and ``owned_weights()`` as ``OwnedSolver``'s, over all.
    """

    def __init__(self, tree, N, xscale, owned, threads):
        self._args = (tree, N, xscale)
        self.owned = list(owned)
        self.threads = max(1, int(threads))
        self._counts = None             # the first solve's counts, kept across the re-cut
        self._weights = None            # and its weights (``OwnedSolver.owned_weights``)
        self.parts = []                 # one OwnedSolver a share
        self._cut(None)

    def _cut(self, weights):
        b = partition(len(self.owned), self.threads, weights)
        old = iter(self.parts)          # a re-cut takes over their workspaces
        self.parts = [OwnedSolver(*self._args, self.owned[b[i]:b[i + 1]], like=next(old, None))
                      for i in range(self.threads) if b[i + 1] > b[i]]

    @property
    def work(self):
        """None before the first solve, else the first solve's counts (``owned_work``)."""
        return self._counts

    def owned_work(self):
        """Return each owned leaf's interaction count in the first solve (``owned`` order)."""
        assert self._counts is not None, "owned_work() before the first solve"
        return self._counts

    def owned_weights(self):
        """Return each owned leaf's weight from the first solve (``OwnedSolver.owned_weights``,
        per share of that solve; ``owned`` order)."""
        assert self._weights is not None, "owned_weights() before the first solve"
        return self._weights

    def solve(self, rho, G=1.0, theta=0.5, order=3, angmom=False):
        """Return ``(phi, g)`` dicts over the owned leaves, as ``OwnedSolver.solve``."""
        out = [None] * len(self.parts)

        def run(i):
            try:
                out[i] = self.parts[i].solve(rho, G, theta, order, angmom)
            except BaseException as exc:  # noqa: BLE001 - raised again in the caller
                out[i] = exc
        helpers = [threading.Thread(target=run, args=(i,), name=f"fmm-share-{i}")
                   for i in range(1, len(self.parts))]
        for t in helpers:
            t.start()
        run(0)
        for t in helpers:
            t.join()
        phi, g = {}, {}
        for r in out:
            if isinstance(r, BaseException):
                raise r
            phi.update(r[0])
            g.update(r[1])
        if self._counts is None:        # the first counts: re-cut the shares to equal work
            self._counts = np.concatenate([p.owned_work() for p in self.parts])
            self._weights = np.concatenate([p.owned_weights() for p in self.parts])
            if len(self.parts) > 1:
                self._cut(self._weights + 1.0)
        return phi, g


def solve_owned(mesh, owned, G=1.0, theta=0.5, order=3, angmom=False):
    """Return ``(phi, g)`` over the ``owned`` leaves of a mesh whose leaves all hold density."""
    from octosim.fields import RHO
    s = OwnedSolver(mesh.tree, mesh.N, mesh.xscale, owned)
    rho = {k: mesh.subgrids[k].interior[RHO] for k in mesh.leaves()}
    return s.solve(rho, G, theta, order, angmom)
