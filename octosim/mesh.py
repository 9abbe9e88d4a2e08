"""The mesh: an octree plus one Subgrid per node, domain geometry and boundary kinds."""

from octosim.fields import GHOST
from octosim.subgrid import Subgrid
from octosim.tree import Octree

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


class Mesh:
    """An Octree and the dict ``key -> Subgrid`` of its nodes (leaves and interior)."""

    def __init__(self, N, nf, xscale, max_level, boundary="outflow", tree=None):
        if N < 2 * ((GHOST + 1) // 2) or N % 2:
            raise ValueError(f"mesh.subgrid_size = {N}: must be even and at least {GHOST + 1} "
                             f"(a neighbour's interior fills {GHOST} ghost layers)")
        self.N = int(N)
        self.nf = int(nf)
        self.xscale = float(xscale)
        self.boundary = parse_boundary(boundary)
        periodic = tuple(b == "periodic" for b in self.boundary)
        self.tree = tree if tree is not None else Octree(max_level, periodic)
        assert self.tree.periodic == periodic
        self.subgrids = {}
        for key in self.tree.nodes:
            self.subgrids[key] = Subgrid(key, N, nf, xscale)

    @property
    def max_level(self):
        return self.tree.max_level

    def __getitem__(self, key):
        return self.subgrids[key]

    def leaves(self):
        """Return the leaf keys in Morton order."""
        return self.tree.leaves()

    def cell_volume(self, level):
        """Return the volume of one cell at ``level``."""
        dx = 2.0 * self.xscale / (self.N << level)
        return dx * dx * dx

    def add_node(self, key, U=None):
        """Create the Subgrid of a node just added to the tree."""
        assert key in self.tree.nodes and key not in self.subgrids, key
        sg = Subgrid(key, self.N, self.nf, self.xscale, U)
        self.subgrids[key] = sg
        return sg

    def remove_node(self, key):
        """Drop the Subgrid of a node just removed from the tree."""
        assert key not in self.tree.nodes, key
        del self.subgrids[key]

    def sync(self):
        """Check that subgrids and tree nodes agree (debug aid)."""
        assert set(self.subgrids) == self.tree.nodes
        M = self.N + 2 * GHOST
        for sg in self.subgrids.values():
            assert sg.U.shape == (self.nf, M, M, M)
