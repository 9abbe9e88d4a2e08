"""Numba kernels of the distributed step: halo packing and hydro over chosen leaves.

Pure functions of arrays and scalars.  ``pack_interiors`` / ``unpack_interiors`` move the
interiors of pooled subgrids to and from one contiguous ``(k, nf, N, N, N)`` message array
without the padded temporary that fancy indexing makes.  ``fluxes_update_some`` is
``hydro.batched.fluxes_update_all`` over the leaf indices ``which`` only, so a locality can
compute the leaves whose ghosts are ready while the halo of the others is in flight; each
leaf calls the same per-block kernels, so results are bitwise those of the whole-mesh call.

Numba's cache of this module does not see edits to the hydro kernels it calls: the stale
index is dropped at import when a source of ``octosim/hydro`` is newer than it.
"""
import os

from numba import njit

from octosim.fields import GHOST
from octosim.hydro.fluxes import compute_fluxes_work
from octosim.hydro.update import dual_energy_sync, rk_stage
from octosim.numba_cache import drop_stale

KW = dict(cache=True, nogil=True, error_model="numpy")


_HERE = os.path.dirname(os.path.abspath(__file__))
drop_stale(os.path.join(_HERE, "__pycache__", "kernels_dist.*.nbi"),
           [os.path.join(_HERE, "hydro", "*.py"), os.path.abspath(__file__)])


@njit(cache=True, nogil=True)
def pack_interiors(pool, slots, f0, f1, out):
    """Copy fields ``f0:f1`` of the interiors of ``pool[slots[i]]`` into ``out[i]``."""
    G = GHOST
    N = out.shape[2]
    for i in range(slots.shape[0]):
        U = pool[slots[i]]
        V = out[i]
        for f in range(f0, f1):
            for a in range(N):
                for b in range(N):
                    for c in range(N):
                        V[f - f0, a, b, c] = U[f, G + a, G + b, G + c]


@njit(cache=True, nogil=True)
def unpack_interiors(pool, slots, f0, f1, data):
    """Copy ``data[i]`` into fields ``f0:f1`` of the interior of ``pool[slots[i]]``."""
    G = GHOST
    N = data.shape[2]
    for i in range(slots.shape[0]):
        U = pool[slots[i]]
        V = data[i]
        for f in range(f0, f1):
            for a in range(N):
                for b in range(N):
                    for c in range(N):
                        U[f, G + a, G + b, G + c] = V[f - f0, a, b, c]


@njit(**KW)
def fluxes_update_some(pool, leaf_slots, which, defer, gamma, recon, de_switch, Fx, Fy, Fz,
                       work, U0, dt, leaf_dx, a):
    """Fluxes of the leaves ``which``, each updated at once (SSP-RK stage) unless ``defer[l]``."""
    for i in range(which.shape[0]):
        l = which[i]
        U = pool[leaf_slots[l]]
        compute_fluxes_work(U, gamma, recon, de_switch, Fx[l], Fy[l], Fz[l], work)
        if not defer[l]:
            rk_stage(U, U0[l], Fx[l], Fy[l], Fz[l], dt, leaf_dx[l], a)
            dual_energy_sync(U, gamma, de_switch)


__all__ = ["pack_interiors", "unpack_interiors", "fluxes_update_some"]
