"""Run the runtime's MPI programs at 1, 2 and 4 ranks for every MPI-based parcelport."""
import re
import time
from pathlib import Path

import pytest

from runtime.parcelport import get_parcelport

HERE = Path(__file__).parent
NPROCS = [1, 2, 4]
CHECKS = ["types", "exceptions", "async_cb", "zero_copy", "futures", "threads", "collectives",
          "channels", "migration", "stats"]


def _parcelports():
    """MPI-based parcelports present in this checkout (issue 4 adds ``rma``)."""
    names = []
    for name in ("mpi", "rma"):
        if (HERE.parents[1] / "runtime" / "parcelport" / f"{name}.py").exists():
            names.append(name)
    return names


PARCELPORTS = _parcelports()
pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("parcelport", PARCELPORTS)
@pytest.mark.parametrize("nprocs", NPROCS)
def test_runtime_program(run_mpi, nprocs, parcelport):
    _check_program(run_mpi(HERE / "prog_runtime.py", nprocs, [parcelport], timeout=90), nprocs)


def test_runtime_program_coalescing(run_mpi):
    """The same checks with small parcels coalesced into shared messages (mpi parcelport)."""
    _check_program(run_mpi(HERE / "prog_runtime.py", 4, ["mpi", "coalesce"], timeout=90), 4)


@pytest.mark.parametrize("parcelport", PARCELPORTS)
@pytest.mark.parametrize("nprocs", [2, 4])
def test_runtime_program_completion_thread(run_mpi, nprocs, parcelport):
    """The same checks with parcels of >= 4 KiB waited for and delivered by the completion
    thread (on by default only with two cores per locality, so forced here)."""
    _check_program(run_mpi(HERE / "prog_runtime.py", nprocs, [parcelport, "completion"],
                           timeout=90), nprocs)


def test_runtime_program_completion_thread_delivering(run_mpi):
    """The same with ``completion_hand_off=False``: the completion thread delivers each
    parcel itself instead of passing it to the progress loop."""
    _check_program(run_mpi(HERE / "prog_runtime.py", 2, ["mpi", "completion", "inline"],
                           timeout=90), 2)


def _check_program(res, nprocs):
    out = res.stdout
    for check in CHECKS:
        got = out.count(f"CHECK {check} ok")  # lines of different ranks may run together
        assert got == nprocs, f"check {check!r} passed on {got} of {nprocs} ranks\n{out}\n{res.stderr}"
    counts = dict(re.findall(r"COUNT (\d+) (\d+) ", out))
    # every rank received all 300 fire-and-forget parcels sent just before finalize
    assert counts == {str(r): "300" for r in range(nprocs)}, out


@pytest.mark.parametrize("mode", ["main", "apply"])
@pytest.mark.parametrize("parcelport", PARCELPORTS)
@pytest.mark.parametrize("nprocs", NPROCS)
def test_failure_ends_job(run_mpi, nprocs, parcelport, mode):
    t0 = time.monotonic()
    res = run_mpi(HERE / "prog_fail.py", nprocs, [parcelport, mode], timeout=60, check=False)
    elapsed = time.monotonic() - t0
    assert res.returncode != 0, res.stdout + res.stderr
    assert f"fatal error on locality {nprocs - 1} of {nprocs}" in res.stderr, res.stderr
    assert f"deliberate failure {mode}" in res.stderr, res.stderr
    assert elapsed < 30, f"took {elapsed:.1f} s to end the job"


def test_parcelport_registered():
    for name in PARCELPORTS:
        assert get_parcelport(name).distributed
