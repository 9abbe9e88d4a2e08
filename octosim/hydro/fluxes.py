"""Central-upwind face fluxes of the Euler equations with passive scalars.

Kurganov, Noelle & Petrova 2001, SIAM J. Sci. Comput. 23, 707, eq. (3.7):
``F = (a+ F(qL) - a- F(qR) + a+ a- (uR - uL)) / (a+ - a-)`` with one-sided local speeds
``a+ = max(uL + cL, uR + cR, 0)``, ``a- = min(uL - cL, uR - cR, 0)``.  The entropy
tracer ``tau`` and species are advected consistently with the mass flux: their flux is the
mass flux times the upwind mass fraction (Plewa & Mueller 1999, A&A 342, 179), so mass
fractions stay within the range of their neighbours.

The flux of a face between cells c-s and c is stored at the interior index of cell c, so
``Fx[:, i, j, k]`` is the flux through the x-face between interior cells i-1 and i.
"""
import numpy as np
from numba import njit

from octosim.fields import GHOST, RHO, SX, EGAS, TAU
from octosim.hydro.eos import prim_stencil
from octosim.hydro.reconstruct import reconstruct_dir

KW = dict(cache=True, nogil=True, error_model="numpy")


@njit(**KW)
def kt_dir(QM, QP, F, d, gamma):
    """Fill ``F`` with central-upwind fluxes through the interior faces normal to ``d``."""
    nv, Mx, My, Mz = QM.shape
    Mt = Mx * My * Mz
    QM2 = QM.reshape((nv, Mt))
    QP2 = QP.reshape((nv, Mt))
    G = GHOST
    lo0, lo1, lo2 = G, G, G
    hi0, hi1, hi2 = Mx - G, My - G, Mz - G
    if d == 0:
        s = My * Mz
        hi0 += 1
    elif d == 1:
        s = Mz
        hi1 += 1
    else:
        s = 1
        hi2 += 1
    un_f = SX + d
    g1 = 1.0 / (gamma - 1.0)
    for i in range(lo0, hi0):
        for j in range(lo1, hi1):
            base = (i * My + j) * Mz
            for k in range(lo2, hi2):
                cR = base + k
                cL = cR - s
                rL = QP2[RHO, cL]
                uL = QP2[SX, cL]
                vL = QP2[SX + 1, cL]
                wL = QP2[SX + 2, cL]
                pL = QP2[EGAS, cL]
                rR = QM2[RHO, cR]
                uR = QM2[SX, cR]
                vR = QM2[SX + 1, cR]
                wR = QM2[SX + 2, cR]
                pR = QM2[EGAS, cR]
                if pL < 0.0:
                    pL = 0.0
                if pR < 0.0:
                    pR = 0.0
                unL = QP2[un_f, cL]
                unR = QM2[un_f, cR]
                cL2 = np.sqrt(gamma * pL / rL)
                cR2 = np.sqrt(gamma * pR / rR)
                ap = max(max(unL + cL2, unR + cR2), 0.0)
                am = min(min(unL - cL2, unR - cR2), 0.0)
                den = ap - am
                if den > 0.0:
                    w = 1.0 / den
                else:
                    w = 0.0
                apam = ap * am
                mL = rL * unL
                mR = rR * unR
                EL = pL * g1 + 0.5 * rL * (uL * uL + vL * vL + wL * wL)
                ER = pR * g1 + 0.5 * rR * (uR * uR + vR * vR + wR * wR)
                fr = (ap * mL - am * mR + apam * (rR - rL)) * w
                fu = (ap * (mL * uL) - am * (mR * uR) + apam * (rR * uR - rL * uL)) * w
                fv = (ap * (mL * vL) - am * (mR * vR) + apam * (rR * vR - rL * vL)) * w
                fw = (ap * (mL * wL) - am * (mR * wR) + apam * (rR * wR - rL * wL)) * w
                fp = (ap * pL - am * pR) * w
                fe = (ap * ((EL + pL) * unL) - am * ((ER + pR) * unR) + apam * (ER - EL)) * w
                fi, fj, fk = i - G, j - G, k - G
                F[RHO, fi, fj, fk] = fr
                F[SX, fi, fj, fk] = fu + (fp if d == 0 else 0.0)
                F[SX + 1, fi, fj, fk] = fv + (fp if d == 1 else 0.0)
                F[SX + 2, fi, fj, fk] = fw + (fp if d == 2 else 0.0)
                F[EGAS, fi, fj, fk] = fe
                if fr >= 0.0:
                    for f in range(TAU, nv):
                        F[f, fi, fj, fk] = fr * QP2[f, cL]
                else:
                    for f in range(TAU, nv):
                        F[f, fi, fj, fk] = fr * QM2[f, cR]


@njit(**KW)
def compute_fluxes_work(U, gamma, recon, de_switch, Fx, Fy, Fz, W, QM, QP):
    """Fill ``Fx``, ``Fy``, ``Fz`` using caller-owned work arrays ``W``, ``QM``, ``QP`` (shape of U)."""
    prim_stencil(U, W, gamma, de_switch)
    reconstruct_dir(W, QM, QP, 0, recon)
    kt_dir(QM, QP, Fx, 0, gamma)
    reconstruct_dir(W, QM, QP, 1, recon)
    kt_dir(QM, QP, Fy, 1, gamma)
    reconstruct_dir(W, QM, QP, 2, recon)
    kt_dir(QM, QP, Fz, 2, gamma)


@njit(**KW)
def compute_fluxes(U, gamma, recon, de_switch, Fx, Fy, Fz):
    """Fill the interior face fluxes ``Fx``, ``Fy``, ``Fz`` of block ``U`` (see package doc)."""
    W = np.empty_like(U)
    QM = np.empty_like(U)
    QP = np.empty_like(U)
    compute_fluxes_work(U, gamma, recon, de_switch, Fx, Fy, Fz, W, QM, QP)
