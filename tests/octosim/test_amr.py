"""AMR: regrid keeps 2:1 balance and conserved totals; refinement follows a moving pulse."""

import itertools
import math
import random
from types import SimpleNamespace

import numpy as np
import pytest

from octosim import amr, exchange
from octosim.driver import Simulation
from octosim.fields import GHOST
from octosim.mesh import Mesh
from octosim.problems.state import mesh as grid, set_primitive


def _touch(a, b, periodic):
    L = max(a[0], b[0])
    n = 1 << L
    for ax in range(3):
        sa, sb = 1 << (L - a[0]), 1 << (L - b[0])
        a0, a1 = a[1 + ax] * sa, (a[1 + ax] + 1) * sa
        shifts = (-n, 0, n) if periodic[ax] else (0,)
        if not any(a0 <= b[1 + ax] * sb + s + sb and b[1 + ax] * sb + s <= a1 for s in shifts):
            return False
    return True


def assert_balanced(tree):
    assert tree.is_balanced()
    for a, b in itertools.combinations(tree.leaves(), 2):
        if abs(a[0] - b[0]) > 1:
            assert not _touch(a, b, tree.periodic), (a, b)


def totals(mesh):
    out = np.zeros(mesh.nf)
    for key in mesh.leaves():
        sg = mesh[key]
        out += sg.interior.sum(axis=(1, 2, 3)) * sg.dx ** 3
    return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("boundary", ["outflow", "periodic"])
def test_random_regrids_balance_and_conserve(seed, boundary):
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    mesh = Mesh(4, 3, 1.0, 3, boundary)
    mesh[(0, 0, 0, 0)].interior[...] = 1.0 + nrng.random((3, 4, 4, 4))
    mesh[(0, 0, 0, 0)].interior[2] -= 1.5   # a signed field
    ref = None
    depth, merged = 0, 0
    for it in range(8):
        exchange.restrict_all(mesh)
        exchange.fill_ghosts(mesh)
        flags = {k: rng.random() < (0.6 if it < 4 else 0.05) for k in mesh.leaves()}
        nref, nde = amr.regrid(mesh, flags)
        depth, merged = max(depth, mesh.tree.depth()), merged + nde
        mesh.sync()
        assert_balanced(mesh.tree)
        t = totals(mesh)
        ref = t if ref is None else ref
        assert np.all(np.abs(t - ref) <= 1e-13 * np.abs(ref)), (it, t - ref)
        # positivity preserved by the limited prolongation
        assert min(mesh[k].interior[0].min() for k in mesh.leaves()) >= 1.0 - 1e-14
    assert depth >= 2 and merged > 0


def _blob(amp=2.0, width2=0.02, c=(-0.75, 0.25, 0.25), v=(1.0, 0.0, 0.0)):
    """A density pulse in pressure equilibrium, moving with velocity v (centre on a root cell)."""
    def init_data(U, x, y, z, params, gamma):
        X, Y, Z = grid(x, y, z)
        rho = 1.0 + amp * np.exp(-((X - c[0]) ** 2 + (Y - c[1]) ** 2 + (Z - c[2]) ** 2) / width2)
        set_primitive(U, rho, v[0], v[1], v[2], 1.0, gamma)
    return SimpleNamespace(PARAMS={}, init_data=init_data)


def _config(**mesh):
    m = {"xscale": 1.0, "subgrid_size": 4, "max_level": 2, "regrid_every": 2,
         "boundary": "periodic"}
    m.update(mesh)
    return {"mesh": m, "problem": {"name": "blob"},
            "refinement": {"criterion": "density", "density_floor": 1.3},
            "hydro": {"gamma": 1.4, "reconstruction": "ppm"}}


def test_conservation_periodic_box_with_amr_and_regrids():
    sim = Simulation(_config(), problem=_blob(amp=1.5, width2=0.03, c=(-0.25, 0.25, -0.25), v=(1.0, 0.6, -0.4)))
    c0 = sim.conserved_totals()
    shapes = set()

    def check(s):
        c = s.conserved_totals()
        for k in c:
            assert abs(c[k] - c0[k]) <= 1e-13 * abs(c0[k]), (s.step, k, c[k], c0[k])
        assert_balanced(s.mesh.tree)
        shapes.add(frozenset(s.mesh.leaves()))

    sim.run(stop_step=10, on_step=check)
    assert sim.regrids == 5
    assert len(shapes) >= 2, "the mesh never changed: regrid not exercised"
    assert max(k[0] for k in sim.mesh.leaves()) == 2
    assert min(k[0] for k in sim.mesh.leaves()) <= 1


