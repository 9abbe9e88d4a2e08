"""The mesh: an octree plus one Subgrid per node, domain geometry and boundary kinds.

Storage: ``Mesh.layout()`` keeps every node's ``U`` as a view ``pool[slot]`` of one
contiguous array ``(nnodes, nf, M, M, M)`` (slots level by level, Morton order within a
level) and the leaves' work buffers ``U0, Fx, Fy, Fz`` as views of per-leaf pools indexed
in leaf (Morton) order, so whole-mesh numba kernels take one array and an index table.  The
layout is rebuilt, copying existing data in, whenever nodes were added or removed or a
subgrid's array was replaced; until then ``Subgrid`` arrays are ordinary independent arrays.
"""

import numpy as np

from octosim.fields import GHOST
from octosim.subgrid import Subgrid
from octosim.tree import CURVE, Octree

BOUNDARY_KINDS = ("outflow", "reflect", "periodic")


def parse_boundary(spec):
    """Return a 3-tuple of boundary kinds from a string, a 3-list or a dict with x, y, z."""
    if isinstance(spec, str):
        kinds = (spec,) * 3
    elif isinstance(spec, dict):
        unknown = set(spec) - {"x", "y", "z"}
        if unknown:
            raise ValueError(f"mesh.boundary: unknown axis {sorted(unknown)[0]!r}")
        kinds = tuple(spec.get(a, "outflow") for a in "xyz")
    else:
        kinds = tuple(spec)
        if len(kinds) != 3:
            raise ValueError(f"mesh.boundary: need 3 kinds, got {len(kinds)}")
    for k in kinds:
        if k not in BOUNDARY_KINDS:
            raise ValueError(f"mesh.boundary: {k!r} is not one of {', '.join(BOUNDARY_KINDS)}")
    return kinds


class Layout:
    """Pools of one node set: ``pool`` with ``slot[key]``, leaf work pools in leaf order.

    ``leaves`` (Morton order), ``leaf_slots`` and ``leaf_dx`` (int64 / float64 arrays) index
    the leaves; ``U0`` (nleaves, nf, M, M, M) and ``Fx, Fy, Fz`` (nleaves, nf, N+1, N, N
    and its transposes) are the leaves' stage copies and face fluxes.  ``plans`` caches
    tables built on this node set (``exchange.ExchangePlan``).
    """

    def __init__(self, mesh, version):
        self.version = version
        tree, N, nf = mesh.tree, mesh.N, mesh.nf
        M = N + 2 * GHOST
        keys = [k for lev in tree.levels() for k in lev]
        self.keys = keys
        self.slot = {k: i for i, k in enumerate(keys)}
        self.pool = np.empty((len(keys), nf, M, M, M))
        for i, k in enumerate(keys):
            sg = mesh.subgrids[k]
            self.pool[i] = sg.U
            sg.U = self.pool[i]
        self.leaves = tree.leaves()
        nl = len(self.leaves)
        self.leaf_index = {k: i for i, k in enumerate(self.leaves)}
        self.leaf_slots = np.array([self.slot[k] for k in self.leaves], dtype=np.int64)
        self.leaf_dx = np.array([mesh.subgrids[k].dx for k in self.leaves])
        self.U0 = np.empty((nl, nf, M, M, M))
        self.Fx = np.zeros((nl, nf, N + 1, N, N))
        self.Fy = np.zeros((nl, nf, N, N + 1, N))
        self.Fz = np.zeros((nl, nf, N, N, N + 1))
        for i, k in enumerate(self.leaves):
            sg = mesh.subgrids[k]
            for name, arr in (("U0", self.U0), ("Fx", self.Fx), ("Fy", self.Fy),
                              ("Fz", self.Fz)):
                old = getattr(sg, name)
                if old is not None:
                    arr[i] = old
                setattr(sg, name, arr[i])
        for k in keys:
            if not tree.is_leaf(k):
                mesh.subgrids[k].drop_work_buffers()
        self.plans = {}

    def current(self, mesh):
        """Return True while the mesh's node set and arrays are still the ones laid out here."""
        if mesh._version != self.version or len(mesh.subgrids) != len(self.keys):
            return False
        pool, subgrids = self.pool, mesh.subgrids
        return all(subgrids[k].U.base is pool for k in self.keys)


class Mesh:
    """An Octree and the dict ``key -> Subgrid`` of its nodes (leaves and interior)."""

    def __init__(self, N, nf, xscale, max_level, boundary="outflow", tree=None, curve=CURVE):
        if N < 2 * ((GHOST + 1) // 2) or N % 2:
            raise ValueError(f"mesh.subgrid_size = {N}: must be even and at least {GHOST + 1} "
                             f"(a neighbour's interior fills {GHOST} ghost layers)")
        self.N = int(N)
        self.nf = int(nf)
        self.xscale = float(xscale)
        self.boundary = parse_boundary(boundary)
        periodic = tuple(b == "periodic" for b in self.boundary)
        self.tree = tree if tree is not None else Octree(max_level, periodic, curve=curve)
        assert self.tree.periodic == periodic
        self.subgrids = {}
        for key in self.tree.nodes:
            self.subgrids[key] = Subgrid(key, N, nf, xscale)
        self._version = 0
        self._layout = None

    @property
    def max_level(self):
        return self.tree.max_level

    def __getitem__(self, key):
        return self.subgrids[key]

    def leaves(self):
        """Return the leaf keys in Morton order (along the tree's curve)."""
        return self.tree.leaves()

    def set_curve(self, curve):
        """Order the leaves along another Morton curve (``tree.CURVES``); the pools are laid
        out anew on their next use."""
        if curve != self.tree.curve:
            self.tree.set_curve(curve)
            self._version += 1

    def cell_volume(self, level):
        """Return the volume of one cell at ``level``."""
        dx = 2.0 * self.xscale / (self.N << level)
        return dx * dx * dx

    def add_node(self, key, U=None):
        """Create the Subgrid of a node just added to the tree."""
        assert key in self.tree.nodes and key not in self.subgrids, key
        sg = Subgrid(key, self.N, self.nf, self.xscale, U)
        self.subgrids[key] = sg
        self._version += 1
        return sg

    def remove_node(self, key):
        """Drop the Subgrid of a node just removed from the tree."""
        assert key not in self.tree.nodes, key
        del self.subgrids[key]
        self._version += 1

    @property
    def version(self):
        """A number that changes whenever a node is added or removed."""
        return self._version

    def layout(self):
        """Return the pooled ``Layout`` of the current nodes, rebuilding it when stale."""
        lay = self._layout
        if lay is None or not lay.current(self):
            assert len(self.subgrids) == len(self.tree.nodes), "subgrids and tree disagree"
            lay = self._layout = Layout(self, self._version)
        return lay

    def sync(self):
        """Check that subgrids and tree nodes agree (debug aid)."""
        assert set(self.subgrids) == self.tree.nodes
        M = self.N + 2 * GHOST
        for sg in self.subgrids.values():
            assert sg.U.shape == (self.nf, M, M, M)
