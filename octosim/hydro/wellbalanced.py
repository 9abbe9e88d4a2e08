"""Well-balanced (hydrostatic) reconstruction of density and pressure, with its momentum source.

Kaeppeli & Mishra 2016, A&A 587, A94, secs. 3-4, for isentropic equilibria: along each
sweep, cell i carries its own local hydrostatic profile through its centre, with the cell's
entropy ``K_i = p_i / rho_i^gamma`` and enthalpy ``h = gamma/(gamma-1) p/rho``:

    h_eq,i(x) = h_i - (phi(x) - phi_i),   rho_eq,i = rho_i (h_eq/h_i)^(1/(gamma-1)),
    p_eq,i = p_i (h_eq/h_i)^(gamma/(gamma-1)).

The perturbations ``rho_j - rho_eq,i(x_j)`` and ``p_j - p_eq,i(x_j)`` over cell i's
stencil j = i-2..i+2 are reconstructed (CW84 PPM with MC slopes when the configured
reconstruction is a PPM, so smooth flows keep the scheme's order and its limiter acts on the
small deviations from equilibrium, not on the steep equilibrium itself; MC or minmod PLM
over i-1..i+1 when it is a PLM) and added back to
``rho_eq,i``/``p_eq,i`` at the faces, where phi is ``(phi_i + phi_i+1)/2`` (computed alike
from either side, so both sides of a face use the same value).  Velocities, the tracer and
the species keep the ordinary reconstruction.  The momentum source of cell i along the
sweep is ``(p_eq,i(x_i+1/2) - p_eq,i(x_i-1/2)) / dx`` instead of ``rho_i g``.  A state in
discrete equilibrium (``h + phi`` and ``K`` constant over the stencil, at rest) then has
equal left and right face states, no central-upwind mass flux, and a momentum flux
divergence that the source cancels: it stays at rest to round-off.

A cell keeps its ordinary edge states and ``rho_i g`` where the equilibrium is not usable:
non-positive rho or p in the cell, ``h_eq <= 0`` anywhere on its stencil or at its faces
(a stellar surface), a stencil cell whose rho or p differ from the cell's equilibrium by
more than a factor ``FAR`` = 2 (far from equilibrium, e.g. a shock), or a face density or
pressure that is not positive or exceeds ``FAR`` times the cell's own value (a cold
atmosphere next to a star on the same adiabat: its tiny h makes its equilibrium climb by
orders of magnitude within one cell towards the star, and face states far above the cell
average would drain it below zero).  These guards keep the polytrope's atmosphere positive;
they are not a positivity proof.  Taking the equilibrium further out (over stencils that
cross the surface, the cells beyond taken as vacuum) gave a larger drift of the polytrope
test (4.7% against 3.6% at R/dx 6.7) and negative densities at R/dx 3.3.

Not conserved: the source is not a flux difference and not pairwise antisymmetric, so total
momentum changes by the truncation error of the equilibrium (mass and energy fluxes are
untouched: mass is conserved to round-off, and the flux-based gravity work of
``octosim.gravity.source`` still vanishes with the mass fluxes).

The potential is needed on the 3 ghost layers of each face (``extend_potential``): copied
from a same-level leaf neighbour's interior potential (so the two blocks compute a shared
face from identical data and mass stays conserved to round-off), mirrored at reflecting
domain walls (so a wall face stays symmetric, no mass flux), and elsewhere (outflow walls,
coarse/fine faces) extrapolated from the block's own boundary cells by the Taylor series
``phi - s dx g_n - (s dx)^2/2 dg_n/dn`` with ``dg_n/dn`` from the two boundary cells (exact
for quadratic potentials).  At coarse/fine faces the extrapolation error (third order in
dx) and the flux correction, which replaces the coarse face flux by the fine ones, leave a
residual of the truncation order there: equilibrium is kept exactly only at same-level faces.
"""
import numpy as np
from numba import njit

from octosim.fields import EGAS, GHOST, RHO
from octosim.hydro.eos import gather_dir, pencil_dims
from octosim.hydro.fluxes import block_primitives, sweep_fluxes
from octosim.hydro.reconstruct import (RECON_PLM, RECON_PLM_MINMOD, _cw84_edges, mc_slope,
                                       minmod_slope, reconstruct_pencils)

