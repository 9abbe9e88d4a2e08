"""Lane-Emden solutions, the polytrope problem and its gravity (FMM) in equilibrium."""

import numpy as np
import pytest

from octosim.gravity import solve_desc
from octosim.gravity.setup import problem_tree
from octosim.problems import polytrope
from octosim.problems.lane_emden import LaneEmden, lane_emden


def test_lane_emden_closed_forms():
    x = np.linspace(0.0, 3.0, 301)
    le0 = lane_emden(0)
    assert le0.xi1 == pytest.approx(np.sqrt(6.0), rel=1e-10)
    assert np.allclose(le0.theta(np.minimum(x, 2.4)), 1 - np.minimum(x, 2.4) ** 2 / 6, atol=1e-10)
    le1 = lane_emden(1)
    assert le1.xi1 == pytest.approx(np.pi, rel=1e-10)
    xs = x[1:]
    assert np.allclose(le1.theta(xs), np.sin(xs) / xs, atol=1e-10)
    assert le1.theta(0.0) == 1.0 and le1.theta(3.5) == 0.0
    assert le1.mass_integral() == pytest.approx(np.pi, rel=1e-6)


def test_lane_emden_n15_tabulated_values():
    le = lane_emden(1.5)
    assert le.xi1 == pytest.approx(3.65375, abs=2e-5)            # Chandrasekhar's table
    assert le.mass_integral() == pytest.approx(2.71406, abs=2e-5)
    coarse = LaneEmden(1.5, h=4e-3)                                # step convergence
    assert abs(coarse.xi1 - le.xi1) < 1e-8


def test_polytrope_setup_is_hydrostatic_and_has_its_mass():
    params = {"n": 1.0, "radius": 0.5, "rho_c": 2.0}
    le, alpha, K = polytrope.structure(params)
    r = np.linspace(0.0, 0.499, 2001)
    rho, p = polytrope.profile(r, params)
    assert rho[0] == pytest.approx(2.0) and p[0] == pytest.approx(K * 4.0)
    # dP/dr = -G m(r) rho / r^2 with m(r) = 4 pi alpha^3 rho_c (-xi^2 theta')
    xi = r[1:] / alpha
    m = 4 * np.pi * alpha ** 3 * 2.0 * (-xi ** 2 * le.dtheta(xi))
    dpdr = np.gradient(p, r)[1:]
    inner = slice(10, -10)
    assert np.allclose(dpdr[inner], -m[inner] * rho[1:][inner] / r[1:][inner] ** 2,
                       rtol=2e-3, atol=1e-4 * p[0])
    with pytest.raises(ValueError):
        polytrope.init_data(np.zeros((6, 10, 10, 10)), [0, 1], [0, 1], [0, 1], {"nn": 1}, 2.0)


def test_relax_is_a_checked_key_of_the_polytrope_section():
    from octosim.config import ConfigError, config_from_text

    text = "problem: {name: polytrope}\ntime: {stop_step: 1}\npolytrope: {relax: %s}\n"
    assert config_from_text(text % "4")["polytrope"]["relax"] == 4
    assert polytrope.PARAMS["relax"][1] == 0          # off by default: nothing else changes
    for bad in ("-1", "1.5"):
        with pytest.raises(ConfigError, match="polytrope.relax"):
            config_from_text(text % bad)
    rotating = "problem: {name: rotating_star}\ntime: {stop_step: 1}\nrotating_star: {relax: 2}\n"
    with pytest.raises(ConfigError, match="rotating_star.relax"):     # not a static star
        config_from_text(rotating)


@pytest.fixture(scope="module")
def star():
    params = {"n": 1.0, "radius": 0.5, "refine_rho": 1e-3}
    desc, rho = problem_tree(polytrope, params, N=8, max_level=2, xscale=0.75)
    phi, g = solve_desc(desc, rho, G=1.0, theta=0.5)
    return params, desc, rho, phi, g


