"""Distributed runs (``octosim.distributed``) under mpiexec at 1, 2 and 4 ranks: fields bitwise
those of one locality, conservation to round-off, halos sent zero-copy, the CLI report."""

import json
import os

import numpy as np
import pytest

from octosim.io import read_snapshot
from tests.mpiutil import REPO

pytestmark = pytest.mark.mpi

PROG = os.path.join(REPO, "tests", "mpi", "prog_octosim_dist.py")
# Sod off centre: level-2 and level-3 leaves, coarse/fine faces (flux correction), regrids
SOD = [os.path.join(REPO, "inputs", "sod.yaml"), "--set", "sod.x0=0.1",
       "--set", "mesh.subgrid_size=4", "--set", "mesh.max_level=3",
       "--set", "mesh.regrid_every=2", "--set", "output.dt=null", "--set", "output.every=5",
       "--stop-step", "5", "--quiet"]
RANKS = (1, 2, 4)


def test_sod_with_amr_is_bitwise_the_same_at_1_2_4_ranks_and_both_parcelports(run_mpi,
                                                                              tmp_path):
    snaps = {}
    for n, pp in [(1, "auto")] + [(n, "mpi") for n in RANKS[1:]] + [(2, "rma")]:
        run_mpi("octosim", n, args=SOD + ["--output", tmp_path / f"n{n}{pp}",
                                          "--parcelport", pp], timeout=150)
        snaps[n, pp] = read_snapshot(tmp_path / f"n{n}{pp}" / "snapshot_000005.h5")
    a = snaps[1, "auto"]
    assert len(np.unique(a.cells["level"])) >= 2          # a real AMR mesh
    for (n, pp), b in snaps.items():
        assert a.time == b.time and a.step == b.step == 5
        for k in a.cells:
            assert np.array_equal(a.cells[k], b.cells[k]), (n, pp, k)


def test_parents_that_stay_flagged_are_not_merged_at_2_ranks(run_mpi, tmp_path):
    """Leaves of level 3 unflagged, their parents flagged (a density floor per level): the
    merge verdicts judged across localities keep the tree as one locality does."""
    args = SOD[:-3] + ["--set", "refinement.criterion=density",
                       "--set", "refinement.density_floor=[0.0, 0.0, 0.0, 1.0e9]",
                       "--stop-step", "4", "--set", "output.every=4", "--quiet"]
    snaps = {}
    for n in (1, 2):
        run_mpi("octosim", n, args=args + ["--output", tmp_path / f"n{n}"], timeout=150)
        snaps[n] = read_snapshot(tmp_path / f"n{n}" / "snapshot_000004.h5")
    assert 3 in snaps[1].cells["level"]                    # level-3 leaves whose parents
    for k in snaps[1].cells:                               # were judged and kept
        assert np.array_equal(snaps[1].cells[k], snaps[2].cells[k]), k


@pytest.fixture(scope="module")
def binary_runs(tmp_path_factory):
    from tests.mpiutil import mpiexec_available, run_mpi
    if not mpiexec_available():
        pytest.skip("mpiexec not found")
    d = tmp_path_factory.mktemp("binary")
    out = {}
    for n in RANKS:
        run_mpi(PROG, n, args=[d / f"n{n}.npz", "mpi"], timeout=150)
        out[n] = dict(np.load(d / f"n{n}.npz"))
    for n in (1, 4):                    # asymmetric regrid: leaves migrate, coarse/fine faces
        run_mpi(PROG, n, args=[d / f"o{n}.npz", "mpi", "octant"], timeout=150)
        out["octant", n] = dict(np.load(d / f"o{n}.npz"))
    run_mpi(PROG, 2, args=[d / "xzy.npz", "mpi", "mesh.curve=xzy"], timeout=150)
    out["xzy", 2] = dict(np.load(d / "xzy.npz"))
    return out


def test_binary_with_regrids_is_bitwise_the_same_at_1_2_4_ranks(binary_runs):
    a = binary_runs[1]
    lev = json.loads(str(a["levels"]))
    assert lev[1][-1] == 0 and lev[2][-1] > 0, lev          # merged, then split again
    cells = [k for k in a if k.startswith("cell_")]
    for n in RANKS[1:]:
        b = binary_runs[n]
        assert json.loads(str(b["levels"])) == lev
        for k in cells:
            assert np.array_equal(a[k], b[k]), (n, k)


def test_binary_with_migrating_leaves_is_bitwise_the_same_at_1_and_4_ranks(binary_runs):
    a, b = binary_runs["octant", 1], binary_runs["octant", 4]
    lev = json.loads(str(a["levels"]))
    assert lev[1][1] > 0 and lev[2] == lev[0], lev           # merged in one octant only
    stats = json.loads(str(b["stats"]))
    assert sum(s["sent_arrays"].get("migrate", 0) for s in stats) > 0
    assert sum(s["sent_arrays"].get("flux", 0) for s in stats) > 0
    for k in a:
        if k.startswith("cell_"):
            assert np.array_equal(a[k], b[k]), k


