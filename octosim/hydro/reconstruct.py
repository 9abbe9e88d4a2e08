"""Reconstruction of cell-edge states along one direction of a block.

PPM: Colella & Woodward 1984, JCP 54, 174, eqs. (1.6)-(1.10): interface values from
monotonised-central (MC) slopes, then the monotonicity constraint on each parabola.
Contact steepening and flattening (CW84 sec. 3) are not applied.  PLM: piecewise-linear
with the MC (van Leer 1977) or minmod limiter.

Input and output are directional arrays ``A[f, m*T + t]`` (see ``eos.gather_dir``): ``m``
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
def ppm_pencils(W, QM, QP, D, nv, Md, T):
    """Fill edge states ``QM``/``QP`` by PPM (CW84) on directional arrays.

    ``D`` (length >= Md*T) is scratch for the MC slopes of one field.  Loops index
    shifted views from 0 so numba emits no negative-index checks and LLVM vectorizes.
    """
    G = GHOST
    sixth = 1.0 / 6.0
    n1 = (Md - 2) * T
    c0 = (G - 1) * T
    n2 = (Md - 2 * G + 2) * T
    for f in range(nv):
        Wf = W[f]
        wm = Wf[0:]
        w0 = Wf[T:]
        wp = Wf[2 * T:]
        dd = D[T:]
        for i in range(n1):
            dd[i] = mc_slope(wm[i], w0[i], wp[i])
        wm = Wf[c0 - T:]
        w0 = Wf[c0:]
        wp = Wf[c0 + T:]
        dm = D[c0 - T:]
        d0 = D[c0:]
        dp = D[c0 + T:]
        qm = QM[f, c0:]
        qp = QP[f, c0:]
        for i in range(n2):
            am1 = wm[i]
            a0 = w0[i]
            ap1 = wp[i]
            s0 = d0[i]
            aL = 0.5 * (am1 + a0) + (dm[i] - s0) * sixth
            aR = 0.5 * (a0 + ap1) + (s0 - dp[i]) * sixth
            da = aR - aL
            h = da * (a0 - 0.5 * (aL + aR))
            q = da * da * sixth
            flat = (aR - a0) * (a0 - aL) <= 0.0
            bL = 3.0 * a0 - 2.0 * aR if h > q else aL
            bR = 3.0 * a0 - 2.0 * aL if -q > h else aR
            qm[i] = a0 if flat else bL
            qp[i] = a0 if flat else bR


@njit(**KW)
def plm_pencils(W, QM, QP, nv, Md, T, minmod):
    """Fill edge states ``QM``/``QP`` by limited PLM on directional arrays."""
    G = GHOST
    c0 = (G - 1) * T
    n2 = (Md - 2 * G + 2) * T
    for f in range(nv):
        wm = W[f, c0 - T:]
        w0 = W[f, c0:]
        wp = W[f, c0 + T:]
        qm = QM[f, c0:]
        qp = QP[f, c0:]
        for i in range(n2):
            a0 = w0[i]
            if minmod:
                dl = minmod_slope(wm[i], a0, wp[i])
            else:
                dl = mc_slope(wm[i], a0, wp[i])
            qm[i] = a0 - 0.5 * dl
            qp[i] = a0 + 0.5 * dl


@njit(**KW)
def reconstruct_pencils(W, QM, QP, D, nv, Md, T, recon):
    """Fill edge states with the method ``recon`` (RECON_PLM, RECON_PPM, RECON_PLM_MINMOD).

    ``D`` is a 1-D scratch array of length >= Md*T.
    """
    if recon == RECON_PPM:
        ppm_pencils(W, QM, QP, D, nv, Md, T)
    elif recon == RECON_PLM_MINMOD:
        plm_pencils(W, QM, QP, nv, Md, T, True)
    else:
        plm_pencils(W, QM, QP, nv, Md, T, False)
