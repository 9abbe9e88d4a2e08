"""Generic refinement criteria, numba kernels over one block (ghosts filled).

Density threshold per level as Octo-Tiger's refinement floor (Marcello et al. 2021,
sec. 2.4): refine where rho exceeds a floor; relative gradient as in Loehner 1987-style
indicators simplified to max |q_{i+1} - q_i| / (|q_{i+1}| + |q_i| + eps).
"""
from numba import njit

from octosim.fields import GHOST

KW = dict(cache=True, nogil=True, error_model="numpy")


@njit(**KW)
def max_interior(U, f):
    """Return the maximum of field ``f`` over interior cells."""
    G = GHOST
    _, Mx, My, Mz = U.shape
    m = -1e308
    for i in range(G, Mx - G):
        for j in range(G, My - G):
            for k in range(G, Mz - G):
                m = max(m, U[f, i, j, k])
    return m


@njit(**KW)
def max_rel_gradient(U, f, eps):
    """Return max over interior cells and axes of |q_n - q_c| / (|q_n| + |q_c| + eps).

    Differences with the +1 neighbour along each axis, including the first ghost layer,
    so jumps on block faces count.
    """
    G = GHOST
    _, Mx, My, Mz = U.shape
    m = 0.0
    for i in range(G - 1, Mx - G):
        for j in range(G - 1, My - G):
            for k in range(G - 1, Mz - G):
                q = U[f, i, j, k]
                for d in range(3):
                    ii = i + (d == 0)
                    jj = j + (d == 1)
                    kk = k + (d == 2)
                    # count a pair when at least one of its cells is interior
                    inside_c = i >= G and j >= G and k >= G
                    inside_n = (ii >= G and jj >= G and kk >= G and ii < Mx - G
                                and jj < My - G and kk < Mz - G)
                    if not (inside_c or inside_n):
                        continue
                    qn = U[f, ii, jj, kk]
                    r = abs(qn - q) / (abs(qn) + abs(q) + eps)
                    m = max(m, r)
    return m


def density_floor_refine(U, level, rho_floor, level_factor=1.0):
    """Return True where max interior density exceeds ``rho_floor * level_factor**level``."""
    return max_interior(U, 0) > rho_floor * level_factor ** level


def gradient_refine(U, f, threshold, eps=1e-30):
    """Return True where the relative jump of field ``f`` exceeds ``threshold``."""
    return max_rel_gradient(U, f, eps) > threshold
