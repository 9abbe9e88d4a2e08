"""End-of-run report: per-level counts, throughput, conservation drift, JSON keys."""

import json
import re

import pytest

from octosim.report import (RunStats, build_report, conservation, format_report,
                            parcel_stats, write_json)


class _Tree:
    """Root + 8 children, two of them refined: levels 0, 1, 2."""

    def __init__(self):
        self.nodes = {(0, 0, 0, 0)} | {(1, i, j, k) for i in (0, 1) for j in (0, 1)
                                       for k in (0, 1)}
        for p in ((1, 0, 0, 0), (1, 1, 1, 1)):
            self.nodes |= {(2, 2 * p[1] + a, 2 * p[2] + b, 2 * p[3] + c)
                           for a in (0, 1) for b in (0, 1) for c in (0, 1)}

    def is_leaf(self, key):
        lev, i, j, k = key
        return (lev + 1, 2 * i, 2 * j, 2 * k) not in self.nodes


def _report():
    st = RunStats(cells_per_subgrid=64)
    tree = _Tree()
    for _ in range(3):
        st.count_step(tree)
    st.wall_seconds, st.overhead_seconds, st.io_seconds = 2.5, 0.5, 0.4
    st.initial_totals = {"mass": 2.0, "momentum_x": 0.0, "energy": 4.0}
    st.final_totals = {"mass": 2.0 * (1 + 1e-12), "momentum_x": 1e-15, "energy": 4.0}
    return build_report(st, phases={"hydro": 1.5, "exchange": 0.5},
                        parcels=parcel_stats({"parcels_sent": 5, "bytes_sent": 900,
                                              "bytes_zero_copy": 800, "bytes_copied": 100}),
                        meta={"problem": "fake"}, time=0.3, step=3, nlocalities=2, threads=1)


def test_levels_and_totals():
    rep = _report()
    lv = {r["level"]: r for r in rep["levels"]}
    assert (lv[0]["subgrids"], lv[0]["leaves"]) == (1, 0)
    assert (lv[1]["subgrids"], lv[1]["leaves"], lv[1]["grid_steps"]) == (8, 6, 18)
    assert (lv[2]["subgrids"], lv[2]["leaves"], lv[2]["grid_steps"]) == (16, 16, 48)
    t = rep["totals"]
    assert t["grid_steps"] == 66 and rep["compute_seconds"] == 2.0
    assert t["grids_per_second"] == 33.0
    assert t["cell_updates_per_second"] == 66 * 64 / 2.0
    assert t["cell_updates_per_second_per_core"] == 66 * 64 / 4.0


def test_conservation_drift():
    c = _report()["conservation"]
    assert c["mass"]["relative_change"] == pytest.approx(1e-12)
    assert c["momentum_x"]["relative_change"] is None and c["momentum_x"]["change"] == 1e-15
    assert conservation(None, {"mass": 1.0}) == {}


def test_momentum_drift_is_judged_against_the_momentum_present():
    """A net momentum at round-off is scaled by the total |rho v| dV, not by itself."""
    a = {"mass": 2.0, "momentum_x": -1.7e-18, "momentum_scale": 4.0}
    b = {"mass": 2.0, "momentum_x": 1.0e-11}
    c = conservation(a, b)
    assert "momentum_scale" not in c and c["mass"]["relative_change"] == 0.0
    assert c["momentum_x"]["relative_change"] == pytest.approx(2.5e-12)
    assert abs(conservation({"momentum_x": -1.7e-18}, b)["momentum_x"]["relative_change"]) > 1e6


def test_parcels_mapping():
    assert parcel_stats(None) is None
    assert _report()["parcels"] == {"parcels": 5, "bytes": 900, "bytes_zero_copy": 800,
                                    "bytes_copied": 100}


