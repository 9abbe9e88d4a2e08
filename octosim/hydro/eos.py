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
def prim_dir(U, Wd, d, gamma, de_switch):
    """Fill directional primitives ``Wd[f, m*T + a*Nb + b]`` (T = Na*Nb) along ``d``.

    ``m`` runs over all cells of the pencil along ``d`` (ghosts included), (a, b) over the
    transverse interior, so the sweep's inner loops are long and contiguous.
    """
    nf, Mx, My, Mz = U.shape
    G = GHOST
    U2 = U.reshape((nf, Mx * My * Mz))
    Md, Na, Nb, sm, sa, sb = pencil_geometry(U.shape, d)
    T = Na * Nb
    base = G * sa + G * sb
    gm1 = gamma - 1.0
    for m in range(Md):
        for a in range(Na):
            o = base + m * sm + a * sa
            w0 = m * T + a * Nb
            for b in range(Nb):
                c = o + b * sb
                w = w0 + b
                rho = U2[RHO, c]
                ri = 1.0 / rho
                sx = U2[SX, c]
                sy = U2[SY, c]
                sz = U2[SZ, c]
                eg = U2[EGAS, c]
                e = eg - 0.5 * (sx * sx + sy * sy + sz * sz) * ri
                Wd[RHO, w] = rho
                Wd[SX, w] = sx * ri
                Wd[SY, w] = sy * ri
                Wd[SZ, w] = sz * ri
                Wd[EGAS, w] = e
                Wd[TAU, w] = U2[TAU, c] * ri
            for b in range(Nb):
                c = o + b * sb
                eg = U2[EGAS, c]
                e = Wd[EGAS, w0 + b]
                if not e > de_switch * eg:
                    tau = U2[TAU, c]
                    e = tau ** gamma if tau > 0.0 else 0.0
                Wd[EGAS, w0 + b] = gm1 * e
            for f in range(TAU + 1, nf):
                for b in range(Nb):
                    Wd[f, w0 + b] = U2[f, o + b * sb] / U2[RHO, o + b * sb]


@njit(**KW)
def sound_speed(rho, p, gamma):
    """Return the adiabatic sound speed sqrt(gamma p / rho), zero for p <= 0."""
    if p <= 0.0:
        return 0.0
    return math.sqrt(gamma * p / rho)
