"""Binary star: the orbit's setup (momentum, centre of mass, species) and conservation in a
short self-gravitating run with a regrid; the input file runs from the command line."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from octosim import exchange
from octosim.config import load_config
from octosim.driver import Simulation
from octosim.problems import binary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INPUT = os.path.join(ROOT, "inputs", "binary.yaml")
SMALL = ["mesh.subgrid_size=4", "mesh.max_level=3", "mesh.regrid_every=2"]


def _sim(*sets):
    return Simulation(load_config(INPUT, list(SMALL) + list(sets)))


def _momentum(sim):
    """Return total momentum (3,) and the sum of |momentum| (its round-off scale)."""
    t = sim.conserved_totals()
    P = np.array([t["momentum_x"], t["momentum_y"], t["momentum_z"]])
    tab = sim.leaf_table()
    dv = tab["dx"] ** 3
    scale = math.fsum(np.sqrt(tab["sx"] ** 2 + tab["sy"] ** 2 + tab["sz"] ** 2) * dv)
    return P, scale, t


def test_orbit_is_keplerian_about_the_origin():
    o = binary.orbit({"q": 0.4, "separation": 1.2, "mass1": 2.0})
    assert o["m1"] * o["x1"] + o["m2"] * o["x2"] == pytest.approx(0.0, abs=1e-15)
    assert o["x2"] - o["x1"] == pytest.approx(1.2, rel=1e-15)
    assert o["omega"] ** 2 * 1.2 ** 3 == pytest.approx(2.8, rel=1e-14)     # G (m1 + m2)
    assert o["m1"] * o["v1"] + o["m2"] * o["v2"] == pytest.approx(0.0, abs=1e-15)


@pytest.fixture(scope="module")
def initial():
    sim = _sim("gravity.enable=false")
    P0, scale0, _ = _momentum(sim)
    binary.balance_momentum(sim.mesh)
    exchange.restrict_all(sim.mesh)
    return sim, P0, scale0


def test_initial_momentum_cancels_and_centre_of_mass_is_at_origin(initial):
    sim, P0, scale0 = initial
    # cell sampling leaves the two stars' momenta unbalanced at the O(dx^2) level ...
    assert np.linalg.norm(P0) < 1e-2 * scale0, (P0, scale0)
    # ... which balance_momentum removes to round-off
    P, scale, t = _momentum(sim)
    assert np.linalg.norm(P) <= 1e-14 * scale, (P, scale)
    tab = sim.leaf_table()
    m = tab["rho"] * tab["dx"] ** 3
    com = np.array([math.fsum(m * tab[a]) for a in "xyz"]) / math.fsum(m)
    dx_min = tab["dx"].min()
    assert abs(com[1]) <= 1e-14 and abs(com[2]) <= 1e-14, com       # mirror symmetric
    assert abs(com[0]) < 0.1 * dx_min, (com, dx_min)
    assert t["mass"] == pytest.approx(1.5, rel=2e-2)


@pytest.mark.parametrize("dx", [0.02, 0.3])  # s = subsample (2) and s = 2 dx / radius (> 2)
def test_cell_averages_add_the_sub_points_one_at_a_time_in_order(dx):
    """init_data samples all s^3 sub-points at once: each cell's sum must still be the
    sub-points' values added one offset after another, bitwise."""
    from octosim.problems.state import GHOST as G, interior, mesh, resolve
    P = resolve(binary.PARAMS, {})
    N = 4
    U = np.zeros((8, N + 2 * G, N + 2 * G, N + 2 * G))
    x = binary.orbit(P)["x2"] + (np.arange(N) - 1.5) * dx   # across the secondary's centre
    binary.init_data(U, x, x - x.mean(), x - x.mean(), P, 5.0 / 3.0)
    dx = float(x[1] - x[0])                                  # as init_data reads it
    s = max(int(P["subsample"]), math.ceil(2.0 * dx / min(P["radius1"], P["radius2"])))
    off = ((np.arange(s) + 0.5) / s - 0.5) * dx
    acc = None
    y = x - x.mean()
    for a in off:
        for b in off:
            for c in off:
                rho, vx, vy, p, r1, r2 = binary._sample(*mesh(x + a, y + b, y + c), P)
                q = (rho, rho * vx, rho * vy)
                acc = q if acc is None else tuple(u + v for u, v in zip(acc, q))
    rho, sx, sy = (v / s ** 3 for v in acc)
    assert np.array_equal(interior(U, 0), rho) and rho.max() > 10 * P["rho_atm"]
    assert np.array_equal(interior(U, 1), rho * (sx / rho))   # set_primitive's momentum
    assert np.array_equal(interior(U, 2), rho * (sy / rho))


