"""Ideal-gas equation of state with Octo-Tiger's dual-energy rule.

The internal energy density of a cell is ``e = egas - rho v^2 / 2`` where that exceeds
``de_switch * egas``; elsewhere it is ``tau^gamma`` from the entropy tracer
(Bryan et al. 1995, ApJ 448, 57; Marcello et al. 2021, MNRAS 504, 5345, sec. 2.2).
Pressure is ``(gamma - 1) e``.  Primitive work arrays ``W`` have the layout of ``U`` with the
fields ``rho, vx, vy, vz, p, tau/rho, X_0, ...`` (tracer and species as mass fractions);
``gather_dir`` copies them into the directional layout the sweeps use.
"""
from numba import njit

from octosim.fields import GHOST, RHO, SX, SY, SZ, EGAS, TAU

KW = dict(cache=True, nogil=True, error_model="numpy")


@njit(**KW)
def internal_energy(rho, sx, sy, sz, egas, tau, gamma, de_switch):
    """Return the internal energy density of one cell by the dual-energy rule."""
    ek = 0.5 * (sx * sx + sy * sy + sz * sz) / rho
    e = egas - ek
    if e > de_switch * egas:
        return e
    if tau > 0.0:
        return tau ** gamma
    return 0.0


@njit(**KW)
def prim_block(U, W):
    """Fill primitives ``W`` (shape of U) on every cell of the block, except pressure.

    Long contiguous loops over the flattened block (SIMD); cells outside the stencils
    (edge and corner ghosts) are computed too and never read.  ``W[EGAS]`` receives the
    total-energy internal energy ``egas - rho v^2/2``; ``prim_pressure`` finishes it.
    """
    nf, Mx, My, Mz = U.shape
    Mt = Mx * My * Mz
    U2 = U.reshape((nf, Mt))
    W2 = W.reshape((nf, Mt))
    r_, sx_, sy_, sz_, eg_ = U2[RHO], U2[SX], U2[SY], U2[SZ], U2[EGAS]
    wr, wx, wy, wz, we = W2[RHO], W2[SX], W2[SY], W2[SZ], W2[EGAS]
    for c in range(Mt):
        rho = r_[c]
        ri = 1.0 / rho
        sx = sx_[c]
        sy = sy_[c]
        sz = sz_[c]
        wr[c] = rho
        wx[c] = sx * ri
        wy[c] = sy * ri
        wz[c] = sz * ri
        we[c] = eg_[c] - 0.5 * (sx * sx + sy * sy + sz * sz) * ri
    for f in range(TAU, nf):
        a = U2[f]
        w = W2[f]
        for c in range(Mt):
            w[c] = a[c] / r_[c]


@njit(**KW)
def prim_pressure(U, W, gamma, de_switch):
    """Turn ``W[EGAS]`` from internal energy into pressure by the dual-energy rule."""
    nf, Mx, My, Mz = U.shape
    Mt = Mx * My * Mz
    U2 = U.reshape((nf, Mt))
    we = W.reshape((nf, Mt))[EGAS]
    eg_ = U2[EGAS]
    tau_ = U2[TAU]
    nbad = 0
    for c in range(Mt):
        nbad += 0 if we[c] > de_switch * eg_[c] else 1
    if nbad:
        # the rare cold cells: tau^gamma, kept out of the SIMD loops
        for c in range(Mt):
            if not we[c] > de_switch * eg_[c]:
                t = tau_[c]
                we[c] = t ** gamma if t > 0.0 else 0.0
    gm1 = gamma - 1.0
    for c in range(Mt):
        we[c] = gm1 * we[c]


@njit(**KW)
def gather_dir(W, Wd, d):
    """Copy primitives ``W`` (block layout) into the directional layout ``Wd`` of ``d``.

    ``Wd[f, m*T + a*Nb + b]`` (T = Na*Nb): ``m`` along ``d`` over all cells (ghosts
    included), (a, b) over the transverse interior, so sweeps have long contiguous loops.
    """
    nf, Mx, My, Mz = W.shape
    G = GHOST
    Nx, Ny, Nz = Mx - 2 * G, My - 2 * G, Mz - 2 * G
    for f in range(nf):
        if d == 0:
            D = Wd[f, :Mx * Ny * Nz].reshape((Mx, Ny, Nz))
            for m in range(Mx):
                for a in range(Ny):
                    for b in range(Nz):
                        D[m, a, b] = W[f, m, G + a, G + b]
        elif d == 1:
            D = Wd[f, :My * Nx * Nz].reshape((My, Nx, Nz))
            for m in range(My):
                for a in range(Nx):
                    for b in range(Nz):
                        D[m, a, b] = W[f, G + a, m, G + b]
        else:
            D = Wd[f, :Mz * Nx * Ny].reshape((Mz, Nx, Ny))
            for a in range(Nx):
                for b in range(Ny):
                    for m in range(Mz):
                        D[m, a, b] = W[f, G + a, G + b, m]


@njit(**KW)
def pencil_dims(shape, d):
    """Return (Md, T): cells along ``d`` with ghosts, and transverse interior cells."""
    _, Mx, My, Mz = shape
    G = GHOST
    Nx, Ny, Nz = Mx - 2 * G, My - 2 * G, Mz - 2 * G
    if d == 0:
        return Mx, Ny * Nz
    if d == 1:
        return My, Nx * Nz
    return Mz, Nx * Ny
