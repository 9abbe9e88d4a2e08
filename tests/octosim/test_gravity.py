"""FMM gravity: algebra, accuracy against direct summation, momentum conservation."""

import numpy as np
import pytest

from octosim.gravity import TreeDesc, build_keys, direct_desc, gravity_source, solve, solve_desc
from octosim.gravity.codegen import generate
from octosim.gravity.multipole import derivatives, tables


def _refine(key):
    """An irregular tree with coarse/fine boundaries at every level (no 2:1 balance)."""
    L, ix, iy, iz = key
    if L == 0:
        return True
    if L == 1:
        return (ix + iy + iz) % 2 == 0
    return L == 2 and ix in (1, 2) and iy in (1, 2) and iz in (1, 2)


@pytest.fixture(scope="module")
def random_tree():
    desc = TreeDesc(build_keys(_refine, 3), 4, 1.0)
    rng = np.random.default_rng(7)
    rho = rng.random((desc.nnode, 4, 4, 4)) * (rng.random((desc.nnode, 4, 4, 4)) > 0.3)
    P, A = direct_desc(desc, rho)
    return desc, rho, P, A


def _errors(desc, phi, g, P, A):
    lv = desc.leaf
    ep = np.sqrt(np.mean((phi[lv] - P[lv]) ** 2) / np.mean(P[lv] ** 2))
    eg = np.sqrt(np.mean((g[lv] - A[lv]) ** 2) / np.mean(A[lv] ** 2))
    return ep, eg


def _forces(desc, rho, g):
    cw = np.array([desc.dx(L) for L in desc.level])
    m = rho * cw[:, None, None, None] ** 3
    f = m[desc.leaf][:, None] * g[desc.leaf]
    return f.sum(axis=(0, 2, 3, 4)), np.abs(f).sum()


def test_derivative_tensors_match_finite_differences():
    t = tables(4)
    R = np.array([0.7, -0.4, 1.1])
    D = np.empty(t.nterm)
    derivatives(R[0], R[1], R[2], t.order, t.mi, t.minus1, t.minus2, D)
    assert D[0] == pytest.approx(1.0 / np.linalg.norm(R), rel=1e-14)
    h = 1e-5
    for q, n in enumerate(t.index):
        if sum(n) == 0:
            continue
        i = next(a for a in range(3) if n[a] > 0)
        lower = t.lookup[tuple(n[a] - (a == i) for a in range(3))]
        Dp, Dm = np.empty(t.nterm), np.empty(t.nterm)
        e = np.eye(3)[i] * h
        derivatives(*(R + e), t.order, t.mi, t.minus1, t.minus2, Dp)
        derivatives(*(R - e), t.order, t.mi, t.minus1, t.minus2, Dm)
        fd = (Dp[lower] - Dm[lower]) / (2 * h)
        assert D[q] == pytest.approx(fd, rel=1e-6, abs=1e-8), n
    # harmonic: the trace of every order-2 slice vanishes
    tr = D[t.lookup[(2, 0, 0)]] + D[t.lookup[(0, 2, 0)]] + D[t.lookup[(0, 0, 2)]]
    assert abs(tr) < 1e-14


def test_unrolled_module_is_up_to_date():
    import octosim.gravity._m2l as mod
    with open(mod.__file__) as f:
        assert f.read() == generate(), "rerun python -m octosim.gravity.codegen"


def _pair_inputs(p, leaf, seed, positive=False):
    """Random moments of two cells about their centres of mass (a leaf's: its mass only; with
    ``positive`` masses > 0), their masses, separation and starting sums ``C0``, ``L0``."""
    t = tables(p)
    rng = np.random.default_rng(seed)
    M = rng.random((2, t.nterm)) - 0.5
    if positive:
        M[:, 0] = 1.0 + rng.random(2)
    M[:, 1:4] = 0.0                              # moments about the centres of mass
    for side in (0, 1):
        if leaf[side]:
            M[side, 1:] = 0.0
    x = 2.0 + rng.random(3)
    C0 = rng.random((2, t.nterm))
    return M, M[:, 0].copy(), x, C0, C0[:, :4].copy()   # the same sums start alike


