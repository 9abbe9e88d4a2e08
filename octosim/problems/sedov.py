"""Sedov-Taylor point blast: energy E deposited in a small sphere in a cold uniform gas.

Self-similar solution (Sedov 1959; Taylor 1950): the shock radius is
``R(t) = xi0 (E t^2 / rho0)^(1/5)``.  ``xi0`` is computed for any gamma by integrating the
similarity ODEs of spherical flow from the strong-shock state at xi = r/R = 1 inwards
(velocity u = D f, density rho0 g, pressure rho0 D^2 h with D = dR/dt) together with the
energy integral I, E = (16 pi / 25) rho0 R^5 t^-2 I, so xi0 = (25 / (16 pi I))^(1/5)
(xi0 = 1.15167 for gamma = 5/3, 1.0328 for 1.4).  ``exact`` returns the full profiles.

The energy is spread uniformly over a sphere of radius ``r_init`` about ``centre`` with
each cell's share from an ``nsub^3`` sub-sampling of its volume, so a block needs no
knowledge of its neighbours; the total deposited converges to E as nsub grows.
"""
import functools
import math

import numpy as np

from octosim.problems import criteria
from octosim.problems.state import mesh, resolve, set_primitive

DEFAULT_GAMMA = 5.0 / 3.0

PARAMS = {
    "energy": (float, 1.0, (0.0, None), "blast energy E (whole sphere)"),
    "rho0": (float, 1.0, (0.0, None), "ambient density"),
    "p0": (float, 1e-5, (0.0, None), "ambient pressure"),
    "r_init": (float, 0.05, (0.0, None), "radius of the sphere the energy is deposited in"),
    "x_c": (float, 0.0, None, "blast centre x"),
    "y_c": (float, 0.0, None, "blast centre y"),
    "z_c": (float, 0.0, None, "blast centre z"),
    "nsub": (int, 4, (1, 64), "sub-samples per cell edge for the deposit"),
    "refine_grad": (float, 0.1, (0.0, None), "refine where relative pressure jump exceeds this"),
}


def _rhs(xi, y, gamma):
    f, g, h, _ = y
    a = f - xi
    # [[g, a, 0], [a, 0, 1/g], [0, -gamma a/g, a/h]] (f', g', h') = (-2gf/xi, 1.5f, 3)
    A = np.array([[g, a, 0.0], [a, 0.0, 1.0 / g], [0.0, -gamma * a / g, a / h]])
    b = np.array([-2.0 * g * f / xi, 1.5 * f, 3.0])
    df, dg, dh = np.linalg.solve(A, b)
    return [df, dg, dh, xi * xi * (0.5 * g * f * f + h / (gamma - 1.0))]


@functools.lru_cache(maxsize=32)
def _similarity(gamma, xi_min=1e-4):
    from scipy.integrate import solve_ivp
    y0 = [2.0 / (gamma + 1.0), (gamma + 1.0) / (gamma - 1.0), 2.0 / (gamma + 1.0), 0.0]
    sol = solve_ivp(_rhs, (1.0, xi_min), y0, args=(gamma,), method="LSODA", rtol=1e-10,
                    atol=1e-13, dense_output=True)
    assert sol.success, sol.message
    return sol


def xi0(gamma):
    """Return the Sedov-Taylor constant xi0(gamma) of R = xi0 (E t^2 / rho0)^(1/5)."""
    I = -_similarity(float(gamma)).y[3, -1]
    return (25.0 / (16.0 * math.pi * I)) ** 0.2


def shock_radius(t, params, gamma):
    """Return the shock radius at time ``t``."""
    P = resolve(PARAMS, params)
    return xi0(gamma) * (P["energy"] * t * t / P["rho0"]) ** 0.2


def init_data(U, x, y, z, params, gamma):
    """Fill the interior: ambient gas plus E spread over the sphere r < r_init."""
    P = resolve(PARAMS, params)
    x, y, z = (np.asarray(a, float) for a in (x, y, z))
    dx = _spacing(x, y, z)
    ns = int(P["nsub"])
    off = ((np.arange(ns) + 0.5) / ns - 0.5) * dx
    X, Y, Z = mesh(x - P["x_c"], y - P["y_c"], z - P["z_c"])
    frac = np.zeros(X.shape)
    r2 = P["r_init"] ** 2
    for ox in off:
        for oy in off:
            for oz in off:
                frac += ((X + ox) ** 2 + (Y + oy) ** 2 + (Z + oz) ** 2 < r2)
    frac /= ns ** 3
    e_dep = P["energy"] / (4.0 / 3.0 * math.pi * P["r_init"] ** 3)
    p = P["p0"] + (gamma - 1.0) * e_dep * frac
    set_primitive(U, P["rho0"], 0.0, 0.0, 0.0, p, gamma)


def _spacing(x, y, z):
    for a in (x, y, z):
        if a.size > 1:
            return float(a[1] - a[0])
    raise ValueError("sedov.init_data needs at least two cells along one axis")


def refine(U, level, dx, params):
    """Refine blocks holding a pressure jump (the shock) above ``refine_grad``."""
    P = resolve(PARAMS, params)
    return criteria.gradient_refine(U, 4, P["refine_grad"])


def exact(x, y, z, t, params, gamma):
    """Return the self-similar (rho, vx, vy, vz, p) at time ``t`` (ambient p0 outside)."""
    P = resolve(PARAMS, params)
    X, Y, Z = mesh(np.asarray(x) - P["x_c"], np.asarray(y) - P["y_c"], np.asarray(z) - P["z_c"])
    r = np.sqrt(X * X + Y * Y + Z * Z)
    R = shock_radius(t, P, gamma)
    D = 0.4 * R / t
    sol = _similarity(float(gamma))
    xi = r / R
    inside = xi < 1.0
    rho = np.full(r.shape, P["rho0"])
    u = np.zeros(r.shape)
    p = np.full(r.shape, P["p0"])
    if inside.any():
        f, g, h, _ = sol.sol(np.clip(xi[inside], sol.t[-1], 1.0))
        rho[inside] = P["rho0"] * g
        u[inside] = D * f
        p[inside] = P["rho0"] * D * D * h
    with np.errstate(invalid="ignore", divide="ignore"):
        ur = np.where(r > 0, u / r, 0.0)
    return rho, ur * X, ur * Y, ur * Z, p
