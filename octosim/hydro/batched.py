"""Hydro phases over every leaf of a mesh in one numba call each (no per-block Python calls).

The leaves' states are ``pool[leaf_slots[l]]`` of one pooled array (``octosim.mesh.Layout``)
and their work buffers are per-leaf pools ``U0[l]``, ``Fx[l]``, ``Fy[l]``, ``Fz[l]``.  Every
function loops over the leaves in order and calls the per-block kernels of this package
(``compute_fluxes_work``, ``rk_stage``, ``dual_energy_sync``, ``max_signal_speed``,
``apply_floors``) unchanged, so results are bitwise those of a Python loop over blocks.

Numba's cache of a kernel does not notice edits to the kernels it calls in other files (this
module's, or ``fluxes.compute_fluxes_work`` calling ``reconstruct``); every cache index of
``octosim/hydro`` older than its newest source is dropped at import (``octosim.numba_cache``).
"""
import math
import os

from numba import njit

from octosim.fields import GHOST
from octosim.numba_cache import drop_stale
from octosim.hydro.fluxes import compute_fluxes_work, make_work
from octosim.hydro.timestep import max_signal_speed
from octosim.hydro.update import apply_floors, dual_energy_sync, rk_stage, rk_stage_src

KW = dict(cache=True, nogil=True, error_model="numpy")


_HERE = os.path.dirname(os.path.abspath(__file__))
drop_stale(os.path.join(_HERE, "__pycache__", "*.nbi"), [os.path.join(_HERE, "*.py")])


def make_batch_work(pool):
    """Return the flux work array for blocks shaped like ``pool[0]``."""
    return make_work(pool[0])


@njit(**KW)
def save_stage(pool, leaf_slots, U0):
    """Copy each leaf's interior into ``U0[l]`` (the SSP-RK3 step's start state)."""
    nf = pool.shape[1]
    M = pool.shape[2]
    G = GHOST
    for l in range(leaf_slots.shape[0]):
        U = pool[leaf_slots[l]]
        V = U0[l]
        for f in range(nf):
            for i in range(G, M - G):
                for j in range(G, M - G):
                    for k in range(G, M - G):
                        V[f, i, j, k] = U[f, i, j, k]


@njit(**KW)
def fluxes_all(pool, leaf_slots, gamma, recon, de_switch, Fx, Fy, Fz, work):
    """Face fluxes of every leaf: ``compute_fluxes_work`` into ``Fx[l], Fy[l], Fz[l]``."""
    for l in range(leaf_slots.shape[0]):
        compute_fluxes_work(pool[leaf_slots[l]], gamma, recon, de_switch, Fx[l], Fy[l], Fz[l],
                            work)


@njit(**KW)
def update_all(pool, leaf_slots, U0, Fx, Fy, Fz, dt, leaf_dx, a, gamma, de_switch):
    """Stage update of every leaf (``rk_stage``) followed by its ``dual_energy_sync``."""
    for l in range(leaf_slots.shape[0]):
        U = pool[leaf_slots[l]]
        rk_stage(U, U0[l], Fx[l], Fy[l], Fz[l], dt, leaf_dx[l], a)
        dual_energy_sync(U, gamma, de_switch)


@njit(**KW)
def update_all_src(pool, leaf_slots, U0, Fx, Fy, Fz, S, dt, leaf_dx, a, gamma, de_switch):
    """Like ``update_all`` with the sources ``S[l]`` (``rk_stage_src``)."""
    for l in range(leaf_slots.shape[0]):
        U = pool[leaf_slots[l]]
        rk_stage_src(U, U0[l], Fx[l], Fy[l], Fz[l], S[l], dt, leaf_dx[l], a)
        dual_energy_sync(U, gamma, de_switch)


@njit(**KW)
def min_dt_all(pool, leaf_slots, leaf_dx, gamma, de_switch):
    """Return the min over leaves of ``dx / max_signal_speed`` (inf where the speed is 0)."""
    out = math.inf
    for l in range(leaf_slots.shape[0]):
        s = max_signal_speed(pool[leaf_slots[l]], gamma, de_switch)
        v = leaf_dx[l] / s if s > 0.0 else math.inf
        out = min(out, v)
    return out


@njit(**KW)
def floors_all(pool, leaf_slots, rho_floor, e_floor, gamma):
    """Apply ``apply_floors`` to every leaf; return the total of cells changed."""
    n = 0
    for l in range(leaf_slots.shape[0]):
        n += apply_floors(pool[leaf_slots[l]], rho_floor, e_floor, gamma)
    return n




@njit(**KW)
def fluxes_update_all(pool, leaf_slots, defer, gamma, recon, de_switch, Fx, Fy, Fz, work,
                      U0, dt, leaf_dx, a):
    """Fluxes of every leaf, each followed at once by its stage update unless ``defer[l]``.

    A leaf's fluxes read only its own cells and ghosts, so updating it before the next
    leaf's fluxes gives what ``fluxes_all`` then ``update_all`` give, while its data is
    still in cache.  Leaves that receive flux corrections are deferred: correct, then
    ``update_some`` them.
    """
    for l in range(leaf_slots.shape[0]):
        U = pool[leaf_slots[l]]
        compute_fluxes_work(U, gamma, recon, de_switch, Fx[l], Fy[l], Fz[l], work)
        if not defer[l]:
            rk_stage(U, U0[l], Fx[l], Fy[l], Fz[l], dt, leaf_dx[l], a)
            dual_energy_sync(U, gamma, de_switch)


@njit(**KW)
def update_some(pool, leaf_slots, which, U0, Fx, Fy, Fz, dt, leaf_dx, a, gamma, de_switch):
    """``update_all`` restricted to the leaf indices ``which``."""
    for i in range(which.shape[0]):
        l = which[i]
        U = pool[leaf_slots[l]]
        rk_stage(U, U0[l], Fx[l], Fy[l], Fz[l], dt, leaf_dx[l], a)
        dual_energy_sync(U, gamma, de_switch)


__all__ = ["make_batch_work", "save_stage", "fluxes_all", "update_all", "update_all_src",
           "min_dt_all", "floors_all", "fluxes_update_all", "update_some"]
