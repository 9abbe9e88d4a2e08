"""Central-upwind face fluxes of the Euler equations with passive scalars.

Kurganov, Noelle & Petrova 2001, SIAM J. Sci. Comput. 23, 707, eq. (3.7):
``F = (a+ F(qL) - a- F(qR) + a+ a- (uR - uL)) / (a+ - a-)`` with one-sided local speeds
``a+ = max(uL + cL, uR + cR, 0)``, ``a- = min(uL - cL, uR - cR, 0)``.  The entropy
tracer ``tau`` and species are advected consistently with the mass flux: their flux is the
mass flux times the upwind mass fraction (Plewa & Mueller 1999, A&A 342, 179), so mass
fractions stay within the range of their neighbours.

Primitives once per block (``eos.prim_block``), then per direction: a copy into the
directional layout (``eos.gather_dir``), edge states
(``reconstruct``), fluxes of faces m-1|m into ``Fd[f, (m-3)*T + t]``, then a copy into
``Fy``/``Fz`` (for x, ``Fx`` itself has that layout).  ``Fx[:, i, j, k]`` is the flux through
the x-face between interior cells i-1 and i; likewise y and z.
"""
import numpy as np
from numba import njit

from octosim.fields import GHOST, RHO, SX, EGAS, TAU
from octosim.hydro.eos import gather_dir, pencil_dims, prim_block, prim_pressure
from octosim.hydro.reconstruct import reconstruct_pencils

KW = dict(cache=True, nogil=True, error_model="numpy")


@njit(**KW)
def kt_pencils(QM, QP, Fd, d, nv, Md, T, gamma):
    """Fill ``Fd[f, (m-3)*T + t]`` with central-upwind fluxes of faces m-1|m, m = 3..Md-3.

    Loops index shifted views from 0 (no negative-index checks, so LLVM vectorizes).
    """
    G = GHOST
    g1 = 1.0 / (gamma - 1.0)
    n = (Md - 2 * G + 1) * T
    cl = (G - 1) * T
    cr = G * T
    rL, uL, vL, wL, pL, xL = (QP[RHO, cl:], QP[SX, cl:], QP[SX + 1, cl:], QP[SX + 2, cl:],
                              QP[EGAS, cl:], QP[TAU, cl:])
    rR, uR, vR, wR, pR, xR = (QM[RHO, cr:], QM[SX, cr:], QM[SX + 1, cr:], QM[SX + 2, cr:],
                              QM[EGAS, cr:], QM[TAU, cr:])
    nL = QP[SX + d, cl:]
    nR = QM[SX + d, cr:]
    fr_, fu_, fv_, fw_, fe_, fx_ = Fd[RHO], Fd[SX], Fd[SX + 1], Fd[SX + 2], Fd[EGAS], Fd[TAU]
    px = 1.0 if d == 0 else 0.0
    py = 1.0 if d == 1 else 0.0
    pz = 1.0 if d == 2 else 0.0
    for i in range(n):
        rl = rL[i]
        ul = uL[i]
        vl = vL[i]
        wl = wL[i]
        pl = max(pL[i], 0.0)
        rr = rR[i]
        ur = uR[i]
        vr = vR[i]
        wr = wR[i]
        pr = max(pR[i], 0.0)
        unl = nL[i]
        unr = nR[i]
        csl = np.sqrt(gamma * pl / rl)
        csr = np.sqrt(gamma * pr / rr)
        ap = max(max(unl + csl, unr + csr), 0.0)
        am = min(min(unl - csl, unr - csr), 0.0)
        den = ap - am
        w = 1.0 / den if den > 0.0 else 0.0
        apam = ap * am
        ml = rl * unl
        mr = rr * unr
        el = pl * g1 + 0.5 * rl * (ul * ul + vl * vl + wl * wl)
        er = pr * g1 + 0.5 * rr * (ur * ur + vr * vr + wr * wr)
        fr = (ap * ml - am * mr + apam * (rr - rl)) * w
        fp = (ap * pl - am * pr) * w
        fr_[i] = fr
        fu_[i] = (ap * (ml * ul) - am * (mr * ur) + apam * (rr * ur - rl * ul)) * w + fp * px
        fv_[i] = (ap * (ml * vl) - am * (mr * vr) + apam * (rr * vr - rl * vl)) * w + fp * py
        fw_[i] = (ap * (ml * wl) - am * (mr * wr) + apam * (rr * wr - rl * wl)) * w + fp * pz
        fe_[i] = (ap * ((el + pl) * unl) - am * ((er + pr) * unr) + apam * (er - el)) * w
        # upwind mass fractions: consistent multi-fluid advection
        xl = xL[i]
        xr = xR[i]
        fx_[i] = fr * (xl if fr >= 0.0 else xr)
    for f in range(TAU + 1, nv):
        xl = QP[f, cl:]
        xr = QM[f, cr:]
        out = Fd[f]
        for i in range(n):
            fr = fr_[i]
            a = xl[i]
            b = xr[i]
            out[i] = fr * (a if fr >= 0.0 else b)