KW = dict(cache=True, nogil=True, error_model="numpy")

# face source codes of ``extend_potential_all``'s table (>= 0: a same-level leaf's index)
FACE_EXTRAPOLATE = -1
FACE_MIRROR = -2
# a cell's equilibrium is used only where it predicts the stencil's rho and p within this factor
FAR = 2.0


@njit(**KW)
def _edges(d2m, d1m, d1p, d2p, recon):
    """Return the lower/upper edge values of a perturbation that is 0 in its own cell."""
    if recon == RECON_PLM or recon == RECON_PLM_MINMOD:
        s = minmod_slope(d1m, 0.0, d1p) if recon == RECON_PLM_MINMOD else \
            mc_slope(d1m, 0.0, d1p)
        return -0.5 * s, 0.5 * s
    return _cw84_edges(d2m, d1m, 0.0, d1p, d2p)


@njit(**KW)
def wb_pencils(W, P, QM, QP, Sd, ok, Md, T, gamma, recon, dx):
    """Overwrite rho and p edge states of cells -1..N by the well-balanced ones (module doc).

    ``W`` directional primitives (pressure in the EGAS slot), ``P`` the potential in the
    same layout (ghosts included); ``Sd[(m-G)*T + t]`` receives the momentum source of
    interior cell m along the sweep and ``ok`` 1.0 where it is the well-balanced one, 0.0
    where the cell falls back (then ``Sd`` is not written).
    """
    G = GHOST
    gm1 = gamma - 1.0
    ig = 1.0 / gm1
    hf = gamma / gm1
    idx = 1.0 / dx
    R = W[RHO]
    Pr = W[EGAS]
    dr = np.empty(5)
    dp = np.empty(5)
    for m in range(G - 1, Md - G + 1):
        interior = G <= m < Md - G
        for t in range(T):
            c = m * T + t
            r0 = R[c]
            p0 = Pr[c]
            good = r0 > 0.0 and p0 > 0.0
            if good:
                h0 = hf * p0 / r0
                f0 = P[c]
                for s in range(-2, 3):
                    if s == 0:
                        dr[2] = 0.0
                        dp[2] = 0.0
                        continue
                    cs = c + s * T
                    he = h0 - (P[cs] - f0)
                    if not he > 0.0:
                        good = False
                        break
                    a = he / h0
                    q = a ** ig
                    re = r0 * q
                    pe = p0 * (q * a)
                    rj = R[cs]
                    pj = Pr[cs]
                    if not (rj <= FAR * re and re <= FAR * rj and pj <= FAR * pe
                            and pe <= FAR * pj):
                        good = False
                        break
                    dr[s + 2] = rj - re
                    dp[s + 2] = pj - pe
            if good:
                heL = h0 - (0.5 * (P[c - T] + f0) - f0)
                heR = h0 - (0.5 * (f0 + P[c + T]) - f0)
                good = heL > 0.0 and heR > 0.0
            if good:
                aL = heL / h0
                aR = heR / h0
                qL = aL ** ig
                qR = aR ** ig
                peL = p0 * (qL * aL)
                peR = p0 * (qR * aR)
                eL, eR = _edges(dr[0], dr[1], dr[3], dr[4], recon)
                rL = r0 * qL + eL
                rR = r0 * qR + eR
                eL, eR = _edges(dp[0], dp[1], dp[3], dp[4], recon)
                pL = peL + eL
                pR = peR + eR
                # positive, and no face above FAR times the cell's value, so the profile
                # the face states imply keeps a positive mean (a parabola with edges below
                # 3 times its mean stays positive)
                good = (0.0 < rL <= FAR * r0 and 0.0 < rR <= FAR * r0 and 0.0 < pL <= FAR * p0
                        and 0.0 < pR <= FAR * p0)
                if good:
                    QM[RHO, c] = rL
                    QP[RHO, c] = rR
                    QM[EGAS, c] = pL
                    QP[EGAS, c] = pR
                    if interior:
                        Sd[(m - G) * T + t] = (peR - peL) * idx
            if interior:
                ok[(m - G) * T + t] = 1.0 if good else 0.0


