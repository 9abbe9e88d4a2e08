"""Driver: Sod with AMR against uniform resolution, bitwise restart, tables and counters."""

import numpy as np
import pytest

from octosim.driver import Simulation
from octosim.problems import sod

T_SOD = 0.15
X0 = -0.2


def _sod_config(refinement, N=4, max_level=3, regrid_every=2):
    return {"mesh": {"xscale": 1.0, "subgrid_size": N, "max_level": max_level,
                     "regrid_every": regrid_every, "boundary": "reflect"},
            "hydro": {"gamma": 1.4, "reconstruction": "ppm"},
            "problem": {"name": "sod"}, "sod": {"refine_grad": 0.05, "x0": X0},
            "refinement": refinement}


def _l1(x, rho, w, t, params, gamma):
    rho_ex = sod.exact(x, [0.0], [0.0], t, params, gamma)[0].ravel()
    return float(np.sum(np.abs(rho - rho_ex) * w) / np.sum(w))


def _uniform_1d(n, params, gamma):
    """Sod on one n x 1 x 1 block with the same kernels: the uniform-resolution reference."""
    from octosim.fields import GHOST, nfields
    from octosim.hydro.uniform import run_uniform
    dx = 2.0 / n
    U = np.zeros((nfields(0), n + 2 * GHOST, 1 + 2 * GHOST, 1 + 2 * GHOST))
    x = -1.0 + (np.arange(n) + 0.5) * dx
    sod.init_data(U, x, [0.0], [0.0], params, gamma)
    run_uniform(U, dx, gamma, T_SOD, bc=1)
    rho = U[0, GHOST:-GHOST, GHOST, GHOST]
    return _l1(x, rho, np.ones(n), T_SOD, params, gamma), rho


@pytest.fixture(scope="module")
def sod_amr():
    sim = Simulation(_sod_config({"criterion": "none"}), problem=sod)
    sim.totals0 = sim.conserved_totals()
    sim.run(stop_time=T_SOD)
    return sim


