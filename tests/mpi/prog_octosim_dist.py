"""A short self-gravitating binary run on every locality; run by tests/octosim/test_distributed.py.

Usage: mpiexec -n N python tests/mpi/prog_octosim_dist.py OUT.npz PARCELPORT [first_rho=X] [octant]
       [slow0] [late_moments1] [SECTION.KEY=V ...]

One locality runs the serial ``Simulation``; more run ``DistributedSimulation``.  Periodic
hydro boundaries, a regrid every step: a raised density threshold (``first_rho``, default
100) derefines the mesh at the first regrid (or, with ``octant``, the usual threshold but
no refinement in the octant x, y, z > 0: the Morton shares change and leaves migrate); the
usual one refines it again at the second (as tests/octosim/test_binary.py).
Locality 0 writes the gathered leaf table (Morton order), the conserved totals before and
after, the momentum round-off scale and every locality's parcel statistics, Morton bounds
and known FMM counts of its leaves to OUT.npz.
"""
import json
import math
import os
import sys

import numpy as np

import runtime
from octosim import exchange
from octosim.config import load_config, parse_set
from octosim.driver import Simulation
from octosim.problems import binary

OUT, PP = sys.argv[1], sys.argv[2]
FIRST = [float(a.split("=", 1)[1]) for a in sys.argv[3:] if a.startswith("first_rho=")]
FIRST_RHO = FIRST[-1] if FIRST else 100.0   # refine_rho of the first regrid
ONE_OCTANT = "octant" in sys.argv[3:]
SLOW0 = "slow0" in sys.argv[3:]             # locality 0's FMM solves take twice as long
LATE1 = "late_moments1" in sys.argv[3:]     # locality 1 sends its moments 0.1 s late
SETS = ["mesh.subgrid_size=4", "mesh.max_level=2", "mesh.boundary=periodic",
        "mesh.regrid_every=1", "time.stop_step=3"]
SETS += [a for a in sys.argv[3:] if "=" in a and not a.startswith("first_rho=")]
INPUT = os.path.join(os.path.dirname(__file__), "..", "..", "inputs", "binary.yaml")


def _gathered_table(sim, rt):
    part = sim.leaf_table()
    if rt.size == 1:
        return part
    parts = runtime.all_gather(part, name="prog.table")
    return {k: np.concatenate([p[k] for p in parts]) for k in part}


def _momentum(sim, rt):
    t = sim.conserved_totals()
    P = np.array([t["momentum_x"], t["momentum_y"], t["momentum_z"]])
    tab = _gathered_table(sim, rt)
    dv = tab["dx"] ** 3
    scale = math.fsum(np.sqrt(tab["sx"] ** 2 + tab["sy"] ** 2 + tab["sz"] ** 2) * dv)
    return P, scale, t, tab


def _slow_down_fmm():
    """Make this locality's FMM solves take twice their time (a slower core, say)."""
    import time

    from octosim.gravity.distributed import OwnedSolver
    solve = OwnedSolver.solve

    def slow(self, *args, **kw):
        t0 = time.perf_counter()
        out = solve(self, *args, **kw)
        time.sleep(time.perf_counter() - t0)
        return out
    OwnedSolver.solve = slow


def _delay_moments(seconds):
    """Make this locality start trading moments ``seconds`` late in every solve."""
    import time

    from octosim.distributed import DistributedSimulation
    trade = DistributedSimulation._exchange_moments

    def late(self, rows, sources):
        time.sleep(seconds)
        return trade(self, rows, sources)
    DistributedSimulation._exchange_moments = late


def main():
    rt = runtime.init(parcelport=PP)
    if SLOW0 and rt.here == 0:
        _slow_down_fmm()
    if LATE1 and rt.here == 1:
        _delay_moments(0.1)
    cfg = load_config(INPUT, [("prog",) + parse_set(s) for s in SETS])
    if rt.size > 1:
        from octosim.distributed import DistributedSimulation as Sim
    else:
        Sim = Simulation
    sim = Sim(cfg)
    binary.balance_momentum(sim.mesh)      # every locality holds the initial data
    exchange.restrict_all(sim.mesh)
    P0, scale, t0, _ = _momentum(sim, rt)
    refine_rho = sim.params["refine_rho"]
    sim.params["refine_rho"] = FIRST_RHO
    levels = [tuple(s["leaves"] for s in sim.level_stats())]
    crit = sim.criterion
    if ONE_OCTANT:                      # derefine only in the octant x, y, z > 0: the
        def octant_only(sg):            # Morton shares change, leaves migrate
            lev, *ijk = sg.key
            if sim.step <= 1 and lev > 0 and all(2 * c >= (1 << lev) for c in ijk):
                return False
            return bool(crit(sg))
        sim.criterion = octant_only
        sim.params["refine_rho"] = refine_rho

    def on_step(s):
        levels.append(tuple(x["leaves"] for x in s.level_stats()))
        s.params["refine_rho"] = refine_rho

    before = runtime.statistics()
    sim.run(on_step=on_step)
    after = runtime.statistics()
    P1, _, t1, tab = _momentum(sim, rt)
    stats = {k: after[k] - before[k] for k in after
             if isinstance(after[k], (int, float)) and not isinstance(after[k], bool)}
    stats["sent_arrays"] = dict(getattr(sim, "sent_bytes", {}))
    stats["leaves"] = levels
    if rt.size > 1:                     # the Morton cut and the FMM counts it was cut by
        dp = sim.dplan()
        stats["bounds"] = list(dp.bounds)
        stats["work"] = [sim._work.get(k) for k in dp.layout.leaves[dp.lo:dp.hi]]
        stats["retunes"] = sim.retunes
        stats["fmm_seconds"] = sim.fmm_seconds
        stats["moments_seconds"] = sim.moments_seconds
        stats["tails_taken"], stats["tails_lost"] = sim.tails_taken, sim.tails_lost
    allstats = runtime.all_gather(stats, name="prog.stats") if rt.size > 1 else [stats]
    if rt.here == 0:
        np.savez(OUT, P0=P0, P1=P1, scale=scale, mass0=t0["mass"], mass1=t1["mass"],
                 levels=json.dumps(levels), stats=json.dumps(allstats),
                 regrids=sim.regrids, **{"cell_" + k: v for k, v in tab.items()})
    runtime.finalize()


if __name__ == "__main__":
    main()
