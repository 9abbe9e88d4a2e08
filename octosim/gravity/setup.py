"""Build a ``TreeDesc`` and leaf densities from a problem module (tests and benchmarks)."""

import numpy as np

from octosim.fields import GHOST, RHO, nfields
from octosim.gravity.treedesc import TreeDesc


def problem_tree(problem, params, N=8, max_level=2, xscale=1.0, gamma=5.0 / 3.0, min_level=0):
    """Refine from the root with ``problem.refine`` on ``problem.init_data``; return (desc, rho).

    Nodes below ``min_level`` are always split.  No 2:1 balance is imposed.
    """
    M = N + 2 * GHOST
    U = np.zeros((nfields(0), M, M, M))
    dens = {}

    def init(key):
        L, ix, iy, iz = key
        dx = 2.0 * xscale / (N << L)
        c = [-xscale + (np.arange(N) + 0.5 + i * N) * dx for i in (ix, iy, iz)]
        problem.init_data(U, c[0], c[1], c[2], params, gamma)
        dens[key] = U[RHO, GHOST:GHOST + N, GHOST:GHOST + N, GHOST:GHOST + N].copy()
        return L < min_level or problem.refine(U, L, dx, params)

    keys = [(0, 0, 0, 0)]
    front = [(0, 0, 0, 0)]
    while front:
        nxt = []
        for key in front:
            if key[0] < max_level and init(key):
                L, ix, iy, iz = key
                for o in range(8):
                    nxt.append((L + 1, 2 * ix + (o & 1), 2 * iy + ((o >> 1) & 1),
                                2 * iz + ((o >> 2) & 1)))
            elif key not in dens:
                init(key)
        keys += nxt
        front = nxt
    desc = TreeDesc(keys, N, xscale)
    rho = np.zeros((desc.nnode, N, N, N))
    for key, i in desc.index.items():
        rho[i] = dens[key]
    return desc, rho
