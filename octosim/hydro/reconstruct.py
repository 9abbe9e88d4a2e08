"""Reconstruction of cell-edge states along one direction of a block.

PPM: Colella & Woodward 1984, JCP 54, 174, eqs. (1.6)-(1.10): interface values from
monotonised-central (MC) slopes, then the monotonicity constraint on each parabola.
Contact steepening and flattening (CW84 sec. 3) are not applied.  PLM: piecewise-linear
with the MC (van Leer 1977) or minmod limiter.

Arrays are flat-indexed ``A2[f, c]`` with ``c = (i*My + j)*Mz + k`` and the direction's
stride ``s``, so one loop body serves x, y and z with bitwise-identical arithmetic.
``QM``/``QP`` receive the lower/upper edge values of every cell whose edges bound an
interior face: cells -1..N along the direction, interior across it.
"""
import math

from numba import njit

from octosim.fields import GHOST

KW = dict(cache=True, nogil=True, error_model="numpy")

RECON_PLM = 0          # PLM, MC limiter
RECON_PPM = 1          # PPM (CW84), default
RECON_PLM_MINMOD = 2   # PLM, minmod limiter


@njit(**KW)
def mc_slope(am, a0, ap):
    """Return the MC-limited slope of a cell (CW84 eq. 1.8)."""
    dl = a0 - am
    dr = ap - a0
    if dl * dr <= 0.0:
        return 0.0
    dc = 0.5 * (ap - am)
    m = min(abs(dc), 2.0 * min(abs(dl), abs(dr)))
    return math.copysign(m, dc)


@njit(**KW)
def minmod_slope(am, a0, ap):
    """Return the minmod-limited slope of a cell."""
    dl = a0 - am
    dr = ap - a0
    if dl * dr <= 0.0:
        return 0.0
    return math.copysign(min(abs(dl), abs(dr)), dl)


@njit(**KW)
def sweep_box(shape, d):
    """Return (stride, i0, i1, j0, j1, k0, k1): cells -1..N along ``d``, interior across."""
    _, Mx, My, Mz = shape
    G = GHOST
    lo = [G, G, G]
    hi = [Mx - G, My - G, Mz - G]
    lo[d] -= 1
    hi[d] += 1
    s = My * Mz if d == 0 else (Mz if d == 1 else 1)
    return s, lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]


@njit(**KW)
def ppm_dir(W, QM, QP, d):
    """Fill edge states ``QM``/``QP`` along direction ``d`` by PPM (CW84)."""
    nv, Mx, My, Mz = W.shape
    Mt = Mx * My * Mz
    W2 = W.reshape((nv, Mt))
    QM2 = QM.reshape((nv, Mt))
    QP2 = QP.reshape((nv, Mt))
    s, i0, i1, j0, j1, k0, k1 = sweep_box(W.shape, d)
    sixth = 1.0 / 6.0
    for f in range(nv):
        for i in range(i0, i1):
            for j in range(j0, j1):
                base = (i * My + j) * Mz
                for k in range(k0, k1):
                    c = base + k
                    am2 = W2[f, c - 2 * s]
                    am1 = W2[f, c - s]
                    a0 = W2[f, c]
                    ap1 = W2[f, c + s]
                    ap2 = W2[f, c + 2 * s]
                    dm = mc_slope(am2, am1, a0)
                    d0 = mc_slope(am1, a0, ap1)
                    dp = mc_slope(a0, ap1, ap2)
                    aL = 0.5 * (am1 + a0) + (dm - d0) * sixth
                    aR = 0.5 * (a0 + ap1) + (d0 - dp) * sixth
                    if (aR - a0) * (a0 - aL) <= 0.0:
                        aL = a0
                        aR = a0
                    else:
                        da = aR - aL
                        t = da * (a0 - 0.5 * (aL + aR))
                        q = da * da * sixth
                        if t > q:
                            aL = 3.0 * a0 - 2.0 * aR
                        elif -q > t:
                            aR = 3.0 * a0 - 2.0 * aL
                    QM2[f, c] = aL
                    QP2[f, c] = aR


@njit(**KW)
def plm_dir(W, QM, QP, d, minmod):
    """Fill edge states ``QM``/``QP`` along direction ``d`` by limited PLM."""
    nv, Mx, My, Mz = W.shape
    Mt = Mx * My * Mz
    W2 = W.reshape((nv, Mt))
    QM2 = QM.reshape((nv, Mt))
    QP2 = QP.reshape((nv, Mt))
    s, i0, i1, j0, j1, k0, k1 = sweep_box(W.shape, d)
    for f in range(nv):
        for i in range(i0, i1):
            for j in range(j0, j1):
                base = (i * My + j) * Mz
                for k in range(k0, k1):
                    c = base + k
                    a0 = W2[f, c]
                    if minmod:
                        dl = minmod_slope(W2[f, c - s], a0, W2[f, c + s])
                    else:
                        dl = mc_slope(W2[f, c - s], a0, W2[f, c + s])
                    QM2[f, c] = a0 - 0.5 * dl
                    QP2[f, c] = a0 + 0.5 * dl


@njit(**KW)
def reconstruct_dir(W, QM, QP, d, recon):
    """Fill edge states along ``d`` with the method ``recon`` (RECON_PLM/PPM/PLM_MINMOD)."""
    if recon == RECON_PPM:
        ppm_dir(W, QM, QP, d)
    elif recon == RECON_PLM_MINMOD:
        plm_dir(W, QM, QP, d, True)
    else:
        plm_dir(W, QM, QP, d, False)
