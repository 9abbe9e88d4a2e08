"""Plain-array description of an octree for the FMM, built from node keys.

Nodes are listed by increasing level (parents before children).  Per node: ``level``,
integer ``coords`` (ix, iy, iz) at that level, ``parent`` index (-1 for the root) and
``children`` indices (-1 for a leaf) in Morton octant order ``ox + 2 oy + 4 oz`` (x fastest,
as ``octosim.tree.OCTANTS``).  Every node owns an ``N^3`` subgrid of the domain
``[-xscale, xscale]^3``; cell ``(i, j, k)`` of node ``n`` has the flat id
``n * N^3 + (i * N + j) * N + k``.
"""

import numpy as np


class TreeDesc:
    """Arrays describing a complete octree (each node has 0 or 8 children)."""

    def __init__(self, keys, N, xscale):
        keys = sorted({tuple(int(v) for v in k) for k in keys})
        assert keys and keys[0] == (0, 0, 0, 0), "the tree needs its root (0, 0, 0, 0)"
        assert N >= 2 and N % 2 == 0, f"subgrid size must be even, got {N}"
        self.N = int(N)
        self.xscale = float(xscale)
        self.keys = keys
        self.index = {k: i for i, k in enumerate(keys)}
        n = len(keys)
        self.level = np.array([k[0] for k in keys], dtype=np.int64)
        self.coords = np.array([k[1:] for k in keys], dtype=np.int64).reshape(n, 3)
        self.parent = -np.ones(n, dtype=np.int64)
        self.children = -np.ones((n, 8), dtype=np.int64)
        for i, (L, ix, iy, iz) in enumerate(keys):
            if L == 0:
                continue
            p = self.index.get((L - 1, ix >> 1, iy >> 1, iz >> 1))
            assert p is not None, f"node {keys[i]} has no parent"
            self.parent[i] = p
            self.children[p, (ix & 1) + 2 * (iy & 1) + 4 * (iz & 1)] = i
        has = self.children >= 0
        assert np.all(has.all(axis=1) | ~has.any(axis=1)), "a node has 1 to 7 children"
        self.leaf = ~has.any(axis=1)

    @classmethod
    def from_octree(cls, tree, N, xscale):
        """Describe an ``octosim.tree.Octree``."""
        return cls(tree.nodes, N, xscale)

    @property
    def nnode(self):
        return len(self.keys)

    @property
    def max_level(self):
        return int(self.level.max())

    def dx(self, level):
        """Return the cell width at ``level``."""
        return 2.0 * self.xscale / (self.N << int(level))

    def leaves(self):
        """Return the indices of the leaf nodes."""
        return np.nonzero(self.leaf)[0]

    def cell_centers(self, node):
        """Return 1-D cell-centre coordinates (x, y, z) of a node's subgrid."""
        dx = self.dx(self.level[node])
        c = (np.arange(self.N) + 0.5) * dx
        return tuple(-self.xscale + (self.coords[node, a] * self.N) * dx + c for a in range(3))


def build_keys(refine, max_level):
    """Return the node keys of the tree grown by splitting every node where ``refine(key)``.

    No 2:1 balance is imposed (the FMM does not need it).
    """
    keys = [(0, 0, 0, 0)]
    front = [(0, 0, 0, 0)]
    while front:
        nxt = []
        for (L, ix, iy, iz) in front:
            if L < max_level and refine((L, ix, iy, iz)):
                for o in range(8):
                    c = (L + 1, 2 * ix + (o & 1), 2 * iy + ((o >> 1) & 1), 2 * iz + ((o >> 2) & 1))
                    keys.append(c)
                    nxt.append(c)
        front = nxt
    return keys