@njit(**KW)
def _scatter_source(Sd, ok, U, g, d, Sm):
    """Write ``Sm[d]`` (block layout) from ``Sd`` where ``ok``, else ``rho g_d``."""
    _, Nx, Ny, Nz = Sm.shape
    G = GHOST
    for i in range(Nx):
        for j in range(Ny):
            for k in range(Nz):
                if d == 0:
                    c = (i * Ny + j) * Nz + k
                elif d == 1:
                    c = (j * Nx + i) * Nz + k
                else:
                    c = (k * Nx + i) * Ny + j
                if ok[c] != 0.0:
                    Sm[d, i, j, k] = Sd[c]
                else:
                    Sm[d, i, j, k] = U[RHO, G + i, G + j, G + k] * g[d, i, j, k]


def make_wb_work(U):
    """Return the extra work array of ``compute_fluxes_wb_work`` for blocks shaped like ``U``."""
    return np.zeros((3, U.shape[1] * U.shape[2] * U.shape[3]))


@njit(**KW)
def compute_fluxes_wb_work(U, phi_ext, g, dx, gamma, recon, de_switch, Fx, Fy, Fz, Sm, work,
                           pwork):
    """Fill ``Fx``, ``Fy``, ``Fz`` with well-balanced fluxes and ``Sm`` with momentum sources.

    ``phi_ext`` (Mx, My, Mz) is the potential with its face ghost layers
    (``extend_potential``), ``g`` (3, Nx, Ny, Nz) the interior acceleration (fallback
    source ``rho g``), ``Sm`` (3, Nx, Ny, Nz); ``work`` from ``fluxes.make_work``, ``pwork``
    from ``make_wb_work``.  Otherwise as ``fluxes.compute_fluxes_work``.
    """
    nv, Mx, My, Mz = U.shape
    assert pwork.shape[1] == Mx * My * Mz, "pwork is not make_wb_work(U)"
    W = block_primitives(U, gamma, de_switch, work)
    Wd, QM, QP = work[1], work[2], work[3]
    P3 = phi_ext.reshape((1, Mx, My, Mz))
    Pd = pwork[0:1]
    for d in range(3):
        Md, T = pencil_dims(U.shape, d)
        gather_dir(W, Wd, d)
        gather_dir(P3, Pd, d)
        reconstruct_pencils(Wd, QM, QP, work[5, 0], nv, Md, T, recon)
        wb_pencils(Wd, Pd[0], QM, QP, pwork[1], pwork[2], Md, T, gamma, recon, dx)
        _scatter_source(pwork[1], pwork[2], U, g, d, Sm)
        sweep_fluxes(QM, QP, d, nv, Md, T, gamma, Fx, Fy, Fz, work[4])


@njit(**KW)
def fluxes_wb_all(pool, leaf_slots, phi_ext, g, leaf_dx, gamma, recon, de_switch, Fx, Fy, Fz,
                  Sm, work, pwork):
    """``compute_fluxes_wb_work`` of every leaf l: ``phi_ext[l]``, ``g[l]`` into ``Sm[l]``."""
    for l in range(leaf_slots.shape[0]):
        compute_fluxes_wb_work(pool[leaf_slots[l]], phi_ext[l], g[l], leaf_dx[l], gamma, recon,
                               de_switch, Fx[l], Fy[l], Fz[l], Sm[l], work, pwork)


@njit(**KW)
def _boundary_values(phi, g, a, side, u, v):
    """Return phi, g_a at the boundary cell of face (a, side) and g_a one cell further in."""
    N = phi.shape[0]
    b = N - 1 if side == 1 else 0
    c = N - 2 if side == 1 else 1
    if a == 0:
        return phi[b, u, v], g[0, b, u, v], g[0, c, u, v]
    if a == 1:
        return phi[u, b, v], g[1, u, b, v], g[1, u, c, v]
    return phi[u, v, b], g[2, u, v, b], g[2, u, v, c]


