"""What crosses the domain's boundary faces in an SSP-RK3 step (kernels: pure functions).

A leaf touching a non-periodic domain face adds, per field, the outward flux through that
face: ``dx^2`` times the sum of the face's fluxes, ``+`` on a high face and ``-`` on a low
one.  The stages combine these amounts as ``rk_stage`` combines the states
(``o <- (1 - a) (o + dt B)``, from 0 at the step's start), so that after the step each
field's total plus its outflow equals the total at the step's start up to round-off
(the interior faces cancel: a face's flux is the same on both sides, coarse/fine faces
after the flux correction).  One row per (leaf, axis, side): ``boundary_faces``.
"""
import numpy as np
from numba import njit


def boundary_faces(leaves, periodic):
    """Return the (leaf index, axis, side) rows of the leaves' faces on non-periodic domain
    faces (side 0 low, 1 high), as an int64 (rows, 3) array; ``leaves`` are node keys."""
    rows = []
    for i, (level, *ijk) in enumerate(leaves):
        last = (1 << level) - 1
        for axis in range(3):
            if periodic[axis]:
                continue
            if ijk[axis] == 0:
                rows.append((i, axis, 0))
            if ijk[axis] == last:
                rows.append((i, axis, 1))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


@njit(cache=True, nogil=True)
def add_stage_outflow(Fx, Fy, Fz, faces, leaf_dx, dt, a, o):
    """Fold one stage into ``o`` (rows, nf): ``o[r] <- (1 - a) (o[r] + dt B_r)``, ``B_r`` the
    outward flux of face row ``r`` (``faces``) over its area; ``Fx, Fy, Fz`` are per leaf
    (nleaf, nf, N+1, N, N) etc., as the layout's."""
    nf = Fx.shape[1]
    N = Fx.shape[3]
    b = 1.0 - a
    for r in range(faces.shape[0]):
        l, axis, side = faces[r, 0], faces[r, 1], faces[r, 2]
        i = N if side == 1 else 0
        sign = 1.0 if side == 1 else -1.0
        area = leaf_dx[l] * leaf_dx[l]
        for f in range(nf):
            s = 0.0
            for j in range(N):
                for k in range(N):
                    if axis == 0:
                        s += Fx[l, f, i, j, k]
                    elif axis == 1:
                        s += Fy[l, f, j, i, k]
                    else:
                        s += Fz[l, f, j, k, i]
            o[r, f] = b * (o[r, f] + dt * (sign * area * s))
