"""Driver-facing gravity solve: tree (or mesh) + density -> per-leaf potential and acceleration."""

import time

import numpy as np

from octosim.fields import RHO
from octosim.gravity.fmm import cell_geometry, downward, leaf_cells, traverse, upward
from octosim.gravity.multipole import tables
from octosim.gravity.treedesc import TreeDesc


def _as_node_array(desc, rho):
    """Return density as an (nnode, N, N, N) array from an array or a dict ``key -> (N,N,N)``."""
    N = desc.N
    if isinstance(rho, dict):
        out = np.zeros((desc.nnode, N, N, N))
        for key, r in rho.items():
            out[desc.index[tuple(key)]] = r
        return out
    rho = np.asarray(rho, dtype=np.float64)
    assert rho.shape == (desc.nnode, N, N, N), (rho.shape, desc.nnode, N)
    return rho


class Workspace:
    """The arrays of repeated solves on one tree at one order, allocated once.

    Cell geometry and the leaf cells' fixed entries (``fmm.leaf_cells``) are set once; a
    solve clears only the accumulators it reads (those of the ``keep`` nodes when masked;
    with the compact leaf expansions ``lf`` not the leaf cells' ``loc`` rows), so no fresh
    pages are touched: the leaf cells' ``mom`` and ``loc`` rows, most of both arrays, then
    stay unmapped.  (With ``angmom`` a masked solve also adds into rows it does not keep,
    the other halves of the pairs whose torque it fixes; those rows are cleared before any
    solve that keeps them.)
    ``solve_desc(..., ws=)`` then returns views into it, valid until the next solve.
    """

    def __init__(self, desc, order):
        N3 = desc.N ** 3
        ncell, nt = desc.nnode * N3, tables(int(order)).nterm
        self.order, self.N3 = int(order), N3
        self.gc = np.empty((ncell, 3))
        self.cw = np.empty(desc.nnode)
        cell_geometry(desc.level, desc.coords, desc.N, desc.xscale, self.gc, self.cw)
        self.mom = np.zeros((ncell, nt))
        self.zc = np.empty((ncell, 3))
        self.rad = np.empty(ncell)
        leaf_cells(desc.N, desc.children, self.gc, self.cw, self.zc, self.rad)
        self.leaf = desc.leaf.copy()
        self.loc = np.zeros((ncell, nt))
        self.lf = np.zeros((ncell, 4))
        self.phid = np.zeros(ncell)
        self.u = np.zeros((ncell, 3))
        self.gd = np.zeros((ncell, 3))
        self.phi = np.zeros(ncell)
        self.g = np.zeros((ncell, 3))
        self.mass = None                # the last solve's cell masses (``solve_desc(mass=)``)
        self._mode = None               # (compact, angmom) of the last solve

    def clear(self, keep, angmom, compact):
        """Zero the accumulators a solve adds into (all rows, or the ``keep`` nodes'; with
        ``compact`` not the leaf nodes' ``loc``)."""
        acc = (self.lf, self.phid, self.u, self.gd)
        last, self._mode = self._mode, (compact, angmom)
        if last is None:
            return
        n = self.leaf.shape[0]
        if last != self._mode:
            for a in acc + (self.loc,):
                a[...] = 0.0
            return
        nodes = np.arange(n) if keep.shape[0] == 0 else np.flatnonzero(keep)
        for a in acc:
            a.reshape(n, self.N3, -1)[nodes] = 0.0
        inner = nodes[~self.leaf[nodes]] if compact else nodes
        self.loc.reshape(n, self.N3, -1)[inner] = 0.0


