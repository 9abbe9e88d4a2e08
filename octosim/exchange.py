"""Halo exchange, coarse/fine prolongation and restriction, and flux correction.

Two layers.  The *pack/unpack* functions take and return plain arrays and touch one subgrid
each, so every message between subgrids is one array that a runtime action can carry
zero-copy:

=====================  ==========================  =====================================
message                source side                 target side
=====================  ==========================  =====================================
same-level ghosts      ``pack_ghost(U, d)``        ``unpack_ghost(U, d, slab)``
(same locality)        ``copy_ghost(U, d, Usrc)``  (no intermediate slab)
parent -> child ghost  ``pack_parent_block``       ``prolong_ghosts`` / ``prolong_interior``
child -> parent data   ``pack_restrict(U)``        ``unpack_restrict(U, octant, block)``
fine -> coarse flux    ``pack_fine_flux(F, ...)``  ``apply_fine_flux(F, ...)``
=====================  ==========================  =====================================

The *mesh* functions (``restrict_all``, ``fill_ghosts``, ``correct_fluxes``) drive the same
messages over a whole ``Mesh`` in a fixed order, as one locality would.  They do not call
the functions above once per message: ``ExchangePlan`` turns the per-node message lists
(``ghost_plan``, ``prolong_boxes``, ``flux_plan``) into integer tables once per regrid, one
row per message naming its target, its source and the region it carries, and one numba
kernel (``kernels_amr.restrict_pool``, ``fill_ghosts_pool``, ``correct_fluxes_pool``) runs a
whole table over the pooled node arrays of ``Mesh.layout()``, bitwise what the pack/unpack
pairs give.

Distribution: split each table by the localities of a row's target and source.  Rows with
both on this locality stay in the local table (direct memory, as now); a row with a remote
source becomes a message: the source's locality runs the row's ``pack_*`` (``pack_ghost``
for a copy, ``pack_parent_block`` for an interpolation, ``pack_restrict``,
``pack_fine_flux``) and sends the array by an action (zero-copy chunk), the target's
locality runs the matching ``unpack_ghost`` / ``prolong_region`` on the row's box /
``unpack_restrict`` / ``apply_fine_flux``.  Order: restriction finest level first; ghosts
level by level (a level's interpolations read the level above, filled first), within a
level prolongation, then copies, then physical boundaries per target; fluxes any order.
Rows of one level are independent, so remote messages of a level can be in flight together.

Ghost fill runs coarse to fine (Berger & Colella 1989): a node's ghost shell is first
interpolated from its parent's ghost-filled data with minmod-limited slopes, then overwritten
by copies from every existing same-level neighbour (leaf or interior: interior nodes hold
restricted data), then physical boundaries are applied.  With 2:1 balance the parent's data
that the interpolation reads is itself a copy of same-level data, never a twice-interpolated
value.  Flux correction (refluxing) replaces a coarse leaf's face flux next to a refined
neighbour by the area average of the four fine face fluxes, which with one global time step
makes the update conservative to round-off.
"""

import functools

import numpy as np

from octosim.fields import GHOST
from octosim.kernels_amr import (BC_OUTFLOW, BC_REFLECT, copy_box, correct_fluxes_pool,
                                 fill_boundary, fill_ghosts_pool, interior_bounds, prolong_region,
                                 restrict_block, restrict_face, restrict_pool, shell_bounds)
from octosim.tree import DIRECTIONS, FACES, children, octant, parent

_BC_CODES = {"outflow": BC_OUTFLOW, "reflect": BC_REFLECT}


@functools.lru_cache(maxsize=None)
def _ghost_slices(d, N):
    """Return the target's ghost slices for direction ``d`` (3 slices)."""
    G = GHOST
    return tuple(slice(0, G) if a < 0 else slice(G, G + N) if a == 0 else slice(G + N, 2 * G + N)
                 for a in d)


@functools.lru_cache(maxsize=None)
def _source_slices(d, N):
    """Return the neighbour's interior slices that fill the target's ghosts in direction ``d``."""
    G = GHOST
    return tuple(slice(N, N + G) if a < 0 else slice(G, G + N) if a == 0 else slice(G, 2 * G)
                 for a in d)


