"""The boundary tally (``octosim.outflow``): exact sums that do not depend on their order,
and with it the totals of an open or walled box balance to round-off."""

import math
import os
import random

import numpy as np
import pytest

from octosim.config import load_config
from octosim.driver import Simulation
from octosim.hydro.outflow import boundary_faces
from octosim.outflow import QUANTITIES, exact, rounded
from octosim.tree import Octree

SOD = os.path.join(os.path.dirname(__file__), "..", "..", "inputs", "sod.yaml")


def test_exact_sums_do_not_depend_on_the_order_and_round_once():
    rng = random.Random(7)
    xs = [rng.uniform(-1.0, 1.0) * 10.0 ** rng.randint(-300, 300) for _ in range(400)]
    xs += [5e-324, -2.5e-320, 1.0, -1.0 + 2.0 ** -52]
    total = sum(exact(x) for x in xs)
    floats = set()
    for _ in range(5):
        rng.shuffle(xs)
        assert sum(exact(x) for x in xs) == total
        floats.add(sum(xs))
    assert len(floats) > 1                   # what adding floats in turn would give instead
    assert rounded(total) == math.fsum(xs)   # the correctly rounded sum
    assert all(rounded(exact(x)) == x for x in xs)


def test_boundary_faces_name_each_leaf_face_on_a_non_periodic_domain_face():
    tree = Octree(2)
    tree.refine((0, 0, 0, 0))
    for k in list(tree.leaves()):
        tree.refine(k)
    leaves = tree.leaves()                    # 64 leaves of level 2
    f = boundary_faces(leaves, (False, False, False))
    assert len(f) == 6 * 16
    for l, axis, side in f:
        assert leaves[l][1 + axis] == 3 * side
    f = boundary_faces(leaves, (True, False, True))
    assert len(f) == 2 * 16 and set(f[:, 1].tolist()) == {1}


def _sod(*sets):
    return Simulation(load_config(SOD, ["mesh.subgrid_size=4", "mesh.max_level=2",
                                        "time.stop_step=40", "time.stop_time=10", "sod.refine_grad=0.2",
                                        *sets]))


@pytest.mark.parametrize("boundary", ["outflow", "reflect"])
def test_a_box_balances_its_totals_with_what_crossed_its_faces(boundary):
    """Sod's tube, refined around its waves (regrids and flux corrections on the way): the
    totals change by what the faces let through, to round-off; walls let no mass or
    energy through but push (the pressures differ at the two ends)."""
    sim = _sod(f"mesh.boundary={boundary}")
    t0 = sim.conserved_totals()
    levels = []
    sim.run(on_step=lambda s: levels.append(len({k[0] for k in s.mesh.leaves()})))
    t1 = sim.conserved_totals()
    out = sim.boundary_outflow()
    assert sim.regrids == 10 and max(levels) == 2 and levels[-1] == 1   # refined, then not
    for q, _ in QUANTITIES:
        big = max(abs(t0[q]), abs(t1[q]), abs(out[q]))
        assert abs(t1[q] + out[q] - t0[q]) <= 1e-14 * big, (q, t0[q], t1[q], out[q])
    assert abs(out["momentum_x"]) > 0.05       # the ends' pressures differ: the faces push
    assert out["momentum_y"] == out["momentum_z"] == 0.0
    if boundary == "reflect":
        assert out["mass"] == 0.0 and out["energy"] == 0.0
    else:
        assert out["mass"] > 1e-4 * t0["mass"]  # gas has left the tube at both ends
        assert abs(t1["mass"] - t0["mass"]) > 1e10 * abs(t1["mass"] + out["mass"] - t0["mass"])


def test_a_periodic_box_has_no_tally():
    assert _sod("mesh.boundary=periodic").boundary_outflow() is None
