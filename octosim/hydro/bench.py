"""Throughput of a full SSP-RK3 step on a batch of small blocks: ``python -m octosim.hydro.bench``.

Each block is its own periodic domain (ghosts by self-wrap, standing in for the halo
exchange), holding a smooth random-phase perturbation.  Two drivers are timed: one Python
call per kernel per block per stage (what a mesh driver does) and one numba call for the
whole batch (the kernels' own cost).  Also times each kernel alone.  Prints zone-cycles
per CPU second of this process (``time.process_time``: numba kernels run single-threaded,
and CPU time is robust to other jobs sharing the machine; wall time is also reported).

Reference (2026-11-21, one idle Xeon core, numba 0.68, 64 blocks of 8^3, 6 fields, PPM):
2.3e6 zone-cycles/s batched, 2.5e6 Python-driven; per block and stage (us): ghosts 9.1,
primitives 7.4, directional gathers 7.0, reconstruction 13.8, fluxes 9.7, rk_stage 4.3,
dual-energy sync 8.5 (one pow per cell).  PPM_EP 1.9e6; 16^3 blocks 3.1e6; 5 species 1.4e6.
"""
import argparse
import json
import time

import numpy as np
from numba import njit

from octosim.fields import GHOST, nfields
from octosim.hydro.boundary import BC_PERIODIC, fill_boundary
from octosim.hydro.eos import gather_dir, pencil_dims, prim_block, prim_pressure
from octosim.hydro.fluxes import _scatter, compute_fluxes_work, kt_pencils, make_work
from octosim.hydro.reconstruct import RECON_PPM, reconstruct_pencils
from octosim.hydro.timestep import max_signal_speed
from octosim.hydro.update import dual_energy_sync, rk_stage

KW = dict(cache=True, nogil=True, error_model="numpy")


def make_blocks(nb, n, nspecies, gamma, seed=1):
    """Return ``nb`` blocks of ``n^3`` cells holding smooth perturbed states."""
    rng = np.random.default_rng(seed)
    nf = nfields(nspecies)
    U = np.zeros((nb, nf, n + 6, n + 6, n + 6))
    G = GHOST
    x = (np.arange(n) + 0.5) / n
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    for b in range(nb):
        ph = rng.uniform(0, 2 * np.pi, 3)
        rho = 1.0 + 0.2 * np.sin(2 * np.pi * X + ph[0]) * np.cos(2 * np.pi * Y + ph[1])
        v = 0.3 * np.sin(2 * np.pi * Z + ph[2])
        p = 1.0 + 0.1 * np.cos(2 * np.pi * (X + Y + Z))
        I = (slice(G, -G),) * 3
        U[(b, 0) + I] = rho
        U[(b, 1) + I] = rho * v
        U[(b, 2) + I] = -rho * v
        U[(b, 3) + I] = 0.5 * rho * v
        U[(b, 4) + I] = p / (gamma - 1) + 0.5 * rho * v * v * 2.25
        U[(b, 5) + I] = (p / (gamma - 1)) ** (1 / gamma)
        for s in range(nspecies):
            U[(b, 6 + s) + I] = rho / max(nspecies, 1)
    return U


@njit(**KW)
def _ghosts(U):
    for axis in range(3):
        fill_boundary(U, axis, 0, BC_PERIODIC)
        fill_boundary(U, axis, 1, BC_PERIODIC)


@njit(**KW)
def step_batch(Ub, U0b, Fx, Fy, Fz, work, dt, dx, gamma, recon, de_switch):
    """Advance every block of the batch by one SSP-RK3 step inside one numba call."""
    nb = Ub.shape[0]
    for b in range(nb):
        U0b[b, ...] = Ub[b]
    for st in range(3):
        a = 0.0 if st == 0 else (0.75 if st == 1 else 1.0 / 3.0)
        for b in range(nb):
            U = Ub[b]
            _ghosts(U)
            compute_fluxes_work(U, gamma, recon, de_switch, Fx, Fy, Fz, work)
            rk_stage(U, U0b[b], Fx, Fy, Fz, dt, dx, a)
            dual_energy_sync(U, gamma, de_switch)


def step_python(Ub, U0b, Fx, Fy, Fz, work, dt, dx, gamma, recon, de_switch):
    """Advance every block by one SSP-RK3 step, one Python call per kernel per block."""
    U0b[...] = Ub
    for a in (0.0, 0.75, 1.0 / 3.0):
        for b in range(Ub.shape[0]):
            U = Ub[b]
            _ghosts(U)
            compute_fluxes_work(U, gamma, recon, de_switch, Fx, Fy, Fz, work)
            rk_stage(U, U0b[b], Fx, Fy, Fz, dt, dx, a)
            dual_energy_sync(U, gamma, de_switch)


