"""Helpers shared by problem modules: primitive -> conserved fill and parameter checks."""
import numpy as np

from octosim.fields import GHOST, RHO, SX, SY, SZ, EGAS, TAU


def mesh(x, y, z):
    """Return broadcastable 3-D coordinate arrays from 1-D cell-centre coordinates."""
    return np.meshgrid(np.asarray(x, float), np.asarray(y, float), np.asarray(z, float),
                       indexing="ij")


def set_primitive(U, rho, vx, vy, vz, p, gamma):
    """Fill the interior of ``U`` from primitive arrays (broadcast to the interior shape).

    Sets tau = e^(1/gamma) and zeroes any species; callers then set species they use.
    """
    G = GHOST
    shape = tuple(n - 2 * G for n in U.shape[1:])
    rho, vx, vy, vz, p = (np.broadcast_to(np.asarray(a, float), shape) for a in (rho, vx, vy, vz, p))
    I = (slice(G, -G),) * 3
    e = p / (gamma - 1.0)
    U[(RHO,) + I] = rho
    U[(SX,) + I] = rho * vx
    U[(SY,) + I] = rho * vy
    U[(SZ,) + I] = rho * vz
    U[(EGAS,) + I] = e + 0.5 * rho * (vx * vx + vy * vy + vz * vz)
    U[(TAU,) + I] = e ** (1.0 / gamma)
    U[TAU + 1:][(slice(None),) + I] = 0.0


def interior(U, f):
    """Return a view of field ``f`` of the interior of ``U``."""
    G = GHOST
    return U[f, G:-G, G:-G, G:-G]


def defaults(PARAMS):
    """Return {name: default} of a problem's PARAMS table."""
    return {k: v[1] for k, v in PARAMS.items()}


def resolve(PARAMS, params):
    """Return defaults updated by ``params``; unknown names are an error (ValueError)."""
    out = defaults(PARAMS)
    for k, v in (params or {}).items():
        if k not in PARAMS:
            raise ValueError(f"unknown parameter {k!r}; known: {', '.join(sorted(PARAMS))}")
        out[k] = v
    return out
