"""Cell-based fast multipole method on the octree (Octo-Tiger's gravity solver).

Every node's ``N^3`` cells are the "particles" of its level: a leaf cell is a point mass at
its centre; a cell of an interior node holds the moments (through order p, 3 by default:
20 coefficients as Octo-Tiger) of the 2x2x2 cells beneath it in the child node, about
their centre of mass (upward pass, M2M).  A dual traversal of the cell tree from the root's
cell pairs then applies, to each pair (A, B):

* well separated, ``(r_A + r_B) < theta |z_A - z_B|`` with ``z`` the centres of mass and
  ``r`` the radii about them (the half-diagonal for uniform cells): one mutual
  multipole-to-local step (M2L) with the derivative tensor ``D(z_A - z_B)`` computed once
  and added to both expansions with the signs that make the forces opposite (Dehnen 2002,
  J. Comput. Phys. 179, 27; Marcello 2017, ApJS 231, 5);
* two leaf cells too close: a direct point-mass interaction (P2P), also mutual;
* otherwise the larger cell is split (both when equal, so on a uniform level every M2L joins
  two cells of one level, as Octo-Tiger's stencil; different levels meet only at
  coarse/fine boundaries).

Expansions are then passed downward (L2L) and read at the leaf cells: the potential is the
order-0 coefficient and the acceleration minus the gradient.  Boundaries are free space.
Momentum is conserved to round-off: every interaction is computed once and applied with
opposite signs, and the translations are exact for the truncated polynomials.  A leaf cell
also feels its own uniform-cube potential ``-G m C / dx``, ``C = 3 ln(2 + sqrt 3) - pi/2``.

Angular momentum (option ``angmom``): the truncated M2L leaves each pair a small net torque
``T = R x F_A + tau_A + tau_B`` (``R = z_A - z_B``, ``tau`` the spin torques about the
centres of mass).  In the spirit of Marcello (2017, ApJS 231, 5), each pair's torque is
computed exactly from its expansion increments and cancelled by equal and opposite uniform
accelerations ``+-f / M`` of the two cells, ``f = -(T x R) / R^2``; with the symmetric
truncation ``T`` has no part along ``R`` (the tests check that the total torque vanishes to
round-off), so this removes it all.  The net force is unchanged, so linear and angular
momentum are both conserved to round-off; the potential is unchanged.
"""

import math
import os

import numpy as np
from numba import njit

from octosim.gravity.leafblock import leaf_block
from octosim.gravity._m2l import (m2l2_leaf, m2l2a_leaf, m2l2b_leaf, m2l2s_leaf, m2l3_leaf,
                                  m2l3a_leaf, m2l3b_leaf, m2l3s_leaf)
from octosim.gravity.multipole import (derivatives, l2l_add, l2l_add_low, m2l_mutual, m2m_add,
                                       monomials)
from octosim.numba_cache import drop_stale

_HERE = os.path.dirname(os.path.abspath(__file__))
# the traversal calls the kernels of _m2l.py and multipole.py: a cache older than any is stale
drop_stale(os.path.join(_HERE, "__pycache__", "fmm.*.nbi"), [os.path.join(_HERE, "*.py")])

#: Potential at the centre of a uniform unit cube of unit density and G = 1 (minus sign apart).
CUBE_SELF = 3.0 * math.log(2.0 + math.sqrt(3.0)) - 0.5 * math.pi
HALF_DIAG = 0.5 * math.sqrt(3.0)
#: Cost of one side of an interaction of two leaf cells (two point masses: in a leaf block,
#: an M2L of two leaf cells or a P2P) in units of one side of an order-3 M2L (``traverse``'s
#: load-balancing count), measured: binary level 4 on one core, the M2L kernels took 42 ns
#: a side (1.6 s, 19.1 M pairs) and the leaf blocks 5.1 ns (0.9 s, 88.7 M pairs).
LEAF_PAIR_WORK = 0.12


