"""Target-split FMM (``octosim.gravity.distributed``): each share of the leaves gets potential
and acceleration bitwise equal to the full solve, and the same per-leaf interaction counts
(the load-balancing weights), at any number of shares."""

import numpy as np
import pytest

from octosim.distributed import partition
from octosim.gravity import TreeDesc, build_keys, solve_desc
from octosim.gravity.distributed import target_masks
from octosim.tree import morton_key


def _tree():
    def refine(k):      # levels 1 to 3, deeper towards the low corner: coarse/fine pairs
        L, i, j, m = k
        return L < 1 or (L < 3 and i + j + m <= (1 << L) // 2)
    return TreeDesc(build_keys(refine, 3), 4, 1.0)


def _sharing_moments(n, work):
    """Run ``work(r, exchange)`` for r < n on n threads standing in for localities that
    trade their moments through ``exchange``; return the results and what each sent."""
    import threading
    sent, out, errors = {}, [None] * n, []
    cv = threading.Condition()

    def run(r):
        def exchange(rows, sources):
            with cv:
                sent[r] = rows
                cv.notify_all()
                assert cv.wait_for(lambda: all(q in sent for q in sources), timeout=60)
                return {q: sent[q] for q in sources}
        try:
            out[r] = work(r, exchange)
        except BaseException as exc:  # noqa: BLE001 - raised in the test's thread
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(r,)) for r in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return out, sent


@pytest.mark.parametrize("order,angmom", [(3, False), (2, False), (3, True)])
def test_each_share_is_bitwise_the_full_solve(order, angmom):
    desc = _tree()
    rng = np.random.default_rng(7)
    rho = rng.uniform(0.5, 2.0, (desc.nnode, desc.N, desc.N, desc.N))
    work = np.zeros(desc.nnode)
    phi, g = solve_desc(desc, rho, order=order, angmom=angmom, work=work)
    leaf = np.array(desc.leaves())
    assert work[leaf].min() > 0 and work[leaf].max() > 1.5 * work[leaf].min()  # uneven
    leaves = sorted((desc.keys[i] for i in desc.leaves()), key=lambda k: morton_key(k, 3))
    for nshare in (2, 3, 5):
        b = partition(len(leaves), nshare)
        done = 0
        for r in range(nshare):
            own = leaves[b[r]:b[r + 1]]
            hit, keep = target_masks(desc, own)
            st = {}
            work_r = np.zeros(desc.nnode)
            p_r, g_r = solve_desc(desc, rho, order=order, angmom=angmom, hit=hit, keep=keep,
                                  stats=st, work=work_r)
            idx = [desc.index[k] for k in own]
            assert np.array_equal(p_r[idx], phi[idx]), (nshare, r)
            assert np.array_equal(g_r[idx], g[idx]), (nshare, r)
            assert np.array_equal(work_r[idx], work[idx]), (nshare, r)
            done += len(idx)
        assert done == len(leaves)


def test_owned_solver_counts_in_its_first_solve_only_and_counting_changes_no_result():
    """``OwnedSolver`` counts the interactions in its first solve (its tree's weights) and
    not in later ones; counted or not, the fields are bitwise the masked solve's."""
    from types import SimpleNamespace

    from octosim.gravity.distributed import OwnedSolver
    desc = _tree()
    rng = np.random.default_rng(5)
    leaves = [desc.keys[i] for i in desc.leaves()]
    own = leaves[2:9]
    idx = [desc.index[k] for k in own]
    hit, keep = target_masks(desc, own)
    s = OwnedSolver(SimpleNamespace(nodes=desc.keys), desc.N, 1.0, own)
    first = None
    for _ in range(2):
        rho = rng.uniform(0.5, 2.0, (desc.nnode, desc.N, desc.N, desc.N))
        phi, g = s.solve({k: rho[desc.index[k]] for k in leaves})
        work = np.zeros(desc.nnode)
        p_c, g_c = solve_desc(desc, rho, hit=hit, keep=keep, work=work)
        p_u, g_u = solve_desc(desc, rho, hit=hit, keep=keep)
        for k, i in zip(own, idx):
            assert np.array_equal(phi[k], p_c[i]) and np.array_equal(phi[k], p_u[i]), k
            assert np.array_equal(g[k], g_c[i]) and np.array_equal(g[k], g_u[i]), k
        if first is None:
            first = work[idx]
        assert np.array_equal(s.owned_work(), first)


