"""The rma parcelport's own checks (RmaVector round trips, acknowledgement, exhaustion)."""
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CHECKS = ["roundtrip", "async_cb", "shared_buffer", "attach_limit", "exhaustion", "released"]
pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("nprocs,mode", [(1, "attach"), (2, "attach"), (4, "attach"), (2, "copy"),
                                          (2, "limited"), (4, "limited"), (2, "nodynamic"),
                                          (4, "nodynamic"), (2, "completion"), (4, "completion")])
def test_rma_program(run_mpi, nprocs, mode):
    res = run_mpi(HERE / "prog_rma.py", nprocs, [mode], timeout=90)
    for check in CHECKS:
        got = res.stdout.count(f"CHECK {check} ok")
        assert got == nprocs, \
            f"check {check!r} passed on {got} of {nprocs} ranks\n{res.stdout}\n{res.stderr}"


def test_lost_acknowledgement_ends_job(run_mpi):
    """A receiver that never acknowledges: the sender fails within ack_timeout, no hang."""
    t0 = time.monotonic()
    res = run_mpi(HERE / "prog_rma.py", 2, ["noack"], timeout=60, check=False)
    assert res.returncode != 0, res.stdout + res.stderr
    assert "fatal error on locality 0 of 2" in res.stderr, res.stderr
    assert "did not acknowledge" in res.stderr, res.stderr
    assert time.monotonic() - t0 < 30
