"""Angular momentum about the origin, ``L = sum_cells (r x rho v) dV`` (r the cell centre).

A finite-volume scheme on a Cartesian mesh conserves linear momentum to round-off but not
angular momentum (Octo-Tiger also evolves each cell's spin angular momentum for that); the
report shows its drift beside the conserved totals.  Each leaf's sums are taken in a
fixed order and the leaves are added in Morton order with ``math.fsum`` (``add_rows``), so
the result does not depend on where the leaves live.
"""

import math

import numpy as np

from octosim.fields import SX, SY, SZ

#: ``add_rows``' keys, in the order of ``leaf_angular_momentum``'s row.
ANGMOM_KEYS = ("angular_momentum_x", "angular_momentum_y", "angular_momentum_z",
               "angular_momentum_scale")


def leaf_angular_momentum(sg):
    """Return one leaf's ``[Lx, Ly, Lz, sum |r| |rho v| dV]`` (the last bounds ``|L|``)."""
    x, y, z = sg.centers()
    x, y, z = x[:, None, None], y[None, :, None], z[None, None, :]
    u = sg.interior
    sx, sy, sz = u[SX], u[SY], u[SZ]
    vol = sg.dx ** 3
    r = np.sqrt(x * x + y * y + z * z)
    p = np.sqrt(sx * sx + sy * sy + sz * sz)
    return [float(np.sum(y * sz - z * sy)) * vol, float(np.sum(z * sx - x * sz)) * vol,
            float(np.sum(x * sy - y * sx)) * vol, float(np.sum(r * p)) * vol]


def add_rows(rows):
    """Return ``{ANGMOM_KEYS: total}`` from the leaves' rows in Morton order (``fsum``)."""
    return {k: math.fsum(r[i] for r in rows) for i, k in enumerate(ANGMOM_KEYS)}