def solve_desc(desc, rho, G=1.0, theta=0.5, order=3, self_term=True, stats=None, generic=False,
               angmom=False, hit=None, keep=None, work=None, ws=None, up=None, exchange=None,
               mass=None):
    """Return potential (nnode, N, N, N) and acceleration (nnode, 3, N, N, N) on leaf nodes.

    ``rho`` holds the density of the leaf nodes' cells (interior nodes' entries are ignored);
    masses must be non-negative.  ``theta`` is the opening angle (0 gives the direct sum),
    ``order`` the expansion order p.  When ``stats`` is a dict it receives the interaction
    counts and the time of each phase (``t_up`` without ``t_exchange``, the time in
    ``exchange``).  ``generic`` uses the table-driven M2L even at order 3 (instead of the
    unrolled one; for tests).  ``angmom`` cancels each M2L pair's net torque
    (``fmm.spin_fix``) so angular momentum is conserved to round-off too.  ``hit`` (ncell,)
    and ``keep`` (nnode,) restrict the traversal and the downward pass to some targets
    (``octosim.gravity.distributed.target_masks``); results elsewhere are meaningless.
    ``work`` (nnode,), when given, has each node's interaction count added (``traverse``).
    ``ws`` (a ``Workspace`` of this tree and order) keeps the arrays between solves; the
    results are then views into it (``g`` not contiguous), overwritten by its next solve.
    ``up`` (nnode, int8) and ``exchange`` split the upward pass between localities: the
    interior nodes marked 1 are computed first, then ``exchange(ws)`` must fill the rows of
    ``ws.mom``, ``ws.zc`` and ``ws.rad`` of those marked 0 (computed elsewhere by the same
    code), then those marked 2 (above both) are computed.  ``mass`` (ncell,), the cell
    masses of an earlier solve (``ws.mass``, kept there), stands in for ``rho``.
    """
    none = np.zeros(0, dtype=np.bool_)
    hit = none if hit is None else hit
    keep = none if keep is None else keep
    work = np.zeros(0) if work is None else work
    assert theta >= 0.0, theta
    N = desc.N
    N3 = N ** 3
    tab = tables(int(order))
    fresh = ws is None
    if fresh:
        ws = Workspace(desc, order)
    assert ws.order == int(order) and ws.cw.shape[0] == desc.nnode, "workspace of another tree"
    compact = not generic and int(order) in (2, 3)   # traverse's leaf variants
    ws.clear(keep, angmom, compact)
    ncell = desc.nnode * N3
    if mass is None:
        rho = _as_node_array(desc, rho)
        mass = (rho * (ws.cw ** 3)[:, None, None, None]).reshape(ncell)
        mass[np.repeat(~desc.leaf, N3)] = 0.0
        assert np.all(mass >= 0.0), "FMM needs non-negative masses"
    assert mass.shape == (ncell,), (mass.shape, ncell)
    ws.mass = mass
    mom, zc, rad, loc = ws.mom, ws.zc, ws.rad, ws.loc
    t0 = time.perf_counter()
    up_args = (N, desc.level, desc.children, mass, ws.gc, ws.cw, tab.mi, tab.fact, tab.sh_n,
               tab.sh_m, tab.sh_d, mom, zc, rad, not compact)
    t_ex = 0.0
    if up is None:
        upward(*up_args, none)
    else:
        upward(*up_args, up == 1)
        te = time.perf_counter()
        exchange(ws)
        t_ex = time.perf_counter() - te
        upward(*up_args, up == 2)
    t1 = time.perf_counter()
    nm2l, np2p = traverse(0, N, desc.children, ws.cw, ws.gc, zc, rad, mom, mass, float(G),
                          float(theta), bool(self_term), desc.max_level, bool(generic),
                          bool(angmom), tab.order, tab.mi, tab.minus1, tab.minus2, tab.m2l_k,
                          tab.m2l_m, tab.m2l_km, tab.m2l_sa, tab.m2l_sb, tab.frc, tab.trq,
                          tab.trq_coef, loc, ws.lf, ws.phid, ws.gd, ws.u, hit, work)
    t2 = time.perf_counter()
    downward(N, desc.level, desc.children, zc, tab.mi, tab.fact, tab.sh_n, tab.sh_m,
             tab.sh_d, loc, ws.lf, ws.phid, ws.gd, ws.u, ws.phi, ws.g, keep, compact)
    t3 = time.perf_counter()
    if stats is not None:
        stats.update(m2l=int(nm2l), p2p=int(np2p), t_up=t1 - t0 - t_ex, t_exchange=t_ex,
                     t_traverse=t2 - t1, t_down=t3 - t2, t_total=t3 - t0)
    phi = ws.phi.reshape(desc.nnode, N, N, N)
    g = ws.g.reshape(desc.nnode, N, N, N, 3).transpose(0, 4, 1, 2, 3)
    return phi, np.ascontiguousarray(g) if fresh else g


def solve(mesh_or_desc, G=1.0, theta=0.5, rho=None, order=3, self_term=True, stats=None,
          angmom=False):
    """Solve for gravity with the FMM on a ``Mesh`` or a ``TreeDesc``.

    For a mesh (anything with ``tree``, ``subgrids``, ``N`` and ``xscale``), the density is
    read from the leaves' interior ``rho`` and the result is two dicts ``key -> phi (N,N,N)``
    and ``key -> g (3,N,N,N)`` over the leaves.  For a ``TreeDesc``, pass ``rho`` (array or
    dict) and get node-indexed arrays back (see ``solve_desc``).
    """
    if isinstance(mesh_or_desc, TreeDesc):
        assert rho is not None, "solve(TreeDesc, ...) needs rho"
        return solve_desc(mesh_or_desc, rho, G, theta, order, self_term, stats, angmom=angmom)
    mesh = mesh_or_desc
    desc = TreeDesc.from_octree(mesh.tree, mesh.N, mesh.xscale)
    if rho is None:
        rho = {key: mesh.subgrids[key].interior[RHO] for key in desc.keys
               if desc.leaf[desc.index[key]]}
    phi, g = solve_desc(desc, rho, G, theta, order, self_term, stats, angmom=angmom)
    leaves = [k for k in desc.keys if desc.leaf[desc.index[k]]]
    return ({k: phi[desc.index[k]] for k in leaves}, {k: g[desc.index[k]] for k in leaves})
