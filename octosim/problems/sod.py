"""Sod (1978) shock tube: rho, u, p = 1, 0, 1 | 0.125, 0, 0.1 with gamma = 1.4.

The diaphragm is the plane through ``x0`` (along the normal) normal to x, y, z or the
diagonal (1,1,1)/sqrt(3).  Species 0 marks the left gas, species 1 the right gas (when
present).  The exact solution is Toro's (``riemann_exact``) along the normal.
"""
import numpy as np

from octosim.fields import SPECIES0
from octosim.problems import criteria
from octosim.problems.riemann_exact import sample
from octosim.problems.state import interior, mesh, resolve, set_primitive

DEFAULT_GAMMA = 1.4

PARAMS = {
    "direction": (str, "x", ("x", "y", "z", "diag"), "diaphragm normal: x, y, z or diag"),
    "x0": (float, 0.0, None, "diaphragm position along the normal"),
    "rho_l": (float, 1.0, (0.0, None), "left density"),
    "u_l": (float, 0.0, None, "left normal velocity"),
    "p_l": (float, 1.0, (0.0, None), "left pressure"),
    "rho_r": (float, 0.125, (0.0, None), "right density"),
    "u_r": (float, 0.0, None, "right normal velocity"),
    "p_r": (float, 0.1, (0.0, None), "right pressure"),
    "refine_grad": (float, 0.05, (0.0, None), "refine where relative density jump exceeds this"),
}

_NORMALS = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0),
            "diag": (3 ** -0.5,) * 3}


def _normal(params):
    d = params["direction"]
    if d not in _NORMALS:
        raise ValueError(f"sod.direction must be one of x, y, z, diag, not {d!r}")
    return np.array(_NORMALS[d])


def _coord(x, y, z, n):
    X, Y, Z = mesh(x, y, z)
    if n[1] == 0.0 and n[2] == 0.0:
        return X
    if n[0] == 0.0 and n[2] == 0.0:
        return Y
    if n[0] == 0.0 and n[1] == 0.0:
        return Z
    return X * n[0] + Y * n[1] + Z * n[2]


def init_data(U, x, y, z, params, gamma):
    """Fill the interior of ``U`` with the two Sod states."""
    P = resolve(PARAMS, params)
    n = _normal(P)
    s = _coord(x, y, z, n)
    left = s < P["x0"]
    rho = np.where(left, P["rho_l"], P["rho_r"])
    un = np.where(left, P["u_l"], P["u_r"])
    p = np.where(left, P["p_l"], P["p_r"])
    set_primitive(U, rho, un * n[0], un * n[1], un * n[2], p, gamma)
    if U.shape[0] > SPECIES0:
        interior(U, SPECIES0)[...] = np.where(left, rho, 0.0)
    if U.shape[0] > SPECIES0 + 1:
        interior(U, SPECIES0 + 1)[...] = np.where(left, 0.0, rho)


def refine(U, level, dx, params):
    """Refine blocks that hold a density jump above ``refine_grad``."""
    P = resolve(PARAMS, params)
    return criteria.gradient_refine(U, 0, P["refine_grad"])


def exact(x, y, z, t, params, gamma):
    """Return exact (rho, vx, vy, vz, p) at time ``t`` on the cell centres."""
    P = resolve(PARAMS, params)
    n = _normal(P)
    s = _coord(x, y, z, n) - P["x0"]
    xi = s / t if t > 0 else np.where(s < 0, -np.inf, np.inf)
    rho, u, p = sample(np.ravel(xi), (P["rho_l"], P["u_l"], P["p_l"]),
                       (P["rho_r"], P["u_r"], P["p_r"]), gamma)
    rho, u, p = (a.reshape(s.shape) for a in (rho, u, p))
    return rho, u * n[0], u * n[1], u * n[2], p
