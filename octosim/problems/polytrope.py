"""Static polytropic star in hydrostatic equilibrium from a Lane-Emden solution.

``rho = rho_c theta(r / alpha)^n`` and ``p = K rho^(1 + 1/n)`` inside ``radius = alpha xi_1``,
with ``K = 4 pi G alpha^2 rho_c^(1 - 1/n) / (n + 1)`` (Chandrasekhar 1939, ch. IV);
outside, an atmosphere of density ``rho_atm`` on the same adiabat.  The gas is at rest and,
with the same ``G`` in the gravity solver, in equilibrium: ``exact`` is the initial state at
all times.  ``n = 1`` and ``n = 1.5`` are the usual choices; any 0 < n < 5 works.
"""

import numpy as np

from octosim.problems import criteria
from octosim.problems.lane_emden import lane_emden
from octosim.problems.state import mesh, resolve, set_primitive

DEFAULT_GAMMA = 5.0 / 3.0

PARAMS = {
    "n": (float, 1.5, (0.0, 5.0), "polytropic index (1 and 1.5 are the usual stars)"),
    "rho_c": (float, 1.0, (0.0, None), "central density"),
    "radius": (float, 0.5, (0.0, None), "stellar radius"),
    "G": (float, 1.0, (0.0, None), "gravitational constant (must match the gravity solver)"),
    "rho_atm": (float, 1e-6, (0.0, None), "atmosphere density outside the star"),
    "x0": (float, 0.0, None, "centre x"),
    "y0": (float, 0.0, None, "centre y"),
    "z0": (float, 0.0, None, "centre z"),
    "refine_rho": (float, 1e-3, (0.0, None), "refine blocks whose density exceeds this"),
    "refine_factor": (float, 1.0, (0.0, None), "refine_rho grows by this factor per level"),
}


def structure(params):
    """Return (Lane-Emden solution, alpha, K) of the star."""
    P = resolve(PARAMS, params)
    le = lane_emden(P["n"])
    alpha = P["radius"] / le.xi1
    n = P["n"]
    K = 4.0 * np.pi * P["G"] * alpha ** 2 * P["rho_c"] ** (1.0 - 1.0 / n) / (n + 1.0)
    return le, alpha, K


def profile(r, params):
    """Return density and pressure at radii ``r``."""
    P = resolve(PARAMS, params)
    le, alpha, K = structure(P)
    rho = np.maximum(P["rho_c"] * le.theta(np.asarray(r) / alpha) ** P["n"], P["rho_atm"])
    return rho, K * rho ** (1.0 + 1.0 / P["n"])


def mass(params):
    """Return the star's mass ``4 pi alpha^3 rho_c (-xi1^2 theta'(xi1))``."""
    P = resolve(PARAMS, params)
    le, alpha, _ = structure(P)
    return 4.0 * np.pi * alpha ** 3 * P["rho_c"] * le.mass_integral()


def _radius(x, y, z, P):
    X, Y, Z = mesh(np.asarray(x) - P["x0"], np.asarray(y) - P["y0"], np.asarray(z) - P["z0"])
    return np.sqrt(X * X + Y * Y + Z * Z)


def init_data(U, x, y, z, params, gamma):
    """Fill the interior of ``U`` with the star at rest (cell-centre values)."""
    P = resolve(PARAMS, params)
    rho, p = profile(_radius(x, y, z, P), P)
    set_primitive(U, rho, 0.0, 0.0, 0.0, p, gamma)


def refine(U, level, dx, params):
    """Refine blocks whose density exceeds ``refine_rho * refine_factor**level``."""
    P = resolve(PARAMS, params)
    return criteria.density_floor_refine(U, level, P["refine_rho"], P["refine_factor"])


def exact(x, y, z, t, params, gamma):
    """Return the static state (rho, vx, vy, vz, p) on the cell centres (any t)."""
    P = resolve(PARAMS, params)
    rho, p = profile(_radius(x, y, z, P), P)
    zero = np.zeros_like(rho)
    return rho, zero, zero, zero, p
