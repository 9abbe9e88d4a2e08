"""Gravity source terms for the hydro stage and the potential energy of the energy budget.

Momenta get ``rho g`` (cell centres, from the FMM).  The gas energy gets the work done by
gravity on the mass that actually moves, i.e. the face mass fluxes of the hydro scheme
(Jiang et al. 2013, ApJS 205, 20, eq. 12; Mullen, Hanawa & Gammie 2021, ApJS 252, 30):

    S_E,i = -1/dx sum_faces w_i F_rho,face (phi_right - phi_left),  w_i = rho_i / (rho_i + rho_j)

(j the cell across the face) so that ``egas + 1/2 rho phi`` changes only through the time
discretisation: the two shares of a face add up to one, and summed over cells the source is
``-sum phi drho/dt``, the change of the potential energy.  The cited papers split each
face's work half and half; sharing it by mass keeps it from heating near-vacuum cells next
to dense ones (at the box corners, which a star's infalling atmosphere drains), and is nearly the
even split where the density is smooth (polytrope at R/dx 6.7 over 5 t_dyn: peak Mach 0.13
against 0.29 for the even split, energy error 3e-4 against 8e-4 of |E|).  The
cell-centred ``s . g`` it replaces misses the work of mass fluxes that carry no momentum
(the numerical diffusion of the central-upwind flux, ``a+ a- (uR - uL)``), which lifts
mass out of the potential well for free and makes a static star expand.  At faces inside
a subgrid ``phi_i+1 - phi_i`` is the FMM potential difference; at the subgrid's own
boundary faces (whose outer cell it does not hold) it is ``-dx g_face`` with ``g_face``
extrapolated linearly from the two inner cells, second order like the rest.
"""

import numpy as np
from numba import njit

from octosim.fields import EGAS, GHOST, RHO, SX


@njit(cache=True, nogil=True)
def _zero_momentum_source(U, g, G0, S):
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
                for a in range(3):
                    S[SX + a, i, j, k] = rho * g[a, i, j, k]


@njit(cache=True, nogil=True)
def _source(U, g, G0, S):
    _zero_momentum_source(U, g, G0, S)
    N = S.shape[1]
    for i in range(N):
        for j in range(N):
            for k in range(N):
                e = 0.0
                for a in range(3):
                    e += U[SX + a, G0 + i, G0 + j, G0 + k] * g[a, i, j, k]
                S[EGAS, i, j, k] = e


@njit(cache=True, nogil=True)
def _dphi(phi, g, a, i, j, k, N, dx):
    """Return ``phi(cell + e_a) - phi(cell)`` for the face on the high side of (i, j, k) along a.

    Inside the block the potential difference; at the block's high or low boundary (the
    cell across is not held) ``-dx g_face`` with ``g_face`` linearly extrapolated.
    """
    c = (i, j, k)[a]
    if a == 0:
        if 0 <= c and c + 1 < N:
            return phi[i + 1, j, k] - phi[i, j, k]
    elif a == 1:
        if 0 <= c and c + 1 < N:
            return phi[i, j + 1, k] - phi[i, j, k]
    else:
        if 0 <= c and c + 1 < N:
            return phi[i, j, k + 1] - phi[i, j, k]
    # boundary face: c == N - 1 (outer cell at N) or c == -1 (outer cell at -1)
    if c == N - 1:
        i0, i1 = N - 1, N - 2
    else:
        i0, i1 = 0, 1
    if a == 0:
        g0, g1 = g[0, i0, j, k], g[0, i1, j, k]
    elif a == 1:
        g0, g1 = g[1, i, i0, k], g[1, i, i1, k]
    else:
        g0, g1 = g[2, i, j, i0], g[2, i, j, i1]
    return -dx * (1.5 * g0 - 0.5 * g1)


