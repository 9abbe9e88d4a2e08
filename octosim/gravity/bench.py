"""FMM solve time per subgrid at 1, 2, 3 refinement levels against a direct O(n^2) sum.

``python -m octosim.gravity.bench [--levels 1 2 3] [--N 8] [--theta 0.5] [--json FILE]``

The mass distribution is the problem's (default: a polytrope refined where its density
exceeds ``refine_rho``).  The direct sum runs on the same leaf cells, as point masses, in
the same process; past ``--direct-max-cells`` it is estimated from the largest measured run
by the n^2 scaling and marked ``~``.  Times are CPU seconds of this process (the machine may
be shared); wall-clock seconds are in the JSON.
"""

import argparse
import json
import time

import numpy as np

from octosim.gravity.direct import direct_desc
from octosim.gravity.setup import problem_tree
from octosim.gravity.solver import solve_desc


def _problem(name):
    import importlib
    return importlib.import_module(f"octosim.problems.{name}")


def run(levels=(1, 2, 3), N=8, theta=0.5, problem="polytrope", direct_max_cells=150_000,
        repeat=1, order=3, angmom=False):
    """Return one dict of timings per level (see the module docstring)."""
    prob = _problem(problem)
    params = {}
    desc0, rho0 = problem_tree(prob, params, N=N, max_level=0)
    solve_desc(desc0, rho0, theta=theta, order=order, angmom=angmom)  # compile first
    direct_desc(desc0, rho0)
    rows, rate = [], None
    for L in levels:
        desc, rho = problem_tree(prob, params, N=N, max_level=L, min_level=min(L, 1))
        ncell = int(desc.leaf.sum()) * N ** 3
        st, best, wall = {}, np.inf, np.inf
        for _ in range(repeat):
            t0, w0 = time.process_time(), time.perf_counter()
            phi, _ = solve_desc(desc, rho, theta=theta, stats=st, order=order, angmom=angmom)
            best = min(best, time.process_time() - t0)
            wall = min(wall, time.perf_counter() - w0)
        row = {"max_level": L, "subgrids": int(desc.nnode), "leaves": int(desc.leaf.sum()),
               "cells": ncell, "m2l": st["m2l"], "p2p": st["p2p"], "fmm_s": best,
               "fmm_wall_s": wall, "fmm_ms_per_subgrid": 1e3 * best / desc.nnode}
        if ncell <= direct_max_cells:
            t0, w0 = time.process_time(), time.perf_counter()
            P, _ = direct_desc(desc, rho)
            row["direct_s"] = time.process_time() - t0
            row["direct_wall_s"] = time.perf_counter() - w0
            row["direct_estimated"] = False
            rate = row["direct_s"] / ncell ** 2
            lv = desc.leaf
            row["phi_rel_err"] = float(np.abs(phi[lv] - P[lv]).max() / np.abs(P[lv]).max())
        else:
            row["direct_s"] = rate * ncell ** 2 if rate else None
            row["direct_estimated"] = True
            row["phi_rel_err"] = None
        rows.append(row)
    return rows


def _table(rows, theta, problem, order=3, angmom=False):
    am = ", angular momentum correction" if angmom else ""
    out = [f"FMM gravity ({problem}, theta = {theta}, order {order}{am}) vs direct sum, "
           "same leaf cells",
           f"{'level':>5} {'subgrids':>8} {'leaves':>6} {'cells':>8} {'M2L':>10} {'P2P':>9} "
           f"{'FMM cpu s':>9} {'ms/subgrid':>10} {'direct s':>10} {'speedup':>8} {'max err':>8}"]
    for r in rows:
        d = r["direct_s"]
        ds = "-" if d is None else ("~" if r["direct_estimated"] else "") + f"{d:.2f}"
        sp = "-" if d is None else f"{d / r['fmm_s']:.1f}"
        err = "-" if r["phi_rel_err"] is None else f"{r['phi_rel_err']:.1e}"
        out.append(f"{r['max_level']:>5} {r['subgrids']:>8} {r['leaves']:>6} {r['cells']:>8} "
                   f"{r['m2l']:>10} {r['p2p']:>9} {r['fmm_s']:>9.2f} "
                   f"{r['fmm_ms_per_subgrid']:>10.1f} {ds:>10} {sp:>8} {err:>8}")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m octosim.gravity.bench",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--N", type=int, default=8, help="subgrid size (even)")
    ap.add_argument("--theta", type=float, default=0.5)
    ap.add_argument("--problem", default="polytrope", help="problem module for the masses")
    ap.add_argument("--direct-max-cells", type=int, default=150_000)
    ap.add_argument("--repeat", type=int, default=1, help="FMM repetitions (best is kept)")
    ap.add_argument("--order", type=int, default=3, help="expansion order p")
    ap.add_argument("--angmom", action="store_true", help="angular momentum correction")
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    a = ap.parse_args(argv)
    if a.N < 2 or a.N % 2:
        ap.error("--N must be even and >= 2")
    rows = run(a.levels, a.N, a.theta, a.problem, a.direct_max_cells, a.repeat, a.order,
               a.angmom)
    print(_table(rows, a.theta, a.problem, a.order, a.angmom))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"theta": a.theta, "N": a.N, "problem": a.problem, "order": a.order,
                       "angmom": a.angmom, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
