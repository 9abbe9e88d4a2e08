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
def _prolong_box(P, p0, p1, p2, U, l0, h0, l1, h1, l2, h2, shell):
    """Interpolate into ``U[:, l0:h0, l1:h1, l2:h2]`` from coarse cells ``P[:, p0 + c, ...]``.

    Coarse cell ``c = (fine index - GHOST) >> 1`` relative to the child's first interior
    cell sits at ``P[:, p0 + c + 3, ...]``; with ``shell`` the child's interior is skipped.
    """
    nf = U.shape[0]
    N = U.shape[1] - 2 * GHOST
    for I in range(l0, h0):
        i = I - GHOST
        ci = (i >> 1) + 3 + p0
        si = 0.25 if (i & 1) else -0.25
        inx = GHOST <= I < GHOST + N
        for J in range(l1, h1):
            j = J - GHOST
            cj = (j >> 1) + 3 + p1
            sj = 0.25 if (j & 1) else -0.25
            iny = GHOST <= J < GHOST + N
            for K in range(l2, h2):
                if shell and inx and iny and GHOST <= K < GHOST + N:
                    continue
                k = K - GHOST
                ck = (k >> 1) + 3 + p2
                sk = 0.25 if (k & 1) else -0.25
                for f in range(nf):
                    c = P[f, ci, cj, ck]
                    gx = _minmod(P[f, ci + 1, cj, ck] - c, c - P[f, ci - 1, cj, ck])
                    gy = _minmod(P[f, ci, cj + 1, ck] - c, c - P[f, ci, cj - 1, ck])
                    gz = _minmod(P[f, ci, cj, ck + 1] - c, c - P[f, ci, cj, ck - 1])
                    U[f, I, J, K] = c + si * gx + sj * gy + sk * gz


@njit(cache=True, nogil=True)
def prolong_region(C, U, lo, hi):
    """Interpolate the coarse block ``C`` into fine cells ``lo <= index < hi`` of ``U``.

    ``C`` has shape ``(nf, N/2 + 6, N/2 + 6, N/2 + 6)``: the parent's cells covering the child
    plus 3 coarse cells on each side (see ``exchange.pack_parent_block``).  ``U`` is the
    child's full array ``(nf, N+6, N+6, N+6)``.  ``lo``/``hi`` are int arrays of 3 bounds in
    ``U``'s index space; ``lo[0] < 0`` instead fills the whole ghost shell and leaves the
    interior alone (see ``shell_bounds``).
    """
    M = U.shape[1]
    if lo[0] < 0:
        _prolong_box(C, 0, 0, 0, U, 0, M, 0, M, 0, M, True)
    else:
        _prolong_box(C, 0, 0, 0, U, lo[0], hi[0], lo[1], hi[1], lo[2], hi[2], False)


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


# -- whole-mesh kernels over a pool of subgrids (one call per phase) ---------------------------
# ``pool[s]`` is the full array of the subgrid in slot ``s``; the integer tables are built by
# ``exchange.ExchangePlan``, one row per message (target slot, source slot, region).

@njit(cache=True, nogil=True)
def restrict_pool(pool, table):
    """Average children into parents: rows ``(parent, child, p0, p1, p2)``, ``p`` = octant*N/2.

    Rows run finest level first; arithmetic as ``restrict_block``.
    """
    nf = pool.shape[1]
    h = (pool.shape[2] - 2 * GHOST) // 2
    G = GHOST
    for r in range(table.shape[0]):
        P = pool[table[r, 0]]
        U = pool[table[r, 1]]
        b0 = G + table[r, 2]
        b1 = G + table[r, 3]
        b2 = G + table[r, 4]
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
                        P[f, b0 + i, b1 + j, b2 + k] = 0.125 * s


@njit(cache=True, nogil=True)
def _fill_boundary_face(U, axis, side, kind):
    """``fill_boundary`` restricted to the face slab (interior transverse cells only)."""
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
            for a in range(G, G + N):
                for b in range(G, G + N):
                    if axis == 0:
                        U[f, dst, a, b] = sgn * U[f, src, a, b]
                    elif axis == 1:
                        U[f, a, dst, b] = sgn * U[f, a, src, b]
                    else:
                        U[f, a, b, dst] = sgn * U[f, a, b, src]


