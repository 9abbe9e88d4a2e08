"""CFL signal speed of a block (Courant, Friedrichs & Lewy 1928): dt = cfl dx / max(|v_d| + c)."""
import math

import numpy as np
from numba import njit

from octosim.fields import GHOST, RHO, SX, SY, SZ, EGAS, TAU
from octosim.hydro.eos import internal_energy

KW = dict(cache=True, nogil=True, error_model="numpy")


@njit(**KW)
def max_signal_speed(U, gamma, de_switch):
    """Return max over interior cells and directions of |v_d| + c_s."""
    _, Mx, My, Mz = U.shape
    G = GHOST
    smax = 0.0
    for i in range(G, Mx - G):
        for j in range(G, My - G):
            for k in range(G, Mz - G):
                rho = U[RHO, i, j, k]
                e = internal_energy(rho, U[SX, i, j, k], U[SY, i, j, k], U[SZ, i, j, k],
                                    U[EGAS, i, j, k], U[TAU, i, j, k], gamma, de_switch)
                c = math.sqrt(gamma * (gamma - 1.0) * max(e, 0.0) / rho)
                v = max(abs(U[SX, i, j, k]), max(abs(U[SY, i, j, k]), abs(U[SZ, i, j, k]))) / rho
                smax = max(smax, v + c)
    return smax


@njit(**KW)
def _prim_interior(U, gamma, de_switch, out):
    _, Mx, My, Mz = U.shape
    G = GHOST
    for i in range(G, Mx - G):
        for j in range(G, My - G):
            for k in range(G, Mz - G):
                rho = U[RHO, i, j, k]
                e = internal_energy(rho, U[SX, i, j, k], U[SY, i, j, k], U[SZ, i, j, k],
                                    U[EGAS, i, j, k], U[TAU, i, j, k], gamma, de_switch)
                a, b, c = i - G, j - G, k - G
                out[0, a, b, c] = rho
                out[1, a, b, c] = U[SX, i, j, k] / rho
                out[2, a, b, c] = U[SY, i, j, k] / rho
                out[3, a, b, c] = U[SZ, i, j, k] / rho
                out[4, a, b, c] = (gamma - 1.0) * e


def primitives(U, gamma, de_switch=1e-3):
    """Return interior (rho, vx, vy, vz, p) as new numpy arrays, for analysis and tests."""
    G = GHOST
    out = np.empty((5,) + tuple(n - 2 * G for n in U.shape[1:]))
    _prim_interior(U, gamma, de_switch, out)
    return tuple(out[m].copy() for m in range(5))
