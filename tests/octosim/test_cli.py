"""Command line: exit statuses, one-line errors naming the key, nothing written on bad input,
and tiny end-to-end runs (snapshots, --json, restart bitwise identical, failure mid-run)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from octosim import cli
from octosim.io import read_checkpoint, read_snapshot

from tests.octosim._fakeproblem import install

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOOD = "problem: {name: fake}\ntime: {stop_step: 2}\noutput: {dir: out}\n"


def _bad(tmp_path, monkeypatch, capsys, argv, text=GOOD):
    install(monkeypatch)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.yaml").write_text(text)
    before = sorted(os.listdir(tmp_path))
    rc = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == before        # nothing written
    return err


@pytest.mark.parametrize("argv,text,needle", [
    (["in.yaml"], GOOD + "hydro: {cfl: 1.5}", "in.yaml: hydro.cfl = 1.5 out of range (0, 1]"),
    (["in.yaml"], GOOD + "hydro: {cfl: 0.4, shock: 1}", "unknown key hydro.shock"),
    (["in.yaml"], GOOD + "mesh: {max_level: two}", "mesh.max_level = 'two' has wrong type"),
    (["in.yaml", "--set", "hydro.cfl=-1"], GOOD, "--set hydro.cfl=-1: hydro.cfl = -1 out of"),
    (["in.yaml", "--set", "hydro.cfl"], GOOD, "--set hydro.cfl: expected section.key=value"),
    (["in.yaml", "--set", "nope.x=1"], GOOD, "unknown section nope"),
    (["in.yaml", "--max-level", "-1"], GOOD, "--max-level -1: mesh.max_level = -1 out of"),
    (["in.yaml", "--threads", "0"], GOOD, "runtime.threads = 0 out of range"),
    (["in.yaml", "--parcelport", "tcp"], GOOD, "runtime.parcelport = 'tcp' not one of"),
    (["in.yaml", "--stop-time", "soon"], GOOD, "time.stop_time = 'soon' has wrong type"),
    (["missing.yaml"], GOOD, "missing.yaml: no such file"),
    (["in.yaml", "--restart", "missing.h5"], GOOD, "missing.h5: no such file"),
    (["in.yaml", "--restart", "in.yaml"], GOOD, "not a readable HDF5 checkpoint"),
    ([], GOOD, "missing INPUT.yaml"),
    (["in.yaml", "--bogus"], GOOD, "unrecognized arguments: --bogus"),
])
def test_bad_input_exit_2_one_line(tmp_path, monkeypatch, capsys, argv, text, needle):
    assert needle in _bad(tmp_path, monkeypatch, capsys, argv, text)


def test_version_and_missing_file_in_subprocess(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "octosim", "--version"], capture_output=True,
                       text=True, cwd=tmp_path, env=env, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("octosim ")
    r = subprocess.run([sys.executable, "-m", "octosim", "nothere.yaml"], capture_output=True,
                       text=True, cwd=tmp_path, env=env, timeout=60)
    assert r.returncode == 2 and r.stderr.strip() == "error: nothere.yaml: no such file"
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------ end to end (sod)

def _have_sod():
    try:
        import octosim.driver  # noqa: F401
        import octosim.problems.sod  # noqa: F401
    except ImportError:
        return False
    return True


needs_driver = pytest.mark.skipif(not _have_sod(), reason="driver or sod problem missing")

# Until octosim.problems has its registry, resolve problems by module name in the child.
_SHIM = ("import importlib, sys, octosim.problems as P\n"
         "if not hasattr(P, 'get_problem'):\n"
         "    P.get_problem = lambda n: importlib.import_module('octosim.problems.' + n)\n"
         "from octosim.cli import main\nsys.exit(main())\n")


def octosim(*args, cwd):
    import octosim.problems as P
    cmd = [sys.executable, "-m", "octosim"] if hasattr(P, "get_problem") else \
        [sys.executable, "-c", _SHIM]
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


TINY = ["--set", "mesh.subgrid_size=4", "--max-level", "1", "--set", "output.every=2",
        "--set", "output.checkpoint_every=2", "--quiet"]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    if not _have_sod():
        pytest.skip("driver or sod problem missing")
    d = tmp_path_factory.mktemp("e2e")
    r = octosim(os.path.join(ROOT, "inputs", "sod.yaml"), *TINY, "--stop-step", 4,
                "--output", "full", "--json", "full.json", cwd=d)
    assert r.returncode == 0, r.stderr
    return d, r


@needs_driver
def test_run_writes_snapshots_params_and_json(full_run):
    d, r = full_run
    files = sorted(os.listdir(d / "full"))
    assert files == ["checkpoint_000002.h5", "checkpoint_000004.h5", "params.yaml",
                     "snapshot_000000.h5", "snapshot_000002.h5", "snapshot_000004.h5"]
    params = yaml.safe_load((d / "full" / "params.yaml").read_text())
    assert params["mesh"]["subgrid_size"] == 4 and params["time"]["stop_step"] == 4
    s = read_snapshot(d / "full" / "snapshot_000004.h5")
    assert s.step == 4 and s.config == params and s.time > 0
    n = len(s.cells["x"])
    assert n > 0 and {"x", "y", "z", "dx", "level", "rho", "egas"} <= set(s.cells)
    assert np.sum(s.cells["dx"] ** 3) == pytest.approx(1.0)    # leaves tile the unit box
    rep = json.loads((d / "full.json").read_text())
    assert rep["steps"] == 4 and rep["final_step"] == 4 and rep["problem"] == "sod"
    assert rep["totals"]["grid_steps"] == sum(lv["grid_steps"] for lv in rep["levels"])
    assert rep["totals"]["grids_per_second"] > 0
    assert {"mass", "energy"} <= set(rep["conservation"]) and "hydro" in rep["phases"]
    assert "angular_momentum_z" in rep["conservation"]          # outflow faces: reported
    assert "grids/s" in r.stdout and "(angular momentum: about the origin" in r.stdout


@needs_driver
def test_a_periodic_box_reports_no_angular_momentum(tmp_path):
    """About the origin, angular momentum is not conserved across a periodic face: a run
    with every axis periodic leaves it out of the conservation table."""
    r = octosim(os.path.join(ROOT, "inputs", "pulse.yaml"), "--set", "mesh.subgrid_size=4",
                "--max-level", "0", "--stop-step", "1", "--quiet", "--output", "p", "--json",
                "p.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    cons = json.loads((tmp_path / "p.json").read_text())["conservation"]
    assert "mass" in cons and not any(k.startswith("angular") for k in cons), cons


@needs_driver
def test_restart_is_bitwise_identical(full_run):
    d, _ = full_run
    r = octosim("--restart", d / "full" / "checkpoint_000002.h5", "--stop-step", 4,
                "--output", "again", "--quiet", cwd=d)
    assert r.returncode == 0, r.stderr
    a = read_snapshot(d / "full" / "snapshot_000004.h5")
    b = read_snapshot(d / "again" / "snapshot_000004.h5")
    assert a.time == b.time and a.step == b.step
    assert all(np.array_equal(a.cells[k], b.cells[k]) for k in a.cells)


@needs_driver
def test_restart_refuses_a_different_mesh(full_run, monkeypatch, capsys):
    d, _ = full_run
    monkeypatch.chdir(d)
    rc = cli.main(["--restart", str(d / "full" / "checkpoint_000002.h5"), "--set",
                   "mesh.subgrid_size=8", "--output", "nope"])
    assert rc == 2 and "mesh.subgrid_size = 8 differs" in capsys.readouterr().err
    assert not os.path.exists(d / "nope")


@needs_driver
def test_failure_mid_run_exit_1_keeps_checkpoint(full_run):
    d, _ = full_run
    os.makedirs(d / "fail" / "checkpoint_000002.h5")     # the step-2 checkpoint cannot land
    r = octosim(os.path.join(ROOT, "inputs", "sod.yaml"), *TINY, "--stop-step", 4,
                "--set", "output.checkpoint_every=1", "--output", "fail", cwd=d)
    assert r.returncode == 1
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "at step 2" in err, err
    assert "checkpoint_000001.h5" in err
    assert read_checkpoint(d / "fail" / "checkpoint_000001.h5").step == 1


@needs_driver
def test_benchmark_prints_throughput(full_run):
    d, _ = full_run
    r = octosim(os.path.join(ROOT, "inputs", "sod.yaml"), "--benchmark", "--stop-step", 2,
                "--set", "mesh.subgrid_size=4", "--max-level", "1", "--json", "b.json", cwd=d)
    assert r.returncode == 0, r.stderr
    assert "zone-cycles/s per core" in r.stdout and "grids/s" in r.stdout
    assert "best of 3 repeats" in r.stdout and "zone-cycles/s/core:" in r.stdout
    assert json.loads((d / "b.json").read_text())["benchmark"] is True
    assert not os.path.exists(d / "output")                      # benchmark writes no output