def test_polytrope_mass_on_the_mesh(star):
    params, desc, rho, _, _ = star
    M = sum(rho[n].sum() * desc.dx(desc.level[n]) ** 3 for n in desc.leaves())
    assert M == pytest.approx(polytrope.mass(params), rel=5e-3)


def _g_error(params, desc, g):
    """Return max |g - g_exact| / max |g_exact| over 0.1 < r < 0.45 (R = 0.5)."""
    le, alpha, _ = polytrope.structure(params)
    err, gmax = [], 0.0
    for n in desc.leaves():
        X = np.array(np.meshgrid(*desc.cell_centers(n), indexing="ij"))
        r = np.sqrt((X ** 2).sum(axis=0))
        xi = np.minimum(r / alpha, le.xi1)
        m = 4 * np.pi * alpha ** 3 * params.get("rho_c", 1.0) * (-xi ** 2 * le.dtheta(xi))
        m = np.where(r / alpha >= le.xi1, polytrope.mass(params), m)
        gex = -m / r ** 3 * X
        sel = (r > 0.1) & (r < 0.45)
        err.append(np.sqrt(((g[n] - gex) ** 2).sum(axis=0))[sel])
        gmax = max(gmax, np.sqrt((gex ** 2).sum(axis=0)).max())
    return np.concatenate(err).max() / gmax


def test_fmm_gravity_of_polytrope_converges_to_analytic(star):
    params, desc, rho, phi, g = star
    e2 = _g_error(params, desc, g)
    assert e2 <= 1e-2, e2
    d1, r1 = problem_tree(polytrope, params, N=8, max_level=1, xscale=0.75)
    e1 = _g_error(params, d1, solve_desc(d1, r1, G=1.0, theta=0.5)[1])
    assert e2 < 0.3 * e1, (e1, e2)          # second order in the cell width


def _run_star(gravity, steps):
    """Run the n = 1 star with the driver's FMM gravity source on or off."""
    from octosim.driver import Simulation

    cfg = {"mesh": {"xscale": 0.75, "subgrid_size": 8, "max_level": 1, "regrid_every": 0,
                    "boundary": "outflow"},
           "hydro": {"gamma": 2.0}, "problem": {"name": "polytrope"},
           "polytrope": {"n": 1.0, "radius": 0.5, "rho_atm": 1e-5},
           "gravity": {"enable": gravity, "G": 1.0, "theta": 0.5, "order": 3}}
    sim = Simulation(cfg, problem=polytrope)
    rho_c0 = sim.leaf_table()["rho"].max()
    for _ in range(steps):
        sim.advance()
    tab = sim.leaf_table()
    w = tab["rho"] * tab["dx"] ** 3
    v2 = (tab["sx"] ** 2 + tab["sy"] ** 2 + tab["sz"] ** 2) / tab["rho"] ** 2
    return sim, np.sqrt((w * v2).sum() / w.sum()), tab["rho"].max() / rho_c0 - 1.0


def test_polytrope_stays_in_hydrostatic_equilibrium():
    """n = 1 star, R = 5 cells: with gravity it barely drifts; without, it flies apart."""
    steps = 5
    sim, v_grav, drho_grav = _run_star(True, steps)
    _, v_free, drho_free = _run_star(False, steps)
    c_s = np.sqrt(2.0 * polytrope.structure({"n": 1.0, "radius": 0.5})[2])  # gamma K rho_c
    assert sim.time > 0.25                      # a good fraction of a sound crossing
    assert v_grav < 0.05 * c_s and v_grav < 0.15 * v_free, (v_grav, v_free, c_s)
    assert abs(drho_grav) < 0.08 and abs(drho_grav) < 0.25 * abs(drho_free), (drho_grav,
                                                                              drho_free)
    tot = sim.conserved_totals()
    p = np.array([tot["momentum_x"], tot["momentum_y"], tot["momentum_z"]])
    assert np.all(np.abs(p) <= 1e-12 * tot["mass"] * c_s), p