@pytest.mark.parametrize("p", [2, 3])
@pytest.mark.parametrize("leaf", [(True, True), (True, False), (False, True)])
def test_leaf_m2l_variants_give_the_general_kernels_values(p, leaf):
    """A leaf cell is a point mass read through order 1: the leaf variants must add exactly
    what the general kernel adds to the terms that are read (a leaf cell's into the compact
    ``L``, its mass from ``ms``), and nothing elsewhere."""
    import octosim.gravity._m2l as k

    M, ms, (x, y, z), C0, L0 = _pair_inputs(p, leaf, 11)
    whole = C0.copy()
    getattr(k, f"m2l{p}")(x, y, z, M, 0, 1, 0.7, whole, 0, 1)
    Mz = np.where(np.array(leaf)[:, None], 0.0, M)      # a leaf's row is never read
    C, L = C0.copy(), L0.copy()
    getattr(k, f"m2l{p}_leaf")(x, y, z, Mz, ms, 0, 1, 0.7, C, L, *leaf)
    for side, name in ((0, "a"), (1, "b")):
        Ch, Lh = C0.copy(), L0.copy()
        getattr(k, f"m2l{p}{name}_leaf")(x, y, z, Mz, ms, 0, 1, 0.7, Ch, Lh, *leaf)
        for c, l in ((C, L), (Ch, Lh)):
            if leaf[side]:
                assert np.array_equal(l[side], whole[side, :4])
                assert np.array_equal(c[side], C0[side])
            else:
                assert np.array_equal(c[side], whole[side])
                assert np.array_equal(l[side], L0[side])
        assert np.array_equal(Ch[1 - side], C0[1 - side]) and np.array_equal(Lh[1 - side],
                                                                              L0[1 - side])


@pytest.mark.parametrize("p", [2, 3])
@pytest.mark.parametrize("leaf", [(True, True), (True, False), (False, True)])
def test_torque_fixing_leaf_variants_give_the_general_kernels_values(p, leaf):
    """``m2l<p>s_leaf`` adds what ``m2l<p>s`` adds, a leaf cell's read terms into ``L``,
    with the same torque fix bitwise (the terms left out are products with a leaf cell's
    zero moments); two leaf cells get no fix, as the general kernel's is round-off."""
    import octosim.gravity._m2l as k

    M, ms, (x, y, z), C0, L0 = _pair_inputs(p, leaf, 5, positive=True)
    whole, uw = C0.copy(), np.zeros((2, 3))
    getattr(k, f"m2l{p}s")(x, y, z, M, 0, 1, 0.7, whole, uw)
    Mz = np.where(np.array(leaf)[:, None], 0.0, M)
    C, L, u = C0.copy(), L0.copy(), np.zeros((2, 3))
    getattr(k, f"m2l{p}s_leaf")(x, y, z, Mz, ms, 0, 1, 0.7, C, L, u, *leaf)
    for side in (0, 1):
        if leaf[side]:
            assert np.array_equal(L[side], whole[side, :4])
            assert np.array_equal(C[side], C0[side])
        else:
            assert np.array_equal(C[side], whole[side])
    if all(leaf):
        assert np.all(u == 0.0) and np.abs(uw).max() <= 1e-15 * np.abs(whole[:, 1:4]).max()
    else:
        assert np.abs(uw).max() > 1e-6 and np.array_equal(u, uw)


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("angmom", [False, True])
def test_unrolled_m2l_matches_generic(random_tree, order, angmom):
    desc, rho, _, _ = random_tree
    p1, g1 = solve_desc(desc, rho, theta=0.5, order=order, angmom=angmom)
    p2, g2 = solve_desc(desc, rho, theta=0.5, order=order, generic=True, angmom=angmom)
    assert np.abs(p1 - p2).max() <= 1e-13 * np.abs(p2).max()
    assert np.abs(g1 - g2).max() <= 1e-13 * np.abs(g2).max()


def test_leaf_blocks_count_and_weigh_pairs_as_the_stack_does(random_tree):
    """The 2x2x2 leaf blocks (unrolled path) classify each pair by the traversal's own test:
    the same M2L / P2P counts and per-node work as the pair-by-pair generic path (to
    rounding: a block adds its pairs' work at once, the generic path pair by pair)."""
    desc, rho, _, _ = random_tree
    counts, works = [], []
    for generic in (False, True):
        st, work = {}, np.zeros(desc.nnode)
        solve_desc(desc, rho, theta=0.5, stats=st, generic=generic, work=work)
        counts.append((st["m2l"], st["p2p"]))
        works.append(work)
    assert counts[0] == counts[1] and counts[0][1] > 0, counts
    assert np.allclose(works[0], works[1], rtol=1e-11, atol=0.0)