def test_binary_fields_do_not_depend_on_the_curve(binary_runs):
    """Another Morton bit order moves leaves between localities and reorders the gathered
    table, and changes no field: cell by cell (sorted by position) bitwise one locality's."""
    a, b = binary_runs[1], binary_runs["xzy", 2]
    assert json.loads(str(b["levels"])) == json.loads(str(a["levels"]))
    assert not np.array_equal(a["cell_x"], b["cell_x"])          # another leaf order
    ia = np.lexsort((a["cell_z"], a["cell_y"], a["cell_x"]))
    ib = np.lexsort((b["cell_z"], b["cell_y"], b["cell_x"]))
    for k in a:
        if k.startswith("cell_"):
            assert np.array_equal(a[k][ia], b[k][ib]), k


def test_binary_shares_are_cut_by_fmm_work_at_3_ranks(run_mpi, tmp_path):
    """No regrid: after the set-up's solve the first step re-cuts the Morton shares to equal
    FMM interaction counts (leaves migrate); the fields stay bitwise those of one rank.
    (Three shares: four split this symmetric binary into equal halves of both stars.)
    With ``mesh.balance: time`` and locality 0's solves made twice as slow, the next step
    re-cuts by the measured times: locality 0 gives leaves away, the fields stay the same
    (that run also solves each locality's share on two threads, ``ThreadedSolver``)."""
    from octosim.distributed import HYDRO_WORK, partition
    args = ["mpi", "mesh.regrid_every=0", "mesh.max_level=3", "time.stop_step=3"]
    out = {}
    for n in (1, 3):
        run_mpi(PROG, n, args=[tmp_path / f"n{n}.npz"] + args, timeout=150)
        out[n] = dict(np.load(tmp_path / f"n{n}.npz"))
    stats = json.loads(str(out[3]["stats"]))
    bounds = stats[0]["bounds"]
    assert all(s["bounds"] == bounds for s in stats)
    w = np.array([v for s in stats for v in s["work"]]) + HYDRO_WORK
    assert len(w) == bounds[-1] and np.all(w > HYDRO_WORK)
    assert bounds == partition(len(w), 3, w)

    def spread(b):                      # heaviest share against the mean
        return max(w[b[r]:b[r + 1]].sum() for r in range(3)) / (w.sum() / 3)
    equal = partition(len(w), 3)
    assert bounds != equal and spread(bounds) < spread(equal), (bounds, equal)
    assert sum(s["sent_arrays"].get("migrate", 0) for s in stats) > 0
    run_mpi(PROG, 3, args=[tmp_path / "leaves.npz"] + args + ["mesh.balance=leaves"],
            timeout=150)
    out["leaves"] = dict(np.load(tmp_path / "leaves.npz"))
    assert json.loads(str(out["leaves"]["stats"]))[0]["bounds"] == equal
    assert all(s["retunes"] == 0 for s in stats)
    run_mpi(PROG, 3, args=[tmp_path / "time.npz"] + args + ["mesh.balance=time", "slow0",
                                                             "runtime.threads=2"],
            timeout=150)
    out["time"] = dict(np.load(tmp_path / "time.npz"))
    tst = json.loads(str(out["time"]["stats"]))
    assert all(s["bounds"] == tst[0]["bounds"] and s["retunes"] >= 1 for s in tst), tst
    assert tst[0]["bounds"][1] < bounds[1], (tst[0]["bounds"], bounds)
    assert sum(s["sent_arrays"].get("migrate", 0) for s in tst) > 0
    for k in out[1]:
        if k.startswith("cell_"):
            assert np.array_equal(out[1][k], out[3][k]), k
            assert np.array_equal(out[1][k], out["leaves"][k]), k
            assert np.array_equal(out[1][k], out["time"][k]), k


def test_fmm_seconds_leave_out_the_wait_for_moments_at_2_ranks(run_mpi, tmp_path):
    """Locality 1 starts trading its moments 0.1 s late in every solve: locality 0 waits
    for them, and that wait is counted in its ``moments_seconds``, not in its FMM compute
    (``fmm_seconds``, which ``mesh.balance: time`` balances); locality 1's delay, before
    the trade, is its own FMM time."""
    args = ["mpi", "late_moments1", "mesh.regrid_every=0", "time.stop_step=2"]
    run_mpi(PROG, 2, args=[tmp_path / "late.npz"] + args, timeout=150)
    s0, s1 = json.loads(str(np.load(tmp_path / "late.npz")["stats"]))
    late = 0.1 * 2 * 3                  # 2 steps of 3 stages, one solve each
    assert s1["fmm_seconds"] >= late, s1
    assert s0["moments_seconds"] >= 0.5 * late, s0
    assert s0["fmm_seconds"] < 0.5 * late < s1["fmm_seconds"] - s0["fmm_seconds"], (s0, s1)


