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
def pencil_geometry(shape, d):
    """Return (Md, Na, Nb, s_m, s_a, s_b) of direction ``d`` of a block of ``shape``.

    Pencils run along ``d`` over all Md = N_d + 6 cells; the transverse interior is
    Na x Nb cells; s_* are the flat strides of U for the three loop indices.
    """
    _, Mx, My, Mz = shape
    G = GHOST
    if d == 0:
        return Mx, My - 2 * G, Mz - 2 * G, My * Mz, Mz, 1
    if d == 1:
        return My, Mx - 2 * G, Mz - 2 * G, Mz, My * Mz, 1
    return Mz, Mx - 2 * G, My - 2 * G, 1, My * Mz, Mz


@njit(**KW)
def _sweep_view(U, d):
    """Return U with axes ordered (field, along d, first transverse, second transverse)."""
    if d == 0:
        return U.transpose((0, 1, 2, 3))
    if d == 1:
        return U.transpose((0, 2, 1, 3))
    return U.transpose((0, 3, 1, 2))


@njit(**KW)
def prim_dir(U, Wd, d, gamma, de_switch):
    """Fill directional primitives ``Wd[f, m*T + a*Nb + b]`` (T = Na*Nb) along ``d``.

    ``m`` runs over all cells of the pencil along ``d`` (ghosts included), (a, b) over the
    transverse interior, so the sweep's inner loops are long and contiguous.
    """
    nf = U.shape[0]
    G = GHOST
    Ut = _sweep_view(U, d)
    Md = Ut.shape[1]
    Na = Ut.shape[2] - 2 * G
    Nb = Ut.shape[3] - 2 * G
    n = Md * Na * Nb
    gm1 = gamma - 1.0
    R = Wd[RHO, :n].reshape((Md, Na, Nb))
    VX = Wd[SX, :n].reshape((Md, Na, Nb))
    VY = Wd[SY, :n].reshape((Md, Na, Nb))
    VZ = Wd[SZ, :n].reshape((Md, Na, Nb))
    P = Wd[EGAS, :n].reshape((Md, Na, Nb))
    for m in range(Md):
        for a in range(Na):
            for b in range(Nb):
                rho = Ut[RHO, m, G + a, G + b]
                ri = 1.0 / rho
                sx = Ut[SX, m, G + a, G + b]
                sy = Ut[SY, m, G + a, G + b]
                sz = Ut[SZ, m, G + a, G + b]
                R[m, a, b] = rho
                VX[m, a, b] = sx * ri
                VY[m, a, b] = sy * ri
                VZ[m, a, b] = sz * ri
                P[m, a, b] = Ut[EGAS, m, G + a, G + b] - 0.5 * (sx * sx + sy * sy + sz * sz) * ri
    # dual-energy rule in a second pass: the rare tau^gamma branch stays out of the SIMD loop
    for m in range(Md):
        for a in range(Na):
            for b in range(Nb):
                e = P[m, a, b]
                if not e > de_switch * Ut[EGAS, m, G + a, G + b]:
                    tau = Ut[TAU, m, G + a, G + b]
                    e = tau ** gamma if tau > 0.0 else 0.0
                P[m, a, b] = gm1 * e
    for f in range(TAU, nf):
        X = Wd[f, :n].reshape((Md, Na, Nb))
        for m in range(Md):
            for a in range(Na):
                for b in range(Nb):
                    X[m, a, b] = Ut[f, m, G + a, G + b] / R[m, a, b]


@njit(**KW)
def sound_speed(rho, p, gamma):
    """Return the adiabatic sound speed sqrt(gamma p / rho), zero for p <= 0."""
    if p <= 0.0:
        return 0.0
    return math.sqrt(gamma * p / rho)
