"""Reconstruction of cell-edge states along one direction of a block.

PPM: Colella & Woodward 1984, JCP 54, 174, eqs. (1.6)-(1.10): interface values from
monotonised-central (MC) slopes, then the monotonicity constraint on each parabola.
Contact steepening and flattening (CW84 sec. 3) are not applied.  PLM: piecewise-linear
with the MC (van Leer 1977) or minmod limiter.

Input and output are directional arrays ``A[f, m*T + t]`` (see ``eos.prim_dir``): ``m``
the cell index along the sweep (ghosts included), ``t`` the transverse interior cell, so
the stencil stride is ``T`` and the inner loop over ``t`` is long and contiguous.  The
same loop body serves x, y and z, with bitwise-identical arithmetic.  ``QM``/``QP``
receive lower/upper edge values of cells m = 2..Md-3 (cells -1..N of the interior).
"""
from numba import njit

from octosim.fields import GHOST

KW = dict(cache=True, nogil=True, error_model="numpy")

RECON_PLM = 0          # PLM, MC limiter
RECON_PPM = 1          # PPM (CW84), default
RECON_PLM_MINMOD = 2   # PLM, minmod limiter


@njit(**KW)
def mc_slope(am, a0, ap):
    """Return the MC-limited slope of a cell (CW84 eq. 1.8); branch-free for SIMD."""
    dl = a0 - am
    dr = ap - a0
    dc = 0.5 * (ap - am)
    m = min(abs(dc), 2.0 * min(abs(dl), abs(dr)))
    m = m if dl * dr > 0.0 else 0.0
    return m if dc >= 0.0 else -m


@njit(**KW)
def minmod_slope(am, a0, ap):
    """Return the minmod-limited slope of a cell; branch-free for SIMD."""
    dl = a0 - am
    dr = ap - a0
    m = min(abs(dl), abs(dr))
    m = m if dl * dr > 0.0 else 0.0
    return m if dl >= 0.0 else -m


@njit(**KW)
def ppm_pencils(W, QM, QP, nv, Md, T):
    """Fill edge states ``QM``/``QP`` by PPM (CW84) on directional arrays."""
    G = GHOST
    sixth = 1.0 / 6.0
    for f in range(nv):
        for m in range(G - 1, Md - G + 1):
            c0 = m * T
            for t in range(T):
                c = c0 + t
                am2 = W[f, c - 2 * T]
                am1 = W[f, c - T]
                a0 = W[f, c]
                ap1 = W[f, c + T]
                ap2 = W[f, c + 2 * T]
                dm = mc_slope(am2, am1, a0)
                d0 = mc_slope(am1, a0, ap1)
                dp = mc_slope(a0, ap1, ap2)
                aL = 0.5 * (am1 + a0) + (dm - d0) * sixth
                aR = 0.5 * (a0 + ap1) + (d0 - dp) * sixth
                da = aR - aL
                h = da * (a0 - 0.5 * (aL + aR))
                q = da * da * sixth
                flat = (aR - a0) * (a0 - aL) <= 0.0
                bL = 3.0 * a0 - 2.0 * aR if h > q else aL
                bR = 3.0 * a0 - 2.0 * aL if -q > h else aR
                QM[f, c] = a0 if flat else bL
                QP[f, c] = a0 if flat else bR


@njit(**KW)
def plm_pencils(W, QM, QP, nv, Md, T, minmod):
    """Fill edge states ``QM``/``QP`` by limited PLM on directional arrays."""
    G = GHOST
    for f in range(nv):
        for m in range(G - 1, Md - G + 1):
            c0 = m * T
            for t in range(T):
                c = c0 + t
                a0 = W[f, c]
                if minmod:
                    dl = minmod_slope(W[f, c - T], a0, W[f, c + T])
                else:
                    dl = mc_slope(W[f, c - T], a0, W[f, c + T])
                QM[f, c] = a0 - 0.5 * dl
                QP[f, c] = a0 + 0.5 * dl


@njit(**KW)
def reconstruct_pencils(W, QM, QP, nv, Md, T, recon):
    """Fill edge states with the method ``recon`` (RECON_PLM, RECON_PPM, RECON_PLM_MINMOD)."""
    if recon == RECON_PPM:
        ppm_pencils(W, QM, QP, nv, Md, T)
    elif recon == RECON_PLM_MINMOD:
        plm_pencils(W, QM, QP, nv, Md, T, True)
    else:
        plm_pencils(W, QM, QP, nv, Md, T, False)