def test_owned_weights_hand_each_walked_interior_count_down_to_the_owned_leaves():
    """``owned_weights`` adds to each leaf's count the interior nodes' counts walked by its
    share, split evenly among the children holding owned leaves: over a share the weights
    add up to its counted work on every node it keeps, siblings below a wholly owned node
    inherit alike, and the interior counts are not lost when a share owns part of a node."""
    from types import SimpleNamespace

    from octosim.gravity.distributed import OwnedSolver
    desc = _tree()
    rng = np.random.default_rng(11)
    tree = SimpleNamespace(nodes=desc.keys)
    leaves = sorted((desc.keys[i] for i in desc.leaves()), key=lambda k: morton_key(k, 3))
    rho = {k: rng.uniform(0.5, 2.0, (desc.N,) * 3) for k in leaves}
    inner = ~desc.leaf
    for b in ([0, len(leaves)], partition(len(leaves), 3)):
        for r in range(len(b) - 1):
            s = OwnedSolver(tree, desc.N, 1.0, leaves[b[r]:b[r + 1]])
            s.solve(rho)
            w, counts = s.owned_weights(), s.owned_work()
            assert np.all(w >= counts)
            assert w.sum() == pytest.approx(s.work[s.keep].sum(), rel=1e-12)
            assert (w - counts).sum() == pytest.approx(s.work[s.keep & inner].sum(), rel=1e-12)
            assert s.work[s.keep & inner].sum() > 0.0
    whole = OwnedSolver(tree, desc.N, 1.0, leaves)
    whole.solve(rho)
    extra = dict(zip(whole.owned, whole.owned_weights() - whole.owned_work()))
    for n in np.flatnonzero(inner):
        kids = [desc.keys[c] for c in desc.children[n]]
        if all(desc.leaf[desc.index[k]] for k in kids):   # 8 leaves: alike
            assert [extra[k] for k in kids] == pytest.approx([extra[kids[0]]] * 8, rel=1e-12)
            assert extra[kids[0]] > 0.0


def test_the_driver_balances_by_owned_weights_once_a_solve_has_counted():
    """The shares are cut by ``owned_weights`` (interior counts included), not by the bare
    leaf counts of ``owned_work``; nothing before the first solve has counted."""
    from types import SimpleNamespace

    from octosim.distributed import DistributedSimulation
    solver = SimpleNamespace(work=np.ones(3), owned_weights=lambda: np.array([5.0, 6.0]),
                             owned_work=lambda: np.array([1.0, 2.0]))
    own = DistributedSimulation._own_work
    assert own(None, SimpleNamespace(gravity=solver)).tolist() == [5.0, 6.0]
    assert own(None, SimpleNamespace(gravity=SimpleNamespace(work=None))) is None
    assert own(None, SimpleNamespace(gravity=None)) is None


@pytest.mark.parametrize("order,angmom", [(3, False), (3, True)])
def test_shared_upward_pass_is_bitwise_the_replicated_one(order, angmom):
    """Shares that compute only their own subtrees' moments and trade them (``exchange``, one
    thread per share standing in for the localities) get the fields of the solve that
    computes every moment itself, bitwise; each sends its own nodes only."""
    from types import SimpleNamespace

    from octosim.gravity.distributed import OwnedSolver, node_owners
    desc = _tree()
    tree = SimpleNamespace(nodes=desc.keys)
    rng = np.random.default_rng(11)
    leaves = sorted((desc.keys[i] for i in desc.leaves()), key=lambda k: morton_key(k, 3))
    rho = {k: rng.uniform(0.5, 2.0, (desc.N,) * 3) for k in leaves}
    for nshare in (1, 3):
        b = partition(len(leaves), nshare)
        owner_of = {k: r for r in range(nshare) for k in leaves[b[r]:b[r + 1]]}
        own = node_owners(desc, owner_of)
        if nshare == 3:     # interior nodes of one share and above several
            inner = own[~desc.leaf]
            assert (inner >= 0).any() and (inner == -1).any(), inner
        solvers = [OwnedSolver(tree, desc.N, 1.0, leaves[b[r]:b[r + 1]], owner_of, r)
                   for r in range(nshare)]
        out, sent = _sharing_moments(nshare, lambda r, exchange: solvers[r].solve(
            rho, order=order, angmom=angmom, exchange=exchange))
        for r in range(nshare):
            ref = OwnedSolver(tree, desc.N, 1.0, leaves[b[r]:b[r + 1]])
            p_ref, g_ref = ref.solve(rho, order=order, angmom=angmom)
            p, g = out[r]
            for k in p_ref:
                assert np.array_equal(p[k], p_ref[k]) and np.array_equal(g[k], g_ref[k]), k
            mine = solvers[r].moment_nodes.get(r, [])
            assert (sent[r] is None) == (len(mine) == 0)
            if sent[r] is not None:     # the rows of this share's nodes, as computed in full
                assert np.array_equal(sent[r], ref._pack(ref._ws, mine))