# -- same-level ghosts -----------------------------------------------------------------------
def pack_ghost(U, d):
    """Copy out the interior cells of ``U`` that its neighbour in direction ``-d`` needs.

    ``d`` is the direction from the *target* to this source subgrid.
    """
    N = U.shape[1] - 2 * GHOST
    sx, sy, sz = _source_slices(d, N)
    return np.ascontiguousarray(U[:, sx, sy, sz])


def unpack_ghost(U, d, slab):
    """Write ``slab`` (from ``pack_ghost`` of the neighbour in direction ``d``) into ghosts."""
    N = U.shape[1] - 2 * GHOST
    sx, sy, sz = _ghost_slices(d, N)
    U[:, sx, sy, sz] = slab


@functools.lru_cache(maxsize=None)
def _box(d, N):
    g = _ghost_slices(d, N)
    s = _source_slices(d, N)
    return (g[0].start, g[1].start, g[2].start, s[0].start, s[1].start, s[2].start,
            g[0].stop - g[0].start, g[1].stop - g[1].start, g[2].stop - g[2].start)


def copy_ghost(U, d, Usrc):
    """Copy the neighbour ``Usrc`` (direction ``d``) straight into ``U``'s ghosts (same locality)."""
    copy_box(U, Usrc, *_box(d, U.shape[1] - 2 * GHOST))


# -- parent -> child ---------------------------------------------------------------------------
def pack_parent_block(U, oct):
    """Copy out the parent's cells over child octant ``oct`` plus 3 coarse cells each side."""
    N = U.shape[1] - 2 * GHOST
    h = N // 2
    lo = [o * h for o in oct]  # = o*h + GHOST - 3
    return np.ascontiguousarray(U[:, lo[0]:lo[0] + h + 6, lo[1]:lo[1] + h + 6,
                                  lo[2]:lo[2] + h + 6])


def prolong_ghosts(U, block):
    """Fill the child's whole ghost shell by limited linear interpolation of ``block``."""
    lo, hi = shell_bounds()
    prolong_region(block, U, lo, hi)


def prolong_interior(U, block):
    """Fill the child's interior by conservative limited interpolation of ``block``."""
    lo, hi = interior_bounds(U.shape[1] - 2 * GHOST)
    prolong_region(block, U, lo, hi)


# -- child -> parent ---------------------------------------------------------------------------
def pack_restrict(U):
    """Return the 2x2x2 averages of a child's interior, shape (nf, N/2, N/2, N/2)."""
    h = (U.shape[1] - 2 * GHOST) // 2
    out = np.empty((U.shape[0], h, h, h))
    restrict_block(U, out)
    return out


def unpack_restrict(U, oct, block):
    """Write a child's restricted block into the parent's octant ``oct``."""
    h = block.shape[1]
    s = [slice(GHOST + o * h, GHOST + o * h + h) for o in oct]
    U[:, s[0], s[1], s[2]] = block


# -- fine -> coarse face fluxes ----------------------------------------------------------------
def _face(F, axis, idx):
    if axis == 0:
        return F[:, idx, :, :]
    if axis == 1:
        return F[:, :, idx, :]
    return F[:, :, :, idx]


