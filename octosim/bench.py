"""Step-loop throughput with a per-phase breakdown: ``python -m octosim.bench [INPUT.yaml]``.

Builds the run of ``INPUT.yaml`` (default ``inputs/sedov.yaml``) once (setup and numba
compilation excluded), then times ``--steps`` steps ``--repeat`` times from the same
initial state and reports the best repeat: zone-cycles per second per core (leaf cells x
steps / seconds, full SSP-RK3 step with ghost exchange, flux correction, floors and
regrids) by wall clock and by this process's CPU time (robust to other jobs sharing the
machine), grids per second, leaves per level and the time per driver phase.  One thread,
no runtime: the figures are per core.
"""

import argparse
import copy
import json
import sys
import time

from octosim.driver import Simulation


def measure(cfg, steps=10, repeat=3, batched=True):
    """Return a dict of the best of ``repeat`` runs of ``steps`` steps of config ``cfg``.

    ``batched=False`` runs the block-by-block driver (one Python call per block and phase,
    node-by-node exchange) on the same problem, the baseline of the batched one.
    """
    best = None
    for _ in range(repeat):
        sim = Simulation(copy.deepcopy(cfg))
        sim.batched = getattr(sim, "batched", False) and batched
        leaf_steps = 0
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            leaf_steps += len(sim.mesh.leaves())
            sim.advance()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if best is None or cpu < best["cpu_seconds"]:
            best = {"wall_seconds": wall, "cpu_seconds": cpu, "grid_steps": leaf_steps,
                    "phases": dict(sim.timers), "levels": sim.level_stats()}
    base = sim
    N = base.mesh.N
    cells = best["grid_steps"] * N ** 3
    best.update(problem=base.config["problem"]["name"], subgrid_size=N,
                max_level=base.mesh.max_level, steps=steps, repeat=repeat,
                leaves=best["grid_steps"] // steps, batched=base.batched,
                zone_cycles_per_second_per_core_wall=cells / best["wall_seconds"],
                zone_cycles_per_second_per_core_cpu=cells / best["cpu_seconds"],
                grids_per_second_wall=best["grid_steps"] / best["wall_seconds"])
    best["phases"].pop("init", None)
    return best


def format_result(r):
    """Return the measurement as text: what was run, the rates, the time per phase."""
    lv = ", ".join(f"L{row['level']}: {row['leaves']}" for row in r["levels"] if row["leaves"])
    lines = [f"{r['problem']}: N={r['subgrid_size']} ({r['subgrid_size']}^3 subgrids), "
             f"max_level {r['max_level']}, {r['leaves']} leaves on average ({lv} at the end), "
             f"{r['steps']} steps, best of {r['repeat']}, batched={r['batched']}",
             f"zone-cycles/s/core: {r['zone_cycles_per_second_per_core_wall']:.4g} (wall), "
             f"{r['zone_cycles_per_second_per_core_cpu']:.4g} (CPU time); "
             f"grids/s {r['grids_per_second_wall']:.4g}; "
             f"{r['wall_seconds']:.4f} s wall, {r['cpu_seconds']:.4f} s CPU",
             f"{'phase':<10} {'seconds':>9} {'share':>6}  {'us/grid-step':>12}"]
    tot = sum(r["phases"].values()) or 1.0
    for k, v in sorted(r["phases"].items(), key=lambda kv: -kv[1]):
        if v > 0.0:
            lines.append(f"{k:<10} {v:9.4f} {100 * v / tot:5.1f}%  "
                         f"{1e6 * v / max(r['grid_steps'], 1):12.2f}")
    return "\n".join(lines)


def main(argv=None):
    from octosim.config import load_config
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("input", nargs="?", default="inputs/sedov.yaml")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--compare", action="store_true",
                   help="also measure the block-by-block driver in the same run")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    from octosim.config import parse_set
    cfg = load_config(args.input, [(f"--set {t}",) + parse_set(t) for t in args.set])
    cfg["time"]["stop_time"] = None
    out = {}
    if args.compare:
        out["block_by_block"] = measure(cfg, args.steps, args.repeat, batched=False)
        print(format_result(out["block_by_block"]) + "\n")
    out["batched"] = measure(cfg, args.steps, args.repeat)
    print(format_result(out["batched"]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