@njit(**KW)
def _extrapolate_face(E, phi, g, dx, a, side):
    """Fill the ghost slab of face (axis ``a``, ``side``) by the Taylor series of the doc.

    ``phi(x_b + sgn h) = phi_b - sgn h g_b - h^2/2 dg/dx`` (``g = -dphi/dx``), with
    ``dg/dx`` the difference of the boundary cell and the next one in.
    """
    N = phi.shape[0]
    G = GHOST
    sgn = 1.0 if side == 1 else -1.0
    for u in range(N):
        for v in range(N):
            f, gb, gi = _boundary_values(phi, g, a, side, u, v)
            dg = sgn * (gb - gi) / dx
            for s in range(1, G + 1):
                h = s * dx
                val = f - sgn * h * gb - 0.5 * h * h * dg
                m = G + N - 1 + s if side == 1 else G - s
                if a == 0:
                    E[m, G + u, G + v] = val
                elif a == 1:
                    E[G + u, m, G + v] = val
                else:
                    E[G + u, G + v, m] = val


@njit(**KW)
def _copy_face(E, src, a, side, mirror):
    """Fill the ghost slab of face (axis ``a``, ``side``) from ``src`` (N, N, N).

    ``mirror``: ``src`` is the block's own potential reflected about the face; otherwise
    the same-level neighbour's, whose cells next to the face are its first (side 1) or
    last (side 0) layers.
    """
    N = src.shape[0]
    G = GHOST
    for s in range(1, G + 1):
        m = G + N - 1 + s if side == 1 else G - s
        if mirror:
            q = N - s if side == 1 else s - 1
        else:
            q = s - 1 if side == 1 else N - s
        for u in range(N):
            for v in range(N):
                if a == 0:
                    E[m, G + u, G + v] = src[q, u, v]
                elif a == 1:
                    E[G + u, m, G + v] = src[u, q, v]
                else:
                    E[G + u, G + v, m] = src[u, v, q]


@njit(**KW)
def extend_potential(E, phi, g, dx, faces, nbphi):
    """Fill ``E`` (N+2G)^3: interior ``phi``, face ghost slabs by ``faces`` (module doc).

    ``faces[2*a + side]``: ``FACE_EXTRAPOLATE``, ``FACE_MIRROR``, or >= 0 to copy from
    ``nbphi[faces[...]]`` (a same-level neighbour's interior potential).  Edge and corner
    ghosts are left as they are (no sweep reads them).
    """
    N = phi.shape[0]
    G = GHOST
    for i in range(N):
        for j in range(N):
            for k in range(N):
                E[G + i, G + j, G + k] = phi[i, j, k]
    for a in range(3):
        for side in range(2):
            code = faces[2 * a + side]
            if code >= 0:
                _copy_face(E, nbphi[code], a, side, False)
            elif code == FACE_MIRROR:
                _copy_face(E, phi, a, side, True)
            else:
                _extrapolate_face(E, phi, g, dx, a, side)


@njit(**KW)
def extend_potential_all(E, phi, g, leaf_dx, faces):
    """``extend_potential`` of every leaf l: ``E[l]`` from ``phi[l]``, ``g[l]``, ``faces[l]``.

    ``faces[l, 2*a + side] >= 0`` is the index (in ``phi``) of the same-level leaf across.
    """
    for l in range(phi.shape[0]):
        extend_potential(E[l], phi[l], g[l], leaf_dx[l], faces[l], phi)


def face_table(tree, leaves, boundary):
    """Return ``faces`` (nleaves, 6) int64 for ``extend_potential_all`` from the octree.

    A face whose same-level neighbour is a leaf copies it; a wall of kind ``reflect``
    mirrors; outflow walls and coarse/fine faces extrapolate.
    """
    index = {k: i for i, k in enumerate(leaves)}
    out = np.full((len(leaves), 6), FACE_EXTRAPOLATE, dtype=np.int64)
    for l, key in enumerate(leaves):
        for a in range(3):
            for side in range(2):
                d = [0, 0, 0]
                d[a] = 1 if side else -1
                nb = tree.neighbor_key(key, tuple(d))
                if nb is None:
                    if boundary[a] == "reflect":
                        out[l, 2 * a + side] = FACE_MIRROR
                elif nb in index:
                    out[l, 2 * a + side] = index[nb]
    return out


__all__ = ["wb_pencils", "compute_fluxes_wb_work", "fluxes_wb_all", "make_wb_work",
           "extend_potential", "extend_potential_all", "face_table", "FACE_EXTRAPOLATE",
           "FACE_MIRROR"]