@njit(cache=True, nogil=True)
def _source_flux(U, phi, g, Fx, Fy, Fz, dx, G0, S):
    _zero_momentum_source(U, g, G0, S)
    N = S.shape[1]
    for i in range(N):
        for j in range(N):
            for k in range(N):
                I, J, K = G0 + i, G0 + j, G0 + k
                r = U[RHO, I, J, K]
                e = (Fx[RHO, i + 1, j, k] * _dphi(phi, g, 0, i, j, k, N, dx)
                     * _share(r, U[RHO, I + 1, J, K])
                     + Fx[RHO, i, j, k] * _dphi(phi, g, 0, i - 1, j, k, N, dx)
                     * _share(r, U[RHO, I - 1, J, K])
                     + Fy[RHO, i, j + 1, k] * _dphi(phi, g, 1, i, j, k, N, dx)
                     * _share(r, U[RHO, I, J + 1, K])
                     + Fy[RHO, i, j, k] * _dphi(phi, g, 1, i, j - 1, k, N, dx)
                     * _share(r, U[RHO, I, J - 1, K])
                     + Fz[RHO, i, j, k + 1] * _dphi(phi, g, 2, i, j, k, N, dx)
                     * _share(r, U[RHO, I, J, K + 1])
                     + Fz[RHO, i, j, k] * _dphi(phi, g, 2, i, j, k - 1, N, dx)
                     * _share(r, U[RHO, I, J, K - 1]))
                S[EGAS, i, j, k] = -e / dx


@njit(cache=True, nogil=True)
def _share(r, r_other):
    """Return this cell's share of a face's work: its fraction of the two cells' mass."""
    s = r + r_other
    return r / s if s > 0.0 else 0.5


def gravity_source(U, phi, g, S=None, fluxes=None, dx=None):
    """Return the interior source ``S`` (nf, N, N, N): ``rho g`` for momenta, work for egas.

    ``U`` is a subgrid state with ghosts (``octosim.fields``), ``phi`` (N, N, N) and ``g``
    (3, N, N, N) the potential and acceleration of its interior cells.  With ``fluxes =
    (Fx, Fy, Fz)`` (the stage's corrected face fluxes) and ``dx`` the egas source is the
    flux-based work of the module docstring; without, the cell-centred ``s . g``.
    """
    nf = U.shape[0]
    N = U.shape[1] - 2 * GHOST
    assert g.shape == (3, N, N, N), (g.shape, N)
    if S is None:
        S = np.empty((nf, N, N, N))
    g = np.ascontiguousarray(g, dtype=np.float64)
    if fluxes is None:
        _source(U, g, GHOST, S)
    else:
        assert phi is not None and dx is not None, "the flux-based source needs phi and dx"
        Fx, Fy, Fz = fluxes
        _source_flux(U, np.ascontiguousarray(phi, dtype=np.float64), g, Fx, Fy, Fz, float(dx),
                     GHOST, S)
    return S


def stage_sources(subgrids, keys, phi, g, Fx, Fy, Fz, S=None):
    """Return the sources ``S`` (len(keys), nf, N, N, N) of one Runge-Kutta stage.

    ``subgrids[key]`` gives ``U`` and ``dx``; ``phi``/``g`` are the stage's FMM dicts and
    ``Fx[l]``, ``Fy[l]``, ``Fz[l]`` the corrected face fluxes of ``keys[l]``.  The one place
    where both step loops (``octosim.driver``, ``octosim.distributed``) build the sources.
    """
    if S is None and len(keys) == 0:
        return np.empty((0, 1, 1, 1, 1))
    for i, key in enumerate(keys):
        sg = subgrids[key]
        if S is None:
            N = sg.U.shape[1] - 2 * GHOST
            S = np.empty((len(keys), sg.U.shape[0], N, N, N))
        gravity_source(sg.U, phi[key], g[key], S=S[i], fluxes=(Fx[i], Fy[i], Fz[i]), dx=sg.dx)
    return S


def potential_energy(rho, phi, dx):
    """Return ``1/2 sum rho phi dV`` over the cells of one subgrid (interior arrays)."""
    return 0.5 * float(np.sum(rho * phi)) * dx ** 3


def leaf_sources(mesh, G=1.0, theta=0.5, order=3):
    """Solve gravity on a mesh and return ``{leaf key: S}`` for ``rk_stage_src``, with phi, g.

    One call per Runge-Kutta stage, on the stage's current leaf densities (cell-centred
    ``s . g`` energy source: no fluxes here; the step loops use ``stage_sources``).
    """
    from octosim.gravity.solver import solve

    phi, g = solve(mesh, G=G, theta=theta, order=order)
    S = {k: gravity_source(mesh.subgrids[k].U, phi[k], g[k]) for k in phi}
    return S, phi, g
