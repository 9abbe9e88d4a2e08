"""Octree topology: codes, Morton order, neighbours (brute force) and 2:1 balance."""

import itertools
import random

import pytest

from octosim.tree import (CURVES, DIRECTIONS, ROOT, Octree, children, choose_curve,
                          key_from_code, locational_code, morton_key, parent)


def random_tree(seed, max_level=4, periodic=(False, False, False), nsplit=12):
    rng = random.Random(seed)
    tree = Octree(max_level, periodic)
    for _ in range(nsplit):
        cands = [k for k in tree.leaves() if k[0] < max_level]
        tree.refine(rng.choice(cands))
        assert tree.is_balanced()
    return tree


def _touch_brute(a, b, periodic):
    """Two nodes touch when their closed boxes intersect (with periodic images)."""
    L = max(a[0], b[0])
    n = 1 << L
    for ax in range(3):
        sa, sb = 1 << (L - a[0]), 1 << (L - b[0])
        a0, a1 = a[1 + ax] * sa, (a[1 + ax] + 1) * sa
        ok = False
        shifts = (-n, 0, n) if periodic[ax] else (0,)
        for s in shifts:
            b0, b1 = b[1 + ax] * sb + s, (b[1 + ax] + 1) * sb + s
            if a0 <= b1 and b0 <= a1:
                ok = True
        if not ok:
            return False
    return True


def test_locational_code_roundtrip_and_unique():
    seen = set()
    for level in range(4):
        n = 1 << level
        for ix, iy, iz in itertools.product(range(n), repeat=3):
            key = (level, ix, iy, iz)
            code = locational_code(key)
            assert key_from_code(code) == key
            seen.add(code)
    assert len(seen) == 1 + 8 + 64 + 512
    assert locational_code(ROOT) == 1
    # children codes are the parent's code shifted by 3 bits plus the octant
    assert [locational_code(c) for c in children((1, 1, 0, 1))] == \
        [(locational_code((1, 1, 0, 1)) << 3) | o for o in range(8)]


@pytest.mark.parametrize("curve", CURVES)
def test_morton_order_is_space_filling_and_contiguous(curve):
    tree = random_tree(3)
    tree.set_curve(curve)
    leaves = tree.leaves()
    L = tree.max_level
    # the leaves tile the domain: total volume and no overlap along the curve
    vol = sum(8 ** (L - k[0]) for k in leaves)
    assert vol == 8 ** L
    pos = 0
    for k in leaves:
        start, _ = morton_key(k, L, curve)
        assert start == pos, (k, start, pos)
        pos += 8 ** (L - k[0])
    # the first axis of the curve is its slowest: the first half of the leaves lies below
    # the domain's middle along it, and the last child octant of the root varies it alone
    a = "xyz".index(curve[0])
    half = [k for k in leaves if morton_key(k, L, curve)[0] < 4 * 8 ** (L - 1)]
    assert all((k[1 + a] + 1) << (L - k[0]) <= 1 << (L - 1) for k in half)
    order = sorted(children(ROOT), key=lambda k: morton_key(k, 1, curve))
    assert [k[1 + a] for k in order] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [k[1 + "xyz".index(curve[2])] for k in order] == [0, 1] * 4


def _refined_at(points, max_level=3, periodic=(False, False, False)):
    """A balanced tree refined to ``max_level`` around the given index points of that level."""
    tree = Octree(max_level, periodic)
    for p in points:
        for lev in range(1, max_level + 1):
            s = max_level - lev
            key = (lev, p[0] >> s, p[1] >> s, p[2] >> s)
            tree.refine(parent(key))
    return tree


def test_choose_curve_cuts_across_the_long_side_of_the_refined_region():
    # two spots on a line along x (a binary star): x first, the tie of y and z as zyx
    assert choose_curve(_refined_at([(1, 4, 4), (6, 4, 4)])) == "xzy"
    assert choose_curve(_refined_at([(4, 1, 3), (4, 6, 3)])) == "yzx"
    assert choose_curve(_refined_at([(3, 1, 1), (3, 2, 7)])) == "zyx"
    assert choose_curve(Octree(2)) == "zyx"               # a lone root: nothing to prefer
    uniform = Octree(2)
    uniform.refine(ROOT)
    assert choose_curve(uniform) == "zyx"


@pytest.mark.parametrize("periodic", [(False, False, False), (True, True, True),
                                      (True, False, True)])
def test_neighbors_match_brute_force(periodic):
    tree = random_tree(7, max_level=3, periodic=periodic, nsplit=8)
    for key in tree.nodes:
        got = tree.neighbors(key)
        same = [k for k in tree.nodes if k[0] == key[0] and k != key]
        n = 1 << key[0]
        expect = set()
        for k in same:
            if _touch_brute(key, k, periodic):
                expect.add(k)
        assert set(got.values()) - {key} == expect, key
        for d, nb in got.items():
            for ax in range(3):
                delta = (nb[1 + ax] - key[1 + ax]) % n if periodic[ax] else nb[1 + ax] - key[1 + ax]
                want = d[ax] % n if periodic[ax] else d[ax]
                assert delta == want, (key, d, nb)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("periodic", [(False, False, False), (True, True, True)])
def test_random_refinement_keeps_2to1_balance_brute_force(seed, periodic):
    tree = random_tree(seed, max_level=4, periodic=periodic, nsplit=10)
    leaves = tree.leaves()
    for a, b in itertools.combinations(leaves, 2):
        if abs(a[0] - b[0]) > 1:
            assert not _touch_brute(a, b, periodic), (a, b)


@pytest.mark.parametrize("seed", range(4))
def test_coarsen_keeps_balance(seed):
    rng = random.Random(seed)
    tree = random_tree(seed + 100, max_level=4, nsplit=14)
    for _ in range(30):
        cands = [k for k in tree.nodes if not tree.is_leaf(k)
                 and all(tree.is_leaf(c) for c in children(k))]
        k = rng.choice(cands)
        if tree.can_coarsen(k):
            tree.coarsen(k)
        assert tree.is_balanced()
        for a, b in itertools.combinations(tree.leaves(), 2):
            if abs(a[0] - b[0]) > 1:
                assert not _touch_brute(a, b, tree.periodic)


def test_from_leaves_rebuilds_tree():
    tree = random_tree(11)
    again = Octree.from_leaves(tree.leaves(), tree.max_level)
    assert again.nodes == tree.nodes
    assert all(parent(k) in tree.nodes for k in tree.nodes if k[0] > 0)
    assert len(DIRECTIONS) == 26
