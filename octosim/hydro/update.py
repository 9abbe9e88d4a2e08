"""Runge-Kutta stage update, floors and dual-energy synchronisation.

SSP-RK3 of Shu & Osher 1988, JCP 77, 439, eq. (2.18), in the convex form
``U <- a U0 + (1 - a) (U + dt L(U))`` with ``a = 0, 3/4, 1/3`` for the three stages.
The dual-energy reset follows Bryan et al. 1995 and Marcello et al. 2021 (Octo-Tiger):
where the total-energy internal energy is trustworthy (``e > de_switch * egas``) the
entropy tracer is reset to ``tau = e^(1/gamma)``.
"""
from numba import njit

from octosim.fields import GHOST, RHO, SX, SY, SZ, EGAS, TAU

KW = dict(cache=True, nogil=True, error_model="numpy")


@njit(**KW)
def _stage(U, U0, Fx, Fy, Fz, S, use_src, dt, dx, a):
    nf, Mx, My, Mz = U.shape
    G = GHOST
    Nx, Ny, Nz = Mx - 2 * G, My - 2 * G, Mz - 2 * G
    dtdx = dt / dx
    b = 1.0 - a
    for f in range(nf):
        for i in range(Nx):
            for j in range(Ny):
                for k in range(Nz):
                    div = ((Fx[f, i + 1, j, k] - Fx[f, i, j, k])
                           + (Fy[f, i, j + 1, k] - Fy[f, i, j, k])
                           + (Fz[f, i, j, k + 1] - Fz[f, i, j, k]))
                    u = U[f, i + G, j + G, k + G] - dtdx * div
                    if use_src:
                        u += dt * S[f, i, j, k]
                    if a != 0.0:
                        u = a * U0[f, i + G, j + G, k + G] + b * u
                    U[f, i + G, j + G, k + G] = u


@njit(**KW)
def rk_stage(U, U0, Fx, Fy, Fz, dt, dx, a):
    """Update the interior in place: U <- a U0 + (1 - a) (U - dt/dx div F).

    With ``a == 0`` (first stage) ``U0`` is not read.
    """
    _stage(U, U0, Fx, Fy, Fz, Fx, False, dt, dx, a)


@njit(**KW)
def rk_stage_src(U, U0, Fx, Fy, Fz, S, dt, dx, a):
    """Like rk_stage with a source: U <- a U0 + (1 - a) (U - dt/dx div F + dt S).

    ``S`` has the interior shape (nf, Nx, Ny, Nz).
    """
    _stage(U, U0, Fx, Fy, Fz, S, True, dt, dx, a)


@njit(**KW)
def apply_floors(U, rho_floor, e_floor, gamma=0.0):
    """Raise interior density and internal energy density to their floors; return cells changed.

    Density below ``rho_floor`` is set to it, species scaled to keep their mass fractions
    and momenta kept (so velocity drops).  Internal energy ``egas - rho v^2/2`` below
    ``e_floor`` is raised to it by adding to ``egas``; with ``gamma > 0`` the tracer is
    raised to at least ``e_floor^(1/gamma)``, else only negative tracers are zeroed.
    """
    nf, Mx, My, Mz = U.shape
    G = GHOST
    tau_floor = e_floor ** (1.0 / gamma) if gamma > 0.0 else 0.0
    n = 0
    for i in range(G, Mx - G):
        for j in range(G, My - G):
            for k in range(G, Mz - G):
                changed = False
                rho = U[RHO, i, j, k]
                if not rho >= rho_floor:
                    scale = rho_floor / rho if rho > 0.0 else 0.0
                    for f in range(TAU + 1, nf):
                        U[f, i, j, k] *= scale
                    rho = rho_floor
                    U[RHO, i, j, k] = rho
                    changed = True
                ek = 0.5 * (U[SX, i, j, k] ** 2 + U[SY, i, j, k] ** 2 + U[SZ, i, j, k] ** 2) / rho
                eg_min = ek + e_floor
                # a cell already at the floor (as far as ek + e_floor is representable) is left alone
                if not U[EGAS, i, j, k] - ek >= e_floor and U[EGAS, i, j, k] != eg_min:
                    U[EGAS, i, j, k] = eg_min
                    changed = True
                if not U[TAU, i, j, k] >= tau_floor:
                    U[TAU, i, j, k] = tau_floor
                    changed = True
                if changed:
                    n += 1
    return n


@njit(**KW)
def dual_energy_sync(U, gamma, de_switch):
    """Reset the interior tracer tau = e^(1/gamma) where e > de_switch * egas."""
    _, Mx, My, Mz = U.shape
    G = GHOST
    ig = 1.0 / gamma
    for i in range(G, Mx - G):
        for j in range(G, My - G):
            for k in range(G, Mz - G):
                rho = U[RHO, i, j, k]
                eg = U[EGAS, i, j, k]
                e = eg - 0.5 * (U[SX, i, j, k] ** 2 + U[SY, i, j, k] ** 2
                                + U[SZ, i, j, k] ** 2) / rho
                if e > de_switch * eg:
                    U[TAU, i, j, k] = e ** ig
