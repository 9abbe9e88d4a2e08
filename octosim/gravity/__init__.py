"""Newtonian self-gravity: a cell-based fast multipole method on the octree (Octo-Tiger).

API
---
``solve(mesh, G=1.0, theta=0.5, order=3, angmom=False) -> (phi, g)``
    ``phi[key]`` (N, N, N) and ``g[key]`` (3, N, N, N) over the mesh's leaves, from the
    leaves' interior density.  ``theta`` is the opening angle (0 gives the direct sum),
    ``order`` the expansion order p (multipoles and Taylor expansions through p; 3 is
    Octo-Tiger's 20 coefficients and the default; 2 and 3 have unrolled fast kernels).
    ``angmom`` also conserves angular momentum to round-off (linear momentum always is).
``solve_desc(desc, rho, ...) -> (phi, g)``
    The same on a ``TreeDesc`` (plain arrays: per node level, coords, parent, children,
    leaf) with ``rho`` (nnode, N, N, N) or a dict; node-indexed arrays back.  ``stats={}``
    receives the M2L/P2P counts and phase times.
``gravity_source(U, phi, g, S=None, fluxes=None, dx=None) -> S`` (nf, N, N, N)
    ``rho g`` for the momenta and, for egas, the work done on the stage's face mass fluxes
    ``fluxes = (Fx, Fy, Fz)`` across the potential (``source``'s docstring: egas + 1/2 rho
    phi then changes only by the time discretisation); without fluxes ``s . g``.  Zero
    elsewhere; for ``rk_stage_src``.
``stage_sources(subgrids, keys, phi, g, Fx, Fy, Fz) -> S`` (len(keys), nf, N, N, N)
    The sources of one Runge-Kutta stage for the leaves ``keys`` (pooled fluxes ``Fx[l]``);
    what both step loops (``driver``, ``distributed``) call.  ``leaf_sources(mesh, G,
    theta)`` does solve + cell-centred source for all leaves.
``potential_energy(rho, phi, dx)``
    ``1/2 sum rho phi dV`` of one subgrid, for the energy budget.
``direct_desc(desc, rho)``
    O(n^2) reference with the same point-mass cells and self term.

Kernels (``fmm``, ``multipole``, ``_m2l``) are numba functions of arrays and scalars;
``python -m octosim.gravity.bench`` times the solver against the direct sum.
"""

from octosim.gravity.direct import direct_desc
from octosim.gravity.source import (gravity_source, leaf_sources, potential_energy,
                                   stage_sources)
from octosim.gravity.solver import solve, solve_desc
from octosim.gravity.treedesc import TreeDesc, build_keys

__all__ = ["solve", "solve_desc", "direct_desc", "gravity_source", "leaf_sources",
           "potential_energy", "stage_sources", "TreeDesc", "build_keys"]
