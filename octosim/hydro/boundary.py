"""Ghost cells of a block at a physical domain face.

``BC_OUTFLOW`` copies the outermost interior layer (zero gradient); ``BC_REFLECT`` mirrors
the interior about the face and flips the normal momentum.  ``BC_PERIODIC`` wraps the
block onto itself (single-block runs only; on a mesh periodicity is neighbour wrapping).
Each call fills the whole transverse extent, ghosts included, so filling x, then y, then z
also fills edges and corners.
"""
import numpy as np
from numba import njit

from octosim.fields import GHOST, SX

KW = dict(cache=True, nogil=True, error_model="numpy")

BC_OUTFLOW = 0
BC_REFLECT = 1
BC_PERIODIC = 2


@njit(**KW)
def _layer_sources(M, side, kind):
    """Return (dst, src) index arrays of the 3 ghost layers of one face along an axis of M cells."""
    G = GHOST
    N = M - 2 * G
    dst = np.empty(G, np.int64)
    src = np.empty(G, np.int64)
    for g in range(G):
        if side == 0:
            d = G - 1 - g
            s = G + g if kind == BC_REFLECT else (G + (d - G) % N if kind == BC_PERIODIC else G)
        else:
            d = M - G + g
            s = (M - G - 1 - g if kind == BC_REFLECT
                 else (G + (d - G) % N if kind == BC_PERIODIC else M - G - 1))
        dst[g] = d
        src[g] = s
    return dst, src


@njit(**KW)
def fill_boundary(U, axis, side, kind):
    """Fill the 3 ghost layers of ``U`` on face (``axis``, ``side``: 0 low / 1 high) by ``kind``."""
    nf, Mx, My, Mz = U.shape
    dst, src = _layer_sources(U.shape[1 + axis], side, kind)
    for f in range(nf):
        sign = -1.0 if (kind == BC_REFLECT and f == SX + axis) else 1.0
        for g in range(GHOST):
            d = dst[g]
            s = src[g]
            if axis == 0:
                for j in range(My):
                    for k in range(Mz):
                        U[f, d, j, k] = sign * U[f, s, j, k]
            elif axis == 1:
                for i in range(Mx):
                    for k in range(Mz):
                        U[f, i, d, k] = sign * U[f, i, s, k]
            else:
                for i in range(Mx):
                    for j in range(My):
                        U[f, i, j, d] = sign * U[f, i, j, s]
