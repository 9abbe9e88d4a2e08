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

from octosim.fields import EGAS, RHO, SPECIES0, SX, SY, SZ
from octosim.problems import criteria
from octosim.problems.lane_emden import lane_emden
from octosim.problems.state import interior, resolve, set_primitive

DEFAULT_GAMMA = 5.0 / 3.0

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


def _sample(X, Y, Z, P):
    """Return (rho, vx, vy, p, rho1, rho2) at points X, Y, Z."""
    n = P["n"]
    o = orbit(P)
    rho_s, p = [], 0.0
    for xc, le, alpha, rho_c, K in stars(P):
        r = np.sqrt((X - xc) ** 2 + Y * Y + Z * Z)
        rs = rho_c * le.theta(r / alpha) ** n
        rho_s.append(rs)
        p = p + K * rs ** (1.0 + 1.0 / n)
    K_min = min(s[4] for s in stars(P))
    stellar = rho_s[0] + rho_s[1]
    rho = np.maximum(stellar, P["rho_atm"])
    p = np.maximum(p, K_min * P["rho_atm"] ** (1.0 + 1.0 / n))
    w = stellar / rho                      # the star material moves, the ambient is at rest
    om = o["omega"]
    if P["spin"] == "sync":
        vx, vy = -om * Y * w, om * X * w
    else:
        vx = np.zeros_like(X)
        vy = w * np.where(rho_s[0] >= rho_s[1], o["v1"], o["v2"])
    return rho, vx, vy, p, rho_s[0], rho_s[1]


def init_data(U, x, y, z, params, gamma):
    """Fill the interior of ``U`` with the two stars, their orbital motion and the ambient gas.

    Each cell holds the average of ``s^3`` point values (density, momentum, pressure,
    species), ``s = max(subsample, ceil(2 dx / min radius))``, so the points of a coarse
    block are at most half a stellar radius apart and its refinement test sees both stars.
    """
    P = resolve(PARAMS, params)
    x, y, z = (np.asarray(c, dtype=np.float64) for c in (x, y, z))
    dx = float(x[1] - x[0]) if x.size > 1 else 1.0
    s = max(int(P["subsample"]), math.ceil(2.0 * dx / min(P["radius1"], P["radius2"])))
    off = ((np.arange(s) + 0.5) / s - 0.5) * dx
    # every sub-point at once (axis 0: offsets a, b, c in nested order), then summed in that
    # order: the values of one point at a time, with s^3 times fewer numpy calls
    A, B, C = (o.ravel() for o in np.meshgrid(off, off, off, indexing="ij"))
    xs, ys, zs = (u[None, :] + d[:, None] for u, d in ((x, A), (y, B), (z, C)))
    X, Y, Z = xs[:, :, None, None], ys[:, None, :, None], zs[:, None, None, :]
    X, Y, Z = np.broadcast_arrays(X, Y, Z)
    rho, vx, vy, p, r1, r2 = _sample(X, Y, Z, P)
    q = (rho, rho * vx, rho * vy, p, r1, r2)
    acc = tuple(v[0] for v in q)
    for k in range(1, s ** 3):
        acc = tuple(u + v[k] for u, v in zip(acc, q))
    rho, sx, sy, p, r1, r2 = (v / s ** 3 for v in acc)
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
