"""Binary star: two Lane-Emden polytropes on a circular Keplerian orbit (Octo-Tiger's test).

Star 1 (the primary, mass ``mass1``, radius ``radius1``) and star 2 (the secondary, mass
``q * mass1``, radius ``radius2``) are polytropes of index ``n`` (``polytrope``'s profile:
``rho = rho_c theta(r/alpha)^n``, ``p = K rho^(1+1/n)``, ``rho_c`` and ``K`` from each star's
mass and radius).  Their centres lie on the x axis a distance ``separation`` apart, the
centre of mass at the origin (the domain centre): ``x1 = -a q / (1 + q)``, ``x2 = a / (1 + q)``.
The orbit is circular, ``Omega^2 = G (m1 + m2) / a^3`` (Kepler), counter-clockwise about z.
``spin = sync`` moves all star material rigidly with the orbit, ``v = Omega z x r`` (the
corotating, tidally locked binary of Octo-Tiger's SCF initial models); ``spin = none`` gives
each star the uniform velocity of its centre (no spin in the inertial frame).  Either way
``m1 v1 + m2 v2 = 0`` for the continuous stars.

Outside the stars is an ambient medium at rest of density ``rho_atm`` and pressure
``min(K1, K2) rho_atm^(1+1/n)`` (Octo-Tiger's density floor).  Species (``nspecies = 2``):
``spc_0`` is the primary's density, ``spc_1`` the secondary's; the ambient gas carries
neither (``rho - spc_0 - spc_1``).  Refinement: the density floor per level of Octo-Tiger
(``refine_rho * refine_factor**level``).  There is no analytic solution (no ``exact``).

``balance_momentum(mesh)`` removes the discrete net momentum of the cell-sampled stars
(sampling errs at O(dx^2) in each star's mass, ~1e-5 of sum |p| at 4^3 x 3 levels) by a
uniform velocity shift of the star material, so the total momentum is zero to round-off.
It needs the whole mesh, so it runs after the initial refinement: ``post_init(mesh,
params, gamma)`` is that hook (the driver does not call problem hooks yet).

Units are code units throughout: lengths in ``units.length``, masses in ``units.mass``,
``G`` in code units (1 by default), velocities in length/time, densities mass/length^3.
"""

import math

import numpy as np
from numba import njit

from octosim.fields import EGAS, RHO, SPECIES0, SX, SY, SZ
from octosim.problems import criteria
from octosim.problems.lane_emden import lane_emden, theta_at
from octosim.problems.state import interior, resolve, set_primitive

DEFAULT_GAMMA = 5.0 / 3.0
REFINE_READS_GHOSTS = False    # refine() reads the interior only

PARAMS = {
    "n": (float, 1.5, (0.0, 5.0), "polytropic index of both stars (1.5 or 1 usual)"),
    "mass1": (float, 1.0, (0.0, None), "primary mass m1 [code mass]"),
    "q": (float, 0.5, (0.0, 1.0), "mass ratio m2 / m1 (< 1: star 2 is the secondary)"),
    "radius1": (float, 0.3, (0.0, None), "primary radius [code length]"),
    "radius2": (float, 0.25, (0.0, None), "secondary radius [code length]"),
    "separation": (float, 1.0, (0.0, None), "orbital separation a [code length]"),
    "spin": (str, "sync", ("sync", "none"), "sync: v = Omega z x r (corotation); none: "
             "each star moves with its centre"),
    "G": (float, 1.0, (0.0, None), "gravitational constant (must match gravity.G)"),
    "rho_atm": (float, 1e-5, (0.0, None), "ambient (floor) density [code mass/length^3]"),
    "nspecies": (int, 2, (0, 2), "passive species: spc_0 primary, spc_1 secondary"),
    "subsample": (int, 2, (1, 16), "points per cell edge averaged into each cell"),
    "refine_rho": (float, 1e-3, (0.0, None), "refine blocks whose density exceeds this"),
    "refine_factor": (float, 1.0, (0.0, None), "refine_rho grows by this factor per level"),
}


def _star(mass, radius, P):
    """Return (lane-emden, alpha, rho_c, K) of a polytrope of given mass and radius."""
    n = P["n"]
    le = lane_emden(n)
    alpha = radius / le.xi1
    rho_c = mass / (4.0 * np.pi * alpha ** 3 * le.mass_integral())
    K = 4.0 * np.pi * P["G"] * alpha ** 2 * rho_c ** (1.0 - 1.0 / n) / (n + 1.0)
    return le, alpha, rho_c, K


