"""Static polytropic star in hydrostatic equilibrium from a Lane-Emden solution.

``rho = rho_c theta(r / alpha)^n`` and ``p = K rho^(1 + 1/n)`` inside ``radius = alpha xi_1``,
with ``K = 4 pi G alpha^2 rho_c^(1 - 1/n) / (n + 1)`` (Chandrasekhar 1939, ch. IV);
outside, an atmosphere of density ``rho_atm`` on the same adiabat.  The gas is at rest and,
with the same ``G`` in the gravity solver, in equilibrium: ``exact`` is the initial state at
all times.  ``n = 1`` and ``n = 1.5`` are the usual choices; any 0 < n < 5 works.

The point-sampled profile is an equilibrium of the continuum only: under its own discrete
(FMM) potential ``h + phi`` is not constant inside the star (``h = (n+1) K rho^(1/n)`` the
specific enthalpy; it varies by 0.6% of ``h_c`` inside 0.8 R at R/dx 6.7), so the star
first settles to a nearby equilibrium.  ``relax`` > 0 replaces it, after the initial
refinement (``post_init``), by a discrete hydrostatic equilibrium on the mesh: that many
fixed-point iterations of "solve gravity on the mesh's density (theta 0.5, order 3, the
solver's defaults); set ``h = C - phi`` on the same adiabat ``K``, ``rho = max((h / ((n+1)
K))^n, rho_atm)``, with ``C`` (``h_c + phi_c``) such that the mesh keeps the mass of the
point-sampled star" (hydrostatic relaxation on the mesh, cf. Octo-Tiger's self-consistent
field initial models, Hachisu 1986, here without rotation).  For n = 1 each iteration about
halves the residual.  ``exact`` stays the Lane-Emden profile.
"""

import numpy as np

from octosim.fields import RHO
from octosim.problems import criteria
from octosim.problems.lane_emden import lane_emden
from octosim.problems.state import mesh, resolve, set_primitive

DEFAULT_GAMMA = 5.0 / 3.0
REFINE_READS_GHOSTS = False    # refine() reads the interior only
# the FMM of ``relax`` and ``enthalpy_spread`` (the solver's defaults)
RELAX_THETA = 0.5
RELAX_ORDER = 3

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
    "relax": (int, 0, (0, None), "fixed-point iterations towards a hydrostatic equilibrium "
              "in the mesh's FMM potential (0: the sampled Lane-Emden profile)"),
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


def _leaf_arrays(mesh_):
    """Return (leaf keys, cell volumes) of the mesh, volumes one per leaf."""
    keys = mesh_.leaves()
    return keys, np.array([mesh_.subgrids[k].dx ** 3 for k in keys])


def _mesh_mass(mesh_, keys, vol):
    """Return the total mass of the leaves ``keys``."""
    return float(sum(mesh_.subgrids[k].interior[RHO].sum() * v for k, v in zip(keys, vol)))


def _enthalpy(rho, P, K):
    """Return the specific enthalpy ``(n+1) K rho^(1/n)`` on the adiabat ``K``."""
    return (P["n"] + 1.0) * K * rho ** (1.0 / P["n"])


def _density(C, phi, P, K):
    """Return the adiabat's density at ``h = C - phi``, at least ``rho_atm`` (``profile``)."""
    n = P["n"]
    h = np.maximum(C - phi, 0.0)
    return np.maximum((h / ((n + 1.0) * K)) ** n, P["rho_atm"])


def _enthalpy_constant(phi, vol, M, P, K):
    """Return ``C`` with ``sum rho(C - phi) dV = M``: bisection of the monotone mass."""
    dv = np.concatenate([np.full(f.size, v) for f, v in zip(phi, vol)])
    f = np.concatenate([a.ravel() for a in phi])

    def mass_at(C):
        return float((_density(C, f, P, K) * dv).sum())

    lo = f.min()
    span = _enthalpy(P["rho_c"], P, K)          # the Lane-Emden h_c
    while mass_at(lo + span) < M:
        span *= 2.0
    hi = lo + span
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if mass_at(mid) < M:
            lo = mid
        else:
            hi = mid
    return hi


def relax(mesh_, params, gamma, iterations=None):
    """Move the star towards ``h + phi = const`` on the mesh, mass kept (module doc).

    Hydrostatic relaxation on the mesh, cf. Octo-Tiger's SCF initial models; ``iterations``
    defaults to ``params['relax']``.  Returns the constants ``C`` of the iterations.
    """
    from octosim.gravity import solve

    P = resolve(PARAMS, params)
    _, _, K = structure(P)
    keys, vol = _leaf_arrays(mesh_)
    M = _mesh_mass(mesh_, keys, vol)
    out = []
    for _ in range(P["relax"] if iterations is None else iterations):
        phi, _ = solve(mesh_, G=P["G"], theta=RELAX_THETA, order=RELAX_ORDER)
        C = _enthalpy_constant([phi[k] for k in keys], vol, M, P, K)
        for k in keys:
            rho = _density(C, phi[k], P, K)
            set_primitive(mesh_.subgrids[k].U, rho, 0.0, 0.0, 0.0,
                          K * rho ** (1.0 + 1.0 / P["n"]), gamma)
        out.append(C)
    return out


def post_init(mesh_, params, gamma):
    """Relax the initial star to discrete equilibrium when ``relax`` > 0 (``relax``)."""
    if resolve(PARAMS, params)["relax"] > 0:
        relax(mesh_, params, gamma)


def enthalpy_spread(mesh_, params, within=0.8):
    """Return ``(max - min) of h + phi`` over cells inside ``within * radius``, over ``h_c``.

    ``h = (n+1) K rho^(1/n)`` on the star's adiabat and ``phi`` the mesh's FMM potential
    (theta 0.5, order 3): 0 for a discrete isentropic equilibrium.
    """
    from octosim.gravity import solve

    P = resolve(PARAMS, params)
    _, _, K = structure(P)
    phi, _ = solve(mesh_, G=P["G"], theta=RELAX_THETA, order=RELAX_ORDER)
    vals = []
    for k in mesh_.leaves():
        sg = mesh_.subgrids[k]
        r = _radius(*sg.centers(), P)
        H = _enthalpy(sg.interior[RHO], P, K) + phi[k]
        vals.append(H[r < within * P["radius"]])
    H = np.concatenate(vals)
    return float((H.max() - H.min()) / _enthalpy(P["rho_c"], P, K))


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
