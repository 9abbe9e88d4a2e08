"""Exact solution of the Riemann problem of the 1-D Euler equations, ideal gas.

Toro 2009, Riemann Solvers and Numerical Methods for Fluid Dynamics, ch. 4: the star
pressure is the root of f_L(p) + f_R(p) + u_R - u_L = 0 (eqs. 4.5-4.7), found by Newton
iteration from the two-rarefaction guess (eq. 4.46); the solution is sampled on x/t
(sec. 4.5).  Vacuum generation is not handled (asserted).
"""
import math

import numpy as np


def _f(p, rk, pk, ck, gamma):
    """Return Toro's f_K(p) and its derivative (eqs. 4.6, 4.7, 4.37)."""
    if p > pk:
        A = 2.0 / ((gamma + 1.0) * rk)
        B = (gamma - 1.0) / (gamma + 1.0) * pk
        q = math.sqrt(A / (p + B))
        return (p - pk) * q, q * (1.0 - 0.5 * (p - pk) / (p + B))
    r = p / pk
    f = 2.0 * ck / (gamma - 1.0) * (r ** ((gamma - 1.0) / (2.0 * gamma)) - 1.0)
    df = 1.0 / (rk * ck) * r ** (-(gamma + 1.0) / (2.0 * gamma))
    return f, df


def star_state(rl, ul, pl, rr, ur, pr, gamma, tol=1e-14):
    """Return (p*, u*) of the Riemann problem (Toro sec. 4.3)."""
    cl = math.sqrt(gamma * pl / rl)
    cr = math.sqrt(gamma * pr / rr)
    assert 2.0 * (cl + cr) / (gamma - 1.0) > ur - ul, "vacuum generated"
    z = (gamma - 1.0) / (2.0 * gamma)
    p = ((cl + cr - 0.5 * (gamma - 1.0) * (ur - ul)) / (cl / pl ** z + cr / pr ** z)) ** (1.0 / z)
    p = max(p, 1e-14 * min(pl, pr))
    for _ in range(100):
        fl, dfl = _f(p, rl, pl, cl, gamma)
        fr, dfr = _f(p, rr, pr, cr, gamma)
        pn = p - (fl + fr + ur - ul) / (dfl + dfr)
        if pn <= 0.0:
            pn = 0.5 * p
        if abs(pn - p) <= tol * 0.5 * (pn + p):
            p = pn
            break
        p = pn
    fl, _ = _f(p, rl, pl, cl, gamma)
    fr, _ = _f(p, rr, pr, cr, gamma)
    return p, 0.5 * (ul + ur) + 0.5 * (fr - fl)


def sample(xi, left, right, gamma):
    """Return (rho, u, p) arrays at similarity coordinates ``xi = (x - x0)/t``.

    ``left`` and ``right`` are (rho, u, p) tuples (Toro sec. 4.5, fig. 4.14).
    """
    rl, ul, pl = left
    rr, ur, pr = right
    ps, us = star_state(rl, ul, pl, rr, ur, pr, gamma)
    g = gamma
    gm = (g - 1.0) / (g + 1.0)
    xi = np.asarray(xi, dtype=float)
    rho = np.empty_like(xi)
    u = np.empty_like(xi)
    p = np.empty_like(xi)
    for side, (rk, uk, pk, sgn) in enumerate(((rl, ul, pl, -1.0), (rr, ur, pr, 1.0))):
        ck = math.sqrt(g * pk / rk)
        mask = (xi < us) if side == 0 else (xi >= us)
        s = xi[mask]
        rs = np.empty_like(s)
        vs = np.empty_like(s)
        qs = np.empty_like(s)
        if ps > pk:                                         # shock (Toro 4.50, 4.52, 4.57)
            S = uk + sgn * ck * math.sqrt((g + 1) / (2 * g) * ps / pk + (g - 1) / (2 * g))
            rstar = rk * (ps / pk + gm) / (gm * ps / pk + 1.0)
            outside = (s < S) if side == 0 else (s > S)
            rs[:] = np.where(outside, rk, rstar)
            vs[:] = np.where(outside, uk, us)
            qs[:] = np.where(outside, pk, ps)
        else:                                               # rarefaction (Toro 4.53-4.56)
            rstar = rk * (ps / pk) ** (1.0 / g)
            cstar = ck * (ps / pk) ** ((g - 1.0) / (2.0 * g))
            head = uk + sgn * ck
            tail = us + sgn * cstar
            outside = (s < head) if side == 0 else (s > head)
            inside = (s > tail) if side == 0 else (s < tail)
            fan = ~outside & ~inside
            rs[:] = np.where(outside, rk, rstar)
            vs[:] = np.where(outside, uk, us)
            qs[:] = np.where(outside, pk, ps)
            sf = s[fan]
            base = 2.0 / (g + 1.0) - sgn * (g - 1.0) / ((g + 1.0) * ck) * (uk - sf)
            rs[fan] = rk * base ** (2.0 / (g - 1.0))
            vs[fan] = 2.0 / (g + 1.0) * (-sgn * ck + 0.5 * (g - 1.0) * uk + sf)
            qs[fan] = pk * base ** (2.0 * g / (g - 1.0))
        rho[mask] = rs
        u[mask] = vs
        p[mask] = qs
    return rho, u, p
