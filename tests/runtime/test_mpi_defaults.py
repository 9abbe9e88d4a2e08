"""The mpi parcelport's automatic choice of completion threads, without starting MPI."""

from runtime.parcelport import mpi as M


class _Comm:
    """A communicator whose node holds ``n`` ranks."""

    def __init__(self, n):
        self.n, self.freed = n, 0

    def Split_type(self, kind):
        return self

    def Get_size(self):
        return self.n

    def Free(self):
        self.freed += 1


class _MPI:
    COMM_TYPE_SHARED = 1

    def __init__(self, version):
        self.version = version

    def Get_library_version(self):
        return self.version


def test_completion_threads_pay_with_two_cores_a_rank_and_not_under_mpich(monkeypatch):
    monkeypatch.setattr(M.os, "sched_getaffinity", lambda pid: set(range(8)))
    ompi = _MPI("Open MPI v4.1.6, package: Open MPI")
    monkeypatch.setattr(M, "_mpi", lambda: ompi)
    for ranks, pays in ((1, True), (4, True), (5, False), (16, False)):
        comm = _Comm(ranks)
        assert M._completion_pays(ompi, comm) is pays, ranks
        assert comm.freed == 1                          # the node communicator is freed
    mpich = _MPI("MPICH Version:      5.0.2")
    monkeypatch.setattr(M, "_mpi", lambda: mpich)
    assert M._completion_pays(mpich, _Comm(1)) is False  # its global lock: never