def test_refinement_follows_moving_pulse():
    cfg = _config(max_level=3)
    cfg["refinement"]["density_floor"] = 1.15
    sim = Simulation(cfg, problem=_blob(amp=2.0, width2=0.02, v=(2.0, 0.0, 0.0)))

    def fine_centre(s):
        """Circular mean (periodic in x) of the finest leaves' centres."""
        xs = np.array([s.mesh[k].origin[0] + 0.5 * s.mesh[k].N * s.mesh[k].dx
                       for k in s.mesh.leaves() if k[0] == 3])
        ang = np.arctan2(np.mean(np.sin(np.pi * xs)), np.mean(np.cos(np.pi * xs)))
        return ang / np.pi, len(xs)

    x_start, n_start = fine_centre(sim)
    assert abs(x_start + 0.75) < 0.1 and n_start > 0, (x_start, n_start)
    sim.run(stop_time=0.3)
    x_end, n_end = fine_centre(sim)
    assert n_end > 0
    assert 0.45 < x_end - x_start < 0.75, (x_start, x_end)
    # the region the pulse left is derefined
    for k in sim.mesh.leaves():
        x0 = sim.mesh[k].origin[0]
        if -1.0 <= x0 and x0 + sim.mesh[k].N * sim.mesh[k].dx <= -0.5:
            assert k[0] < 3, k


def test_conservation_fails_without_flux_correction(monkeypatch):
    """Negative control: the conservation test detects a missing coarse/fine flux correction."""
    monkeypatch.setattr(exchange, "correct_fluxes", lambda mesh: None)
    sim = Simulation(_config(), problem=_blob(amp=1.5, width2=0.03, c=(-0.25, 0.25, -0.25),
                                              v=(1.0, 0.6, -0.4)))
    m0 = sim.conserved_totals()["mass"]
    sim.run(stop_step=4)
    assert abs(sim.conserved_totals()["mass"] - m0) > 1e-10 * m0


def test_mixed_boundaries_conserve_mass_energy_and_periodic_momentum():
    """Periodic in x, reflecting in y and z: mass, energy and x-momentum conserved."""
    cfg = _config(boundary=["periodic", "reflect", "reflect"], regrid_every=1)
    sim = Simulation(cfg, problem=_blob(amp=1.5, width2=0.03, c=(-0.75, 0.75, -0.75),
                                        v=(1.5, 0.5, -0.5)))
    c0 = sim.conserved_totals()
    levels = set()
    sim.run(stop_step=6, on_step=lambda s: levels.update(k[0] for k in s.mesh.leaves()))
    c = sim.conserved_totals()
    for k in ("mass", "energy"):
        assert abs(c[k] - c0[k]) <= 1e-13 * abs(c0[k]), (k, c[k] - c0[k])
    assert abs(c["momentum_x"] - c0["momentum_x"]) <= 1e-13 * c0["mass"]
    assert abs(c["momentum_y"] - c0["momentum_y"]) > 1e-8   # walls push back
    assert len(levels) >= 2


@pytest.mark.parametrize("criterion", [{"criterion": "density", "density_floor": 1.3},
                                       {"criterion": "gradient", "gradient_threshold": 0.05}])
def test_regrid_of_static_data_is_idempotent(criterion):
    """Regridding unchanged data twice gives the same mesh (no refine/derefine flicker)."""
    cfg = _config(max_level=3)
    cfg["refinement"] = criterion
    sim = Simulation(cfg, problem=_blob(amp=2.0, width2=0.03, c=(-0.25, 0.25, -0.25)))
    meshes = []
    for _ in range(3):
        sim.regrid()
        assert_balanced(sim.mesh.tree)
        meshes.append(sim.mesh.leaves())
    assert meshes[1] == meshes[2] and meshes[0] == meshes[1]
    assert len({k[0] for k in meshes[-1]}) >= 2


