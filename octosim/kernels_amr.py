"""Numba kernels for AMR data motion: limited prolongation, restriction, face-flux averaging.

Pure functions of arrays and scalars (no I/O, config or runtime calls).  Arrays follow
``octosim.fields``: ``U[f, i, j, k]`` with ``GHOST`` ghost layers on each side.

Prolongation is the conservative, limited linear interpolation of Berger & Colella (1989,
J. Comput. Phys. 82, 64), section 4: a fine cell takes the coarse value plus minmod-limited
slopes times its offset (+-1/4 of a coarse cell per axis), so the eight children of a coarse
cell average to it exactly in exact arithmetic and linear data is reproduced exactly.
"""

import numpy as np
from numba import njit

from octosim.fields import GHOST

BC_OUTFLOW = 0
BC_REFLECT = 1


@njit(cache=True, nogil=True)
def _minmod(a, b):
    if a * b <= 0.0:
        return 0.0
    if abs(a) < abs(b):
        return a
    return b


@njit(cache=True, nogil=True)
def prolong_region(C, U, lo, hi):
    """Interpolate the coarse block ``C`` into fine cells ``lo <= index < hi`` of ``U``.

    ``C`` has shape ``(nf, N/2 + 6, N/2 + 6, N/2 + 6)``: the parent's cells covering the child
    plus 3 coarse cells on each side (see ``exchange.pack_parent_block``).  ``U`` is the
    child's full array ``(nf, N+6, N+6, N+6)``.  ``lo``/``hi`` are int arrays of 3 bounds in
    ``U``'s index space; ``lo[0] < 0`` instead fills the whole ghost shell and leaves the
    interior alone (see ``shell_bounds``).
    """
    nf = U.shape[0]
    M = U.shape[1]
    N = M - 2 * GHOST
    shell = lo[0] < 0
    l0 = 0 if shell else lo[0]
    h0 = M if shell else hi[0]
    l1 = 0 if shell else lo[1]
    h1 = M if shell else hi[1]
    l2 = 0 if shell else lo[2]
    h2 = M if shell else hi[2]
    for I in range(l0, h0):
        i = I - GHOST
        ci = (i >> 1) + 3
        si = 0.25 if (i & 1) else -0.25
        inx = GHOST <= I < GHOST + N
        for J in range(l1, h1):
            j = J - GHOST
            cj = (j >> 1) + 3
            sj = 0.25 if (j & 1) else -0.25
            iny = GHOST <= J < GHOST + N
            for K in range(l2, h2):
                if shell and inx and iny and GHOST <= K < GHOST + N:
                    continue
                k = K - GHOST
                ck = (k >> 1) + 3
                sk = 0.25 if (k & 1) else -0.25
                for f in range(nf):
                    c = C[f, ci, cj, ck]
                    gx = _minmod(C[f, ci + 1, cj, ck] - c, c - C[f, ci - 1, cj, ck])
                    gy = _minmod(C[f, ci, cj + 1, ck] - c, c - C[f, ci, cj - 1, ck])
                    gz = _minmod(C[f, ci, cj, ck + 1] - c, c - C[f, ci, cj, ck - 1])
                    U[f, I, J, K] = c + si * gx + sj * gy + sk * gz


@njit(cache=True, nogil=True)
def restrict_block(U, out):
    """Average each 2x2x2 group of ``U``'s interior cells into ``out`` (nf, N/2, N/2, N/2)."""
    nf = U.shape[0]
    h = out.shape[1]
    G = GHOST
    for f in range(nf):
        for i in range(h):
            I = G + 2 * i
            for j in range(h):
                J = G + 2 * j
                for k in range(h):
                    K = G + 2 * k
                    s = ((U[f, I, J, K] + U[f, I + 1, J, K])
                         + (U[f, I, J + 1, K] + U[f, I + 1, J + 1, K])) \
                        + ((U[f, I, J, K + 1] + U[f, I + 1, J, K + 1])
                           + (U[f, I, J + 1, K + 1] + U[f, I + 1, J + 1, K + 1]))
                    out[f, i, j, k] = 0.125 * s


@njit(cache=True, nogil=True)
def restrict_face(F, out):
    """Area-average each 2x2 group of fine face values ``F`` (nf, N, N) into ``out``."""
    nf = F.shape[0]
    h = out.shape[1]
    for f in range(nf):
        for j in range(h):
            for k in range(h):
                out[f, j, k] = 0.25 * ((F[f, 2 * j, 2 * k] + F[f, 2 * j + 1, 2 * k])
                                       + (F[f, 2 * j, 2 * k + 1] + F[f, 2 * j + 1, 2 * k + 1]))


@njit(cache=True, nogil=True)
def fill_boundary(U, axis, side, kind):
    """Fill the 3 ghost layers of one domain face: outflow (zero gradient) or reflecting.

    Acts on the full transverse extent (ghosts included) so faces filled in the order
    x, y, z also fill edges and corners.  Reflection mirrors every field and negates the
    momentum normal to the face (field ``1 + axis``).
    """
    nf = U.shape[0]
    M = U.shape[1]
    N = M - 2 * GHOST
    G = GHOST
    for g in range(G):
        if side == 0:
            dst = G - 1 - g
            src = G if kind == BC_OUTFLOW else G + g
        else:
            dst = G + N + g
            src = G + N - 1 if kind == BC_OUTFLOW else G + N - 1 - g
        for f in range(nf):
            sgn = -1.0 if (kind == BC_REFLECT and f == 1 + axis) else 1.0
            for a in range(M):
                for b in range(M):
                    if axis == 0:
                        U[f, dst, a, b] = sgn * U[f, src, a, b]
                    elif axis == 1:
                        U[f, a, dst, b] = sgn * U[f, a, src, b]
                    else:
                        U[f, a, b, dst] = sgn * U[f, a, b, src]


def shell_bounds():
    """Return (lo, hi) index arrays that make ``prolong_region`` fill the ghost shell only."""
    return np.array([-1, -1, -1], dtype=np.int64), np.zeros(3, dtype=np.int64)


def interior_bounds(N):
    """Return (lo, hi) index arrays that make ``prolong_region`` fill the interior only."""
    return (np.full(3, GHOST, dtype=np.int64), np.full(3, GHOST + N, dtype=np.int64))


@njit(cache=True, nogil=True)
def copy_box(dst, src, d0, d1, d2, s0, s1, s2, n0, n1, n2):
    """Copy the box of ``n0 x n1 x n2`` cells at ``src[:, s0.., s1.., s2..]`` to ``dst[:, d0..]``."""
    for f in range(dst.shape[0]):
        for i in range(n0):
            for j in range(n1):
                for k in range(n2):
                    dst[f, d0 + i, d1 + j, d2 + k] = src[f, s0 + i, s1 + j, s2 + k]
