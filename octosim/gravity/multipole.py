"""Cartesian multipole and Taylor-expansion algebra of the 1/r kernel, to any order p.

Multi-indices ``n = (a, b, c)`` with ``|n| = a + b + c <= p`` are stored in one flat axis,
ordered by total order (so order 0 is index 0 and the gradient terms ``e_x, e_y, e_z`` are
indices 1, 2, 3).  Both multipoles and expansions carry the ``1/n!`` factor:

    M^n = sum_i m_i (y_i - z)^n / n!          (multipole of a cell about its centre z)
    phi(x) = sum_k C_k (x - z)^k / k!          (local Taylor expansion about z)

so every translation is a sum of products with the monomial ``d^j / j!`` (Dehnen 2002,
J. Comput. Phys. 179, 27, sect. 2).  The derivative tensors ``D_n(R) = d^n (1/|R|)`` follow
the recurrence ``|n| R^2 D_n = -(2|n|-1) sum_i n_i R_i D_{n-e_i} - (|n|-1) sum_i
n_i (n_i-1) D_{n-2e_i}``.  Truncating the mutual multipole-to-local step at ``|k|+|m| <= p``
on both sides makes the force of cell A on cell B exactly minus that of B on A.

The tables are built once per order in Python (``Tables``); the kernels take them as arrays.
"""

from functools import lru_cache
from math import factorial

import numpy as np
from numba import njit


class Tables:
    """Index tables of the multi-indices through order ``p`` used by the kernels."""

    def __init__(self, p):
        assert p >= 1, p
        self.p = p
        idx = [(a, b, s - a - b) for s in range(p + 1) for a in range(s, -1, -1)
               for b in range(s - a, -1, -1)]
        lookup = {n: t for t, n in enumerate(idx)}
        self.index = idx
        self.lookup = lookup
        nt = len(idx)
        self.nterm = nt
        self.mi = np.array(idx, dtype=np.int64)
        self.order = self.mi.sum(axis=1)
        self.fact = np.array([factorial(a) * factorial(b) * factorial(c) for a, b, c in idx],
                             dtype=np.float64)
        # derivative recurrence: n - e_i and n - 2 e_i
        m1 = -np.ones((nt, 3), dtype=np.int64)
        m2 = -np.ones((nt, 3), dtype=np.int64)
        for t, n in enumerate(idx):
            for i in range(3):
                if n[i] >= 1:
                    m1[t, i] = lookup[tuple(n[j] - (j == i) for j in range(3))]
                if n[i] >= 2:
                    m2[t, i] = lookup[tuple(n[j] - 2 * (j == i) for j in range(3))]
        self.minus1, self.minus2 = m1, m2
        # multipole-to-local: (k, m, k+m, (-1)^|m|, (-1)^|k|) for |k| + |m| <= p
        m2l = []
        for k in idx:
            for m in idx:
                if sum(k) + sum(m) <= p:
                    km = lookup[tuple(k[j] + m[j] for j in range(3))]
                    m2l.append((lookup[k], lookup[m], km, (-1) ** sum(m), (-1) ** sum(k)))
        a = np.array(m2l, dtype=np.int64)
        self.m2l_k, self.m2l_m, self.m2l_km = a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy()
        self.m2l_sa = a[:, 3].astype(np.float64)
        self.m2l_sb = a[:, 4].astype(np.float64)
        # shifts: (n, m, n-m) for m <= n componentwise
        sh = []
        for n in idx:
            for m in idx:
                if all(m[j] <= n[j] for j in range(3)):
                    sh.append((lookup[n], lookup[m], lookup[tuple(n[j] - m[j] for j in range(3))]))
        s = np.array(sh, dtype=np.int64)
        self.sh_n, self.sh_m, self.sh_d = s[:, 0].copy(), s[:, 1].copy(), s[:, 2].copy()
        # net force and spin torque of a cell's mass in an expansion about its centre:
        # F_c = -sum_k C_{k+e_c} M^k, tau_a = -sum eps_abc (k_b + 1) C_{k+e_c} M^{k+e_b}
        low = [k for k in idx if sum(k) <= p - 1]
        up = [[lookup[tuple(k[j] + (j == c) for j in range(3))] for c in range(3)] for k in low]
        self.frc = np.array([(c, up[q][c], lookup[k]) for q, k in enumerate(low)
                             for c in range(3)], dtype=np.int64)
        eps = {(0, 1, 2): 1, (1, 2, 0): 1, (2, 0, 1): 1, (0, 2, 1): -1, (2, 1, 0): -1,
               (1, 0, 2): -1}
        tq = [(a, up[q][c], up[q][b], e * (k[b] + 1)) for (a, b, c), e in eps.items()
              for q, k in enumerate(low)]
        self.trq = np.array([t[:3] for t in tq], dtype=np.int64)
        self.trq_coef = np.array([t[3] for t in tq], dtype=np.float64)

    def arrays(self):
        """Return the tuple of arrays the kernels take, in their argument order."""
        return (self.mi, self.order, self.fact, self.minus1, self.minus2,
                self.m2l_k, self.m2l_m, self.m2l_km, self.m2l_sa, self.m2l_sb,
                self.sh_n, self.sh_m, self.sh_d)