STAR = {"n": 1.0, "radius": 0.5, "rho_atm": 1e-5}


def _star_sim(N, relax, max_level=1):
    """Set up (no step) the issue-6 star of ``equilibrium_run`` with ``polytrope.relax``."""
    from octosim.driver import Simulation

    cfg = {"mesh": {"xscale": 0.6, "subgrid_size": N, "max_level": max_level,
                    "regrid_every": 0, "boundary": "reflect"},
           "hydro": {"gamma": 2.0}, "problem": {"name": "polytrope"},
           "polytrope": {**STAR, "relax": relax}, "gravity": {"enable": True}}
    return Simulation(cfg, problem=polytrope)


def test_relaxed_star_is_a_discrete_equilibrium_with_the_same_mass():
    """``polytrope.relax``: h + phi inside 0.8 R flattens, the mass stays the sampled star's."""
    # measured (R/dx 6.7): spread of h + phi 5.6e-3 h_c, then about halved per iteration
    # (3.2e-3, 1.6e-3, 7.7e-4, 3.7e-4 ... 2.2e-5 after 8); the central density falls 1.1%
    off, on = _star_sim(8, 0), _star_sim(8, 8)
    s_off = polytrope.enthalpy_spread(off.mesh, off.params)
    s_on = polytrope.enthalpy_spread(on.mesh, on.params)
    assert s_off > 3e-3 and s_on < 0.02 * s_off, (s_off, s_on)
    m_off, m_on = off.conserved_totals()["mass"], on.conserved_totals()["mass"]
    assert abs(m_on / m_off - 1.0) < 1e-10, (m_off, m_on)
    t_off, t_on = off.leaf_table(), on.leaf_table()
    assert np.all(t_on["sx"] == 0.0) and np.all(t_on["tau"] > 0.0)
    K = polytrope.structure(STAR)[2]
    assert np.allclose(t_on["egas"], K * t_on["rho"] ** 2, rtol=1e-13)   # the same adiabat
    assert 0.95 < t_on["rho"].max() / t_off["rho"].max() < 1.0
    # relax = 0 is the Lane-Emden profile, bitwise
    rho, _ = polytrope.profile(np.sqrt(t_off["x"] ** 2 + t_off["y"] ** 2 + t_off["z"] ** 2),
                               STAR)
    assert np.array_equal(t_off["rho"], rho)
    # each iteration shrinks the residual (a fixed point, contraction ~1/2 for n = 1)
    spreads = []
    for _ in range(3):
        polytrope.relax(off.mesh, off.params, off.gamma, iterations=1)
        spreads.append(polytrope.enthalpy_spread(off.mesh, off.params))
    assert s_off > spreads[0] > spreads[1] > spreads[2] > 0.1 * s_off, (s_off, spreads)
    with pytest.raises(ValueError):
        polytrope.post_init(on.mesh, {"relax": 1, "nn": 1}, 2.0)