def test_sod_amr_matches_uniform_resolution(sod_amr):
    sim = sod_amr
    assert sim.time == T_SOD
    tab = sim.leaf_table()
    finest = 4 << 3
    n_uniform_leaves = 8 ** 3
    assert len(sim.mesh.leaves()) < 0.75 * n_uniform_leaves
    e_amr = _l1(tab["x"], tab["rho"], tab["dx"] ** 3, T_SOD, sim.params, sim.gamma)
    e_fine, rho_fine = _uniform_1d(finest, sim.params, sim.gamma)
    e_coarse, _ = _uniform_1d(finest // 2, sim.params, sim.gamma)
    assert e_amr <= 1.15 * e_fine, (e_amr, e_fine)
    assert e_amr < 0.8 * e_coarse, (e_amr, e_coarse)
    # where the AMR mesh is finest, the profile is the uniform one
    fine = tab["level"] == 3
    i = np.round((tab["x"][fine] + 1.0) * finest / 2.0 - 0.5).astype(int)
    assert np.mean(np.abs(tab["rho"][fine] - rho_fine[i])) < 2e-3


def test_sod_amr_conserves_mass_and_stays_planar(sod_amr):
    amr_sim = sod_amr
    tab = amr_sim.leaf_table()
    # planar symmetry: the solution does not depend on y, z
    for xv in np.unique(tab["x"][tab["level"] == 3])[::3]:
        sel = tab["x"] == xv
        assert np.ptp(tab["rho"][sel]) < 1e-12
    # reflecting walls: mass and energy conserved to round-off through steps and regrids
    c, c0 = amr_sim.conserved_totals(), amr_sim.totals0
    for k in ("mass", "energy"):
        assert abs(c[k] - c0[k]) < 1e-13 * c0[k], (k, c[k] - c0[k])
    assert amr_sim.regrids >= 2 and amr_sim.floor_cells == 0


def test_leaf_table_and_counters(sod_amr):
    sim = sod_amr
    tab = sim.leaf_table()
    n = len(sim.mesh.leaves()) * 4 ** 3
    assert all(len(v) == n for v in tab.values())
    assert set(sim.field_names) <= set(tab)
    assert abs(np.sum(tab["dx"] ** 3) - 8.0) < 1e-12
    assert abs(np.sum(tab["rho"] * tab["dx"] ** 3) - sim.conserved_totals()["mass"]) < 1e-12
    stats = sim.level_stats()
    assert [s["level"] for s in stats] == [0, 1, 2, 3]
    assert sum(s["leaves"] for s in stats) == len(sim.mesh.leaves())
    assert sum(s["subgrids"] for s in stats) == len(sim.mesh.tree.nodes)
    assert sum(s["grid_steps"] for s in stats) >= sim.step * min(8, len(sim.mesh.leaves()))
    for name in ("hydro", "exchange", "regrid", "timestep"):
        assert sim.timers[name] > 0.0


def test_restart_is_bitwise_identical():
    cfg = _sod_config({"criterion": "none"}, max_level=2, regrid_every=2)
    a = Simulation(cfg, problem=sod)
    a.run(stop_step=3)
    time, step, keys, arrays = a.state()
    b = Simulation.from_state(cfg, time, step, keys, [arr.copy() for arr in arrays], problem=sod)
    a.run(stop_step=7)
    b.run(stop_step=7)
    assert a.time == b.time and a.step == b.step == 7
    assert a.mesh.leaves() == b.mesh.leaves()
    for k in a.mesh.leaves():
        assert np.array_equal(a.mesh[k].interior, b.mesh[k].interior), k
    # locational codes work as keys too
    from octosim.tree import locational_code
    c = Simulation.from_state(cfg, time, step, [locational_code(k) for k in keys], arrays,
                              problem=sod)
    assert c.mesh.leaves() == keys


def test_validated_config_and_default_problem_lookup():
    """A config from octosim.config.validate runs, the problem found by name."""
    from octosim.config import validate
    cfg = validate({"problem": {"name": "sod"}, "sod": {"x0": 0.1},
                    "mesh": {"subgrid_size": 4, "max_level": 1, "regrid_every": 1},
                    "hydro": {"gamma": 1.4}, "time": {"stop_step": 2}})
    sim = Simulation(cfg)
    assert sim.problem.__name__.endswith("sod") and sim.params["x0"] == 0.1
    sim.run()
    assert sim.step == 2 and sim.regrids == 2
    assert sum(s["grid_steps"] for s in sim.level_stats()) > 0



def test_gravity_source_conserves_mass_and_momentum():
    """With FMM self-gravity on an AMR mesh, mass and total momentum stay at round-off."""
    from octosim.problems.state import mesh as grid, set_primitive
    from types import SimpleNamespace

    def init_data(U, x, y, z, params, gamma):
        X, Y, Z = grid(x, y, z)
        rho = 0.05 + np.exp(-((X - 0.2) ** 2 + (Y + 0.1) ** 2 + Z ** 2) / 0.05)
        set_primitive(U, rho, 0.0, 0.0, 0.0, 0.2, gamma)

    cfg = {"mesh": {"subgrid_size": 4, "max_level": 2, "regrid_every": 2,
                    "boundary": "periodic"},
           "problem": {"name": "ball"}, "gravity": {"enable": True, "theta": 0.5},
           "refinement": {"criterion": "density", "density_floor": 0.5}}
    sim = Simulation(cfg, problem=SimpleNamespace(PARAMS={}, init_data=init_data))
    c0 = sim.conserved_totals()
    assert c0["potential_energy"] < 0.0
    sim.run(stop_step=3)
    c = sim.conserved_totals()
    assert abs(c["mass"] - c0["mass"]) <= 1e-13 * c0["mass"]
    assert sim.timers["gravity"] > 0.0
    # momentum: periodic hydro has no walls and the FMM forces cancel pairwise
    for k in ("momentum_x", "momentum_y", "momentum_z"):
        assert abs(c[k]) < 1e-12 * c0["mass"], (k, c[k])
    # the ball starts to fall in: gas left of the centre moves right
    assert c["total_energy"] == c["energy"] + c["potential_energy"]
    tab = sim.leaf_table()
    left = (tab["x"] < 0.0) & (tab["x"] > -0.3) & (np.abs(tab["y"] + 0.1) < 0.2)
    assert np.all(tab["sx"][left] > 0.0)


@pytest.mark.parametrize("threads", [1, 2])
def test_gravity_angmom_reaches_the_fmm_and_cancels_its_net_torque(threads):
    """``gravity.angmom: true`` (once read but never passed on) makes the driver's FMM
    forces exert no net torque, to round-off; without it the M2L truncation leaves one."""
    from types import SimpleNamespace

    from octosim.problems.state import mesh as grid, set_primitive

    def init_data(U, x, y, z, params, gamma):     # two off-centre blobs: forces with torque
        X, Y, Z = grid(x, y, z)
        rho = (0.05 + np.exp(-((X - 0.3) ** 2 + (Y + 0.1) ** 2 + Z ** 2) / 0.03)
               + 0.5 * np.exp(-((X + 0.2) ** 2 + (Y - 0.3) ** 2 + (Z - 0.1) ** 2) / 0.02))
        set_primitive(U, rho, 0.0, 0.0, 0.0, 0.2, gamma)

    torque = {}
    for angmom in (False, True):
        cfg = {"mesh": {"subgrid_size": 8, "max_level": 2, "boundary": "outflow"},
               "problem": {"name": "blobs"}, "runtime": {"threads": threads},
               "gravity": {"enable": True, "theta": 0.5, "angmom": angmom},
               "refinement": {"criterion": "density", "density_floor": 0.5}}
        sim = Simulation(cfg, problem=SimpleNamespace(PARAMS={}, init_data=init_data))
        assert sim.grav["angmom"] is angmom
        phi, g = sim._solve_gravity()
        assert len(g) > 8                           # refined: M2L pairs across leaves
        tau, scale = np.zeros(3), 0.0
        for key, acc in g.items():
            sg = sim.mesh.subgrids[key]
            X = np.stack(np.meshgrid(*sg.centers(), indexing="ij"))
            m = sg.interior[0] * sg.dx ** 3
            t = m * np.cross(X, acc, axis=0)
            tau += t.reshape(3, -1).sum(axis=1)
            scale += float(np.abs(t).sum())
        torque[angmom] = np.abs(tau).max() / scale
    assert torque[True] < 1e-14, torque
    assert torque[False] > 1e3 * torque[True] and torque[False] > 1e-10, torque


def test_from_state_rejects_inconsistent_trees():
    cfg = _sod_config({"criterion": "none"}, max_level=1)
    arr = np.zeros((6, 4, 4, 4))
    with pytest.raises(ValueError, match="max_level"):
        Simulation.from_state(cfg, 0.0, 0, [(2, 0, 0, 0)], [arr], problem=sod)
    cfg = _sod_config({"criterion": "none"}, max_level=3)
    from octosim.tree import children
    keys = [k for k in children((0, 0, 0, 0)) if k != (1, 0, 0, 0)]
    keys += [c for c in children((1, 0, 0, 0)) if c != (2, 1, 1, 1)] + children((2, 1, 1, 1))
    with pytest.raises(ValueError, match="balance"):
        Simulation.from_state(cfg, 0.0, 0, keys, [arr] * len(keys), problem=sod)


@pytest.mark.parametrize("name", ["ppm", "plm", "ppm_ep", "plm_minmod"])
def test_every_reconstruction_word_reaches_the_kernels(name):
    from octosim.config import config_from_text
    from octosim.hydro import RECON_NAMES
    cfg = config_from_text(f"problem: {{name: sod}}\nhydro: {{reconstruction: {name}}}\n"
                           "mesh: {subgrid_size: 4, max_level: 0}\ntime: {stop_step: 1}\n")
    sim = Simulation(cfg)
    assert sim.recon == RECON_NAMES[name]
    sim.advance()                                # and it runs
    assert np.isfinite(sim.leaf_table()["rho"]).all()


def test_angular_momentum_of_a_rigid_rotation_is_the_midpoint_sum():
    """``rho = 1``, ``v = Omega z x r`` on the cube [-1, 1]^3 of 8^3 cells: the report's
    ``L_z = Omega sum (x^2 + y^2) h^3 = Omega (16/3 - 4 h^2 / 3)`` (the midpoint rule's
    error for a quadratic, exact), ``L_x = L_y = 0`` by symmetry, and the scale bounds
    ``|L|``; halving ``h`` brings ``L_z`` four times closer to the integral 16/3."""
    from types import SimpleNamespace

    from octosim.problems.state import mesh as grid, set_primitive
    om = 0.7

    def init_data(U, x, y, z, params, gamma):
        X, Y, _ = grid(x, y, z)
        set_primitive(U, np.ones_like(X), -om * Y, om * X, 0.0 * X, 1.0, gamma)

    err = []
    for N in (8, 16):
        cfg = {"mesh": {"xscale": 1.0, "subgrid_size": N, "max_level": 0,
                        "boundary": "outflow"}, "problem": {"name": "spin"},
               "hydro": {"gamma": 1.4}}
        sim = Simulation(cfg, problem=SimpleNamespace(PARAMS={}, init_data=init_data))
        L = sim.angular_momentum()
        h = 2.0 / N
        assert L["angular_momentum_z"] == pytest.approx(om * (16 / 3 - 4 * h * h / 3),
                                                        rel=1e-14)
        assert abs(L["angular_momentum_x"]) + abs(L["angular_momentum_y"]) <= 1e-15
        assert L["angular_momentum_z"] <= L["angular_momentum_scale"]
        err.append(om * 16 / 3 - L["angular_momentum_z"])
    assert err[0] / err[1] == pytest.approx(4.0, rel=1e-12)


@pytest.mark.parametrize("name", ["binary", "sod"])
def test_set_up_without_prolongation_or_ghost_exchange_is_bitwise_the_full_one(monkeypatch,
                                                                              name):
    """The set-up's refinement passes create new leaves empty (their initial data
    overwrites any prolongation) and, when the criteria read interiors only (binary's
    density floor, ``REFINE_READS_GHOSTS = False``), exchange no ghosts: the tree and
    every node's interior are bitwise those of passes that prolong and exchange (sod's
    gradient test reads ghosts, so its passes still exchange)."""
    from octosim import amr
    cfg = ({"mesh": {"subgrid_size": 4, "max_level": 2}, "problem": {"name": "binary"},
            "gravity": {"enable": False}} if name == "binary" else
           _sod_config({"criterion": "none"}, max_level=2))
    exchanges = []
    monkeypatch.setattr(Simulation, "_exchange",
                        lambda self, stage=False, _ex=Simulation._exchange:
                        exchanges.append(stage) or _ex(self, stage))
    fast = Simulation(cfg)
    assert fast.criterion.reads_ghosts == bool(exchanges) == (name == "sod")
    regrid = amr.regrid
    monkeypatch.setattr(amr, "regrid", lambda *a, **kw: regrid(*a, **dict(kw, data=True)))
    init = amr.Criterion.__init__

    def reads_ghosts(self, *a, **kw):
        init(self, *a, **kw)
        self.reads_ghosts = True
    monkeypatch.setattr(amr.Criterion, "__init__", reads_ghosts)
    exchanges.clear()
    full = Simulation(cfg)
    assert exchanges                                            # the full passes exchange
    assert set(full.mesh.tree.nodes) == set(fast.mesh.tree.nodes)
    assert len(fast.mesh.leaves()) > 8                          # it refined
    for key in full.mesh.tree.nodes:
        assert np.array_equal(full.mesh.subgrids[key].interior,
                              fast.mesh.subgrids[key].interior), key
