"""Gaussian density pulse advected by a uniform flow at constant pressure.

rho = rho0 + (rho1 - rho0) exp(-|x - x_c - v t|^2 / w^2), v and p uniform: a contact
moving with the flow, so refinement must follow it.  ``exact`` ignores periodic wrapping
unless ``period`` > 0, in which case positions are wrapped into a box of that edge
centred on the origin.
"""
import numpy as np

from octosim.problems import criteria
from octosim.problems.state import mesh, resolve, set_primitive

DEFAULT_GAMMA = 5.0 / 3.0
REFINE_READS_GHOSTS = False    # refine() reads the interior only

PARAMS = {
    "rho0": (float, 1.0, (0.0, None), "background density"),
    "rho1": (float, 10.0, (0.0, None), "peak density"),
    "width": (float, 0.1, (0.0, None), "Gaussian width w"),
    "p0": (float, 1.0, (0.0, None), "uniform pressure"),
    "vx": (float, 1.0, None, "flow velocity x"),
    "vy": (float, 0.0, None, "flow velocity y"),
    "vz": (float, 0.0, None, "flow velocity z"),
    "x_c": (float, 0.0, None, "initial centre x"),
    "y_c": (float, 0.0, None, "initial centre y"),
    "z_c": (float, 0.0, None, "initial centre z"),
    "period": (float, 0.0, (0.0, None), "periodic box edge for exact(); 0 = none"),
    "refine_rho": (float, 2.0, (0.0, None), "refine blocks whose max density exceeds this"),
    "refine_level_factor": (float, 1.0, (0.0, None), "threshold multiplier per level"),
}


def _rho(x, y, z, t, P):
    X, Y, Z = mesh(x, y, z)
    d = [X - P["x_c"] - P["vx"] * t, Y - P["y_c"] - P["vy"] * t, Z - P["z_c"] - P["vz"] * t]
    if P["period"] > 0:
        L = P["period"]
        d = [a - L * np.round(a / L) for a in d]
    r2 = d[0] ** 2 + d[1] ** 2 + d[2] ** 2
    return P["rho0"] + (P["rho1"] - P["rho0"]) * np.exp(-r2 / P["width"] ** 2)


def init_data(U, x, y, z, params, gamma):
    """Fill the interior with the pulse at t = 0."""
    P = resolve(PARAMS, params)
    set_primitive(U, _rho(x, y, z, 0.0, P), P["vx"], P["vy"], P["vz"], P["p0"], gamma)


def refine(U, level, dx, params):
    """Refine blocks where density exceeds ``refine_rho * refine_level_factor**level``."""
    P = resolve(PARAMS, params)
    return criteria.density_floor_refine(U, level, P["refine_rho"], P["refine_level_factor"])


def exact(x, y, z, t, params, gamma):
    """Return (rho, vx, vy, vz, p): the initial pulse translated by v t."""
    P = resolve(PARAMS, params)
    rho = _rho(x, y, z, t, P)
    one = np.ones(rho.shape)
    return rho, P["vx"] * one, P["vy"] * one, P["vz"] * one, P["p0"] * one
