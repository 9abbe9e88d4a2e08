"""Reference SSP-RK3 step on one block with physical boundaries (tests, AMR reference).

Blocks may be non-cubic, ``U.shape = (nf, Nx+6, Ny+6, Nz+6)``, with cubic cells of width dx.
Boundaries ``bc`` is one kind for all faces or ``((xlo, xhi), (ylo, yhi), (zlo, zhi))``
of BC_OUTFLOW, BC_REFLECT, BC_PERIODIC (the block wrapped onto itself).
"""
import numpy as np

from octosim.hydro.boundary import fill_boundary
from octosim.hydro.fluxes import compute_fluxes_work, make_work
from octosim.hydro.reconstruct import RECON_PPM
from octosim.hydro.timestep import max_signal_speed
from octosim.hydro.update import dual_energy_sync, rk_stage

RK3_A = (0.0, 0.75, 1.0 / 3.0)


class Work:
    """Work arrays for one block shape: stage copy, face fluxes, flux work array."""

    def __init__(self, U):
        nf, Mx, My, Mz = U.shape
        Nx, Ny, Nz = Mx - 6, My - 6, Mz - 6
        self.U0 = np.empty_like(U)
        self.Fx = np.zeros((nf, Nx + 1, Ny, Nz))
        self.Fy = np.zeros((nf, Nx, Ny + 1, Nz))
        self.Fz = np.zeros((nf, Nx, Ny, Nz + 1))
        self.flux_work = make_work(U)


def _bc_table(bc):
    if isinstance(bc, (int, np.integer)):
        return ((int(bc), int(bc)),) * 3
    return tuple((int(lo), int(hi)) for lo, hi in bc)


def fill_all(U, bc):
    """Fill every ghost layer of ``U`` by the physical boundary table ``bc``, x then y then z."""
    for axis, sides in enumerate(_bc_table(bc)):
        for side, kind in enumerate(sides):
            fill_boundary(U, axis, side, kind)


def step_uniform(U, dx, gamma, cfl=0.4, recon=RECON_PPM, bc=0, de_switch=1e-3, dt=None,
                 work=None, dt_max=None):
    """Advance block ``U`` in place by one SSP-RK3 step and return the dt taken.

    dt is ``cfl * dx / max_signal_speed`` unless given, capped at ``dt_max``.
    """
    if work is None:
        work = Work(U)
    fill_all(U, bc)
    if dt is None:
        dt = cfl * dx / max_signal_speed(U, gamma, de_switch)
    if dt_max is not None:
        dt = min(dt, dt_max)
    work.U0[...] = U
    for a in RK3_A:
        if a != 0.0:
            fill_all(U, bc)
        compute_fluxes_work(U, gamma, recon, de_switch, work.Fx, work.Fy, work.Fz,
                            work.flux_work)
        rk_stage(U, work.U0, work.Fx, work.Fy, work.Fz, dt, dx, a)
        dual_energy_sync(U, gamma, de_switch)
    return dt


def run_uniform(U, dx, gamma, t_end, cfl=0.4, recon=RECON_PPM, bc=0, de_switch=1e-3):
    """Advance ``U`` to time ``t_end`` exactly (last step shortened); return steps taken."""
    work = Work(U)
    t = 0.0
    n = 0
    while t < t_end * (1.0 - 1e-14):
        t += step_uniform(U, dx, gamma, cfl, recon, bc, de_switch, work=work,
                          dt_max=t_end - t)
        n += 1
    fill_all(U, bc)
    return n
