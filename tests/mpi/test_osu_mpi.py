"""The OSU benchmark (``python -m runtime.benchmarks.osu``) run for real under mpiexec: every
kind with its baselines, Figure 5's grid of columns, zero-copy accounting, refusals."""
import json

import pytest

from runtime.serialization import DEFAULT_THRESHOLD

OSU = "runtime.benchmarks.osu"
MAX = 4 * DEFAULT_THRESHOLD


def _run(run_mpi, tmp_path, *args, nprocs=2):
    out = tmp_path / "osu.json"
    res = run_mpi(OSU, nprocs, [*args, "--json", out], timeout=120)
    return res, json.loads(out.read_text())


@pytest.mark.parametrize("kind", ["latency", "bw", "bibw"])
def test_osu_measures_every_size_beside_both_baselines(run_mpi, tmp_path, kind):
    res, d = _run(run_mpi, tmp_path, kind, "--max-size", MAX, "--loop", 3, "--rounds", 2)
    sizes = [r["size"] for r in d["rows"]]
    assert sizes == [1 << i for i in range(MAX.bit_length())]
    assert d["configs"] == ["mpi/sb/2t"] and d["benchmark"] == kind and d["rounds"] == 2
    base = "pkl5" if kind == "latency" else "native"  # the target is against this one
    pick = min if kind == "latency" else max
    for r in d["rows"]:
        assert r["loop"] == 3
        for col in ("native", "pkl5", "mpi/sb/2t"):
            rounds = r[col + ":by_round"]
            assert len(rounds) == 2 and all(0 < v < float("inf") for v in rounds), (col, r)
            assert r[col] == pick(rounds)                       # the best round
        ratios = [x / y for x, y in zip(r["mpi/sb/2t:by_round"], r[base + ":by_round"])]
        assert r[f"mpi/sb/2t:vs_{base}"] == pytest.approx(sum(ratios) / 2)  # median of two
    lines = [ln for ln in res.stdout.splitlines() if ln]
    cut = next(i for i, ln in enumerate(lines) if ln.startswith("# ratio per round"))
    rates = [ln.split() for ln in lines[:cut] if not ln.startswith("#")]
    ratios = [ln.split() for ln in lines[cut + 1:]]
    assert rates[0] == ["size", "native", "pkl5", "mpi/sb/2t"]
    assert [int(t[0]) for t in rates[1:]] == sizes
    assert ratios[0] == ["size", "mpi/sb/2t"]
    assert [(int(t[0]), float(t[1])) for t in ratios[1:]] == \
        [(r["size"], round(r[f"mpi/sb/2t:vs_{base}"], 3)) for r in d["rows"]]


def test_osu_bw_sends_chunks_above_the_threshold_without_copying(run_mpi, tmp_path):
    """Every message of at least the threshold goes as a pointer chunk: its bytes are counted
    zero-copy on both sides, and the bytes copied (headers, index data) do not grow with it."""
    _, d = _run(run_mpi, tmp_path, "bw", "--min-size", DEFAULT_THRESHOLD // 2, "--max-size", MAX,
                "--loop", 3, "--window", 8, "--rounds", 2)
    small, *large = d["rows"]
    for r in d["rows"]:
        assert r["window"] == 8
    sent = 8 * (3 + 2)  # window x (timed + 2 warm-up iterations)
    assert small["bytes_zero_copy"] == 0 and small["bytes_copied"] > small["size"] * sent
    for r in large:
        assert r["bytes_zero_copy"] == r["size"] * sent, r
        assert r["bytes_copied"] == large[0]["bytes_copied"] < 300 * sent, r
    # every round's statistics are kept (each round starts a fresh runtime)
    rounds = d["statistics"]["mpi/sb/2t:by_round"]
    assert len(rounds) == 2 and rounds[-1] == d["statistics"]["mpi/sb/2t"]
    for st in rounds:
        receiver = st[1]
        assert receiver["bytes_received_zero_copy"] == sum(r["size"] for r in large) * sent


def test_osu_figure5_grid_runs_each_parcelport_buffer_and_thread_count(run_mpi, tmp_path):
    res, d = _run(run_mpi, tmp_path, "bw", "--parcelport", "mpi,rma",
                  "--buffer", "serialize_buffer,rma_vector", "--threads", "1,2",
                  "--min-size", MAX, "--max-size", MAX, "--loop", 2, "--window", 4)
    names = [f"{pp}/{b}/{t}t" for pp in ("mpi", "rma") for b in ("sb", "rv") for t in (1, 2)]
    assert d["configs"] == names
    (row,) = d["rows"]
    for n in names:
        assert row[n] > 0, n
        assert row[n + ":zero_copy_B"] == MAX * 4 * (2 + 2), n  # no payload copied in
        assert row[n + ":copied_B"] < 300 * 4 * (2 + 2), n
    for n in names[4:]:  # locality 0's rma counters: how each chunk was registered
        st = d["statistics"][n + ":rma"]
        if "/rv/" in n:  # already in the pool: sent by its key, nothing registered
            assert st["registered_bytes"] == MAX * 16 and st["attached_bytes"] == 0, st
        else:  # registered on the fly (attach, or a copy where there are no dynamic windows)
            assert st["attached_bytes"] + st["copied_bytes"] == MAX * 16, st
        assert st["attached"] == 0 and st["pool"]["bytes_in_use"] == 0, st  # all given back
    assert d["register"] == "attach"


def test_osu_completion_columns_auto_on_off(run_mpi, tmp_path):
    _, d = _run(run_mpi, tmp_path, "bibw", "--completion", "auto,on,off", "--min-size", MAX,
                "--max-size", MAX, "--loop", 2, "--window", 4, "--no-baselines")
    assert d["configs"] == ["mpi/sb/2t", "mpi/sb/2t/ct", "mpi/sb/2t/noct"]
    (row,) = d["rows"]
    assert all(row[n] > 0 for n in d["configs"]) and "native" not in row


@pytest.mark.parametrize("nprocs", [1, 3])
def test_osu_refuses_other_rank_counts(run_mpi, nprocs):
    res = run_mpi(OSU, nprocs, ["bw", "--max-size", 8], timeout=60, check=False)
    assert res.returncode == 2
    assert "run on exactly 2 ranks" in res.stderr


@pytest.mark.parametrize("args, word", [(["--parcelport", "tcp"], "--parcelport"),
                                        (["--buffer", "vector"], "--buffer"),
                                        (["--threads", "0"], "--threads"),
                                        (["--completion", "maybe"], "--completion"),
                                        (["--min-size", "64", "--max-size", "8"], "--min-size")])
def test_osu_bad_option_is_one_line_and_status_2(run_mpi, args, word):
    res = run_mpi(OSU, 2, ["bw", *args], timeout=60, check=False)
    assert res.returncode == 2
    errs = [ln for ln in res.stderr.splitlines() if "error:" in ln]
    assert errs and all(word in ln for ln in errs), res.stderr
