"""Small-amplitude sound wave, periodic, for convergence tests (linear eigenmode).

rho = rho0 (1 + A sin(k s)), v_n = sign c A sin(k s), p = p0 + c^2 rho0 A sin(k s), with
s the coordinate along the propagation axis, k = 2 pi / wavelength and c^2 = gamma p0 / rho0.
``exact`` is the linear solution translated by sign c t.
"""
import math

import numpy as np

from octosim.problems.state import mesh, resolve, set_primitive

DEFAULT_GAMMA = 5.0 / 3.0
REFINE_READS_GHOSTS = False    # refine() reads the interior only

PARAMS = {
    "amplitude": (float, 1e-6, (0.0, 0.1), "relative density amplitude A"),
    "rho0": (float, 1.0, (0.0, None), "background density"),
    "p0": (float, 0.6, (0.0, None), "background pressure (c = 1 for gamma = 5/3)"),
    "wavelength": (float, 1.0, (0.0, None), "wavelength (domain length for one wave)"),
    "direction": (str, "x", ("x", "y", "z"), "propagation axis: x, y or z"),
    "sign": (int, 1, (-1, 1), "+1 travels towards +axis, -1 towards -axis"),
    "v0": (float, 0.0, None, "uniform background velocity along the axis"),
}


def _state(x, y, z, t, P, gamma):
    axis = "xyz".index(P["direction"]) if P["direction"] in ("x", "y", "z") else None
    if axis is None:
        raise ValueError(f"sound_wave.direction must be x, y or z, not {P['direction']!r}")
    if P["sign"] not in (-1, 1):
        raise ValueError("sound_wave.sign must be +1 or -1")
    C = mesh(x, y, z)
    c = math.sqrt(gamma * P["p0"] / P["rho0"])
    s = C[axis] - (P["sign"] * c + P["v0"]) * t
    w = P["amplitude"] * np.sin(2.0 * math.pi * s / P["wavelength"])
    rho = P["rho0"] * (1.0 + w)
    v = [np.zeros(s.shape)] * 3
    v[axis] = P["v0"] + P["sign"] * c * w
    p = P["p0"] + c * c * P["rho0"] * w
    return rho, v[0], v[1], v[2], p


def init_data(U, x, y, z, params, gamma):
    """Fill the interior with the wave at t = 0."""
    P = resolve(PARAMS, params)
    set_primitive(U, *_state(x, y, z, 0.0, P, gamma), gamma)


def refine(U, level, dx, params):
    """Never refine: the wave is a uniform-resolution convergence test."""
    return False


def exact(x, y, z, t, params, gamma):
    """Return the linear solution (rho, vx, vy, vz, p) at time ``t``."""
    return _state(x, y, z, t, resolve(PARAMS, params), gamma)