def orbit(params):
    """Return a dict of the orbit: masses m1, m2, centres x1, x2, omega, period, velocities."""
    P = resolve(PARAMS, params)
    m1 = P["mass1"]
    m2 = P["q"] * m1
    a = P["separation"]
    x1, x2 = -a * m2 / (m1 + m2), a * m1 / (m1 + m2)
    omega = math.sqrt(P["G"] * (m1 + m2) / a ** 3)
    return {"m1": m1, "m2": m2, "x1": x1, "x2": x2, "omega": omega,
            "period": 2.0 * math.pi / omega, "v1": omega * x1, "v2": omega * x2}


def stars(params):
    """Return [(x centre, lane-emden, alpha, rho_c, K)] of the primary and the secondary."""
    P = resolve(PARAMS, params)
    o = orbit(P)
    return [(o["x1"],) + _star(o["m1"], P["radius1"], P),
            (o["x2"],) + _star(o["m2"], P["radius2"], P)]


@njit(cache=True, nogil=True, inline="always")
def _point(X, Y, Z, st, c, tx, tt, td, xi1):
    """Return (rho, vx, vy, p, rho1, rho2) at one point (``_consts``' ``st``, ``c`` and
    Lane-Emden table ``tx, tt, td, xi1``).  (The stars' loop is written here, not called:
    numba leaves a third level of inlined calls with array arguments 15x slower.)"""
    n, rho_atm, p_atm, om, v1, v2, sync = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
    r1 = r2 = p = 0.0
    for k in range(2):
        xc, alpha, rho_c, K = st[k, 0], st[k, 1], st[k, 2], st[k, 3]
        th = theta_at(math.sqrt((X - xc) ** 2 + Y * Y + Z * Z) / alpha, tx, tt, td, xi1)
        rs = 0.0
        if th > 0.0:                       # outside a star: no powers of zero
            rs = rho_c * th ** n
            p = p + K * rs ** (1.0 + 1.0 / n)
        if k == 0:
            r1 = rs
        else:
            r2 = rs
    stellar = r1 + r2
    rho = max(stellar, rho_atm)
    p = max(p, p_atm)
    w = stellar / rho                      # the star material moves, the ambient is at rest
    if sync > 0.0:
        vx, vy = -om * Y * w, om * X * w
    else:
        vx, vy = 0.0, w * (v1 if r1 >= r2 else v2)
    return rho, vx, vy, p, r1, r2


@njit(cache=True, nogil=True)
def _sample_many(X, Y, Z, st, c, tab, out):
    """``out[:, i]``: ``_point`` at the flat points ``X[i], Y[i], Z[i]``."""
    tx, tt, td, xi1 = tab[0], tab[1], tab[2], tab[3][0]
    for i in range(X.shape[0]):
        q = _point(X[i], Y[i], Z[i], st, c, tx, tt, td, xi1)
        for f in range(6):
            out[f, i] = q[f]


@njit(cache=True, nogil=True)
def _cell_means(x, y, z, off, st, c, tab, out):
    """``out[f, i, j, k]``: the mean over the ``s^3`` points ``(x_i + off_a, y_j + off_b,
    z_k + off_c)`` of ``(rho, rho vx, rho vy, p, rho1, rho2)``, summed in (a, b, c) order."""
    s = off.shape[0]
    tx, tt, td, xi1 = tab[0], tab[1], tab[2], tab[3][0]
    n3 = float(s * s * s)
    for i in range(x.shape[0]):
        for j in range(y.shape[0]):
            for k in range(z.shape[0]):
                q0 = q1 = q2 = q3 = q4 = q5 = 0.0
                for a in range(s):
                    for b in range(s):
                        for e in range(s):
                            rho, vx, vy, p, r1, r2 = _point(x[i] + off[a], y[j] + off[b],
                                                            z[k] + off[e], st, c, tx, tt,
                                                            td, xi1)
                            if a == 0 and b == 0 and e == 0:   # the first point, not 0 + it
                                q0, q1, q2, q3, q4, q5 = rho, rho * vx, rho * vy, p, r1, r2
                            else:
                                q0 += rho
                                q1 += rho * vx
                                q2 += rho * vy
                                q3 += p
                                q4 += r1
                                q5 += r2
                out[0, i, j, k] = q0 / n3
                out[1, i, j, k] = q1 / n3
                out[2, i, j, k] = q2 / n3
                out[3, i, j, k] = q3 / n3
                out[4, i, j, k] = q4 / n3
                out[5, i, j, k] = q5 / n3