@njit(**KW)
def _scatter(Fd, F, d):
    """Copy directional fluxes ``Fd`` into ``F`` (nf, ...) of direction 1 (y) or 2 (z)."""
    nv = F.shape[0]
    Ft = F.transpose((0, 2, 1, 3)) if d == 1 else F.transpose((0, 3, 1, 2))
    _, Mf, A, B = Ft.shape
    n = Mf * A * B
    for f in range(nv):
        src = Fd[f, :n].reshape((Mf, A, B))
        for m in range(Mf):
            for a in range(A):
                for b in range(B):
                    Ft[f, m, a, b] = src[m, a, b]


@njit(**KW)
def sweep_fluxes(QM, QP, d, nv, Md, T, gamma, Fx, Fy, Fz, Fd):
    """Central-upwind fluxes of sweep ``d`` from its edge states: into ``Fx`` directly (x has
    the directional layout), else into scratch ``Fd`` and then ``Fy`` or ``Fz``."""
    if d == 0:
        kt_pencils(QM, QP, Fx.reshape((nv, Fx.shape[1] * T)), 0, nv, Md, T, gamma)
    else:
        kt_pencils(QM, QP, Fd, d, nv, Md, T, gamma)
        _scatter(Fd, Fy if d == 1 else Fz, d)


def make_work(U):
    """Return a work array for ``compute_fluxes_work`` fitting blocks shaped like ``U``."""
    return np.zeros(_work_shape(U.shape))


@njit(**KW)
def _work_shape(shape):
    nf, Mx, My, Mz = shape
    return (6, nf, Mx * My * Mz)    # the whole block is the largest slot


@njit(**KW)
def block_primitives(U, gamma, de_switch, work):
    """Return the block's primitives, computed into slot 0 of ``work`` (``make_work(U)``)."""
    nv, Mx, My, Mz = U.shape
    assert work.shape[1] == nv and work.shape[2] == Mx * My * Mz, "work is not make_work(U)"
    W = work[0].reshape(U.shape)
    prim_block(U, W)
    prim_pressure(U, W, gamma, de_switch)
    return W


@njit(**KW)
def compute_fluxes_work(U, gamma, recon, de_switch, Fx, Fy, Fz, work):
    """Fill ``Fx``, ``Fy``, ``Fz`` using the caller's ``work`` array (from ``make_work``).

    Slots of ``work``: 0 block primitives, 1 directional primitives, 2/3 lower/upper edge
    states, 4 directional fluxes, 5 slope scratch.
    """
    nv = U.shape[0]
    W = block_primitives(U, gamma, de_switch, work)
    Wd, QM, QP = work[1], work[2], work[3]
    for d in range(3):
        Md, T = pencil_dims(U.shape, d)
        gather_dir(W, Wd, d)
        reconstruct_pencils(Wd, QM, QP, work[5, 0], nv, Md, T, recon)
        sweep_fluxes(QM, QP, d, nv, Md, T, gamma, Fx, Fy, Fz, work[4])


@njit(**KW)
def compute_fluxes(U, gamma, recon, de_switch, Fx, Fy, Fz):
    """Fill the interior face fluxes ``Fx``, ``Fy``, ``Fz`` of block ``U`` (see package doc)."""
    work = np.empty(_work_shape(U.shape))
    compute_fluxes_work(U, gamma, recon, de_switch, Fx, Fy, Fz, work)