def pack_fine_flux(F, axis, side):
    """Return the 2x2 area averages of a fine leaf's flux on face (axis, side)."""
    N = F.shape[1 + (axis + 1) % 3]
    face = np.ascontiguousarray(_face(F, axis, 0 if side == 0 else N))
    out = np.empty((F.shape[0], N // 2, N // 2))
    restrict_face(face, out)
    return out


def apply_fine_flux(F, axis, side, oct, block):
    """Replace the coarse flux on face (axis, side) over the fine child ``oct`` by ``block``."""
    N = F.shape[1 + (axis + 1) % 3]
    h = N // 2
    t = [oct[a] * h for a in range(3) if a != axis]
    face = _face(F, axis, 0 if side == 0 else N)
    face[:, t[0]:t[0] + h, t[1]:t[1] + h] = block


# -- message plans (what moves where; one list per node) -----------------------------------------
def boundary_faces(mesh, key):
    """Return ``[(axis, side, bc code), ...]`` of the node's faces on a non-periodic domain edge."""
    n = 1 << key[0]
    out = []
    for axis in range(3):
        kind = mesh.boundary[axis]
        if kind == "periodic":
            continue
        if key[1 + axis] == 0:
            out.append((axis, 0, _BC_CODES[kind]))
        if key[1 + axis] == n - 1:
            out.append((axis, 1, _BC_CODES[kind]))
    return out


def ghost_plan(mesh, key):
    """Return the messages that fill a node's ghosts, in the order they must be applied.

    ``("prolong", parent_key, octant)`` (absent when copies cover every ghost), then
    ``("copy", neighbour_key, d)`` per existing same-level neighbour, then
    ``("boundary", axis, side, code)`` per physical face.  A distributed driver turns each
    into an action carrying ``pack_parent_block`` / ``pack_ghost`` of the source.
    """
    tree = mesh.tree
    plan = []
    if key[0] > 0 and not tree.surrounded(key):
        plan.append(("prolong", parent(key), octant(key)))
    plan += [("copy", nb, d) for d, nb in tree.neighbor_list(key)]
    plan += [("boundary",) + f for f in boundary_faces(mesh, key)]
    return plan


def prolong_boxes(mesh, key, faces_only=False):
    """Return the ghost boxes ``(l0, h0, l1, h1, l2, h2)`` of ``key`` that need interpolation.

    These are the in-domain directions without a same-level neighbour (only the 6 face
    directions with ``faces_only``): copies overwrite the others and physical boundaries
    rewrite every out-of-domain ghost from in-domain cells (x, then y, then z over the full
    transverse extent), so interpolating only these boxes leaves the filled ghosts bitwise
    what ``prolong_ghosts`` of the whole shell gives.
    """
    tree = mesh.tree
    have = {d for d, _ in tree.neighbor_list(key)}
    G, N = GHOST, mesh.N
    rng = {-1: (0, G), 0: (G, G + N), 1: (G + N, 2 * G + N)}
    out = []
    for d in DIRECTIONS:
        if d in have or tree.neighbor_key(key, d) is None:
            continue
        if faces_only and abs(d[0]) + abs(d[1]) + abs(d[2]) != 1:
            continue
        out.append(rng[d[0]] + rng[d[1]] + rng[d[2]])
    return out


def flux_plan(tree, key):
    """Return ``[(fine_key, axis, side, octant), ...]``: the fine face fluxes a leaf receives.

    ``side`` is the coarse leaf's face; the fine leaf sends ``pack_fine_flux(F, axis,
    1 - side)`` and the coarse leaf applies it with ``apply_fine_flux(F, axis, side,
    octant, block)``.
    """
    out = []
    for axis, side in FACES:
        d = [0, 0, 0]
        d[axis] = 1 if side else -1
        nb = tree.neighbor(key, tuple(d))
        if nb is None or tree.is_leaf(nb):
            continue
        for c in children(nb):
            oc = octant(c)
            if oc[axis] == 1 - side:
                out.append((c, axis, side, oc))
    return out


def _table(rows, width):
    return np.array(rows, dtype=np.int64).reshape(len(rows), width)


class GhostTables:
    """Ghost-fill messages of a mesh: ``prolong``/``copies``/``bcs`` tables, per-level offsets.

    See ``kernels_amr.fill_ghosts_pool`` for the row layouts.
    """

    def __init__(self, levels):
        rows = {"prolong": [], "copies": [], "bcs": []}
        offs = {k: [0] for k in rows}
        for lev in levels:
            for kind in ("prolong", "copies", "bcs"):
                rows[kind] += lev[kind]
                offs[kind].append(len(rows[kind]))
        self.prolong = _table(rows["prolong"], 11)
        self.copies = _table(rows["copies"], 11)
        self.bcs = _table(rows["bcs"], 5)
        self.poff, self.coff, self.boff = (np.array(offs[k], dtype=np.int64)
                                           for k in ("prolong", "copies", "bcs"))

    def run(self, pool):
        """Fill the ghosts of the pooled subgrids (one numba call)."""
        fill_ghosts_pool(pool, self.prolong, self.poff, self.copies, self.coff, self.bcs,
                         self.boff)


def _node_rows(mesh, key, slot, faces_only):
    """Return ``{prolong, copies, bcs}`` rows of one node's ``ghost_plan``."""
    N = mesh.N
    h = N // 2
    t = slot[key]
    out = {"prolong": [], "copies": [], "bcs": []}
    for msg in ghost_plan(mesh, key):
        if msg[0] == "prolong":
            p = (t, slot[msg[1]]) + tuple(o * h for o in msg[2])
            out["prolong"] += [p + box for box in prolong_boxes(mesh, key, faces_only)]
        elif msg[0] == "copy":
            d = msg[2]
            if not faces_only or abs(d[0]) + abs(d[1]) + abs(d[2]) == 1:
                out["copies"].append((t, slot[msg[1]]) + _box(d, N))
        else:
            out["bcs"].append((t,) + tuple(msg[1:]) + (int(faces_only),))
    return out


class ExchangePlan:
    """The mesh's messages as integer tables over a ``Layout`` (one row per message).

    Built once per node set (``plan(mesh)``), from ``ghost_plan``, ``prolong_boxes`` and
    ``flux_plan``: every row names its target and its source (slots of ``layout.pool``, or
    leaf indices for fluxes) and the region it carries, so the tables are the message lists
    of a distributed driver as well: rows whose source and target live on one locality run
    here as direct memory copies; the others become ``pack_*`` on the source's locality, an
    action carrying the packed array zero-copy, and ``unpack_*`` / ``prolong_*`` /
    ``apply_fine_flux`` at the target, in the same per-level order.

    ``restrict``: ``(parent, child, p0, p1, p2)``, finest level first; ``stage_restrict``
    the rows of the interior nodes a stage reads (the others are restricted by ``restrict``
    before a regrid, and nothing else reads them).
    ``ghosts`` (``GhostTables``) fills every ghost of every node.  ``stage_ghosts`` fills
    what an RK stage reads: the 6 face slabs of each leaf (the flux kernels read no edge or
    corner ghosts) and the whole shell of the interior nodes that some leaf's face
    interpolation reads; the fluxes, hence the leaves' interiors, are bitwise those of a full
    fill.  ``reflux``: ``(coarse leaf, fine leaf, axis, side, t0, t1)`` over the leaf flux pools;
    ``reflux_target`` (bool per leaf) and ``reflux_targets`` (their indices) the coarse leaves.
    """

    def __init__(self, mesh, layout):
        tree, slot, N = mesh.tree, layout.slot, mesh.N
        h = N // 2
        levels = tree.levels()
        rst, rst_keys = [], []
        for lev in range(len(levels) - 2, -1, -1):
            for key in levels[lev]:
                if tree.is_leaf(key):
                    continue
                for c in children(key):
                    rst.append((slot[key], slot[c]) + tuple(o * h for o in octant(c)))
                    rst_keys.append(key)
        full = [[_node_rows(mesh, k, slot, False) for k in nodes] for nodes in levels]
        stage = [None] * len(levels)
        needed = set()      # nodes whose ghosts a stage reads, finest level first
        for lev in range(len(levels) - 1, -1, -1):
            rows = []
            for i, key in enumerate(levels[lev]):
                if tree.is_leaf(key):
                    r = _node_rows(mesh, key, slot, True)
                elif key in needed:
                    r = full[lev][i]
                else:
                    continue
                if r["prolong"]:
                    needed.add(parent(key))
                rows.append(r)
            stage[lev] = rows
        self.ghosts = GhostTables(self._merge(full))
        self.stage_ghosts = GhostTables(self._merge(stage))
        # a stage reads interior nodes as copy sources and interpolation parents: restrict
        # those (and, first, their interior descendants) only
        read = set(needed)
        for nodes in levels:
            for key in nodes:
                if tree.is_leaf(key) or key in needed:
                    for _, nb in tree.neighbor_list(key):
                        if not tree.is_leaf(nb):
                            read.add(nb)
        for lev in range(len(levels)):
            for key in levels[lev]:
                if key in read:
                    read.update(c for c in children(key) if not tree.is_leaf(c))
        srst = [r for r, key in zip(rst, rst_keys) if key in read]
        li = layout.leaf_index
        flx = []
        for key in layout.leaves:
            for c, axis, side, oc in flux_plan(tree, key):
                t = [oc[a] * h for a in range(3) if a != axis]
                flx.append((li[key], li[c], axis, side, t[0], t[1]))
        self.restrict = _table(rst, 5)
        self.stage_restrict = _table(srst, 5)
        self.reflux = _table(flx, 6)
        self.reflux_target = np.zeros(len(layout.leaves), dtype=np.bool_)
        self.reflux_target[self.reflux[:, 0]] = True
        self.reflux_targets = np.flatnonzero(self.reflux_target).astype(np.int64)

    @staticmethod
    def _merge(per_level):
        out = []
        for rows in per_level:
            out.append({k: [x for r in rows for x in r[k]] for k in ("prolong", "copies", "bcs")})
        return out


def plan(mesh):
    """Return ``(layout, ExchangePlan)`` of the mesh's current nodes (cached per layout)."""
    lay = mesh.layout()
    p = lay.plans.get("exchange")
    if p is None:
        p = lay.plans["exchange"] = ExchangePlan(mesh, lay)
    return lay, p


# -- mesh drivers ------------------------------------------------------------------------------
def restrict_all(mesh, stage=False):
    """Average children into parents, finest level first, so interior nodes hold restricted data.

    ``stage=True`` restricts only the interior nodes that a stage's ghost fill reads.
    """
    lay, p = plan(mesh)
    restrict_pool(lay.pool, p.stage_restrict if stage else p.restrict)


def fill_physical(mesh, key, U, fill=None):
    """Apply the physical (non-periodic) boundaries of the faces of ``key`` on the domain edge."""
    fill = fill_boundary if fill is None else fill
    for axis, side, code in boundary_faces(mesh, key):
        fill(U, axis, side, code)


def fill_node_ghosts(mesh, key, fill=None):
    """Fill one node's ghosts by its ``ghost_plan``: prolong, copy neighbours, apply BCs."""
    fill = fill_boundary if fill is None else fill
    subgrids = mesh.subgrids
    U = subgrids[key].U
    for msg in ghost_plan(mesh, key):
        kind = msg[0]
        if kind == "copy":
            _, nb, d = msg
            if nb == key:   # periodic wrap onto itself: copy through a packed slab
                unpack_ghost(U, d, pack_ghost(U, d))
            else:
                copy_ghost(U, d, subgrids[nb].U)
        elif kind == "prolong":
            prolong_ghosts(U, pack_parent_block(subgrids[msg[1]].U, msg[2]))
        else:
            fill(U, msg[1], msg[2], msg[3])


def fill_ghosts(mesh, fill=None, stage=False):
    """Fill the ghosts of every node, level by level from the root down.

    With the default boundary kernel (``fill=None``) this is one numba call over the
    mesh's ``ExchangePlan``; ``stage=True`` fills only what a hydro stage reads (see
    ``ExchangePlan``).  A custom ``fill(U, axis, side, kind)`` runs node by node.
    """
    if fill is None:
        lay, p = plan(mesh)
        (p.stage_ghosts if stage else p.ghosts).run(lay.pool)
        return
    for nodes in mesh.tree.levels():
        for key in nodes:
            fill_node_ghosts(mesh, key, fill)


def correct_fluxes(mesh):
    """Replace coarse-leaf fluxes at faces shared with refined neighbours by fine averages."""
    lay, p = plan(mesh)
    correct_fluxes_pool(lay.Fx, lay.Fy, lay.Fz, p.reflux)
