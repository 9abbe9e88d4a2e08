"""Layout of the conserved state of one subgrid, shared by every octosim module.

A subgrid's state is one C-ordered float64 array ``U`` of shape ``(nf, M, M, M)`` with
``M = N + 2 * GHOST``: field first, then x, y, z cell indices (``U[f, i, j, k]``, i along x).
Interior cells are ``U[:, G:G+N, G:G+N, G:G+N]`` with ``G = GHOST``.  Fields are, in order,
the conserved density, momenta, total gas energy, the entropy tracer ``tau = (rho e)^(1/gamma)``
of Octo-Tiger's dual-energy formalism, then ``nspecies`` passive species densities.
"""

GHOST = 3

RHO, SX, SY, SZ, EGAS, TAU = range(6)
NBASE = 6
SPECIES0 = NBASE

BASE_NAMES = ("rho", "sx", "sy", "sz", "egas", "tau")


def nfields(nspecies):
    """Return the number of conserved fields with ``nspecies`` passive species."""
    return NBASE + nspecies


def field_names(nspecies):
    """Return the names of all conserved fields, species as ``spc_0, spc_1, ...``."""
    return BASE_NAMES + tuple(f"spc_{s}" for s in range(nspecies))
