"""Uniform-density sphere at rest: the gravity solver's analytic test.

Density ``rho_in`` inside radius ``radius`` about ``(x0, y0, z0)``, ``rho_out`` outside, with
each cell's density set by the volume fraction inside (exact chords along x, ``subsample^2``
points across), so the mass is right.  The potential of the sphere, of mass
``M = 4/3 pi R^3 rho_in``, is ``-G M (3R^2 - r^2) / (2R^3)`` inside and ``-G M / r``
outside; ``exact_potential`` returns it with the acceleration.  The pressure is uniform:
this problem is for gravity, not for a hydrostatic run.
"""

import numpy as np

from octosim.fields import RHO
from octosim.problems import criteria
from octosim.problems.state import interior, mesh, resolve, set_primitive

DEFAULT_GAMMA = 5.0 / 3.0
REFINE_READS_GHOSTS = False    # refine() reads the interior only

PARAMS = {
    "radius": (float, 0.5, (0.0, None), "sphere radius"),
    "rho_in": (float, 1.0, (0.0, None), "density inside the sphere"),
    "rho_out": (float, 1e-10, (0.0, None), "density outside the sphere"),
    "p": (float, 1.0, (0.0, None), "uniform pressure"),
    "x0": (float, 0.0, None, "centre x"),
    "y0": (float, 0.0, None, "centre y"),
    "z0": (float, 0.0, None, "centre z"),
    "G": (float, 1.0, (0.0, None), "gravitational constant of the analytic potential"),
    "subsample": (int, 4, (1, 64), "points per cell edge (y, z) for volume fractions"),
    "refine_rho": (float, 1e-3, (0.0, None), "refine blocks whose density exceeds this"),
    "refine_on": (str, "density", None, "density: blocks above refine_rho; surface: blocks "
                  "with partly filled cells (the surface), where the discretisation errs most"),
}


def _width(x):
    x = np.asarray(x, dtype=np.float64)
    assert x.size >= 2, "init_data needs at least two cell centres per axis"
    return float(x[1] - x[0])


def inside_fraction(x, y, z, P):
    """Return the fraction of each cell (1-D centres x, y, z) that lies inside the sphere.

    The chord through the sphere along x is exact; y and z use ``subsample`` midpoints.
    """
    s = int(P["subsample"])
    dx = _width(x)
    off = ((np.arange(s) + 0.5) / s - 0.5) * dx
    X, Y, Z = mesh(np.asarray(x) - P["x0"], np.asarray(y) - P["y0"], np.asarray(z) - P["z0"])
    frac = np.zeros(X.shape)
    R2 = P["radius"] ** 2
    for b in off:
        for c in off:
            w = np.sqrt(np.maximum(R2 - (Y + b) ** 2 - (Z + c) ** 2, 0.0))
            lo = np.maximum(X - 0.5 * dx, -w)
            hi = np.minimum(X + 0.5 * dx, w)
            frac += np.maximum(hi - lo, 0.0)
    return frac / (s * s * dx)


def init_data(U, x, y, z, params, gamma):
    """Fill the interior of ``U`` with the sphere at rest (uniform pressure)."""
    P = resolve(PARAMS, params)
    f = inside_fraction(x, y, z, P)
    rho = P["rho_out"] + f * (P["rho_in"] - P["rho_out"])
    set_primitive(U, rho, 0.0, 0.0, 0.0, P["p"], gamma)


def refine(U, level, dx, params):
    """Refine blocks holding density above ``refine_rho``, or only those the surface crosses."""
    P = resolve(PARAMS, params)
    if P["refine_on"] == "density":
        return criteria.density_floor_refine(U, level, P["refine_rho"])
    if P["refine_on"] != "surface":
        raise ValueError(f"uniform_sphere.refine_on must be density or surface, "
                         f"not {P['refine_on']!r}")
    r = interior(U, RHO)
    lo, hi = min(P["rho_in"], P["rho_out"]), max(P["rho_in"], P["rho_out"])
    eps = 1e-12 * hi
    return bool(np.any((r > lo + eps) & (r < hi - eps)))


def exact(x, y, z, t, params, gamma):
    """Return the static state (rho, vx, vy, vz, p) on the cell centres (any t)."""
    P = resolve(PARAMS, params)
    f = inside_fraction(x, y, z, P)
    rho = P["rho_out"] + f * (P["rho_in"] - P["rho_out"])
    zero = np.zeros_like(rho)
    return rho, zero, zero, zero, np.full_like(rho, P["p"])


def exact_potential(X, Y, Z, params):
    """Return the analytic (phi, gx, gy, gz) of the sphere at points X, Y, Z (broadcast).

    The exterior density ``rho_out`` is ignored (it is set to near vacuum for this test).
    """
    P = resolve(PARAMS, params)
    G, R = P["G"], P["radius"]
    M = 4.0 / 3.0 * np.pi * R ** 3 * P["rho_in"]
    dx, dy, dz = (np.asarray(X) - P["x0"], np.asarray(Y) - P["y0"], np.asarray(Z) - P["z0"])
    r2 = dx * dx + dy * dy + dz * dz
    r = np.sqrt(r2)
    inside = r <= R
    phi = np.where(inside, -G * M * (3 * R * R - r2) / (2 * R ** 3),
                   -G * M / np.maximum(r, 1e-100))
    k = np.where(inside, G * M / R ** 3, G * M / np.maximum(r, 1e-100) ** 3)
    return phi, -k * dx, -k * dy, -k * dz
