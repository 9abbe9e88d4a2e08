"""Spherical blast wave: a sphere of high pressure in a uniform gas (Zachary et al. 1994;
the Athena++ ``blast`` setup).  No analytic solution; a robustness and AMR test."""
import numpy as np

from octosim.problems import criteria
from octosim.problems.state import mesh, resolve, set_primitive

DEFAULT_GAMMA = 5.0 / 3.0

PARAMS = {
    "rho0": (float, 1.0, (0.0, None), "density everywhere"),
    "p_in": (float, 10.0, (0.0, None), "pressure inside the sphere"),
    "p_out": (float, 0.1, (0.0, None), "pressure outside"),
    "radius": (float, 0.1, (0.0, None), "sphere radius"),
    "x_c": (float, 0.0, None, "centre x"),
    "y_c": (float, 0.0, None, "centre y"),
    "z_c": (float, 0.0, None, "centre z"),
    "refine_grad": (float, 0.1, (0.0, None), "refine where relative pressure jump exceeds this"),
}


def init_data(U, x, y, z, params, gamma):
    """Fill the interior: pressure p_in for r < radius, p_out outside, uniform density."""
    P = resolve(PARAMS, params)
    X, Y, Z = mesh(np.asarray(x) - P["x_c"], np.asarray(y) - P["y_c"], np.asarray(z) - P["z_c"])
    r2 = X * X + Y * Y + Z * Z
    p = np.where(r2 < P["radius"] ** 2, P["p_in"], P["p_out"])
    set_primitive(U, P["rho0"], 0.0, 0.0, 0.0, p, gamma)


def refine(U, level, dx, params):
    """Refine blocks holding a pressure jump above ``refine_grad``."""
    P = resolve(PARAMS, params)
    return criteria.gradient_refine(U, 4, P["refine_grad"])
