"""The run's tally of conserved quantities that left through the domain boundary.

Each step's per-face amounts (``hydro.outflow``) are added exactly, as integers in units of
2^-1074 (the smallest subnormal double), so the total does not depend on the order in
which faces, steps or localities are added: it is the same for any number of localities,
and the report gives it rounded once.  With it the conservation table can show, under
outflow or reflecting boundaries, that ``final + outflow = initial`` up to round-off.
"""
from fractions import Fraction

import numpy as np

from octosim.fields import EGAS, RHO, SX, SY, SZ
from octosim.hydro.outflow import add_stage_outflow, boundary_faces

#: The conserved totals tallied (``conserved_totals``' keys) and their fields.
QUANTITIES = (("mass", RHO), ("momentum_x", SX), ("momentum_y", SY), ("momentum_z", SZ),
              ("energy", EGAS))
_UNIT = 1 << 1074


def exact(x):
    """Return the float ``x`` as an integer count of 2^-1074."""
    n, d = float(x).as_integer_ratio()
    return n * (_UNIT // d)


def rounded(n):
    """Return the integer count of 2^-1074 ``n`` as the nearest float."""
    return float(Fraction(n, _UNIT))


class BoundaryTally:
    """Exact running totals of what left through the faces of some leaves (one locality's)."""

    def __init__(self):
        self.totals = [0] * len(QUANTITIES)
        self._faces = self._o = None
        self._key = None

    def begin(self, key, leaves, periodic, nf):
        """Start a step over ``leaves`` (their order is the flux arrays' leaf axis); ``key``
        names that leaf list, so the face table is rebuilt only when it changes."""
        if key != self._key:
            self._faces, self._key = boundary_faces(leaves, periodic), key
        self._o = np.zeros((len(self._faces), nf))

    def stage(self, Fx, Fy, Fz, leaf_dx, dt, a):
        """Fold one RK stage's fluxes (after the flux correction) with weight ``a``."""
        if len(self._faces):
            add_stage_outflow(Fx, Fy, Fz, self._faces, leaf_dx, dt, a, self._o)

    def end(self):
        """Add the step's amounts to the exact totals."""
        if self._o is None:
            return
        for q, (_, f) in enumerate(QUANTITIES):
            self.totals[q] += sum(exact(v) for v in self._o[:, f].tolist())
        self._o = None

    def as_dict(self, totals=None):
        """Return ``{quantity: outflow}`` (floats) of ``totals`` (default: this tally's)."""
        t = self.totals if totals is None else totals
        return {name: rounded(n) for (name, _), n in zip(QUANTITIES, t)}