def equilibrium_run(N, max_level, xscale=0.6, t_dyn_count=5.0, params=STAR, gamma=2.0,
                    theta=0.5, order=3, boundary="reflect", rho_floor=1e-7, hydro=None,
                    well_balanced=False, threads=1):
    """Run the self-gravitating star for ``t_dyn_count`` dynamical times ``1/sqrt(G rho_mean)``.

    Returns a dict: ``drift`` = max over steps of |rho_max(t) / rho_max(0) - 1|, ``mach`` =
    max over steps and over the cells inside 0.9 R (fixed mesh) of |v| / c_s, ``energy`` =
    the change of egas + 1/2 rho phi over |E|, the number of steps, the time reached and R /
    dx of the finest cells.  ``rho_floor`` (1% of the atmosphere) keeps the box corners, which
    the cold atmosphere drains as it falls onto the star, from near-vacuum states whose heat
    would set the time step.  ``hydro`` adds hydro settings, e.g. ``{"reconstruction": 3}``
    (``RECON_PPM_EP``; the driver maps only the words ppm and plm).  ``well_balanced`` sets
    ``gravity.well_balanced``; ``mass`` is then the relative change of the total mass too.
    ``threads`` sets ``runtime.threads`` (FMM shares solved at once; the same fields).
    """
    from octosim.driver import Simulation

    cfg = {"mesh": {"xscale": xscale, "subgrid_size": N, "max_level": max_level,
                    "regrid_every": 0, "boundary": boundary},
           "hydro": {"gamma": gamma, "rho_floor": rho_floor, **(hydro or {})},
           "problem": {"name": "polytrope"},
           "runtime": {"threads": threads},
           "polytrope": dict(params), "gravity": {"enable": True, "G": 1.0, "theta": theta,
                                                 "order": order,
                                                 "well_balanced": well_balanced}}
    sim = Simulation(cfg, problem=polytrope)
    R = params["radius"]
    rho_mean = polytrope.mass(params) / (4.0 / 3.0 * np.pi * R ** 3)
    t_end = t_dyn_count / np.sqrt(rho_mean)
    tab = sim.leaf_table()
    inside = np.sqrt(tab["x"] ** 2 + tab["y"] ** 2 + tab["z"] ** 2) < 0.9 * R
    rho0 = tab["rho"].max()
    out = {"drift": 0.0, "mach": 0.0, "R_dx": R / tab["dx"].min()}
    tot0 = sim.conserved_totals()
    E0 = tot0["total_energy"]

    def measure(s):
        t = s.leaf_table()
        rho = t["rho"]
        v = np.sqrt(t["sx"] ** 2 + t["sy"] ** 2 + t["sz"] ** 2) / rho
        ek = 0.5 * rho * v * v
        c = np.sqrt(gamma * (gamma - 1.0) * np.maximum(t["egas"] - ek, 0.0) / rho)
        out["drift"] = max(out["drift"], abs(rho.max() / rho0 - 1.0))
        out["mach"] = max(out["mach"], float((v / c)[inside].max()))

    sim.run(stop_time=t_end, on_step=measure)
    tot = sim.conserved_totals()
    out.update(steps=sim.step, time=sim.time, energy=(tot["total_energy"] - E0) / abs(E0),
               mass=tot["mass"] / tot0["mass"] - 1.0)
    return out


def test_extremum_preserving_reconstruction_stops_the_central_drain():
    """At R/dx 3.3, 3 steps: PPM's clipped central maximum drains the centre, CS08 does not."""
    from octosim.hydro import RECON_PPM_EP

    ppm = equilibrium_run(4, 1, t_dyn_count=0.15)
    ep = equilibrium_run(4, 1, t_dyn_count=0.15, hydro={"reconstruction": RECON_PPM_EP})
    assert ppm["steps"] == ep["steps"] == 3
    # measured: 8.8% and 1.8%
    assert ppm["drift"] > 0.05 and ep["drift"] < 0.3 * ppm["drift"], (ppm, ep)


# Issue 6 at the smallest pair of resolutions that runs in minutes on two cores: the star
# (R = 0.5) fills most of the box (xscale 0.6, reflecting walls, so no gas enters), R/dx =
# 3.3 (4^3 subgrids) and 6.7 (8^3 subgrids), one level of refinement.
PAIR = {"coarse": (4, 1), "fine": (8, 1)}


@pytest.fixture(scope="module")
def five_t_dyn():
    return {k: equilibrium_run(N, L) for k, (N, L) in PAIR.items()}


# the star relaxed to a discrete equilibrium on the mesh first (fixed-point iterations)
RELAXED = {**STAR, "relax": 8}


@pytest.fixture(scope="module")
def five_t_dyn_wb():
    """The same pair with ``gravity.well_balanced`` (octosim.hydro.wellbalanced), the star
    relaxed first (``polytrope.relax``)."""
    return {k: equilibrium_run(N, L, params=RELAXED, well_balanced=True)
            for k, (N, L) in PAIR.items()}


