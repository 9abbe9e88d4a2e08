"""Hydrodynamics kernels of octosim: pure numba functions of arrays and scalars.

State: ``U[f, i, j, k]`` float64, C-ordered, shape ``(nf, Nx+6, Ny+6, Nz+6)`` with 3 ghost
layers and fields rho, sx, sy, sz, egas, tau, species (``octosim/fields.py``).  The mesh
uses cubic blocks; every kernel also accepts non-cubic ones (1-D and 2-D tests).

Methods: PPM (Colella & Woodward 1984) or limited PLM reconstruction of rho, v, p and mass
fractions; central-upwind fluxes (Kurganov, Noelle & Petrova 2001); SSP-RK3 (Shu & Osher
1988); dual energy with the entropy tracer tau (Bryan et al. 1995, Marcello et al. 2021).

API
---
``RECON_PLM = 0`` (MC limiter), ``RECON_PPM = 1`` (CW84, default), ``RECON_PLM_MINMOD = 2``,
``RECON_PPM_EP = 3`` (PPM with the extremum-preserving limiter of Colella & Sekora 2008);
``RECON_NAMES`` maps the config words plm, ppm, plm_minmod, ppm_ep to these codes.

``compute_fluxes(U, gamma, recon, de_switch, Fx, Fy, Fz)``
    Fill fluxes of interior faces: ``Fx`` (nf, Nx+1, Ny, Nz), ``Fx[:, i, j, k]`` through
    the x-face between interior cells i-1 and i; ``Fy`` (nf, Nx, Ny+1, Nz); ``Fz``
    (nf, Nx, Ny, Nz+1).  Reads all 3 ghost layers on faces (not edges/corners).  Pressure
    from the dual-energy rule: ``e = egas - rho v^2/2`` if ``e > de_switch*egas`` else
    ``tau^gamma`` (de_switch default 1e-3).  tau and species flux = mass flux times the
    upwind mass fraction.  Allocates one work array per call;
    ``compute_fluxes_work(U, gamma, recon, de_switch, Fx, Fy, Fz, work)`` takes it from the
    caller (``work = make_work(U)``, reusable for every block of that shape, one per thread).
``max_signal_speed(U, gamma, de_switch) -> float``
    max over interior cells and directions of ``|v_d| + c_s``; dt = cfl*dx/that.
``rk_stage(U, U0, Fx, Fy, Fz, dt, dx, a)``
    Interior ``U <- a*U0 + (1-a)*(U - dt/dx div F)`` in place; SSP-RK3 uses a = 0, 3/4, 1/3.
``rk_stage_src(U, U0, Fx, Fy, Fz, S, dt, dx, a)``
    Same with ``+ dt*S`` inside the bracket, ``S`` shaped (nf, Nx, Ny, Nz).
``apply_floors(U, rho_floor, e_floor, gamma=0.0) -> int``
    Interior floors on density and internal energy density; returns cells changed.
``dual_energy_sync(U, gamma, de_switch)``
    Reset tau = e^(1/gamma) in interior cells where e > de_switch*egas (after each stage).
``fill_boundary(U, axis, side, kind)``
    Ghosts of one domain face (side 0 low, 1 high): ``BC_OUTFLOW = 0``, ``BC_REFLECT = 1``,
    ``BC_PERIODIC = 2`` (block wrapped onto itself; single-block use).
``primitives(U, gamma, de_switch=1e-3) -> (rho, vx, vy, vz, p)``
    Interior primitive numpy arrays for analysis.

``octosim.hydro.uniform.step_uniform(U, dx, gamma, cfl, recon, bc, ...)`` is a one-block
SSP-RK3 reference step; ``python -m octosim.hydro.bench`` measures throughput.
``octosim.hydro.wellbalanced`` holds the hydrostatic reconstruction of ``gravity.well_balanced``
(Kaeppeli & Mishra 2016): ``compute_fluxes_wb_work`` also takes the potential with its ghost
layers (``extend_potential``) and returns the momentum source that balances it.

Numba's on-disk cache does not notice edits to a kernel in another file that a cached
kernel calls (fluxes -> eos, reconstruct): after editing one of these modules, delete the
stale ``*.nbi``/``*.nbc`` files under ``octosim/hydro/__pycache__``.
"""
from octosim.hydro.boundary import BC_OUTFLOW, BC_PERIODIC, BC_REFLECT, fill_boundary
from octosim.hydro.fluxes import compute_fluxes, compute_fluxes_work, make_work
from octosim.hydro.reconstruct import (RECON_NAMES, RECON_PLM, RECON_PLM_MINMOD, RECON_PPM,
                                       RECON_PPM_EP)
from octosim.hydro.timestep import max_signal_speed, primitives
from octosim.hydro.update import apply_floors, dual_energy_sync, rk_stage, rk_stage_src

__all__ = [
    "RECON_PLM", "RECON_PPM", "RECON_PLM_MINMOD", "RECON_PPM_EP", "RECON_NAMES",
    "compute_fluxes", "compute_fluxes_work", "make_work", "max_signal_speed",
    "rk_stage", "rk_stage_src", "apply_floors", "dual_energy_sync",
    "fill_boundary", "BC_OUTFLOW", "BC_REFLECT", "BC_PERIODIC", "primitives",
]