@lru_cache(maxsize=None)
def tables(p):
    """Return the (cached) ``Tables`` of order ``p``."""
    return Tables(p)


@njit(cache=True, nogil=True)
def derivatives(rx, ry, rz, order, mi, minus1, minus2, out):
    """Fill ``out[t] = d^n (1/|R|)`` at ``R = (rx, ry, rz)`` for every multi-index t."""
    r2inv = 1.0 / (rx * rx + ry * ry + rz * rz)
    out[0] = np.sqrt(r2inv)
    for t in range(1, out.shape[0]):
        nn = order[t]
        s = 0.0
        for i in range(3):
            ni = mi[t, i]
            if ni >= 1:
                xi = rx if i == 0 else (ry if i == 1 else rz)
                s += (2 * nn - 1) * ni * xi * out[minus1[t, i]]
            if ni >= 2:
                s += (nn - 1) * ni * (ni - 1) * out[minus2[t, i]]
        out[t] = -s * r2inv / nn


@njit(cache=True, nogil=True)
def monomials(dx, dy, dz, mi, fact, out):
    """Fill ``out[t] = d^n / n!`` for ``d = (dx, dy, dz)``."""
    for t in range(out.shape[0]):
        v = 1.0
        for _ in range(mi[t, 0]):
            v *= dx
        for _ in range(mi[t, 1]):
            v *= dy
        for _ in range(mi[t, 2]):
            v *= dz
        out[t] = v / fact[t]


@njit(cache=True, nogil=True)
def m2m_add(Mc, pw, sh_n, sh_m, sh_d, Mp):
    """Add child moments ``Mc`` shifted by ``pw = (z_c - z_p)^j/j!`` to parent moments ``Mp``."""
    for q in range(sh_n.shape[0]):
        Mp[sh_n[q]] += Mc[sh_m[q]] * pw[sh_d[q]]


@njit(cache=True, nogil=True)
def l2l_add(Cp, pw, sh_n, sh_m, sh_d, Cc):
    """Add the parent expansion ``Cp`` re-centred by ``pw = (z_c - z_p)^j/j!`` to ``Cc``."""
    for q in range(sh_n.shape[0]):
        Cc[sh_m[q]] += Cp[sh_n[q]] * pw[sh_d[q]]


@njit(cache=True, nogil=True)
def l2l_add_low(Cp, pw, sh_n, sh_m, sh_d, Cc):
    """``l2l_add`` into the first ``len(Cc)`` terms only (the same sums, in the same order)."""
    n = Cc.shape[0]
    for q in range(sh_n.shape[0]):
        if sh_m[q] < n:
            Cc[sh_m[q]] += Cp[sh_n[q]] * pw[sh_d[q]]


@njit(cache=True, nogil=True)
def m2l_mutual(D, MA, MB, G, m2l_k, m2l_m, m2l_km, m2l_sa, m2l_sb, CA, CB):
    """Add the expansions of B's field about A and of A's field about B, ``D = D(z_A - z_B)``.

    ``C^A_k -= G sum_m (-1)^|m| D_{k+m} M_B^m`` and ``C^B_k -= G sum_m (-1)^|k| D_{k+m}
    M_A^m``, both truncated at ``|k| + |m| <= p``: the forces on A and B cancel exactly.
    """
    for q in range(m2l_k.shape[0]):
        d = G * D[m2l_km[q]]
        CA[m2l_k[q]] -= m2l_sa[q] * d * MB[m2l_m[q]]
        CB[m2l_k[q]] -= m2l_sb[q] * d * MA[m2l_m[q]]