def _wrap_faces(tree):
    """Return the (coarse leaf, fine leaf, axis) pairs whose shared face is a periodic edge."""
    out = set()
    for key in tree.leaves():
        n = 1 << key[0]
        for c, axis, side, _ in exchange.flux_plan(tree, key):
            if key[1 + axis] == (n - 1 if side else 0):
                out.add((key, c, axis))
    return out


@pytest.mark.parametrize("max_level", [2, 3])
def test_conservation_with_refined_region_straddling_the_periodic_boundary(max_level):
    """A refined slab across x = +-1 (fine leaves on both sides of the wrap, coarse/fine faces
    whose fine neighbour lies across the domain edge), reshaped at every regrid: mass,
    momentum and energy stay at round-off and no floor acts."""
    sim = Simulation(_config(max_level=max_level, regrid_every=1),
                     problem=_blob(amp=1.5, width2=0.03, c=(-0.9, 0.25, 0.25),
                                   v=(1.0, 0.6, -0.4)))

    def straddle(sg):
        x0, w = sg.origin[0], sg.N * sg.dx
        at_edge = x0 <= -1.0 + 1e-12 or x0 + w >= 1.0 - 1e-12
        axis = 1 + sim.step % 2             # alternate the slab's half: refine and derefine
        return at_edge and sg.origin[axis] < 0.0

    sim.criterion = straddle
    for _ in range(max_level):
        sim.regrid()
    c0 = sim.conserved_totals()
    shapes, wraps = set(), []

    def check(s):
        c = s.conserved_totals()
        for k in c:
            assert abs(c[k] - c0[k]) <= 1e-13 * abs(c0[k]), (s.step, k, c[k] - c0[k])
        assert_balanced(s.mesh.tree)
        shapes.add(frozenset(s.mesh.leaves()))
        wraps.append(len(_wrap_faces(s.mesh.tree)))

    sim.run(stop_step=4, on_step=check)
    assert sim.floor_cells == 0
    assert len(shapes) >= 2, "regrids never changed the mesh"
    assert min(wraps) > 0, "no coarse/fine face across the periodic boundary"
    assert all(abs(c0[k]) > 0.1 for k in c0)


def test_use_problem_false_leaves_the_problems_refine_unasked():
    """``refinement.use_problem`` (once validated but ignored): false stops the criterion
    from asking the problem module's ``refine()``; the generic tests still apply."""
    asked = []

    def refine(U, level, dx, params):
        asked.append(level)
        return True
    problem = SimpleNamespace(refine=refine)
    sg = SimpleNamespace(level=1, N=4, dx=0.25,
                         U=np.ones((7, 4 + 2 * GHOST, 4 + 2 * GHOST, 4 + 2 * GHOST)))
    sg.interior = sg.U[:, GHOST:-GHOST, GHOST:-GHOST, GHOST:-GHOST]
    assert amr.Criterion({"criterion": "none"}, problem=problem)(sg) is True and asked == [1]
    off = amr.Criterion({"criterion": "none", "use_problem": False}, problem=problem)
    assert off(sg) is False and asked == [1]
    dense = amr.Criterion({"criterion": "density", "density_floor": 0.5, "use_problem": False},
                          problem=problem)
    assert dense(sg) is True and asked == [1]


def test_criterion_says_whether_its_flags_read_ghosts():
    """The gradient test reads the first ghost layer; a problem's own test does too unless
    the problem says ``REFINE_READS_GHOSTS = False`` (a density floor)."""
    from octosim.problems import binary, sod
    C = amr.Criterion
    assert not C({"criterion": "density"}).reads_ghosts
    assert C({"criterion": "gradient"}).reads_ghosts and C({"criterion": "both"}).reads_ghosts
    assert not C({"criterion": "none"}, problem=binary).reads_ghosts
    assert C({"criterion": "gradient"}, problem=binary).reads_ghosts
    assert C({"criterion": "none"}, problem=sod).reads_ghosts       # no flag: assume so
    assert not C({"criterion": "none", "use_problem": False}, problem=sod).reads_ghosts
