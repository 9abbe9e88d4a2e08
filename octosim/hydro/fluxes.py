"""Central-upwind face fluxes of the Euler equations with passive scalars.

Kurganov, Noelle & Petrova 2001, SIAM J. Sci. Comput. 23, 707, eq. (3.7):
``F = (a+ F(qL) - a- F(qR) + a+ a- (uR - uL)) / (a+ - a-)`` with one-sided local speeds
``a+ = max(uL + cL, uR + cR, 0)``, ``a- = min(uL - cL, uR - cR, 0)``.  The entropy
tracer ``tau`` and species are advected consistently with the mass flux: their flux is the
mass flux times the upwind mass fraction (Plewa & Mueller 1999, A&A 342, 179), so mass
fractions stay within the range of their neighbours.

Per direction: primitives into a directional layout (``eos.prim_dir``), edge states
(``reconstruct``), fluxes of faces m-1|m into ``Fd[f, (m-3)*T + t]``, then a copy into
``Fy``/``Fz`` (for x, ``Fx`` itself has that layout).  ``Fx[:, i, j, k]`` is the flux through
the x-face between interior cells i-1 and i; likewise y and z.
"""
import numpy as np
from numba import njit

from octosim.fields import GHOST, RHO, SX, EGAS, TAU
from octosim.hydro.eos import pencil_geometry, prim_dir
from octosim.hydro.reconstruct import reconstruct_pencils

KW = dict(cache=True, nogil=True, error_model="numpy")


@njit(**KW)
def kt_pencils(QM, QP, Fd, d, nv, Md, T, gamma):
    """Fill ``Fd[f, (m-3)*T + t]`` with central-upwind fluxes of faces m-1|m, m = 3..Md-3."""
    G = GHOST
    un_f = SX + d
    g1 = 1.0 / (gamma - 1.0)
    for m in range(G, Md - G + 1):
        for t in range(T):
            cR = m * T + t
            cL = cR - T
            o = (m - G) * T + t
            rL = QP[RHO, cL]
            uL = QP[SX, cL]
            vL = QP[SX + 1, cL]
            wL = QP[SX + 2, cL]
            pL = max(QP[EGAS, cL], 0.0)
            rR = QM[RHO, cR]
            uR = QM[SX, cR]
            vR = QM[SX + 1, cR]
            wR = QM[SX + 2, cR]
            pR = max(QM[EGAS, cR], 0.0)
            unL = QP[un_f, cL]
            unR = QM[un_f, cR]
            csL = np.sqrt(gamma * pL / rL)
            csR = np.sqrt(gamma * pR / rR)
            ap = max(max(unL + csL, unR + csR), 0.0)
            am = min(min(unL - csL, unR - csR), 0.0)
            den = ap - am
            w = 1.0 / den if den > 0.0 else 0.0
            apam = ap * am
            mL = rL * unL
            mR = rR * unR
            EL = pL * g1 + 0.5 * rL * (uL * uL + vL * vL + wL * wL)
            ER = pR * g1 + 0.5 * rR * (uR * uR + vR * vR + wR * wR)
            fr = (ap * mL - am * mR + apam * (rR - rL)) * w
            fp = (ap * pL - am * pR) * w
            fu = (ap * (mL * uL) - am * (mR * uR) + apam * (rR * uR - rL * uL)) * w
            fv = (ap * (mL * vL) - am * (mR * vR) + apam * (rR * vR - rL * vL)) * w
            fw = (ap * (mL * wL) - am * (mR * wR) + apam * (rR * wR - rL * wL)) * w
            fe = (ap * ((EL + pL) * unL) - am * ((ER + pR) * unR) + apam * (ER - EL)) * w
            Fd[RHO, o] = fr
            Fd[SX, o] = fu + (fp if d == 0 else 0.0)
            Fd[SX + 1, o] = fv + (fp if d == 1 else 0.0)
            Fd[SX + 2, o] = fw + (fp if d == 2 else 0.0)
            Fd[EGAS, o] = fe
            # upwind mass fractions: consistent multi-fluid advection
            Fd[TAU, o] = fr * (QP[TAU, cL] if fr >= 0.0 else QM[TAU, cR])
    for f in range(TAU + 1, nv):
        for m in range(G, Md - G + 1):
            for t in range(T):
                cR = m * T + t
                o = (m - G) * T + t
                fr = Fd[RHO, o]
                Fd[f, o] = fr * (QP[f, cR - T] if fr >= 0.0 else QM[f, cR])


@njit(**KW)
def _scatter(Fd, F, d):
    """Copy directional fluxes into ``F`` (nf, ...) of direction 1 (y) or 2 (z)."""
    nv, A, B, C = F.shape
    if d == 1:
        T = A * C
        for f in range(nv):
            for a in range(A):
                for m in range(B):
                    for b in range(C):
                        F[f, a, m, b] = Fd[f, m * T + a * C + b]
    else:
        T = A * B
        for f in range(nv):
            for a in range(A):
                for b in range(B):
                    for m in range(C):
                        F[f, a, b, m] = Fd[f, m * T + a * B + b]


def make_work(U):
    """Return a work array for ``compute_fluxes_work`` fitting blocks shaped like ``U``."""
    nf, Mx, My, Mz = U.shape
    G = GHOST
    N = (Mx - 2 * G, My - 2 * G, Mz - 2 * G)
    L = max((N[d] + 2 * G) * (N[0] * N[1] * N[2] // N[d]) for d in range(3))
    return np.zeros((4, nf, L))


@njit(**KW)
def compute_fluxes_work(U, gamma, recon, de_switch, Fx, Fy, Fz, work):
    """Fill ``Fx``, ``Fy``, ``Fz`` using the caller's ``work`` array (from ``make_work``)."""
    nv = U.shape[0]
    Wd = work[0]
    QM = work[1]
    QP = work[2]
    for d in range(3):
        Md, Na, Nb, _, _, _ = pencil_geometry(U.shape, d)
        T = Na * Nb
        prim_dir(U, Wd, d, gamma, de_switch)
        reconstruct_pencils(Wd, QM, QP, nv, Md, T, recon)
        if d == 0:
            kt_pencils(QM, QP, Fx.reshape((nv, Fx.shape[1] * T)), 0, nv, Md, T, gamma)
        else:
            kt_pencils(QM, QP, work[3], d, nv, Md, T, gamma)
            _scatter(work[3], Fy if d == 1 else Fz, d)


@njit(**KW)
def compute_fluxes(U, gamma, recon, de_switch, Fx, Fy, Fz):
    """Fill the interior face fluxes ``Fx``, ``Fy``, ``Fz`` of block ``U`` (see package doc)."""
    nf, Mx, My, Mz = U.shape
    Nx, Ny, Nz = Mx - 6, My - 6, Mz - 6
    L = max(max(Mx * Ny * Nz, My * Nx * Nz), Mz * Nx * Ny)
    work = np.empty((4, nf, L))
    compute_fluxes_work(U, gamma, recon, de_switch, Fx, Fy, Fz, work)