@pytest.mark.parametrize("na, nb", [(8, 8), (1, 8), (8, 1)])
def test_leaf_block_is_the_pairwise_sum_and_ignores_the_mask(na, nb):
    """``leaf_block`` (two 2x2x2 blocks, or one cell and a block): each target's sum is the
    direct point-mass sum over the other side (to round-off), and a masked call gives the
    kept targets bitwise the unmasked values and nothing to the others.  For 8x8 the
    unmasked call takes the unrolled ``block88``, a mask keeping one block whole and none of
    the other ``block88a`` / ``block88b``, the other masks the loop: the same sums bitwise,
    the same counts, and with ``work`` the pairs with a kept cell on each side."""
    from octosim.gravity.leafblock import leaf_block
    rng = np.random.default_rng(3)
    n = na + nb
    zc = rng.random((n, 3)) * 4.0
    ms = rng.random(n)
    ka, kb = np.arange(na), np.arange(na, n)
    none, nowork, buf, hb = np.zeros(0, bool), np.zeros(0), np.empty((12, 8)), np.empty(8, np.int64)
    phid, gd = np.zeros(n), np.zeros((n, 3))
    nf, nn = leaf_block(ka, kb, zc, ms, 2.0, 0.5, 0.25, none, phid, gd, nowork, 0, 0, 0.05,
                        buf, hb)
    assert nf + nn == na * nb and nf > 0 and nn > 0, (nf, nn)
    for a in range(n):
        others = kb if a < na else ka
        r = zc[a] - zc[others]
        d = np.sqrt((r ** 2).sum(axis=1))
        assert phid[a] == pytest.approx(-2.0 * (ms[others] / d).sum(), rel=1e-14)
        assert gd[a] == pytest.approx(-2.0 * ((ms[others] / d ** 3)[:, None] * r).sum(axis=0),
                                      rel=1e-13)
    work = np.zeros(2)
    p2, g2 = np.zeros(n), np.zeros((n, 3))
    assert leaf_block(ka, kb, zc, ms, 2.0, 0.5, 0.25, none, p2, g2, work, 0, 1, 0.125, buf,
                      hb) == (nf, nn)
    assert np.array_equal(p2, phid) and np.array_equal(g2, gd)
    assert work[0] == work[1] == 0.125 * na * nb      # every pair alike, M2L or P2P
    for hit in (rng.random(n) < 0.4, np.arange(n) < na, np.arange(n) >= na, np.ones(n, bool)):
        for work in (nowork, np.zeros(2)):
            p2, g2 = np.zeros(n), np.zeros((n, 3))
            mf, mn = leaf_block(ka, kb, zc, ms, 2.0, 0.5, 0.25, hit, p2, g2, work, 0, 1, 0.125,
                                buf, hb)
            assert np.array_equal(p2[hit], phid[hit]) and np.array_equal(g2[hit], gd[hit])
            assert not p2[~hit].any() and not g2[~hit].any()
            assert mf + mn == (hit[:na, None] | hit[None, na:]).sum()
        assert work[0] == 0.125 * hit[:na].sum() * nb and work[1] == 0.125 * na * hit[na:].sum()


def test_theta_zero_is_the_direct_sum(random_tree):
    desc, rho, P, A = random_tree
    st = {}
    phi, g = solve_desc(desc, rho, theta=0.0, stats=st)
    assert st["m2l"] == 0
    ep, eg = _errors(desc, phi, g, P, A)
    assert ep < 1e-13 and eg < 1e-13


def test_matches_direct_sum_on_refined_tree(random_tree):
    desc, rho, P, A = random_tree
    assert len(set(desc.level[desc.leaf])) == 3  # leaves on three levels
    phi, g = solve_desc(desc, rho, theta=0.5)
    ep, eg = _errors(desc, phi, g, P, A)
    assert ep <= 1e-3 and eg <= 1e-3, (ep, eg)


def test_error_shrinks_with_theta(random_tree):
    desc, rho, P, A = random_tree
    errs = [_errors(desc, *solve_desc(desc, rho, theta=th), P, A) for th in (0.8, 0.5, 0.3)]
    for (p0, g0), (p1, g1) in zip(errs, errs[1:]):
        assert p1 < 0.5 * p0 and g1 < 0.5 * g0, errs
    # and with the expansion order
    e2 = _errors(desc, *solve_desc(desc, rho, theta=0.5, order=2), P, A)
    e4 = _errors(desc, *solve_desc(desc, rho, theta=0.5, order=4), P, A)
    assert e4[0] < errs[1][0] < e2[0] and e4[1] < errs[1][1] < e2[1]


@pytest.mark.parametrize("order", [2, 3, 4])
def test_total_gravitational_force_vanishes(random_tree, order):
    desc, rho, _, _ = random_tree
    _, g = solve_desc(desc, rho, theta=0.5, order=order)
    total, size = _forces(desc, rho, g)
    assert np.all(np.abs(total) <= 1e-13 * size), total / size