def _consts(P):
    """Return the point sampler's constants: per star ``(x centre, alpha, rho_c, K)``, then
    ``(n, rho_atm, ambient p, Omega, v1, v2, sync)`` and the Lane-Emden table."""
    o = orbit(P)
    n = float(P["n"])
    S = stars(P)
    st = np.array([[xc, alpha, rho_c, K] for xc, _, alpha, rho_c, K in S])
    K_min = min(s[4] for s in S)
    c = np.array([n, P["rho_atm"], K_min * P["rho_atm"] ** (1.0 + 1.0 / n), o["omega"],
                  o["v1"], o["v2"], 1.0 if P["spin"] == "sync" else 0.0])
    x, t, d, xi1 = S[0][1].table
    return st, c, (x, t, d, np.array([xi1]))


def _sample(X, Y, Z, P):
    """Return (rho, vx, vy, p, rho1, rho2) at points X, Y, Z (arrays of one shape)."""
    X, Y, Z = np.broadcast_arrays(*(np.asarray(u, dtype=np.float64) for u in (X, Y, Z)))
    out = np.empty((6, X.size))
    _sample_many(X.ravel(), Y.ravel(), Z.ravel(), *_consts(resolve(PARAMS, P)), out)
    return tuple(v.reshape(X.shape) for v in out)


def init_data(U, x, y, z, params, gamma):
    """Fill the interior of ``U`` with the two stars, their orbital motion and the ambient gas.

    Each cell holds the average of ``s^3`` point values (density, momentum, pressure,
    species), ``s = max(subsample, ceil(2 dx / min radius))``, so the points of a coarse
    block are at most half a stellar radius apart and its refinement test sees both stars.
    """
    P = resolve(PARAMS, params)
    x, y, z = (np.ascontiguousarray(c, dtype=np.float64) for c in (x, y, z))
    dx = float(x[1] - x[0]) if x.size > 1 else 1.0
    s = max(int(P["subsample"]), math.ceil(2.0 * dx / min(P["radius1"], P["radius2"])))
    off = ((np.arange(s) + 0.5) / s - 0.5) * dx
    out = np.empty((6, x.size, y.size, z.size))
    _cell_means(x, y, z, off, *_consts(P), out)
    rho, sx, sy, p, r1, r2 = out
    set_primitive(U, rho, sx / rho, sy / rho, 0.0, p, gamma)
    for k, rs in enumerate((r1, r2)[:min(P["nspecies"], U.shape[0] - SPECIES0)]):
        interior(U, SPECIES0 + k)[...] = rs


def refine(U, level, dx, params):
    """Refine blocks whose density exceeds ``refine_rho * refine_factor**level``."""
    P = resolve(PARAMS, params)
    return criteria.density_floor_refine(U, level, P["refine_rho"], P["refine_factor"])


def _leaf_sums(mesh_, fn):
    """Return ``math.fsum`` over leaves (Morton order) of ``fn(interior) * dx^3``."""
    parts = []
    for key in mesh_.leaves():
        sg = mesh_.subgrids[key]
        parts.append(fn(sg.interior) * sg.dx ** 3)
    return math.fsum(parts)


def balance_momentum(mesh_):
    """Shift the star material's velocity uniformly so the mesh's total momentum is zero.

    The shift is ``P / M_*`` (net momentum over the stars' mass, ``spc_0 + spc_1``); the
    kinetic energy in ``egas`` follows.  Returns the shift (3,).  Interior nodes are not
    touched: restrict afterwards.
    """
    S = (SX, SY, SZ)
    P = np.array([_leaf_sums(mesh_, lambda W, f=f: float(np.sum(W[f]))) for f in S])
    Ms = _leaf_sums(mesh_, lambda W: float(np.sum(W[SPECIES0]) + np.sum(W[SPECIES0 + 1])))
    dv = P / Ms
    for key in mesh_.leaves():
        W = mesh_.subgrids[key].interior
        rho, star = W[RHO], W[SPECIES0] + W[SPECIES0 + 1]
        ek0 = 0.5 * (W[SX] ** 2 + W[SY] ** 2 + W[SZ] ** 2) / rho
        for d, f in enumerate(S):
            W[f] -= star * dv[d]
        W[EGAS] += 0.5 * (W[SX] ** 2 + W[SY] ** 2 + W[SZ] ** 2) / rho - ek0
    return dv


def post_init(mesh_, params, gamma):
    """Finish the initial state on the whole mesh: zero its net momentum (leaves only)."""
    balance_momentum(mesh_)