@pytest.mark.slow
def test_polytrope_drift_and_mach_shrink_with_resolution(five_t_dyn):
    """Polytrope: central density drifts <= 1% and peak |v|/c_s stays small over 5 dynamical times at a modest resolution, and both shrink when the resolution doubles."""  # noqa: E501
    # measured (flux-based gravity work, octosim.gravity.source): drift 12% -> 6.9%, peak
    # |v|/c_s 0.16 -> 0.13 (R/dx 3.3 -> 6.7); before it, 53% -> 18% and 0.28 -> 0.089 with a
    # steady expansion.  With the positivity-guarded ppm_ep: 37% -> 3.4% and 0.66 -> 0.32
    # (the peak at 0.83-0.88 R, t ~ 1.3 t_dyn).  The 1% bound is tested at R/dx 13.3 below.
    c, f = five_t_dyn["coarse"], five_t_dyn["fine"]
    assert f["R_dx"] == pytest.approx(2 * c["R_dx"])
    assert f["time"] == pytest.approx(5.0 / np.sqrt(polytrope.mass(STAR) / (np.pi / 6)))
    assert f["drift"] < 0.7 * c["drift"], (c, f)
    assert f["mach"] < c["mach"], (c, f)
    assert f["mach"] < 0.15, f


@pytest.mark.slow
def test_polytrope_total_energy_is_conserved(five_t_dyn):
    """egas + 1/2 rho phi is conserved to the discretisation error and converges."""
    # measured: +2.5e-3 |E| at R/dx = 3.3, +3e-4 at 6.7 (cell-centred s.g work: +54%, +6%)
    c, f = five_t_dyn["coarse"], five_t_dyn["fine"]
    assert abs(f["energy"]) < 2e-3, f
    assert abs(f["energy"]) < 0.5 * abs(c["energy"]), (c, f)


@pytest.mark.slow
def test_well_balanced_polytrope_drift_and_mach_shrink_with_resolution(five_t_dyn,
                                                                       five_t_dyn_wb):
    """gravity.well_balanced, relaxed star: drift and peak |v|/c_s shrink, below plain PPM's."""
    # measured with polytrope.relax = 8: drift 23% -> 1.9%, peak |v|/c_s 0.38 -> 0.075 (R/dx
    # 3.3 -> 6.7; PPM: 12% -> 6.9%, 0.16 -> 0.13); total energy +1.2e-2 -> +3.1e-4 |E|; mass
    # +5e-15, +2.1e-7 (the density floor in the box corners).  Unrelaxed (the Lane-Emden
    # profile sampled at the cell centres): 18% -> 3.6%, 0.31 -> 0.091, energy +1.2e-2 ->
    # +2.9e-4.  The relaxed fine run: -1.9% at 0.66 t_dyn, then +-1% and +1.5% at 5 t_dyn, the
    # Mach peak at 0.88 R from the start (surface cells fall back).
    c, f = five_t_dyn_wb["coarse"], five_t_dyn_wb["fine"]
    assert f["time"] == pytest.approx(five_t_dyn["fine"]["time"])
    assert f["drift"] < 0.3 * c["drift"], (c, f)
    assert f["mach"] < 0.5 * c["mach"], (c, f)
    assert f["drift"] < 0.025 and f["mach"] < 0.085, f       # unrelaxed: 3.6%, 0.091
    ppm = five_t_dyn["fine"]
    assert f["drift"] < 0.7 * ppm["drift"] and f["mach"] < ppm["mach"], (ppm, f)
    assert abs(f["energy"]) < 1e-3 and abs(f["mass"]) < 1e-6, f


