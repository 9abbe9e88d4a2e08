"""Refinement criteria and regrid: flag leaves, keep 2:1 balance, refine and derefine.

Refinement prolongs with the conservative limited interpolation of ``kernels_amr`` (children
average to their parent), derefinement restricts by averaging, so the conserved totals over
the leaves change only by round-off in a regrid.  A regrid needs the mesh's interior nodes
restricted and every ghost filled (``exchange.restrict_all`` then ``exchange.fill_ghosts``).
"""

import numpy as np

from octosim.exchange import fill_node_ghosts, pack_parent_block, pack_restrict, \
    prolong_interior, unpack_restrict
from octosim.fields import EGAS, GHOST, RHO, SX, SY, SZ
from octosim.tree import children, octant, parent

REFINEMENT_DEFAULTS = {
    "criterion": "gradient",       # gradient | density | both | none (generic tests)
    "density_floor": 1e-3,         # refine where max rho > floor (a list: one per level)
    "gradient_threshold": 0.1,     # refine where rho or p jumps by more than this
    "use_problem": True,           # also ask the problem module's refine()
}


def _per_level(value, level):
    if np.ndim(value) == 0:
        return float(value)
    value = list(value)
    return float(value[min(level, len(value) - 1)])


def max_relative_jump(q, eps=1e-300):
    """Return max over face-neighbour pairs of ``|q_a - q_b| / (|q_a| + |q_b|)`` of a 3-D array."""
    m = 0.0
    for ax in range(3):
        n = q.shape[ax]
        a = np.take(q, range(n - 1), axis=ax)
        b = np.take(q, range(1, n), axis=ax)
        r = np.abs(b - a) / (np.abs(a) + np.abs(b) + eps)
        m = max(m, float(r.max()))
    return m


def _pressure(W, gamma):
    rho = W[RHO]
    ek = 0.5 * (W[SX] ** 2 + W[SY] ** 2 + W[SZ] ** 2) / rho
    return (gamma - 1.0) * np.maximum(W[EGAS] - ek, 0.0)


class Criterion:
    """Refinement flag of a leaf: the config's generic tests or'ed with the problem's own.

    Generic tests (``refinement`` section): ``density`` refines a leaf whose largest interior
    density exceeds ``density_floor`` (per level if a list); ``gradient`` refines where the
    relative jump of density or pressure between face neighbours (interior and first ghost
    layer) exceeds ``gradient_threshold``.  The problem module's ``refine(U, level, dx,
    params)``, when it has one, is asked as well unless ``use_problem`` is false.  Call as
    ``criterion(subgrid) -> bool``.  ``reads_ghosts``: whether a flag can depend on ghost
    cells (the gradient test, or a problem's test unless it says ``REFINE_READS_GHOSTS =
    False``).
    """

    def __init__(self, refinement=None, gamma=5.0 / 3.0, problem=None, params=None):
        cfg = dict(REFINEMENT_DEFAULTS)
        cfg.update(refinement or {})
        if cfg["criterion"] not in ("gradient", "density", "both", "none"):
            raise ValueError(f"refinement.criterion: unknown {cfg['criterion']!r}")
        self.cfg = cfg
        self.gamma = gamma
        self.problem_refine = getattr(problem, "refine", None) if cfg["use_problem"] else None
        self.params = params
        self.reads_ghosts = (cfg["criterion"] in ("gradient", "both")
                             or (self.problem_refine is not None
                                 and getattr(problem, "REFINE_READS_GHOSTS", True)))

    def __call__(self, sg):
        G, N, lev = GHOST, sg.N, sg.level
        kind = self.cfg["criterion"]
        if kind in ("density", "both"):
            if float(sg.interior[RHO].max()) > _per_level(self.cfg["density_floor"], lev):
                return True
        if kind in ("gradient", "both"):
            thr = float(self.cfg["gradient_threshold"])
            W = sg.U[:, G - 1:G + N + 1, G - 1:G + N + 1, G - 1:G + N + 1]
            if max_relative_jump(W[RHO]) > thr or max_relative_jump(_pressure(W, self.gamma)) > thr:
                return True
        if self.problem_refine is not None:
            return bool(self.problem_refine(sg.U, lev, sg.dx, self.params))
        return False


def flag_leaves(mesh, criterion):
    """Return ``{leaf key: bool}`` of the leaves the criterion wants refined."""
    return {key: bool(criterion(mesh.subgrids[key])) for key in mesh.leaves()}


def _create_children(mesh, new_nodes, fill=None, data=True):
    """Give new nodes data: interiors prolonged from parents, then ghosts, coarse to fine
    (without ``data``: zeros, for a caller that sets every new node itself)."""
    by_level = {}
    for key in new_nodes:
        by_level.setdefault(key[0], []).append(key)
    for lev in sorted(by_level):
        keys = by_level[lev]
        for key in keys:
            sg = mesh.add_node(key)
            if data:
                prolong_interior(sg.U, pack_parent_block(mesh.subgrids[parent(key)].U,
                                                         octant(key)))
        for key in keys if data else ():
            fill_node_ghosts(mesh, key, fill)


def regrid(mesh, flags, fill=None, criterion=None, data=True):
    """Refine flagged leaves (with 2:1 balance), then derefine unflagged sibling groups.

    ``flags`` maps leaf keys to True (refine) or False (may derefine); leaves missing from it
    are left alone.  With ``criterion``, a sibling group is merged only if its parent (holding
    the restricted data, ghosts filled) would not itself be flagged, so a merge is not undone
    at the next regrid.  Without ``data`` the new nodes (all leaves) hold zeros, ghosts
    included: the set-up writes their initial data instead of prolonging (``Simulation.
    _initialize``).  Returns ``(n_refined, n_derefined)`` counts of split and merged nodes.
    """
    tree = mesh.tree
    before = set(tree.nodes)
    n_ref = 0
    for key in tree.leaves():
        if flags.get(key, False) and key[0] < tree.max_level and tree.is_leaf(key):
            n_ref += len(tree.refine(key))
    new_nodes = tree.nodes - before
    _create_children(mesh, new_nodes, fill, data)
    for key in before:
        if not tree.is_leaf(key):
            mesh.subgrids[key].drop_work_buffers()

    n_de = 0
    candidates = {parent(k) for k, f in flags.items() if k[0] > 0 and not f}
    for key in sorted(candidates, key=lambda k: (-k[0], k)):
        kids = children(key)
        if not all(flags.get(c) is False and c in tree.nodes for c in kids):
            continue
        if not tree.can_coarsen(key):
            continue
        if criterion is not None and key not in new_nodes and criterion(mesh.subgrids[key]):
            continue
        U = mesh.subgrids[key].U
        for c in kids:
            unpack_restrict(U, octant(c), pack_restrict(mesh.subgrids[c].U))
        tree.coarsen(key)
        for c in kids:
            mesh.remove_node(c)
        n_de += 1
    return n_ref, n_de
