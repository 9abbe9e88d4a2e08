"""Rotating star: a Lane-Emden polytrope (``polytrope``'s profile) in rigid rotation about z.

The star of ``polytrope`` (index ``n``, central density ``rho_c``, radius ``radius``,
atmosphere ``rho_atm``) turns rigidly at ``Omega = omega * sqrt(G M / R^3)``: ``omega`` is
the fraction of the Keplerian (break-up) rate at the equator.  The atmosphere is at rest.
The spherical profile is the non-rotating equilibrium, so the star is out of balance by the
centrifugal term, ``omega^2`` of gravity at the equator: a test of angular momentum
transport (``gravity.angmom``) and of a rotating flow on the octree, not an equilibrium
(Octo-Tiger builds rotating equilibria by self-consistent field iteration instead).

Units are code units: lengths in ``units.length``, densities in mass/length^3, ``G`` in
code units, ``omega`` dimensionless.
"""

import math

import numpy as np

from octosim.problems import criteria, polytrope
from octosim.problems.state import mesh, resolve, set_primitive

DEFAULT_GAMMA = 5.0 / 3.0
REFINE_READS_GHOSTS = False    # refine() reads the interior only

# the star's keys, less relax: a rotating star's equilibrium is not the static one it seeks
_STAR_KEYS = tuple(k for k in polytrope.PARAMS if k != "relax")
PARAMS = {k: polytrope.PARAMS[k] for k in _STAR_KEYS}
PARAMS["omega"] = (float, 0.2, (0.0, 1.0), "rotation rate / Keplerian rate at the equator")


def angular_velocity(params):
    """Return ``Omega = omega sqrt(G M / R^3)`` of the star."""
    P = resolve(PARAMS, params)
    M = polytrope.mass({k: P[k] for k in _STAR_KEYS})
    return P["omega"] * math.sqrt(P["G"] * M / P["radius"] ** 3)


def init_data(U, x, y, z, params, gamma):
    """Fill the interior of ``U`` with the star in rigid rotation about the z axis."""
    P = resolve(PARAMS, params)
    star = {k: P[k] for k in _STAR_KEYS}
    X, Y, Z = mesh(np.asarray(x) - P["x0"], np.asarray(y) - P["y0"], np.asarray(z) - P["z0"])
    r = np.sqrt(X * X + Y * Y + Z * Z)
    rho, p = polytrope.profile(r, star)
    om = angular_velocity(P) * (r < P["radius"])
    set_primitive(U, rho, -om * Y, om * X, 0.0, p, gamma)


def refine(U, level, dx, params):
    """Refine blocks whose density exceeds ``refine_rho * refine_factor**level``."""
    P = resolve(PARAMS, params)
    return criteria.density_floor_refine(U, level, P["refine_rho"], P["refine_factor"])