def test_stolen_fmm_tails_change_no_field_at_2_and_4_ranks(run_mpi, tmp_path):
    """``gravity.steal``: locality 0's solves take twice as long (``slow0``), so the others,
    done with their own shares, solve the tail of its share for it and send the results;
    every field stays bitwise that of one locality, with ``angmom`` too."""
    args = ["mpi", "mesh.regrid_every=0", "time.stop_step=2", "gravity.steal=0.25"]
    out = {}
    for n in (1, 2, 4):
        run_mpi(PROG, n, args=[tmp_path / f"s{n}.npz"] + args + (["slow0"] if n > 1 else []),
                timeout=150)
        out[n] = dict(np.load(tmp_path / f"s{n}.npz"))
    am = ["gravity.angmom=true"]
    for n, extra in ((1, am), (2, am + ["slow0"])):
        run_mpi(PROG, n, args=[tmp_path / f"a{n}.npz"] + args + extra, timeout=150)
        out[f"a{n}"] = dict(np.load(tmp_path / f"a{n}.npz"))
    assert not np.array_equal(out[1]["cell_sx"], out["a1"]["cell_sx"])  # angmom is on
    for n, one in ((2, 1), (4, 1), ("a2", "a1")):
        stats = json.loads(str(out[n]["stats"]))
        taken = sum(s["tails_taken"] for s in stats)
        assert taken == sum(s["tails_lost"] for s in stats) and stats[0]["tails_lost"] > 0, stats
        assert stats[0]["tails_taken"] == 0, stats
        for k in out[one]:
            if k.startswith("cell_"):
                assert np.array_equal(out[one][k], out[n][k]), (n, k)


@pytest.mark.parametrize("n", RANKS)
def test_binary_conserves_mass_and_momentum(binary_runs, n):
    r = binary_runs[n]
    assert abs(float(r["mass1"]) - float(r["mass0"])) <= 1e-13 * float(r["mass0"])
    assert np.linalg.norm(r["P1"] - r["P0"]) <= 1e-13 * float(r["scale"])


def test_two_rank_halos_travel_zero_copy(binary_runs):
    from runtime.serialization import get_threshold
    stats = json.loads(str(binary_runs[2]["stats"]))
    assert len(stats) == 2
    for s in stats:
        halo = s["sent_arrays"]["halo"]
        assert halo > 0 and s["bytes_zero_copy"] >= halo, s
        # what is copied is index data only: below the threshold per parcel
        assert s["bytes_copied"] < get_threshold() * s["parcels_sent"], s
        assert s["bytes_copied"] < s["bytes_zero_copy"] / 20, s


def test_binary_input_runs_on_two_ranks_from_the_command_line(run_mpi, tmp_path):
    r = run_mpi("octosim", 2, args=[os.path.join(REPO, "inputs", "binary.yaml"),
                                    "--stop-step", "2", "--max-level", "2",
                                    "--set", "mesh.subgrid_size=4", "--quiet",
                                    "--output", tmp_path / "out", "--json", tmp_path / "r.json"],
                timeout=150)
    assert r.returncode == 0
    assert r.stdout.count("level  subgrids") == 1 and "grids/s" in r.stdout, r.stdout
    rep = json.loads((tmp_path / "r.json").read_text())
    per = rep["phases_by_locality"]
    # the input's outflow faces let ambient gas through; with it mass and momentum balance
    cons = rep["conservation"]
    assert cons["mass"]["change"] != 0.0 and cons["mass"]["outflow"] != 0.0, cons
    for q in ("mass", "momentum_x", "momentum_y", "momentum_z"):
        assert abs(cons[q]["relative_error"]) <= 1e-13, (q, cons[q])
    # each locality's FMM compute, apart from its trading of moments: inside the gravity phase
    assert len(per) == 2 and all(0.0 < d["fmm"] < d["gravity"] for d in per), per
    assert all(0.0 < d["moments"] < d["comm"] and d["fmm"] + d["moments"] < d["gravity"]
               for d in per), per
    assert "(FMM solves)" in r.stdout and "(FMM moments)" in r.stdout, r.stdout
    # stealing is on by default: every chunk one locality took, the other lost
    assert sum(d["tails_taken"] for d in per) == sum(d["tails_lost"] for d in per), per
    assert "parcels by locality (mpi parcelport)" in r.stdout, r.stdout
    rows = [ln.split() for ln in r.stdout.splitlines() if ln.split()[:1] in (["0"], ["1"])
            and len(ln.split()) == 6]
    assert len(rows) == 2 and all(int(x[4]) > 0 for x in rows), r.stdout
