"""The Subgrid component: one octree node's N^3 cells with ghost layers and work buffers."""

import numpy as np

from octosim.fields import GHOST
from octosim.tree import node_origin, node_width


class Subgrid:
    """State of one node: conserved fields ``U`` (nf, N+6, N+6, N+6) and its geometry.

    Leaves also carry the step's work buffers (``U0`` for SSP-RK3 and the face fluxes
    ``Fx, Fy, Fz``), allocated on first use and dropped when the node stops being a leaf.
    """

    __slots__ = ("key", "N", "nf", "dx", "origin", "U", "U0", "Fx", "Fy", "Fz")

    def __init__(self, key, N, nf, xscale, U=None):
        self.key = tuple(key)
        self.N = int(N)
        self.nf = int(nf)
        self.dx = node_width(key[0], xscale) / N
        self.origin = node_origin(key, xscale)
        M = N + 2 * GHOST
        if U is None:
            U = np.zeros((nf, M, M, M))
        assert U.shape == (nf, M, M, M) and U.dtype == np.float64, (key, U.shape, U.dtype)
        self.U = U
        self.U0 = self.Fx = self.Fy = self.Fz = None

    @property
    def level(self):
        return self.key[0]

    @property
    def interior(self):
        """Return a view of the interior cells ``U[:, G:G+N, G:G+N, G:G+N]``."""
        G, N = GHOST, self.N
        return self.U[:, G:G + N, G:G + N, G:G + N]

    def centers(self):
        """Return the 1-D cell-centre coordinates (x, y, z) of the interior."""
        c = (np.arange(self.N) + 0.5) * self.dx
        return tuple(o + c for o in self.origin)

    def work_buffers(self):
        """Allocate (once) and return ``U0, Fx, Fy, Fz`` for a leaf's hydro step."""
        if self.U0 is None:
            N, nf = self.N, self.nf
            self.U0 = np.empty_like(self.U)
            self.Fx = np.zeros((nf, N + 1, N, N))
            self.Fy = np.zeros((nf, N, N + 1, N))
            self.Fz = np.zeros((nf, N, N, N + 1))
        return self.U0, self.Fx, self.Fy, self.Fz

    def flux(self, axis):
        """Return the face-flux array along ``axis``."""
        return (self.Fx, self.Fy, self.Fz)[axis]

    def drop_work_buffers(self):
        """Release the leaf work buffers (the node became interior)."""
        self.U0 = self.Fx = self.Fy = self.Fz = None
