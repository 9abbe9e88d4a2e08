"""Reconstruction of cell-edge states along one direction of a block.

PPM: Colella & Woodward 1984, JCP 54, 174, eqs. (1.6)-(1.10): interface values from
monotonised-central (MC) slopes, then the monotonicity constraint on each parabola.
Contact steepening and flattening (CW84 sec. 3) are not applied: flattening reads p
four cells away, beyond the 3 ghost layers, and would make block faces depend on the
decomposition.  PPM_EP: fourth-order interface values and the extremum-preserving
limiter of Colella & Sekora 2008, JCP 227, 7069, eqs. (13)-(20) with C = 1.25, which keeps
smooth extrema second order; for positive fields (all but the velocities) a cell whose
edge state would fall below half the smallest average of its neighbourhood takes the CW84
states instead (a positivity guard in the spirit of Zhang & Shu 2010, JCP 229, 3091, by
fallback to the bounded scheme rather than by scaling).  PLM: piecewise-linear with the MC
(van Leer 1977) or minmod limiter.

Input and output are directional arrays ``A[f, m*T + t]`` (see ``eos.gather_dir``): ``m``
the cell index along the sweep (ghosts included), ``t`` the transverse interior cell, so
the stencil stride is ``T`` and the inner loop over ``t`` is long and contiguous.  The
same loop body serves x, y and z, with bitwise-identical arithmetic.  ``QM``/``QP``
receive lower/upper edge values of cells m = 2..Md-3 (cells -1..N of the interior).
"""
from numba import njit

from octosim.fields import GHOST, SX

KW = dict(cache=True, nogil=True, error_model="numpy")

RECON_PLM = 0          # PLM, MC limiter
RECON_PPM = 1          # PPM (CW84), default
RECON_PLM_MINMOD = 2   # PLM, minmod limiter
RECON_PPM_EP = 3       # PPM with the extremum-preserving limiter of Colella & Sekora 2008

RECON_NAMES = {"plm": RECON_PLM, "ppm": RECON_PPM, "plm_minmod": RECON_PLM_MINMOD,
               "ppm_ep": RECON_PPM_EP}


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
def _limit_curvature(d2, d2l, d2c, d2r, C):
    """Return sign(d2) min(|d2|, C|d2l|, C|d2c|, C|d2r|) if all agree in sign, else 0."""
    m = min(abs(d2), C * min(abs(d2l), min(abs(d2c), abs(d2r))))
    same = (d2 > 0.0 and d2l > 0.0 and d2c > 0.0 and d2r > 0.0) or \
        (d2 < 0.0 and d2l < 0.0 and d2c < 0.0 and d2r < 0.0)
    m = m if same else 0.0
    return m if d2 >= 0.0 else -m