def test_text_and_json(tmp_path):
    rep = _report()
    text = format_report(rep)
    for needle in ("grids/s", "total", "hydro", "parcels", "mass"):
        assert needle in text
    lines = text.splitlines()
    top = next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["level", "subgrids"])
    end = next(i for i, ln in enumerate(lines) if ln.startswith("total"))
    rows = [ln.split() for ln in lines[top + 1:end + 1]]
    assert len(rows) == 4 and all(re.fullmatch(r"\d+\.\d\d", r[-1]) for r in rows), rows  # grids/s
    p = tmp_path / "sub" / "r.json"
    write_json(rep, p)
    back = json.loads(p.read_text())
    documented = {"report_version", "octosim_version", "problem", "localities", "threads",
                  "cores", "steps", "final_step", "final_time", "wall_seconds",
                  "compute_seconds", "io_seconds", "levels", "totals", "phases", "parcels",
                  "conservation"}
    assert documented <= set(back)
    assert set(back["levels"][0]) == {"level", "subgrids", "leaves", "grid_steps",
                                      "grids_per_second"}


def test_every_json_key_is_documented_in_readme():
    import os
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")) as fh:
        readme = fh.read()
    rep = _report()
    keys = [k for k in rep if k not in ("levels", "totals", "parcels", "conservation")]
    keys += [f"levels[].{k}" for k in rep["levels"][0] if k != "level"] + ["levels[].level"]
    keys += [f"totals.{k}" for k in rep["totals"]] + [f"parcels.{k}" for k in rep["parcels"]]
    missing = [k for k in keys if f"`{k}`" not in readme]
    assert not missing, missing


def test_driver_level_counters_take_precedence():
    st = RunStats(8)
    st.count_step(_Tree())
    st.take_driver_levels([{"level": 0, "subgrids": 1, "leaves": 1, "grid_steps": 5}],
                          [{"level": 0, "subgrids": 1, "leaves": 0, "grid_steps": 6},
                           {"level": 1, "subgrids": 8, "leaves": 8, "grid_steps": 16}])
    assert st.levels == {0: {"subgrids": 1, "leaves": 0, "grid_steps": 1},
                         1: {"subgrids": 8, "leaves": 8, "grid_steps": 16}}


def test_outflow_columns_say_what_the_boundary_does_not_explain():
    """With the boundary's tally the table gains ``outflow`` and ``relative_error``:
    final + outflow - initial, over the largest of the terms (a momentum that starts at 0
    is judged against what moved); quantities without a tally get None."""
    a = {"mass": 2.0, "momentum_x": 0.0, "potential_energy": -1.0}
    b = {"mass": 1.5, "momentum_x": 0.25, "potential_energy": -1.0}
    c = conservation(a, b, {"mass": 0.5 + 2e-16, "momentum_x": -0.25})
    assert c["mass"]["outflow"] == 0.5 + 2e-16
    assert c["mass"]["relative_error"] == pytest.approx(1e-16, rel=0.2)
    assert c["momentum_x"]["relative_change"] is None and c["momentum_x"]["relative_error"] == 0.0
    assert c["potential_energy"]["outflow"] is None
    assert c["potential_energy"]["relative_error"] is None
    assert "outflow" not in conservation(a, b)["mass"]          # periodic: no columns
    st = RunStats(8)
    st.initial_totals, st.final_totals, st.outflow = a, b, {"mass": 0.5, "momentum_x": -0.25}
    text = format_report(build_report(st, time=0.0, step=0))
    assert "outflow" in text and "rel. error" in text
    lines = text.splitlines()
    row = next(line for line in lines if line.startswith("potential_energy"))
    assert row.split()[-2:] == ["-", "-"]
    head = next(line for line in lines if line.startswith("conserved"))
    mass = next(line for line in lines if line.startswith("mass"))
    assert len(head) == len(row) == len(mass)               # the columns line up


def test_angular_momentum_drift_is_judged_against_its_scale():
    """An angular momentum that starts at zero is scaled by the total |r| |rho v| dV."""
    a = {"angular_momentum_z": 0.0, "angular_momentum_scale": 8.0, "momentum_scale": 1.0}
    b = {"angular_momentum_z": 4e-12}
    c = conservation(a, b)
    assert set(c) == {"angular_momentum_z"}
    assert c["angular_momentum_z"]["relative_change"] == pytest.approx(5e-13)