def test_mesh_interface_matches_tree_desc():
    from octosim.fields import RHO
    from octosim.mesh import Mesh

    mesh = Mesh(4, 6, 1.0, 2)
    mesh.tree.refine((0, 0, 0, 0))
    for key in mesh.tree.nodes - set(mesh.subgrids):
        mesh.add_node(key)
    mesh.tree.refine((1, 1, 0, 1))
    for key in mesh.tree.nodes - set(mesh.subgrids):
        mesh.add_node(key)
    rng = np.random.default_rng(3)
    for key in mesh.leaves():
        mesh[key].interior[RHO] = rng.random((4, 4, 4))
    phi, g = solve(mesh, G=2.0, theta=0.5)
    assert set(phi) == set(mesh.leaves()) and set(g) == set(mesh.leaves())
    desc = TreeDesc.from_octree(mesh.tree, 4, 1.0)
    rho = {k: mesh[k].interior[RHO] for k in mesh.leaves()}
    P, A = direct_desc(desc, rho, G=2.0)
    for k in mesh.leaves():
        i = desc.index[k]
        assert g[k].shape == (3, 4, 4, 4)
        assert np.abs(phi[k] - P[i]).max() <= 1e-3 * np.abs(P[i]).max()


def test_gravity_source_terms():
    from octosim.fields import EGAS, GHOST, RHO, SX, SY, SZ, TAU

    N, G = 4, GHOST
    rng = np.random.default_rng(5)
    U = rng.random((7, N + 2 * G, N + 2 * G, N + 2 * G))
    g = rng.standard_normal((3, N, N, N))
    S = gravity_source(U, np.zeros((N, N, N)), g)
    inner = U[:, G:G + N, G:G + N, G:G + N]
    for a, f in enumerate((SX, SY, SZ)):
        assert np.allclose(S[f], inner[RHO] * g[a])
    assert np.allclose(S[EGAS], sum(inner[f] * g[a] for a, f in enumerate((SX, SY, SZ))))
    assert np.all(S[[RHO, TAU, 6]] == 0.0)


def _torque(desc, rho, g):
    cw = np.array([desc.dx(L) for L in desc.level])
    m = rho * cw[:, None, None, None] ** 3
    X = np.zeros((desc.nnode, 3) + rho.shape[1:])
    for n in desc.leaves():
        X[n] = np.array(np.meshgrid(*desc.cell_centers(n), indexing="ij"))
    t = np.cross(X[desc.leaf], m[desc.leaf][:, None] * g[desc.leaf], axis=1)
    return np.abs(t.sum(axis=(0, 2, 3, 4))).max() / np.abs(t).sum()


@pytest.mark.parametrize("order", [2, 3, 4])
def test_angular_momentum_correction(random_tree, order):
    desc, rho, P, A = random_tree
    phi0, g0 = solve_desc(desc, rho, theta=0.5, order=order)
    phi, g = solve_desc(desc, rho, theta=0.5, order=order, angmom=True)
    assert np.allclose(phi, phi0, rtol=1e-13, atol=0)   # the potential is untouched
    assert _torque(desc, rho, g0) > 1e-8               # the plain FMM leaves a net torque
    assert _torque(desc, rho, g) <= 1e-13
    total, size = _forces(desc, rho, g)
    assert np.all(np.abs(total) <= 1e-13 * size)
    ep, eg = _errors(desc, phi, g, P, A)
    _, eg0 = _errors(desc, phi0, g0, P, A)
    assert eg <= 1.2 * eg0 and eg <= (1e-3 if order >= 3 else 5e-3), (eg, eg0)


def test_mirror_symmetric_masses_give_mirror_symmetric_field():
    def refine(key):
        L, ix, iy, iz = key
        return L == 0 or (L == 1 and iy == 0) or (L == 2 and ix in (1, 2) and iz == 0)

    N = 4
    desc = TreeDesc(build_keys(refine, 3), N, 1.0)
    mirror = np.array([desc.index[(L, (1 << L) - 1 - ix, iy, iz)] for L, ix, iy, iz in desc.keys])
    rho = np.random.default_rng(11).random((desc.nnode, N, N, N))
    rho = 0.5 * (rho + rho[mirror][:, ::-1])
    phi, g = solve_desc(desc, rho, theta=0.5)
    lv = desc.leaf
    scale_p, scale_g = np.abs(phi[lv]).max(), np.abs(g[lv]).max()
    assert np.abs(phi[mirror][:, ::-1] - phi)[lv].max() <= 1e-12 * scale_p
    assert np.abs(-g[mirror][:, 0, ::-1] - g[:, 0])[lv].max() <= 1e-12 * scale_g
    assert np.abs(g[mirror][:, 1:, ::-1] - g[:, 1:])[lv].max() <= 1e-12 * scale_g
