"""Shared fixtures: ``run_mpi`` for tests that launch MPI programs (see tests/mpiutil.py)."""
import pytest

from tests.mpiutil import mpiexec_available, run_mpi as _run_mpi


@pytest.fixture
def run_mpi():
    """Return ``run_mpi(script_or_module, nprocs, args=(), timeout=120, env=None, check=True)``."""
    if not mpiexec_available():
        pytest.skip("mpiexec not found")
    return _run_mpi
