"""Ghost cells of a block at a physical domain face.

``BC_OUTFLOW`` copies the outermost interior layer (zero gradient); ``BC_REFLECT`` mirrors
the interior about the face and flips the normal momentum.  ``BC_PERIODIC`` wraps the
block onto itself (single-block runs only; on a mesh periodicity is neighbour wrapping).
Each call fills the whole transverse extent, ghosts included, so filling x, then y, then z
also fills edges and corners.
"""
from numba import njit

from octosim.fields import GHOST, SX

KW = dict(cache=True, nogil=True, error_model="numpy")

BC_OUTFLOW = 0
BC_REFLECT = 1
BC_PERIODIC = 2


@njit(**KW)
def fill_boundary(U, axis, side, kind):
    """Fill the 3 ghost layers of ``U`` on face (``axis``, ``side``: 0 low / 1 high) by ``kind``."""
    nf, Mx, My, Mz = U.shape
    G = GHOST
    M = U.shape[1 + axis]
    N = M - 2 * G
    Mt = Mx * My * Mz
    U2 = U.reshape((nf, Mt))
    if axis == 0:
        s, na, sa, nb, sb = My * Mz, My, Mz, Mz, 1
    elif axis == 1:
        s, na, sa, nb, sb = Mz, Mx, My * Mz, Mz, 1
    else:
        s, na, sa, nb, sb = 1, Mx, My * Mz, My, Mz
    for g in range(G):
        if side == 0:
            dst = G - 1 - g
            if kind == BC_REFLECT:
                src = G + g
            elif kind == BC_PERIODIC:
                src = G + (dst - G) % N
            else:
                src = G
        else:
            dst = M - G + g
            if kind == BC_REFLECT:
                src = M - G - 1 - g
            elif kind == BC_PERIODIC:
                src = G + (dst - G) % N
            else:
                src = M - G - 1
        for f in range(nf):
            sign = -1.0 if (kind == BC_REFLECT and f == SX + axis) else 1.0
            for a in range(na):
                for b in range(nb):
                    o = a * sa + b * sb
                    U2[f, o + dst * s] = sign * U2[f, o + src * s]
