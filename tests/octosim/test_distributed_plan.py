"""The distributed step's per-locality tables, checked without MPI on real AMR meshes."""
import numpy as np
import pytest

from octosim import distplan as D, exchange
from octosim.config import load_config
from octosim.driver import Simulation
from tests.mpiutil import REPO


@pytest.fixture(scope="module")
def amr_mesh():
    """Sedov blast on 8^3 subgrids, three levels, refined where the blast is (120 leaves on
    levels 2 and 3): a tree with coarse/fine boundaries."""
    sets = [("test", "mesh", "max_level", 3)]
    sim = Simulation(load_config(REPO / "inputs" / "sedov.yaml", sets))
    assert len({k[0] for k in sim.mesh.leaves()}) >= 2, "the test needs an AMR tree"
    return sim.mesh


@pytest.mark.parametrize("nloc", [2, 3, 7, 16, 70])
def test_need_bits_are_every_localitys_closure(amr_mesh, nloc):
    """One bitwise pass gives, for every locality, the leaves it reads (its Closure)."""
    lay, plan = exchange.plan(amr_mesh)
    if len(lay.leaves) < nloc:
        pytest.skip("fewer leaves than localities")
    b = D.partition(len(lay.leaves), nloc)
    need = D.need_bits(lay, plan, b)
    assert need.shape == (len(lay.keys), -(-nloc // 64))
    isleaf = np.zeros(len(lay.keys), dtype=bool)
    isleaf[lay.leaf_slots] = True
    reads_remote = 0
    for r in range(nloc):
        own = np.zeros(len(lay.keys), dtype=bool)
        own[lay.leaf_slots[b[r]:b[r + 1]]] = True
        want = D.Closure(lay, plan, b[r], b[r + 1]).need_leaf
        got = D.has_bit(need, r) & isleaf & ~own
        assert np.array_equal(got, want), r
        reads_remote += int(want.sum())
    assert reads_remote > 0     # the check compared something


def test_send_lists_mirror_receive_lists(amr_mesh):
    """What locality q sends to r is exactly what r receives from q."""
    nloc = 5
    plans = [D.DistPlan(amr_mesh, q, nloc) for q in range(nloc)]
    pairs = 0
    for q in range(nloc):
        for r in range(nloc):
            if q == r:
                continue
            sent = plans[q].send.get(r, np.zeros(0, dtype=np.int64))
            got = plans[r].recv.get(q, np.zeros(0, dtype=np.int64))
            assert np.array_equal(np.sort(sent), np.sort(got)), (q, r)
            pairs += len(sent) > 0
    assert pairs > 0


def test_weighted_partition_cuts_at_equal_work_and_keeps_shares_non_empty():
    from octosim.distributed import partition
    assert partition(10, 3, np.ones(10)) == [0, 3, 7, 10]     # nearest cut to each third
    assert partition(8, 4, [4, 1, 1, 1, 1, 1, 1, 4]) == [0, 1, 4, 7, 8]
    assert partition(5, 3, [1, 1, 1, 1, 100]) == [0, 3, 4, 5]  # one heavy leaf: non-empty
    assert partition(2, 3, [1.0, 1.0]) == [0, 1, 1, 2]
    rng = np.random.default_rng(3)
    w = rng.uniform(1.0, 10.0, 1000)
    b = partition(1000, 16, w)
    shares = [w[b[r]:b[r + 1]].sum() for r in range(16)]
    assert b == sorted(b) and max(shares) - min(shares) <= 2 * w.max()
    with pytest.raises(AssertionError):
        partition(3, 2, [1.0, 0.0, 1.0])
