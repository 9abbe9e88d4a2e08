"""Direct O(n^2) summation over leaf cells as point masses: the FMM's reference."""

import math

import numpy as np
from numba import njit

from octosim.gravity.fmm import CUBE_SELF, cell_geometry


@njit(cache=True, nogil=True)
def direct_sum(x, m, h, G, self_term, phi, g):
    """Add the potential and acceleration of point masses ``m`` at ``x`` (n, 3) on each other.

    Each pair is computed once and applied to both; a cell's own uniform-cube potential
    ``-G m C / h`` is added when ``self_term``.
    """
    n = m.shape[0]
    for a in range(n):
        if self_term:
            phi[a] -= G * m[a] * CUBE_SELF / h[a]
        for b in range(a + 1, n):
            rx = x[a, 0] - x[b, 0]
            ry = x[a, 1] - x[b, 1]
            rz = x[a, 2] - x[b, 2]
            rinv = 1.0 / math.sqrt(rx * rx + ry * ry + rz * rz)
            phi[a] -= G * m[b] * rinv
            phi[b] -= G * m[a] * rinv
            f = G * rinv * rinv * rinv
            g[a, 0] -= f * m[b] * rx
            g[a, 1] -= f * m[b] * ry
            g[a, 2] -= f * m[b] * rz
            g[b, 0] += f * m[a] * rx
            g[b, 1] += f * m[a] * ry
            g[b, 2] += f * m[a] * rz


def direct_desc(desc, rho, G=1.0, self_term=True):
    """Return direct-sum potential and acceleration in ``solve_desc``'s layout."""
    from octosim.gravity.solver import _as_node_array

    N = desc.N
    N3 = N ** 3
    rho = _as_node_array(desc, rho)
    gc = np.empty((desc.nnode * N3, 3))
    cw = np.empty(desc.nnode)
    cell_geometry(desc.level, desc.coords, N, desc.xscale, gc, cw)
    leaves = desc.leaves()
    cells = (leaves[:, None] * N3 + np.arange(N3)[None, :]).ravel()
    h = np.repeat(cw[leaves], N3)
    m = rho[leaves].reshape(-1) * h ** 3
    phi = np.zeros(cells.size)
    g = np.zeros((cells.size, 3))
    direct_sum(np.ascontiguousarray(gc[cells]), m, h, float(G), bool(self_term), phi, g)
    P = np.zeros((desc.nnode, N, N, N))
    A = np.zeros((desc.nnode, 3, N, N, N))
    P[leaves] = phi.reshape(-1, N, N, N)
    A[leaves] = g.reshape(-1, N, N, N, 3).transpose(0, 4, 1, 2, 3)
    return P, A
