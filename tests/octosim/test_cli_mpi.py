"""``mpiexec -n 2 python -m octosim``: one report, one set of files, fields bitwise identical
to the run on one locality."""

import json
import os

import numpy as np
import pytest

from octosim.io import read_snapshot
from tests.mpiutil import REPO

pytestmark = pytest.mark.mpi

ARGS = [os.path.join(REPO, "inputs", "sod.yaml"), "--set", "mesh.subgrid_size=4",
        "--max-level", "1", "--stop-step", "3", "--quiet"]


def test_two_localities_match_one(run_mpi, tmp_path):
    one = run_mpi("octosim", 1, args=ARGS + ["--output", tmp_path / "one"], timeout=240)
    two = run_mpi("octosim", 2, args=ARGS + ["--output", tmp_path / "two", "--json",
                                             tmp_path / "two.json"], timeout=240)
    assert two.stdout.count("grids/s") == 1                 # the report is printed once
    a = read_snapshot(tmp_path / "one" / "snapshot_000003.h5")
    b = read_snapshot(tmp_path / "two" / "snapshot_000003.h5")
    assert a.time == b.time and b.attrs["nlocalities"] == 2
    assert all(np.array_equal(a.cells[k], b.cells[k]) for k in a.cells)
    rep = json.loads((tmp_path / "two.json").read_text())
    assert rep["localities"] == 2 and rep["parcels"] is not None
    per = rep["phases_by_locality"]                         # load balance: each locality
    assert len(per) == 2 and all(d["hydro"] > 0 and d["comm"] >= 0 for d in per)
    assert per[0]["hydro"] == rep["phases"]["hydro"]        # locality 0's are the 'phases'
    assert "max/loc" in two.stdout and "waiting on parcels" in two.stdout
    assert one.returncode == 0


def test_boundary_outflow_is_the_same_on_1_2_4_localities(run_mpi, tmp_path):
    """Sod's open tube, refined and derefined around its waves (leaves move between
    localities): each locality tallies its own leaves' faces, and the gathered exact sums
    give the same report at 1, 2 and 4 localities, balancing the totals to round-off."""
    args = [os.path.join(REPO, "inputs", "sod.yaml"), "--set", "mesh.subgrid_size=4",
            "--max-level", "2", "--set", "sod.refine_grad=0.2", "--stop-step", "20",
            "--set", "time.stop_time=10", "--quiet"]
    reps = {}
    for n in (1, 2, 4):
        run_mpi("octosim", n, args=args + ["--output", tmp_path / f"n{n}", "--json",
                                           tmp_path / f"n{n}.json"], timeout=240)
        reps[n] = json.loads((tmp_path / f"n{n}.json").read_text())["conservation"]
    c = reps[1]
    assert c["mass"]["outflow"] > 1e-4 * c["mass"]["initial"]      # gas has left the tube
    assert abs(c["momentum_x"]["outflow"]) > 0.05
    for q in ("mass", "momentum_x", "energy"):
        assert abs(c[q]["relative_error"]) < 1e-14, (q, c[q])
    assert reps[2] == c and reps[4] == c
