"""analysis/conservation.py: totals from a run's snapshots match the run's own report."""
import csv
import json
import os
import subprocess
import sys

import pytest

from tests.mpiutil import REPO

sys.path.insert(0, os.path.join(REPO, "analysis"))
import conservation  # noqa: E402


def test_snapshot_totals_are_the_reports_and_drift_from_the_first(tmp_path, capsys):
    """A short binary run (gravity, outflow faces, AMR) writes a snapshot every step; the
    script's totals of the first and last equal the report's initial and final totals
    (each cell's sum is added with fsum, the report's per leaf: to rounding), rows come in
    time order whatever the order given, and a file that is no snapshot exits 2 naming it."""
    out, rep = tmp_path / "run", tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "octosim", os.path.join(REPO, "inputs",
                        "binary.yaml"), "--set", "mesh.subgrid_size=4", "--max-level", "2",
                        "--stop-step", "2", "--set", "output.every=1", "--quiet", "--output",
                        str(out), "--json", str(rep)], capture_output=True, text=True,
                       cwd=tmp_path, env=dict(os.environ, PYTHONPATH=REPO), timeout=300)
    assert r.returncode == 0, r.stderr
    snaps = sorted(str(p) for p in out.glob("snapshot_*.h5"))
    assert len(snaps) == 3
    rc = conservation.main(snaps[::-1] + ["--out", str(tmp_path / "c")])
    assert rc == 0 and "wrote" in capsys.readouterr().out
    rows = list(csv.DictReader(open(tmp_path / "c.csv")))
    assert [int(x["step"]) for x in rows] == [0, 1, 2]
    cons = json.loads(rep.read_text())["conservation"]
    for q in ("mass", "energy", "angular_momentum_z"):
        for row, when in ((rows[0], "initial"), (rows[-1], "final")):
            assert float(row[q]) == pytest.approx(cons[q][when], rel=1e-13, abs=0), (q, when)
    for q in ("momentum_x", "angular_momentum_x"):       # zero to round-off: on the scale
        scale = float(rows[0][q.rsplit("_", 1)[0] + "_scale"])
        assert abs(float(rows[-1][q]) - cons[q]["final"]) <= 1e-13 * scale, q
    assert float(rows[0]["mass_spc_0"]) > float(rows[0]["mass_spc_1"]) > 0   # q < 1
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    assert conservation.main([str(bad), "--out", str(tmp_path / "b")]) == 2
    assert "bad.h5" in capsys.readouterr().err