def test_threaded_solver_is_bitwise_the_one_thread_solve():
    """``ThreadedSolver`` (3 threads: equal leaf counts, then re-cut by the first counts)
    gives the one-thread fields and counts, before and after its re-cut."""
    from types import SimpleNamespace

    from octosim.gravity.distributed import OwnedSolver, ThreadedSolver
    desc = _tree()
    rng = np.random.default_rng(3)
    tree = SimpleNamespace(nodes=desc.keys)
    leaves = sorted((desc.keys[i] for i in desc.leaves()), key=lambda k: morton_key(k, 3))
    one = OwnedSolver(tree, desc.N, 1.0, leaves)
    many = ThreadedSolver(tree, desc.N, 1.0, leaves, 3)
    assert many.work is None and len(many.parts) == 3
    first = [p.owned for p in many.parts]
    for _ in range(2):
        rho = {k: rng.uniform(0.5, 2.0, (desc.N,) * 3) for k in leaves}
        p1, g1 = one.solve(rho)
        p3, g3 = many.solve(rho)
        assert set(p3) == set(leaves)
        for k in leaves:
            assert np.array_equal(p1[k], p3[k]) and np.array_equal(g1[k], g3[k]), k
        assert np.array_equal(many.owned_work(), one.owned_work())
    assert [p.owned for p in many.parts] != first            # re-cut by the counts


def test_masks_mark_owned_subtrees_only():
    desc = _tree()
    leaves = [desc.keys[i] for i in desc.leaves()]
    hit, keep = target_masks(desc, leaves[:1])
    n3 = desc.N ** 3
    assert keep[desc.index[(0, 0, 0, 0)]] and keep.sum() == leaves[0][0] + 1
    L = leaves[0][0]
    # N = 4: the leaf's 64 cells, the parent's 2x2x2 over it, then one cell per ancestor
    assert hit.sum() == n3 + (8 if L >= 1 else 0) + max(L - 1, 0), (L, hit.sum())


@pytest.mark.parametrize("angmom", [False, True])
def test_a_kept_workspace_gives_the_results_of_fresh_arrays(angmom):
    """Solves that reuse a ``Workspace`` (full, then a share, then full again, each with new
    densities, once with the other ``angmom``: the other accumulators) are bitwise those made
    with fresh arrays: no stale sums survive a clear."""
    from octosim.gravity.solver import Workspace
    desc = _tree()
    rng = np.random.default_rng(11)
    leaves = [desc.keys[i] for i in desc.leaves()]
    hit, keep = target_masks(desc, leaves[3:9])
    idx = [desc.index[k] for k in leaves[3:9]]
    ws = Workspace(desc, 3)
    for masked, am in ((False, angmom), (True, angmom), (False, angmom), (True, not angmom),
                       (True, angmom)):
        rho = rng.uniform(0.5, 2.0, (desc.nnode, desc.N, desc.N, desc.N))
        kw = dict(hit=hit, keep=keep) if masked else {}
        p0, g0 = solve_desc(desc, rho, angmom=am, **kw)
        p1, g1 = solve_desc(desc, rho, angmom=am, ws=ws, **kw)
        sel = idx if masked else desc.leaves()
        assert np.array_equal(p0[sel], p1[sel]) and np.array_equal(g0[sel], g1[sel]), masked