@njit(cache=True, nogil=True)
def _copy_rows(flat, nf, M, copies, r0, r1):
    """Run ``copy_box`` rows ``r0:r1`` on the flattened C-ordered pool (contiguous k runs)."""
    for r in range(r0, r1):
        t = copies[r]
        n0, n1, n2 = t[8], t[9], t[10]
        for f in range(nf):
            db = ((t[0] * nf + f) * M + t[2]) * M
            sb = ((t[1] * nf + f) * M + t[5]) * M
            for i in range(n0):
                for j in range(n1):
                    d = (db + i * M + t[3] + j) * M + t[4]
                    s = (sb + i * M + t[6] + j) * M + t[7]
                    for k in range(n2):
                        flat[d + k] = flat[s + k]


@njit(cache=True, nogil=True)
def fill_ghosts_pool(pool, prolong, poff, copies, coff, bcs, boff):
    """Fill ghosts level by level: per level all prolongations, then copies, then boundaries.

    ``prolong`` rows ``(target, parent, p0, p1, p2, l0, h0, l1, h1, l2, h2)`` interpolate the
    box ``[l, h)`` of the target from the parent (``p`` = octant*N/2); ``copies`` rows
    ``(target, source, d0, d1, d2, s0, s1, s2, n0, n1, n2)`` as ``copy_box``; ``bcs`` rows
    ``(target, axis, side, kind, face_only)`` as ``fill_boundary``, over the face's interior
    transverse extent only when ``face_only``.  Rows of level ``L`` are
    ``off[L]:off[L + 1]`` of each table.  Within a level a row writes only its target's
    ghosts and reads interiors of others (or the parent level), so the per-level order is
    the per-node order of ``exchange.ghost_plan``.
    """
    nf = pool.shape[1]
    M = pool.shape[2]
    flat = pool.reshape(pool.size)
    for lev in range(poff.shape[0] - 1):
        for r in range(poff[lev], poff[lev + 1]):
            t = prolong[r]
            _prolong_box(pool[t[1]], t[2], t[3], t[4], pool[t[0]],
                         t[5], t[6], t[7], t[8], t[9], t[10], False)
        _copy_rows(flat, nf, M, copies, coff[lev], coff[lev + 1])
        for r in range(boff[lev], boff[lev + 1]):
            t = bcs[r]
            if t[4]:
                _fill_boundary_face(pool[t[0]], t[1], t[2], t[3])
            else:
                fill_boundary(pool[t[0]], t[1], t[2], t[3])


@njit(cache=True, nogil=True)
def _average_face(src, dst, t0, t1):
    nf = src.shape[0]
    h = src.shape[1] // 2
    for f in range(nf):
        for j in range(h):
            for k in range(h):
                dst[f, t0 + j, t1 + k] = 0.25 * ((src[f, 2 * j, 2 * k] + src[f, 2 * j + 1, 2 * k])
                                                 + (src[f, 2 * j, 2 * k + 1]
                                                    + src[f, 2 * j + 1, 2 * k + 1]))


@njit(cache=True, nogil=True)
def correct_fluxes_pool(Fx, Fy, Fz, table):
    """Refluxing over leaf flux pools: rows ``(coarse leaf, fine leaf, axis, side, t0, t1)``.

    The fine leaf's face ``1 - side`` is area-averaged into the coarse leaf's face ``side``
    at transverse offset ``(t0, t1)``; arithmetic as ``restrict_face``.
    """
    N = Fx.shape[3]
    for r in range(table.shape[0]):
        c = table[r, 0]
        fn = table[r, 1]
        axis = table[r, 2]
        ic = 0 if table[r, 3] == 0 else N
        i_f = N - ic
        t0 = table[r, 4]
        t1 = table[r, 5]
        if axis == 0:
            _average_face(Fx[fn, :, i_f, :, :], Fx[c, :, ic, :, :], t0, t1)
        elif axis == 1:
            _average_face(Fy[fn, :, :, i_f, :], Fy[c, :, :, ic, :], t0, t1)
        else:
            _average_face(Fz[fn, :, :, :, i_f], Fz[c, :, :, :, ic], t0, t1)
