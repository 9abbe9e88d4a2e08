"""Newtonian self-gravity: a cell-based fast multipole method on the octree (Octo-Tiger).

``solve(mesh_or_desc, G, theta)`` returns per-leaf potential and acceleration;
``gravity_source(U, phi, g)`` turns them into the hydro stage's source term.
"""

from octosim.gravity.direct import direct_desc
from octosim.gravity.source import gravity_source, leaf_sources, potential_energy
from octosim.gravity.solver import solve, solve_desc
from octosim.gravity.treedesc import TreeDesc, build_keys

__all__ = ["solve", "solve_desc", "direct_desc", "gravity_source", "leaf_sources",
           "potential_energy", "TreeDesc", "build_keys"]