@pytest.mark.parametrize("angmom", [False, True])
def test_a_solver_of_another_cut_hands_over_its_workspace(angmom):
    """``OwnedSolver(..., like=s)``: a re-cut of the same tree takes over ``s``'s tree
    description and workspace (``s`` keeps none) and counts nothing; its fields are bitwise
    those of a new solver of its own, share after share, each with new densities."""
    from types import SimpleNamespace

    from octosim.gravity.distributed import OwnedSolver
    desc = _tree()
    tree = SimpleNamespace(nodes=desc.keys)
    rng = np.random.default_rng(13)
    leaves = sorted((desc.keys[i] for i in desc.leaves()), key=lambda k: morton_key(k, 3))
    b = partition(len(leaves), 3)
    shares = [leaves[b[r]:b[r + 1]] for r in (0, 2, 1, 0)]
    prev = None
    for own in shares:
        s = OwnedSolver(tree, desc.N, 1.0, own, like=prev)
        if prev is not None:
            assert s.desc is prev.desc and prev._ws is None and s._ws is not None
        rho = {k: rng.uniform(0.5, 2.0, (desc.N,) * 3) for k in leaves}
        p1, g1 = s.solve(rho, angmom=angmom)
        fresh = OwnedSolver(tree, desc.N, 1.0, own)
        p0, g0 = fresh.solve(rho, angmom=angmom)
        assert fresh.work is not None and (s.work is None) == (prev is not None)
        assert set(p1) == set(own)
        for k in own:
            assert np.array_equal(p0[k], p1[k]) and np.array_equal(g0[k], g1[k]), k
        prev = s


@pytest.mark.parametrize("order,angmom", [(3, False), (2, False), (3, True)])
def test_a_share_solved_as_body_then_tails_is_bitwise_the_full_solve(order, angmom):
    """Work stealing's pieces: after a first (counting) solve, each of 3 shares solves its
    body alone, trading moments with the others (``exchange``), then from those moments
    (``solve_more``, no upward pass) its own tail and the next share's: every leaf's fields
    are bitwise those of the one-locality solve, whoever solved it."""
    from types import SimpleNamespace

    from octosim.gravity.distributed import OwnedSolver
    desc = _tree()
    tree = SimpleNamespace(nodes=desc.keys)
    rng = np.random.default_rng(17)
    leaves = sorted((desc.keys[i] for i in desc.leaves()), key=lambda k: morton_key(k, 3))
    rho0 = {k: rng.uniform(0.5, 2.0, (desc.N,) * 3) for k in leaves}
    rho = {k: rng.uniform(0.5, 2.0, (desc.N,) * 3) for k in leaves}
    phi, g = solve_desc(desc, rho, order=order, angmom=angmom)
    b = partition(len(leaves), 3)
    shares = [leaves[b[r]:b[r + 1]] for r in range(3)]
    tails = [s[-2:] for s in shares]
    owner_of = {k: r for r in range(3) for k in shares[r]}
    solvers = [OwnedSolver(tree, desc.N, 1.0, shares[r], owner_of, r) for r in range(3)]
    for s in solvers:
        s.solve(rho0, order=order, angmom=angmom)          # the counting solve
        assert not s.counts_next
        with pytest.raises(AssertionError):
            s.solve_more(shares[0], order=order + 1, angmom=angmom)  # another order

    def run(r, exchange):
        s = solvers[r]
        body = s.solve(rho, order=order, angmom=angmom, exchange=exchange,
                       leaves=shares[r][:-2])
        mine = s.solve_more(tails[r], order=order, angmom=angmom)
        other = s.solve_more(tails[(r + 1) % 3], order=order, angmom=angmom)
        return body, mine, other
    out, _ = _sharing_moments(3, run)
    recut = OwnedSolver(tree, desc.N, 1.0, shares[0], owner_of, 0, like=solvers[0])
    with pytest.raises(AssertionError):     # another cut's workspace: its own solve first
        recut.solve_more(tails[0], order=order, angmom=angmom)
    for r in range(3):
        body, mine, other = out[r]
        assert set(body[0]) == set(shares[r][:-2]) and set(mine[0]) == set(tails[r])
        assert set(other[0]) == set(tails[(r + 1) % 3])
        for p_r, g_r in (body, mine, other):
            for k in p_r:
                i = desc.index[k]
                assert np.array_equal(p_r[k], phi[i]) and np.array_equal(g_r[k], g[i]), (r, k)
