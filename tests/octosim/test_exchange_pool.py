"""Pooled exchange (ExchangePlan tables, one numba call) against the node-by-node messages."""

import random

import numpy as np
import pytest

from octosim import exchange
from octosim.fields import GHOST
from octosim.kernels_amr import fill_boundary
from octosim.mesh import Mesh
from octosim.tree import Octree

N = 4
NF = 3


def random_mesh(seed, boundary, max_level=3, nsplit=5):
    rng = random.Random(seed)
    mesh = Mesh(N, NF, 1.0, max_level, boundary)
    for _ in range(nsplit):
        cands = [k for k in mesh.leaves() if k[0] < max_level]
        before = set(mesh.tree.nodes)
        mesh.tree.refine(rng.choice(cands))
        for k in mesh.tree.nodes - before:
            mesh.add_node(k)
    data = np.random.default_rng(seed)
    for key in mesh.leaves():
        mesh[key].interior[...] = 1.0 + data.random((NF, N, N, N))
    return mesh


def twin(mesh):
    """Return an independent copy of ``mesh`` (same tree, copied arrays, no layout)."""
    tree = Octree.from_leaves(mesh.leaves(), mesh.max_level, mesh.tree.periodic)
    other = Mesh(N, NF, 1.0, mesh.max_level, mesh.boundary, tree)
    for key in mesh.tree.nodes:
        other[key].U[...] = mesh[key].U
    return other


BOUNDARIES = ["outflow", "reflect", "periodic", ["periodic", "reflect", "outflow"]]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_pooled_ghost_fill_is_bitwise_the_node_by_node_fill(seed, boundary):
    mesh = random_mesh(seed, boundary)
    ref = twin(mesh)
    exchange.restrict_all(mesh)
    exchange.fill_ghosts(mesh)                     # pooled tables
    for lev in range(len(ref.tree.levels()) - 2, -1, -1):   # node by node, packed messages
        for key in ref.tree.levels()[lev]:
            if not ref.tree.is_leaf(key):
                for c in exchange.children(key):
                    exchange.unpack_restrict(ref[key].U, exchange.octant(c),
                                             exchange.pack_restrict(ref[c].U))
    exchange.fill_ghosts(ref, fill_boundary)       # a custom fill runs node by node
    assert mesh.layout().pool.shape[0] == len(mesh.tree.nodes)
    for key in mesh.tree.nodes:
        assert mesh[key].U.base is mesh.layout().pool
        assert np.array_equal(mesh[key].U, ref[key].U), key


def _face_slabs(U):
    G = GHOST
    I = slice(G, G + N)
    out = []
    for axis in range(3):
        for sl in (slice(0, G), slice(G + N, 2 * G + N)):
            s = [slice(None), I, I, I]
            s[1 + axis] = sl
            out.append(U[tuple(s)])
    return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_stage_fill_gives_the_leaves_face_slabs_of_a_full_fill(seed, boundary):
    """The stage fill starts from stale interior nodes and ghosts and still matches."""
    mesh = random_mesh(seed, boundary)
    full = twin(mesh)
    exchange.restrict_all(full)
    exchange.fill_ghosts(full)
    lay = mesh.layout()
    inner = {k: mesh[k].interior.copy() for k in mesh.leaves()}
    lay.pool[...] = np.nan
    for k, v in inner.items():
        mesh[k].interior[...] = v
    exchange.restrict_all(mesh, stage=True)
    exchange.fill_ghosts(mesh, stage=True)
    for key in mesh.leaves():
        for a, b in zip(_face_slabs(mesh[key].U), _face_slabs(full[key].U)):
            assert np.array_equal(a, b), key
        assert np.array_equal(mesh[key].interior, full[key].interior)


@pytest.mark.parametrize("boundary", ["outflow", "periodic"])
def test_pooled_flux_correction_is_bitwise_the_messages(boundary):
    mesh = random_mesh(7, boundary)
    ref = twin(mesh)
    rng = np.random.default_rng(2)
    for key in mesh.leaves():
        for m in (mesh, ref):
            m[key].work_buffers()
        for ax in range(3):
            mesh[key].flux(ax)[...] = rng.random(mesh[key].flux(ax).shape)
            ref[key].flux(ax)[...] = mesh[key].flux(ax)
    exchange.correct_fluxes(mesh)                 # adopts the arrays into the pool, then corrects
    n = 0
    for key in ref.leaves():
        for c, axis, side, oc in exchange.flux_plan(ref.tree, key):
            blk = exchange.pack_fine_flux(ref[c].flux(axis), axis, 1 - side)
            exchange.apply_fine_flux(ref[key].flux(axis), axis, side, oc, blk)
            n += 1
    assert n > 0
    for key in mesh.leaves():
        for ax in range(3):
            assert np.array_equal(mesh[key].flux(ax), ref[key].flux(ax)), (key, ax)


def test_layout_follows_node_changes_and_keeps_data():
    mesh = random_mesh(3, "outflow", nsplit=2)
    lay = mesh.layout()
    before = {k: mesh[k].U.copy() for k in mesh.tree.nodes}
    assert mesh.layout() is lay
    leaf = mesh.leaves()[0]
    added = set(mesh.tree.nodes)
    mesh.tree.refine(leaf)
    for k in mesh.tree.nodes - added:
        mesh.add_node(k)
    lay2 = mesh.layout()
    assert lay2 is not lay and lay2.pool.shape[0] == len(mesh.tree.nodes)
    for k, v in before.items():
        assert np.array_equal(mesh[k].U, v)
    assert mesh[leaf].U0 is None               # no longer a leaf: work buffers dropped
    assert list(lay2.leaves) == mesh.leaves()