# Before gravity.well_balanced (kept as the record of what was tried): plain PPM drifts 6.9%
# at R/dx 6.7 (12% at 3.3), a dip of -6.7% at 0.6 t_dyn, then ~3% below the start: the PPM
# limiter flattens the smooth central maximum, the face states around the centre then differ
# and the central-upwind diffusion drains the central cells at t = 0 (0.44 rho per unit time
# at R/dx 3.3, 0.21 at 6.7: first order).  The positivity-guarded ppm_ep removes that drain
# but leaves an oscillation: -3% at 0.6 t_dyn, then +1.5 to +3.4%, peak |v|/c_s 0.32 near the
# surface, 37% at R/dx 3.3; cell-average initial data (Gauss-Legendre) give 4.5% with ppm_ep,
# 19% with PPM at 3.3; a finer FMM (theta 0.3) 5.7% with ppm_ep.


@pytest.fixture(scope="module")
def thirteen_wb():
    """The relaxed, well-balanced star at twice the fine resolution: R/dx 13.3 (16^3
    subgrids), the FMM on two threads (the same fields as one, about 1.6 times faster)."""
    return equilibrium_run(16, 1, params=RELAXED, well_balanced=True, threads=2)


# At R/dx 6.7 the relaxed well-balanced star still drifts 1.9% (a dip of -1.9% at 0.66 t_dyn,
# then +-1% and +1.5% at 5 t_dyn), peak |v|/c_s 0.075, from the surface layer: cells whose
# stencil reaches past the surface (from 0.7 R out) fall back to the ordinary
# reconstruction, and the Mach peak sits at 0.88 R from the first step.  A 100 times
# thinner atmosphere changes nothing (1.9%, Mach 0.11); extending each cell's equilibrium
# past the surface as vacuum drove densities negative; damping the momenta for 1 t_dyn
# before t = 0 (x0.8 a step) left 2.5%.  The surface layer thins with resolution: at R/dx
# 13.3 the bound holds.
@pytest.mark.slow
def test_polytrope_central_density_drifts_at_most_one_percent(five_t_dyn_wb, thirteen_wb):
    """Issue 6's bound: the relaxed, well-balanced n = 1 star at R/dx 13.3 keeps its central
    density within 1% and |v|/c_s small over 5 dynamical times, and both shrink from R/dx
    6.7 (first order: the surface layer)."""
    # measured: drift 0.98%, peak |v|/c_s 0.036, total energy +3.0e-5 |E|, mass +1.9e-6 (the
    # density floor in the box corners), 375 steps; at R/dx 6.7: 1.89%, 0.075, +3.1e-4
    f, ff = five_t_dyn_wb["fine"], thirteen_wb
    assert ff["R_dx"] == pytest.approx(2 * f["R_dx"])
    assert ff["time"] == pytest.approx(f["time"])
    assert ff["drift"] <= 0.01, ff
    assert ff["drift"] < 0.7 * f["drift"] and ff["mach"] < 0.7 * f["mach"], (f, ff)
    assert ff["mach"] < 0.05, ff
    assert abs(ff["energy"]) < 1e-4 and abs(ff["mass"]) < 1e-5, ff


def test_lane_emden_theta_is_the_hermite_table_to_rounding():
    """``theta`` (the numba ``theta_at``) is the table's cubic Hermite interpolant
    (``_hermite``), zero from the surface on, at the table's nodes, just off them and
    between them, to one rounding of the cubic."""
    le = lane_emden(1.5)
    x = le.table[0]
    rng = np.random.default_rng(3)
    xi = np.concatenate([x, np.nextafter(x, 10.0), np.nextafter(x[1:], -1.0),
                         rng.random(10000) * 1.2 * le.xi1, [le.xi1, 2.0 * le.xi1]])
    v, _ = le._hermite(xi)
    ref = np.where(xi >= le.xi1, 0.0, np.maximum(v, 0.0))
    assert np.abs(le.theta(xi) - ref).max() <= 1e-15
    assert le.theta(np.array([le.xi1, 5.0])).tolist() == [0.0, 0.0] and le.theta(0.0) == 1.0
