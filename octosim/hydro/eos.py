"""Ideal-gas equation of state with Octo-Tiger's dual-energy rule.

The internal energy density of a cell is ``e = egas - rho v^2 / 2`` where that exceeds
``de_switch * egas``; elsewhere it is ``tau^gamma`` from the entropy tracer
(Bryan et al. 1995, ApJ 448, 57; Marcello et al. 2021, MNRAS 504, 5345, sec. 2.2).
Pressure is ``(gamma - 1) e``.  Primitive work arrays ``W`` have the layout of ``U`` with the
fields ``rho, vx, vy, vz, p, tau/rho, X_0, ...`` (tracer and species as mass fractions).
"""
import math

from numba import njit

from octosim.fields import GHOST, RHO, SX, SY, SZ, EGAS, TAU

KW = dict(cache=True, nogil=True, error_model="numpy")


@njit(**KW)
def internal_energy(rho, sx, sy, sz, egas, tau, gamma, de_switch):
    """Return the internal energy density of one cell by the dual-energy rule."""
    ek = 0.5 * (sx * sx + sy * sy + sz * sz) / rho
    e = egas - ek
    if e > de_switch * egas:
        return e
    if tau > 0.0:
        return tau ** gamma
    return 0.0


@njit(**KW)
def prim_box(U, W, gamma, de_switch, i0, i1, j0, j1, k0, k1):
    """Fill primitives ``W`` from conserved ``U`` on the index box [i0,i1)x[j0,j1)x[k0,k1)."""
    nf = U.shape[0]
    gm1 = gamma - 1.0
    for i in range(i0, i1):
        for j in range(j0, j1):
            for k in range(k0, k1):
                rho = U[RHO, i, j, k]
                ri = 1.0 / rho
                e = internal_energy(rho, U[SX, i, j, k], U[SY, i, j, k], U[SZ, i, j, k],
                                    U[EGAS, i, j, k], U[TAU, i, j, k], gamma, de_switch)
                W[RHO, i, j, k] = rho
                W[SX, i, j, k] = U[SX, i, j, k] * ri
                W[SY, i, j, k] = U[SY, i, j, k] * ri
                W[SZ, i, j, k] = U[SZ, i, j, k] * ri
                W[EGAS, i, j, k] = gm1 * e
                for f in range(TAU, nf):
                    W[f, i, j, k] = U[f, i, j, k] * ri


@njit(**KW)
def prim_stencil(U, W, gamma, de_switch):
    """Fill ``W`` on the interior and the three ghost slabs the flux stencils read (no corners)."""
    G = GHOST
    _, Mx, My, Mz = U.shape
    prim_box(U, W, gamma, de_switch, 0, Mx, G, My - G, G, Mz - G)
    prim_box(U, W, gamma, de_switch, G, Mx - G, 0, G, G, Mz - G)
    prim_box(U, W, gamma, de_switch, G, Mx - G, My - G, My, G, Mz - G)
    prim_box(U, W, gamma, de_switch, G, Mx - G, G, My - G, 0, G)
    prim_box(U, W, gamma, de_switch, G, Mx - G, G, My - G, Mz - G, Mz)


@njit(**KW)
def sound_speed(rho, p, gamma):
    """Return the adiabatic sound speed sqrt(gamma p / rho), zero for p <= 0."""
    if p <= 0.0:
        return 0.0
    return math.sqrt(gamma * p / rho)