def test_species_mark_the_stars(initial):
    sim, _, _ = initial
    tab = sim.leaf_table()
    o = binary.orbit({})
    dv = tab["dx"] ** 3
    s0, s1, rho = tab["spc_0"], tab["spc_1"], tab["rho"]
    assert np.all(s0 >= 0) and np.all(s1 >= 0) and np.all(s0 + s1 <= rho * (1 + 1e-14))
    assert np.all((s0 == 0) | (s1 == 0))                                # the stars are apart
    r1 = np.sqrt((tab["x"] - o["x1"]) ** 2 + tab["y"] ** 2 + tab["z"] ** 2)
    r2 = np.sqrt((tab["x"] - o["x2"]) ** 2 + tab["y"] ** 2 + tab["z"] ** 2)
    reach = np.sqrt(3.0) * tab["dx"]
    assert np.all(s0[r1 > 0.3 + reach] == 0) and np.all(s1[r2 > 0.25 + reach] == 0)
    assert np.sum(s0 * dv) == pytest.approx(o["m1"], rel=2e-2)
    assert np.sum(s1 * dv) == pytest.approx(o["m2"], rel=2e-2)
    star = (s0 + s1) / rho > 0.99
    assert np.all(s0[star & (tab["x"] < 0)] > 0) and np.all(s1[star & (tab["x"] > 0)] > 0)


def test_short_run_with_regrids_conserves_mass_and_momentum():
    """Periodic hydro boundaries (free-space gravity): no gas crosses the domain boundary,
    so only round-off may change the totals; FMM forces are pairwise antisymmetric, and
    regrids prolong and restrict conservatively.  A raised density threshold derefines the
    mesh at the first regrid, the usual one refines it again at the second."""
    sim = _sim("mesh.boundary=periodic", "mesh.regrid_every=1", "time.stop_step=3")
    binary.balance_momentum(sim.mesh)
    exchange.restrict_all(sim.mesh)
    P0, scale, t0 = _momentum(sim)
    levels = [tuple(s["leaves"] for s in sim.level_stats())]
    refine_rho = sim.params["refine_rho"]
    sim.params["refine_rho"] = 100.0           # above both central densities: derefine

    def on_step(s):
        levels.append(tuple(x["leaves"] for x in s.level_stats()))
        s.params["refine_rho"] = refine_rho

    sim.run(on_step=on_step)
    P1, _, t1 = _momentum(sim)
    assert sim.regrids == 3 and sim.step == 3
    assert levels[1][-1] == 0 and levels[2][-1] > 0, levels       # merged, then split
    # the density floor never acts (the energy floor may, in the ambient gas at the stars'
    # edges, where prolonged momenta and energy leave e < e_floor; it moves no mass)
    assert sim.leaf_table()["rho"].min() > sim.rho_floor
    assert abs(t1["mass"] - t0["mass"]) <= 1e-13 * t0["mass"], (t0["mass"], t1["mass"])
    assert np.linalg.norm(P1 - P0) <= 1e-13 * scale, (P0, P1, scale)


def test_binary_input_runs_from_the_command_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [sys.executable, "-m", "octosim", INPUT, "--stop-step", "3", "--output",
           str(tmp_path / "out"), "--max-level", "2"] + \
        [a for s in SMALL[:1] + ["mesh.regrid_every=2"] for a in ("--set", s)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "level  subgrids" in r.stdout and "total" in r.stdout, r.stdout[-2000:]


def test_fmm_threads_change_no_field():
    """``runtime.threads = 3``: the gravity solves run as three target shares at once
    (``ThreadedSolver``, re-cut after the first counts and made anew at each regrid); two
    steps with regrids are bitwise those of one thread."""
    tabs = []
    for threads in (1, 3):
        sim = _sim("mesh.regrid_every=1", "time.stop_step=2", f"runtime.threads={threads}")
        sim.run()
        assert sim.regrids == 2
        tabs.append(sim.leaf_table())
    assert set(tabs[0]) == set(tabs[1])
    for k in tabs[0]:
        assert np.array_equal(tabs[0][k], tabs[1][k]), k


def test_auto_curve_cuts_across_the_line_of_the_stars_and_survives_a_restart():
    """``mesh.curve: auto`` orders the binary's leaves x first (its stars lie on the x
    axis): the first half of the curve lies at lower x than the second.  A run rebuilt from
    its state chooses the same curve; an explicit curve is kept."""
    sim = _sim()
    assert sim.mesh.tree.curve == "xzy"
    leaves = sim.mesh.leaves()
    half = sum(8 ** (3 - k[0]) for k in leaves) // 2
    pos, first = 0, []
    for k in leaves:
        if pos < half:
            first.append(k)
        pos += 8 ** (3 - k[0])
    assert all((k[1] + 1) << (3 - k[0]) <= 4 for k in first)
    t, step, keys, arrays = sim.state()
    back = Simulation.from_state(sim.config, t, step, keys, arrays)
    assert back.mesh.tree.curve == "xzy" and back.mesh.leaves() == leaves
    assert _sim("mesh.curve=zyx").mesh.tree.curve == "zyx"
