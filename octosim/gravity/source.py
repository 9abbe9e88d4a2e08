"""Gravity source terms for the hydro stage and the potential energy of the energy budget."""

import numpy as np
from numba import njit

from octosim.fields import EGAS, GHOST, RHO, SX


@njit(cache=True, nogil=True)
def _source(U, g, G0, S):
    nf = S.shape[0]
    N = S.shape[1]
    for f in range(nf):
        for i in range(N):
            for j in range(N):
                for k in range(N):
                    S[f, i, j, k] = 0.0
    for i in range(N):
        for j in range(N):
            for k in range(N):
                rho = U[RHO, G0 + i, G0 + j, G0 + k]
                e = 0.0
                for a in range(3):
                    ga = g[a, i, j, k]
                    S[SX + a, i, j, k] = rho * ga
                    e += U[SX + a, G0 + i, G0 + j, G0 + k] * ga
                S[EGAS, i, j, k] = e


def gravity_source(U, phi, g, S=None):
    """Return the interior source ``S`` (nf, N, N, N): ``rho g`` for momenta, ``s . g`` for egas.

    ``U`` is a subgrid state with ghosts (``octosim.fields``), ``g`` the acceleration (3, N,
    N, N) of its interior cells; ``phi`` is accepted for the interface's symmetry (the gas
    energy excludes the potential, whose energy ``potential_energy`` reports).
    """
    nf = U.shape[0]
    N = U.shape[1] - 2 * GHOST
    assert g.shape == (3, N, N, N), (g.shape, N)
    if S is None:
        S = np.empty((nf, N, N, N))
    _source(U, np.ascontiguousarray(g, dtype=np.float64), GHOST, S)
    return S


def potential_energy(rho, phi, dx):
    """Return ``1/2 sum rho phi dV`` over the cells of one subgrid (interior arrays)."""
    return 0.5 * float(np.sum(rho * phi)) * dx ** 3


def leaf_sources(mesh, G=1.0, theta=0.5, order=3):
    """Solve gravity on a mesh and return ``{leaf key: S}`` for ``rk_stage_src``, with phi, g.

    One call per Runge-Kutta stage, on the stage's current leaf densities.
    """
    from octosim.gravity.solver import solve

    phi, g = solve(mesh, G=G, theta=theta, order=order)
    S = {k: gravity_source(mesh.subgrids[k].U, phi[k], g[k]) for k in phi}
    return S, phi, g
