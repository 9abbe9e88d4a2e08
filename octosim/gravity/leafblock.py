"""The interactions between two blocks of leaf cells (2x2x2 or one cell), at once (FMM traversal).

When the dual traversal splits a pair of cells whose children are both leaf cells (or
splits one cell whose children are leaf cells against a leaf cell), the 64 (or 8) child
pairs it would push are all point mass against point mass: an M2L of two leaf cells
(``_m2l.m2l3_ll``, read through order 1) and a P2P give the same potential and
acceleration at the cell centres, and only the load-balancing count tells them apart.  So
the block is one small N-body sum (Octo-Tiger's monopole stencil does the same): each
target's contributions are summed locally in a fixed order and added once to its
near-field ``phid`` / ``gd``, instead of a push, a pop and read-modify-writes of the
expansion arrays per pair.  A target's sum depends only on the cells of the two blocks,
never on which targets are kept (``hit``), so masked solves stay bitwise those of the full
traversal; a side with no kept cell (a block beyond this locality's share) is not summed.
"""

import math
import os

from numba import njit

from octosim.gravity._m2l import block88, block88a, block88b
from octosim.numba_cache import drop_stale

_HERE = os.path.dirname(os.path.abspath(__file__))
# leaf_block inlines _m2l.block88: a cache older than _m2l.py is stale
drop_stale(os.path.join(_HERE, "__pycache__", "leafblock.*.nbi"),
           [os.path.join(_HERE, "_m2l.py")])


@njit(cache=True, nogil=True)
def leaf_block(ka, kb, zc, ms, G, s2, th2, hit, phid, gd, work, na, nb, pair_work, buf, hb):
    """Add the interactions of leaf cells ``ka`` with ``kb`` (1 or 8 each) to ``phid``, ``gd``.

    A pair with ``s2 < th2 r^2`` (``s`` the radii's sum: ``traverse``'s acceptance test)
    counts as an M2L, else as a P2P; that test sets the counts only (both are computed
    alike).  Only the cells with ``hit`` set (all when ``hit`` is empty) receive their sums;
    ``work`` (when not empty) gets ``pair_work`` times the pairs with a kept cell on that
    side added at node ``na`` / ``nb`` (``fmm.LEAF_PAIR_WORK``), once per block and side,
    A's first, so the counts do not depend on the path below.
    ``buf`` (12, 8) and ``hb`` (8, int64) are scratch.  Returns the (M2L, P2P) pairs with a
    kept side.  Two blocks of 8, every cell kept, go to the unrolled ``_m2l.block88``; with
    one block kept whole and none of the other (a block is one leaf's, so this is every
    block at the edge of a locality's share), to ``block88a`` / ``block88b``: the same
    expressions in the same order, so the same sums.
    """
    masked = hit.shape[0] > 0
    counting = work.shape[0] > 0
    nkb = kb.shape[0]
    if nkb == 8 and ka.shape[0] == 8:
        all_a = all_b = True
        any_a = any_b = False
        if masked:
            for j in range(8):
                ha = hit[ka[j]]
                hbj = hit[kb[j]]
                all_a = all_a and ha
                all_b = all_b and hbj
                any_a = any_a or ha
                any_b = any_b or hbj
        nfar = -1
        if all_a and all_b:
            nfar = block88(ka, kb, zc, ms, G, s2, th2, phid, gd)
        elif all_a and not any_b:
            nfar = block88a(ka, kb, zc, ms, G, s2, th2, phid, gd)
        elif all_b and not any_a:
            nfar = block88b(ka, kb, zc, ms, G, s2, th2, phid, gd)
        if nfar >= 0:
            if counting and all_a:
                work[na] += pair_work * 64
            if counting and all_b:
                work[nb] += pair_work * 64
            return nfar, 64 - nfar
    xb = buf[0]
    yb = buf[1]
    zb = buf[2]
    mb = buf[3]
    pb = buf[4]
    gbx = buf[5]
    gby = buf[6]
    gbz = buf[7]
    tp = buf[8]
    tx = buf[9]
    ty = buf[10]
    tz = buf[11]
    for j in range(nkb):
        b = kb[j]
        xb[j] = zc[b, 0]
        yb[j] = zc[b, 1]
        zb[j] = zc[b, 2]
        mb[j] = ms[b]
        hb[j] = 1 if (not masked or hit[b]) else 0
        pb[j] = 0.0
        gbx[j] = 0.0
        gby[j] = 0.0
        gbz[j] = 0.0
    nfar = 0
    nkept = 0
    any_b = not masked
    nhb = 0
    for j in range(nkb):
        any_b = any_b or hb[j] == 1
        nhb += hb[j]
    pairs_a = 0
    pairs_b = 0
    for i in range(ka.shape[0]):
        a = ka[i]
        xa = zc[a, 0]
        ya = zc[a, 1]
        za = zc[a, 2]
        ma = ms[a]
        oa = hit[a] if masked else True
        if not (oa or any_b):
            continue
        ia = 1 if oa else 0
        for j in range(nkb):
            x = xa - xb[j]
            y = ya - yb[j]
            z = za - zb[j]
            r2 = x * x + y * y + z * z
            kk = ia | hb[j]
            nfar += kk & (1 if s2 < th2 * r2 else 0)
            nkept += kk
            r2i = 1.0 / r2
            g0 = math.sqrt(r2i)
            g1 = -g0 * r2i
            if oa:
                ca = G * mb[j]
                tp[j] = ca * g0
                tx[j] = ca * (g1 * x)
                ty[j] = ca * (g1 * y)
                tz[j] = ca * (g1 * z)
            if any_b:
                cb = G * ma
                pb[j] -= cb * g0
                gbx[j] -= cb * (g1 * x)
                gby[j] -= cb * (g1 * y)
                gbz[j] -= cb * (g1 * z)
        if oa:
            pa = 0.0
            gax = 0.0
            gay = 0.0
            gaz = 0.0
            for j in range(nkb):
                pa -= tp[j]
                gax += tx[j]
                gay += ty[j]
                gaz += tz[j]
            phid[a] += pa
            gd[a, 0] += gax
            gd[a, 1] += gay
            gd[a, 2] += gaz
        pairs_a += nkb if oa else 0
        pairs_b += nhb
    for j in range(nkb):
        b = kb[j]
        if not hb[j]:
            continue
        phid[b] += pb[j]
        gd[b, 0] += gbx[j]
        gd[b, 1] += gby[j]
        gd[b, 2] += gbz[j]
    if counting:
        if pairs_a > 0:
            work[na] += pair_work * pairs_a
        if pairs_b > 0:
            work[nb] += pair_work * pairs_b
    return nfar, nkept - nfar
