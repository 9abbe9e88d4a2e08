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