@njit(**KW)
def ppm_ep_pencils(W, QM, QP, A, nv, Md, T):
    """Fill edge states by PPM with the Colella & Sekora (2008) limiter, positivity-guarded.

    ``A`` (length >= Md*T) is scratch for the interface values of one field, the value
    between cells m and m+1 stored at m.  Fields other than the velocities are positive
    (density, pressure, tracer, mass fractions): a cell whose edge state would fall below
    half the smallest of its own and its neighbours' averages takes the CW84 edge states
    instead (which lie within that range), so steep or rough profiles, e.g. a stellar
    surface on a thin atmosphere, keep positive edge states while the small dips of smooth
    minima are kept.
    """
    G = GHOST
    C = 1.25
    c7 = 7.0 / 12.0
    c1 = 1.0 / 12.0
    n1 = (Md - 3) * T
    c0 = (G - 1) * T
    n2 = (Md - 2 * G + 2) * T
    for f in range(nv):
        guard = f < SX or f > SX + 2
        Wf = W[f]
        wm = Wf[0:]
        w0 = Wf[T:]
        wp = Wf[2 * T:]
        wpp = Wf[3 * T:]
        af = A[T:]
        for i in range(n1):
            am1 = wm[i]
            a0 = w0[i]
            a1 = wp[i]
            a2 = wpp[i]
            h = c7 * (a0 + a1) - c1 * (am1 + a2)
            # CS08 eq. (18): a face value outside its neighbours is limited by curvature
            d2 = 3.0 * (a0 - 2.0 * h + a1)
            lim = _limit_curvature(d2, am1 - 2.0 * a0 + a1, d2, a0 - 2.0 * a1 + a2, C)
            hl = 0.5 * (a0 + a1) - lim * (1.0 / 6.0)
            af[i] = hl if (h - a0) * (a1 - h) < 0.0 else h
        wmm = Wf[c0 - 2 * T:]
        wm = Wf[c0 - T:]
        w0 = Wf[c0:]
        wp = Wf[c0 + T:]
        wpp = Wf[c0 + 2 * T:]
        fl = A[c0 - T:]
        fr = A[c0:]
        qm = QM[f, c0:]
        qp = QP[f, c0:]
        for i in range(n2):
            a0 = w0[i]
            am1 = wm[i]
            ap1 = wp[i]
            aL = fl[i]
            aR = fr[i]
            dl = aL - a0
            dr = aR - a0
            extremum = dr * dl >= 0.0 or (am1 - a0) * (a0 - ap1) <= 0.0
            # CS08 eq. (20)-(21): at an extremum scale the parabola by the limited curvature
            d2 = 6.0 * (aL - 2.0 * a0 + aR)
            lim = _limit_curvature(d2, wmm[i] - 2.0 * am1 + a0, am1 - 2.0 * a0 + ap1,
                                   a0 - 2.0 * ap1 + wpp[i], C)
            r = lim / d2 if d2 != 0.0 else 0.0
            eL = a0 + dl * r
            eR = a0 + dr * r
            # monotone cells: CW84 overshoot correction
            mL = a0 - 2.0 * dr if abs(dl) >= 2.0 * abs(dr) else aL
            mR = a0 - 2.0 * dl if abs(dr) >= 2.0 * abs(dl) else aR
            bL = eL if extremum else mL
            bR = eR if extremum else mR
            # positivity: no edge state below half the smallest neighbouring average
            lo = min(a0, min(am1, ap1))
            lo -= 0.5 * abs(lo)
            if guard and min(bL, bR) < lo:
                bL, bR = _cw84_edges(wmm[i], am1, a0, ap1, wpp[i])
            qm[i] = bL
            qp[i] = bR


@njit(**KW)
def _cw84_edges(am2, am1, a0, ap1, ap2):
    """Return the CW84 edge states (eqs. 1.6-1.10, MC slopes) of the cell holding ``a0``."""
    sixth = 1.0 / 6.0
    sm = mc_slope(am2, am1, a0)
    s0 = mc_slope(am1, a0, ap1)
    sp = mc_slope(a0, ap1, ap2)
    aL = 0.5 * (am1 + a0) + (sm - s0) * sixth
    aR = 0.5 * (a0 + ap1) + (s0 - sp) * sixth
    da = aR - aL
    h = da * (a0 - 0.5 * (aL + aR))
    q = da * da * sixth
    if (aR - a0) * (a0 - aL) <= 0.0:
        return a0, a0
    bL = 3.0 * a0 - 2.0 * aR if h > q else aL
    bR = 3.0 * a0 - 2.0 * aL if -q > h else aR
    return bL, bR


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
    """Fill edge states with ``recon``: RECON_PLM, RECON_PPM, RECON_PLM_MINMOD, RECON_PPM_EP.

    ``D`` is a 1-D scratch array of length >= Md*T.
    """
    if recon == RECON_PPM:
        ppm_pencils(W, QM, QP, D, nv, Md, T)
    elif recon == RECON_PPM_EP:
        ppm_ep_pencils(W, QM, QP, D, nv, Md, T)
    elif recon == RECON_PLM_MINMOD:
        plm_pencils(W, QM, QP, nv, Md, T, True)
    else:
        plm_pencils(W, QM, QP, nv, Md, T, False)
