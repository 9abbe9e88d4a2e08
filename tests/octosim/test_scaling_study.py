"""analysis/scaling.py: a real 1- and 2-rank study, in two rounds, writes its CSV with
efficiencies; a failing run is recorded and the study goes on."""
import csv
import os
import sys

import pytest

from tests.mpiutil import REPO, mpiexec_available

sys.path.insert(0, os.path.join(REPO, "analysis"))
import scaling  # noqa: E402

pytestmark = pytest.mark.skipif(not mpiexec_available(), reason="needs mpiexec")
SOD = os.path.join(REPO, "inputs", "sod.yaml")


def test_study_writes_rows_and_efficiency_and_survives_a_failing_run(tmp_path, capsys):
    out = tmp_path / "s"
    rc = scaling.main([SOD, "--ranks", "1", "2", "--levels", "1", "--parcelports", "mpi",
                       "--steps", "2", "--set", "mesh.subgrid_size=4", "--timeout", "300",
                       "--repeat", "2", "--launcher", "mpiexec", "--out", str(out)])
    assert rc == 0
    rows = list(csv.DictReader(open(f"{out}.csv")))
    assert [int(r["ranks"]) for r in rows] == [1, 2]
    assert float(rows[0]["efficiency"]) == 1.0 and float(rows[1]["efficiency"]) > 0
    assert all(float(r["grids_per_second"]) > 0 and not r["error"] for r in rows)
    assert all(int(r["runs"]) == 2 and float(r["spread"]) >= 1.0 for r in rows)
    said = [ln for ln in capsys.readouterr().out.splitlines() if "grids/s (round" in ln]
    assert [(ln.split()[1], ln.split()[-3]) for ln in said] == [   # rounds, not repeats
        ("1", "1"), ("2", "1"), ("1", "2"), ("2", "2")], said
    bad = tmp_path / "bad"                                    # level 1 runs, an unknown key fails
    rc = scaling.main([SOD, "--ranks", "1", "--levels", "1", "--parcelports", "mpi",
                       "--steps", "1", "--set", "mesh.no_such_key=1", "--out", str(bad)])
    rows = list(csv.DictReader(open(f"{bad}.csv")))
    assert rc == 1 and len(rows) == 1 and rows[0]["error"] and not rows[0]["grids_per_second"]
    assert rows[0]["runs"] == "0"
    assert "FAILED" in capsys.readouterr().out