@njit(cache=True, nogil=True)
def cell_geometry(level, coords, N, xscale, gc, cw):
    """Fill cell centres ``gc`` (ncell, 3) and per-node cell widths ``cw`` (nnode,)."""
    N3 = N * N * N
    for n in range(level.shape[0]):
        dx = 2.0 * xscale / (N * (1 << level[n]))
        cw[n] = dx
        for i in range(N):
            for j in range(N):
                for k in range(N):
                    c = n * N3 + (i * N + j) * N + k
                    gc[c, 0] = -xscale + (coords[n, 0] * N + i + 0.5) * dx
                    gc[c, 1] = -xscale + (coords[n, 1] * N + j + 0.5) * dx
                    gc[c, 2] = -xscale + (coords[n, 2] * N + k + 0.5) * dx


@njit(cache=True, nogil=True)
def child_cells(cell, N, children, out):
    """Fill ``out`` with the 8 cells of the child node that lie beneath ``cell``."""
    N3 = N * N * N
    h = N // 2
    n = cell // N3
    r = cell - n * N3
    i = r // (N * N)
    j = (r // N) % N
    k = r % N
    ch = children[n, (i // h) + 2 * (j // h) + 4 * (k // h)]
    i0 = 2 * (i % h)
    j0 = 2 * (j % h)
    k0 = 2 * (k % h)
    q = 0
    for a in range(2):
        for b in range(2):
            for c in range(2):
                out[q] = ch * N3 + ((i0 + a) * N + j0 + b) * N + k0 + c
                q += 1


@njit(cache=True, nogil=True)
def leaf_cells(N, children, gc, cw, zc, rad):
    """Set what a leaf cell's mass does not change: centre ``zc`` (the cell centre) and
    radius ``rad`` (the half-diagonal)."""
    N3 = N * N * N
    for n in range(children.shape[0]):
        if children[n, 0] >= 0:
            continue
        for c in range(n * N3, (n + 1) * N3):
            for a in range(3):
                zc[c, a] = gc[c, a]
            rad[c] = HALF_DIAG * cw[n]


@njit(cache=True, nogil=True)
def upward(N, level, children, mass, gc, cw, mi, fact, sh_n, sh_m, sh_d, mom, zc, rad,
           leaf_rows, sel):
    """Compute moments ``mom``, expansion centres ``zc`` and radii ``rad`` of every cell.

    Finest level first.  ``rad`` bounds the distance from ``zc`` to the cell's mass: the
    half-diagonal for a leaf cell, else the smaller of the children's bound and the farthest
    corner of the cell (Dehnen 2002, sect. 3.2).  A leaf cell is a point mass, so a parent
    of leaf cells adds ``m pw`` (the M2M terms that are not zero: the same sums).  A leaf
    cell's centre and radius are ``leaf_cells``' (set once per tree) and its mass is read
    from ``mass``; with ``leaf_rows`` it is also written to its ``mom`` row (whose other
    entries stay zero), for the kernels that read whole rows (``generic``).
    A non-empty boolean ``sel`` (nnode,) computes only the interior nodes it marks (the
    others' rows are left as they are: received from their owner, ``solver.solve_desc``).
    """
    N3 = N * N * N
    nt = mom.shape[1]
    pw = np.empty(nt)
    kids = np.empty(8, dtype=np.int64)
    order = np.argsort(-level, kind="mergesort")
    for q in range(order.shape[0]):
        n = order[q]
        if children[n, 0] < 0:
            if leaf_rows:
                for c in range(n * N3, (n + 1) * N3):
                    mom[c, 0] = mass[c]
            continue
        if sel.shape[0] > 0 and not sel[n]:
            continue
        for c in range(n * N3, (n + 1) * N3):
            for t in range(nt):
                mom[c, t] = 0.0
            child_cells(c, N, children, kids)
            point_masses = children[kids[0] // N3, 0] < 0
            mt = 0.0
            zx = 0.0
            zy = 0.0
            zz = 0.0
            for u in range(8):
                m = mass[kids[u]] if point_masses else mom[kids[u], 0]
                mt += m
                zx += m * zc[kids[u], 0]
                zy += m * zc[kids[u], 1]
                zz += m * zc[kids[u], 2]
            if mt > 0.0:
                zc[c, 0] = zx / mt
                zc[c, 1] = zy / mt
                zc[c, 2] = zz / mt
            else:
                for a in range(3):
                    zc[c, a] = gc[c, a]
            for u in range(8):
                s = kids[u]
                monomials(zc[s, 0] - zc[c, 0], zc[s, 1] - zc[c, 1], zc[s, 2] - zc[c, 2],
                          mi, fact, pw)
                if point_masses:        # leaf cells: monopoles, the only nonzero M2M terms
                    m = mass[s]
                    for t in range(nt):
                        mom[c, t] += m * pw[t]
                else:
                    m2m_add(mom[s], pw, sh_n, sh_m, sh_d, mom[c])
            rb = 0.0
            for u in range(8):
                s = kids[u]
                d = math.sqrt((zc[s, 0] - zc[c, 0]) ** 2 + (zc[s, 1] - zc[c, 1]) ** 2
                              + (zc[s, 2] - zc[c, 2]) ** 2) + rad[s]
                rb = max(rb, d)
            rc = 0.0
            for a in range(3):
                rc += (abs(zc[c, a] - gc[c, a]) + 0.5 * cw[n]) ** 2
            rad[c] = min(rb, math.sqrt(rc))


@njit(cache=True, nogil=True)
def spin_fix(rx, ry, rz, mom, A, B, T2, frc, trq, trq_coef, wk, u):
    """Cancel the net torque of one mutual M2L (expansion increments ``T2[0]``, ``T2[1]``).

    Adds opposite uniform accelerations of cells A and B to ``u``; ``wk`` is scratch (6,).
    """
    MA = mom[A, 0]
    MB = mom[B, 0]
    if MA <= 0.0 or MB <= 0.0:
        return
    wk[:] = 0.0
    F = wk[:3]
    T = wk[3:]
    for q in range(frc.shape[0]):
        F[frc[q, 0]] -= T2[0, frc[q, 1]] * mom[A, frc[q, 2]]
    for q in range(trq.shape[0]):
        T[trq[q, 0]] -= trq_coef[q] * (T2[0, trq[q, 1]] * mom[A, trq[q, 2]]
                                       + T2[1, trq[q, 1]] * mom[B, trq[q, 2]])
    T[0] += ry * F[2] - rz * F[1]
    T[1] += rz * F[0] - rx * F[2]
    T[2] += rx * F[1] - ry * F[0]
    r2 = rx * rx + ry * ry + rz * rz
    # f = -(T x R) / R^2 on A, -f on B: torque R x f = -T (T is perpendicular to R)
    fx = -(T[1] * rz - T[2] * ry) / r2
    fy = -(T[2] * rx - T[0] * rz) / r2
    fz = -(T[0] * ry - T[1] * rx) / r2
    u[A, 0] += fx / MA
    u[A, 1] += fy / MA
    u[A, 2] += fz / MA
    u[B, 0] -= fx / MB
    u[B, 1] -= fy / MB
    u[B, 2] -= fz / MB


@njit(cache=True, nogil=True)
def traverse(root, N, children, cw, gc, zc, rad, mom, ms, G, theta, self_term, max_level,
             generic, angmom, order, mi, minus1, minus2, m2l_k, m2l_m, m2l_km, m2l_sa, m2l_sb,
             frc, trq, trq_coef, loc, lf, phid, gd, u, hit, work):
    """Dual traversal of the cell tree: mutual M2L, mutual P2P and self terms.

    Adds far-field expansions to ``loc`` and near-field potential and acceleration of leaf
    cells to ``phid`` and ``gd``; with ``angmom`` the torque corrections to ``u``
    (``spin_fix``).  A leaf cell's mass is ``ms``.  The unrolled M2L takes the variant for
    leaf cells (``_m2l.m2l3_leaf``, with ``angmom`` ``m2l3s_leaf``): a leaf cell's moments
    are its mass alone, and its expansion is read only through order 1, so the zero terms
    and the unread ones are skipped (the same values; most pairs join two leaf cells), and a
    leaf cell's expansion goes to the compact ``lf`` (ncell, 4) instead of its ``loc`` row
    (``solver.solve_desc``'s ``compact``, which must agree).  Two leaf cells are two point
    masses: their pair force lies along the line joining them and neither has a spin
    torque, so, like a P2P pair, they need no torque fix.  On that path a split into
    pairs of leaf cells only (two cells whose children are leaf cells, or one such cell and
    a leaf cell) is done at once by ``leafblock.leaf_block`` (its 64 or 8 pairs summed per
    target into ``phid`` / ``gd``).  Returns the counts of M2L and P2P interactions.  A
    non-empty boolean ``hit`` (ncell,) prunes every pair of which neither cell has a
    ``hit`` cell at or below it: the pairs kept are applied in the same order, so the sums
    of ``hit`` cells are bitwise those of the full traversal (``octosim.gravity.
    distributed``).  A kept pair with one ``hit`` side adds only that side's half (same
    expressions; not a pair whose torque ``angmom`` fixes, which needs both halves).
    A non-empty ``work`` (nnode,) receives, per node, the cost of the interactions applied
    to its cells (an M2L side 1; a side of a pair of two leaf cells, whichever the kernel,
    ``LEAF_PAIR_WORK``): the load-balancing weight of a leaf, the same whatever the mask
    (``hit`` cells are whole leaves) and the path (pair by pair or leaf blocks).
    """
    masked = hit.shape[0] > 0
    counting = work.shape[0] > 0
    N3 = N * N * N
    unrolled = 0
    if not generic:
        unrolled = 3 if mom.shape[1] == 20 else (2 if mom.shape[1] == 10 else 0)
    th2 = theta * theta
    cap = 64 * (2 * max_level + 6)
    sa = np.empty(cap, dtype=np.int64)
    sb = np.empty(cap, dtype=np.int64)
    D = np.empty(mom.shape[1])
    T2 = np.zeros((2, mom.shape[1]))
    wk = np.zeros(6)
    ka = np.empty(8, dtype=np.int64)
    kb = np.empty(8, dtype=np.int64)
    buf = np.empty((12, 8))
    hb = np.empty(8, dtype=np.int64)
    one = np.empty(1, dtype=np.int64)
    blocks = unrolled > 0                    # 2x2x2 leaf blocks by ``leaf_block``
    nm2l = 0
    np2p = 0
    for a0 in range(N3):
        for b0 in range(a0, N3):
            sa[0] = root * N3 + a0
            sb[0] = root * N3 + b0
            top = 1
            while top > 0:
                top -= 1
                A = sa[top]
                B = sb[top]
                # the mask, read once into locals: ``oa``/``ob`` whether this pair adds into
                # A's / B's sums (a load after the kernels' stores is not hoisted otherwise)
                oa = ob = True
                if masked:
                    oa = hit[A]
                    ob = hit[B]
                    if not (oa or ob):
                        continue
                nA = A // N3
                nB = B // N3
                leafA = children[nA, 0] < 0
                leafB = children[nB, 0] < 0
                if top + 64 > cap:
                    raise RuntimeError("FMM traversal stack overflow")
                if A == B:
                    if leafA:
                        if self_term:
                            phid[A] -= G * ms[A] * CUBE_SELF / cw[nA]
                        continue
                    child_cells(A, N, children, ka)
                    for i in range(8):
                        for j in range(i, 8):
                            sa[top] = ka[i]
                            sb[top] = ka[j]
                            top += 1
                    continue
                rx = zc[A, 0] - zc[B, 0]
                ry = zc[A, 1] - zc[B, 1]
                rz = zc[A, 2] - zc[B, 2]
                s = rad[A] + rad[B]
                if s * s < th2 * (rx * rx + ry * ry + rz * rz):
                    if unrolled > 0 and angmom and not (leafA and leafB):
                        # the torque fix needs both halves (two leaf cells need none)
                        if unrolled == 3:
                            m2l3s_leaf(rx, ry, rz, mom, ms, A, B, G, loc, lf, u, leafA, leafB)
                        else:
                            m2l2s_leaf(rx, ry, rz, mom, ms, A, B, G, loc, lf, u, leafA, leafB)
                    elif unrolled > 0 and not (oa and ob):
                        # one target side only: its half, by the same expressions
                        if unrolled == 3:
                            if oa:
                                m2l3a_leaf(rx, ry, rz, mom, ms, A, B, G, loc, lf, leafA, leafB)
                            else:
                                m2l3b_leaf(rx, ry, rz, mom, ms, A, B, G, loc, lf, leafA, leafB)
                        elif oa:
                            m2l2a_leaf(rx, ry, rz, mom, ms, A, B, G, loc, lf, leafA, leafB)
                        else:
                            m2l2b_leaf(rx, ry, rz, mom, ms, A, B, G, loc, lf, leafA, leafB)
                    elif angmom and unrolled == 0:
                        T2[:] = 0.0
                        derivatives(rx, ry, rz, order, mi, minus1, minus2, D)
                        m2l_mutual(D, mom[A], mom[B], G, m2l_k, m2l_m, m2l_km, m2l_sa,
                                   m2l_sb, T2[0], T2[1])
                        for t in range(T2.shape[1]):
                            loc[A, t] += T2[0, t]
                            loc[B, t] += T2[1, t]
                        spin_fix(rx, ry, rz, mom, A, B, T2, frc, trq, trq_coef, wk, u)
                    elif unrolled == 3:
                        m2l3_leaf(rx, ry, rz, mom, ms, A, B, G, loc, lf, leafA, leafB)
                    elif unrolled == 2:
                        m2l2_leaf(rx, ry, rz, mom, ms, A, B, G, loc, lf, leafA, leafB)
                    else:
                        derivatives(rx, ry, rz, order, mi, minus1, minus2, D)
                        m2l_mutual(D, mom[A], mom[B], G, m2l_k, m2l_m, m2l_km, m2l_sa,
                                   m2l_sb, loc[A], loc[B])
                    nm2l += 1
                    if counting:
                        w = LEAF_PAIR_WORK if leafA and leafB else 1.0
                        if oa:
                            work[nA] += w
                        if ob:
                            work[nB] += w
                elif leafA and leafB:
                    r2 = rx * rx + ry * ry + rz * rz
                    rinv = 1.0 / math.sqrt(r2)
                    f = G * rinv * rinv * rinv
                    if oa:
                        phid[A] -= G * ms[B] * rinv
                        fa = f * ms[B]
                        gd[A, 0] -= fa * rx
                        gd[A, 1] -= fa * ry
                        gd[A, 2] -= fa * rz
                    if ob:
                        phid[B] -= G * ms[A] * rinv
                        fb = f * ms[A]
                        gd[B, 0] += fb * rx
                        gd[B, 1] += fb * ry
                        gd[B, 2] += fb * rz
                    np2p += 1
                    if counting:
                        if oa:
                            work[nA] += LEAF_PAIR_WORK
                        if ob:
                            work[nB] += LEAF_PAIR_WORK
                else:
                    splitA = (not leafA) and (leafB or cw[nA] >= cw[nB])
                    splitB = (not leafB) and (leafA or cw[nB] >= cw[nA])
                    if splitA and splitB:
                        child_cells(A, N, children, ka)
                        child_cells(B, N, children, kb)
                        ca = ka[0] // N3
                        cb = kb[0] // N3
                        if blocks and children[ca, 0] < 0 and children[cb, 0] < 0:
                            s = rad[ka[0]] + rad[kb[0]]
                            nf, nn = leaf_block(ka, kb, zc, ms, G, s * s, th2, hit, phid, gd,
                                                work, ca, cb, LEAF_PAIR_WORK, buf, hb)
                            nm2l += nf
                            np2p += nn
                            continue
                        for i in range(8):
                            for j in range(8):
                                sa[top] = ka[i]
                                sb[top] = kb[j]
                                top += 1
                    elif splitA:
                        child_cells(A, N, children, ka)
                        ca = ka[0] // N3
                        if blocks and leafB and children[ca, 0] < 0:
                            one[0] = B
                            s = rad[ka[0]] + rad[B]
                            nf, nn = leaf_block(ka, one, zc, ms, G, s * s, th2, hit, phid, gd,
                                                work, ca, nB, LEAF_PAIR_WORK, buf, hb)
                            nm2l += nf
                            np2p += nn
                            continue
                        for i in range(8):
                            sa[top] = ka[i]
                            sb[top] = B
                            top += 1
                    else:
                        child_cells(B, N, children, kb)
                        cb = kb[0] // N3
                        if blocks and leafA and children[cb, 0] < 0:
                            one[0] = A
                            s = rad[A] + rad[kb[0]]
                            nf, nn = leaf_block(one, kb, zc, ms, G, s * s, th2, hit, phid, gd,
                                                work, nA, cb, LEAF_PAIR_WORK, buf, hb)
                            nm2l += nf
                            np2p += nn
                            continue
                        for j in range(8):
                            sa[top] = A
                            sb[top] = kb[j]
                            top += 1
    return nm2l, np2p


@njit(cache=True, nogil=True)
def downward(N, level, children, zc, mi, fact, sh_n, sh_m, sh_d, loc, lf, phid, gd, u, phi, g,
             keep, compact):
    """Pass expansions to children (L2L), coarsest level first; read them at leaf cells.

    The uniform accelerations ``u`` of the torque correction are passed down too.  A
    non-empty boolean ``keep`` (nnode,) skips the nodes not marked (their results stay 0).
    With ``compact`` a leaf cell's expansion is ``lf`` (``traverse``'s leaf variants), and
    its L2L adds only the terms through order 1 (``l2l_add_low``), else its ``loc`` row.
    """
    masked = keep.shape[0] > 0
    N3 = N * N * N
    nt = loc.shape[1]
    pw = np.empty(nt)
    kids = np.empty(8, dtype=np.int64)
    order = np.argsort(level, kind="mergesort")
    for q in range(order.shape[0]):
        n = order[q]
        if masked and not keep[n]:
            continue
        leaf = children[n, 0] < 0
        for c in range(n * N3, (n + 1) * N3):
            if leaf:
                e = lf[c] if compact else loc[c]
                phi[c] = e[0] + phid[c]
                for a in range(3):
                    g[c, a] = gd[c, a] - e[1 + a] + u[c, a]
                continue
            child_cells(c, N, children, kids)
            if masked and not keep[kids[0] // N3]:
                continue
            for q8 in range(8):
                s = kids[q8]
                monomials(zc[s, 0] - zc[c, 0], zc[s, 1] - zc[c, 1], zc[s, 2] - zc[c, 2],
                          mi, fact, pw)
                if compact and children[s // N3, 0] < 0:
                    l2l_add_low(loc[c], pw, sh_n, sh_m, sh_d, lf[s])
                else:
                    l2l_add(loc[c], pw, sh_n, sh_m, sh_d, loc[s])
                for a in range(3):
                    u[s, a] += u[c, a]