@njit(**KW)
def _repeat(kind, m, U, U0, Fx, Fy, Fz, work, gamma, recon, dx):
    """Run one piece of a stage ``m`` times on one block (timing without call overhead)."""
    nf = U.shape[0]
    W = work[0].reshape(U.shape)
    for _ in range(m):
        if kind == 0:
            _ghosts(U)
        elif kind == 1:
            prim_block(U, W)
            prim_pressure(U, W, gamma, 1e-3)
        elif kind == 2:
            for d in range(3):
                gather_dir(W, work[1], d)
        elif kind == 3:
            for d in range(3):
                Md, T = pencil_dims(U.shape, d)
                reconstruct_pencils(work[1], work[2], work[3], work[5, 0], nf, Md, T, recon)
        elif kind == 4:
            for d in range(3):
                Md, T = pencil_dims(U.shape, d)
                kt_pencils(work[2], work[3], work[4], d, nf, Md, T, gamma)
                if d > 0:
                    _scatter(work[4], Fy if d == 1 else Fz, d)
        elif kind == 5:
            rk_stage(U, U0, Fx, Fy, Fz, 0.0, dx, 1.0)
        elif kind == 6:
            dual_energy_sync(U, gamma, 1e-3)
        elif kind == 7:
            max_signal_speed(U, gamma, 1e-3)
        else:
            compute_fluxes_work(U, gamma, recon, 1e-3, Fx, Fy, Fz, work)


def _best(fn, reps):
    """Return the best (CPU seconds, wall seconds) of ``reps`` calls."""
    cpu = wall = 1e30
    for _ in range(reps):
        t0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu = min(cpu, time.process_time() - t0)
        wall = min(wall, time.perf_counter() - w0)
    return cpu, wall


def run(nb=64, n=8, nspecies=0, recon=RECON_PPM, reps=5, gamma=5.0 / 3.0):
    """Return a dict of timings (seconds) and zone-cycles/s for the given batch."""
    Ub = make_blocks(nb, n, nspecies, gamma)
    U0b = np.empty_like(Ub)
    nf = Ub.shape[1]
    Fx = np.zeros((nf, n + 1, n, n))
    Fy = np.zeros((nf, n, n + 1, n))
    Fz = np.zeros((nf, n, n, n + 1))
    work = make_work(Ub[0])
    dx = 1.0 / n
    dt = 0.2 * dx / max_signal_speed(Ub[0], gamma, 1e-3)
    args = (U0b, Fx, Fy, Fz, work, dt, dx, gamma, recon, 1e-3)
    step_batch(Ub, *args)
    step_python(Ub, *args)
    zones = nb * n ** 3
    t_batch, w_batch = _best(lambda: step_batch(Ub, *args), reps)
    t_py, _ = _best(lambda: step_python(Ub, *args), reps)
    per_stage = {}
    names = ("ghosts", "primitives", "gather_x3", "reconstruct_x3", "kt_flux_x3+scatter",
             "rk_stage", "dual_energy_sync", "max_signal_speed", "compute_fluxes (all)")
    m = 400
    for kind, name in enumerate(names):
        _repeat(kind, 1, Ub[0], U0b[0], Fx, Fy, Fz, work, gamma, recon, dx)
        cpu, _ = _best(lambda: _repeat(kind, m, Ub[0], U0b[0], Fx, Fy, Fz, work, gamma,
                                       recon, dx), 3)
        per_stage[name] = cpu / m
    return {"blocks": nb, "n": n, "nfields": nf, "recon": recon,
            "zone_cycles_per_s_batch": zones / t_batch,
            "zone_cycles_per_s_python": zones / t_py,
            "zone_cycles_per_s_batch_wall": zones / w_batch,
            "seconds_per_block_step_batch": t_batch / nb,
            "seconds_per_block_stage_kernels": per_stage}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=64)
    ap.add_argument("--n", type=int, default=8, help="cells per block edge")
    ap.add_argument("--nspecies", type=int, default=0)
    ap.add_argument("--recon", type=int, default=RECON_PPM, help="0 PLM, 1 PPM")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", help="write results to this file")
    a = ap.parse_args(argv)
    r = run(a.blocks, a.n, a.nspecies, a.recon, a.reps)
    print(f"{r['blocks']} blocks of {r['n']}^3, {r['nfields']} fields, recon={r['recon']}")
    print(f"  batched numba step : {r['zone_cycles_per_s_batch']:.3e} zone-cycles/s/core")
    print(f"  python-driven step : {r['zone_cycles_per_s_python']:.3e} zone-cycles/s/core")
    print(f"  batched, wall clock: {r['zone_cycles_per_s_batch_wall']:.3e} zone-cycles/s")
    print("  per block per stage, kernel alone in a numba loop (CPU microseconds):")
    for k, v in r["seconds_per_block_stage_kernels"].items():
        print(f"    {k:22s} {v * 1e6:8.1f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(r, fh, indent=2)


if __name__ == "__main__":
    main()
