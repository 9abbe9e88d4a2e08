"""Scaling study in the style of the paper's Figure 6: grids processed per second per level
of refinement against the number of ranks, for each parcelport, and the rma/mpi speedup.

Usage::

    python analysis/scaling.py [INPUT.yaml] --ranks 1 2 4 --levels 3 4 \\
        --parcelports mpi rma --steps 3 --out scaling [--set SECTION.KEY=VALUE ...]

Each (ranks, max level, parcelport) runs ``mpiexec -n R python -m octosim INPUT --max-level L
--parcelport P --stop-step S --json ...`` once; ``--launcher`` replaces ``mpiexec`` (e.g.
``"mpirun --bind-to core"``).  ``--repeat K`` runs K rounds, each of every configuration in
turn, so that a machine's drift over time falls on all of them alike, and keeps each one's
best.  Writes ``OUT.csv`` (one row per configuration: ranks, max_level, parcelport,
grids_per_second, efficiency against the fewest ranks, grid_steps, compute_seconds, parcels,
bytes, bytes_zero_copy, bytes_copied, runs that succeeded, spread = best over worst
grids/s, error) and ``OUT.png`` when matplotlib is installed (else says so and writes the
CSV only).  ``--dry-run`` prints the
commands.  A run that fails is recorded with its error and the study goes on; the exit
status is then 1.
"""

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import tempfile

from _pyplot import pyplot

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIELDS = ("ranks", "max_level", "parcelport", "grids_per_second", "efficiency", "grid_steps",
          "compute_seconds", "parcels", "bytes", "bytes_zero_copy", "bytes_copied", "runs", "spread",
          "error")


def _command(inp, ranks, level, pp, steps, sets, json_path, out_dir, launcher="mpiexec"):
    cmd = shlex.split(launcher) + ["-n", str(ranks), sys.executable, "-m", "octosim", inp,
           "--max-level", str(level), "--parcelport", pp, "--stop-step", str(steps),
           "--quiet", "--json", json_path, "--output", out_dir,
           "--set", "output.every=0", "--set", "output.checkpoint_every=0",
           "--set", "output.dt=null"]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def _run_one(cmd, timeout):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([REPO] + ([env["PYTHONPATH"]]
                                                  if env.get("PYTHONPATH") else []))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {r.returncode}: "
                           f"{r.stderr.strip().splitlines()[-1:] or ''}")


def _row(rep, ranks, level, pp):
    t = rep["totals"]
    p = rep.get("parcels") or {}
    return {"ranks": ranks, "max_level": level, "parcelport": pp,
            "grids_per_second": t["grids_per_second"], "grid_steps": t["grid_steps"],
            "compute_seconds": rep["compute_seconds"], "parcels": p.get("parcels"),
            "bytes": p.get("bytes"), "bytes_zero_copy": p.get("bytes_zero_copy"),
            "bytes_copied": p.get("bytes_copied")}


def study(inp, ranks, levels, parcelports, steps, sets=(), repeat=1, timeout=3600,
          dry_run=False, launcher="mpiexec"):
    """Run every (ranks, level, parcelport) ``repeat`` times, in rounds; return one row
    each (its best run, with ``runs`` and ``spread``)."""
    configs = [(n, level, pp) for level in levels for pp in parcelports for n in ranks]
    done = {c: [] for c in configs}     # the rows of the runs that succeeded
    errors = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(1 if dry_run else max(1, repeat)):
            for n, level, pp in configs:
                js = os.path.join(tmp, f"r{n}_l{level}_{pp}.json")
                cmd = _command(inp, n, level, pp, steps, sets, js, os.path.join(tmp, "o"),
                               launcher)
                print(" ".join(cmd), flush=True)
                if dry_run:
                    continue
                try:
                    if os.path.exists(js):
                        os.remove(js)
                    _run_one(cmd, timeout)
                    with open(js) as fh:
                        done[(n, level, pp)].append(_row(json.load(fh), n, level, pp))
                except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as exc:
                    errors[(n, level, pp)] = (str(exc).splitlines()[-1] if str(exc)
                                              else type(exc).__name__)
                    print(f"  ranks {n} level {level} {pp}: FAILED "
                          f"({errors[(n, level, pp)]})", flush=True)
                    continue
                print(f"  ranks {n} level {level} {pp}: "
                      f"{done[(n, level, pp)][-1]['grids_per_second']:.4g} grids/s"
                      + (f" (round {rnd + 1} of {repeat})" if repeat > 1 else ""), flush=True)
    rows = []
    for n, level, pp in configs:
        runs = done[(n, level, pp)]
        if not runs:
            if not dry_run:     # every repeat failed: record why
                rows.append({"ranks": n, "max_level": level, "parcelport": pp,
                             "runs": 0, "error": errors.get((n, level, pp))})
            continue
        g = [r["grids_per_second"] for r in runs]
        best = dict(max(runs, key=lambda r: r["grids_per_second"]))
        best.update(runs=len(runs), spread=max(g) / min(g))
        rows.append(best)
    return add_efficiency(rows)


def add_efficiency(rows):
    """Set each row's strong-scaling efficiency against the fewest ranks of its level and
    parcelport that ran: ``(g / g0) / (ranks / ranks0)``."""
    base = {}
    for r in sorted(rows, key=lambda r: r["ranks"]):
        g = r.get("grids_per_second")
        key = (r["max_level"], r["parcelport"])
        if g and key not in base:
            base[key] = (r["ranks"], g)
    for r in rows:
        g, b = r.get("grids_per_second"), base.get((r["max_level"], r["parcelport"]))
        r["efficiency"] = (g / b[1]) / (r["ranks"] / b[0]) if g and b else None
    return rows


def write_csv(rows, path):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)


def plot(rows, path):
    """Write the figure: grids/s vs ranks per level and parcelport; rma/mpi speedup."""
    plt = pyplot()
    if plt is None:
        return False
    by = {}
    for r in rows:
        if not r.get("grids_per_second"):
            continue
        by.setdefault((r["max_level"], r["parcelport"]), []).append(r)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (lev, pp), rs in sorted(by.items()):
        rs = sorted(rs, key=lambda r: r["ranks"])
        ax0.plot([r["ranks"] for r in rs], [r["grids_per_second"] for r in rs],
                 marker="o", ls="-" if pp == "rma" else "--", label=f"level {lev}, {pp}")
    ax0.set_xscale("log", base=2)
    ax0.set_yscale("log")
    ax0.set_xlabel("ranks")
    ax0.set_ylabel("grids processed per second")
    ax0.legend(fontsize=8)
    for lev in sorted({k[0] for k in by}):
        mpi = {r["ranks"]: r["grids_per_second"] for r in by.get((lev, "mpi"), [])}
        rma = {r["ranks"]: r["grids_per_second"] for r in by.get((lev, "rma"), [])}
        common = sorted(set(mpi) & set(rma))
        if common:
            ax1.plot(common, [rma[n] / mpi[n] for n in common], marker="o",
                     label=f"level {lev}")
    ax1.axhline(1.0, color="gray", lw=0.8)
    ax1.set_xscale("log", base=2)
    ax1.set_xlabel("ranks")
    ax1.set_ylabel("speedup rma / mpi")
    if ax1.lines[1:]:
        ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("input", nargs="?", default=os.path.join(REPO, "inputs", "binary.yaml"))
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--levels", type=int, nargs="+", default=[3, 4])
    p.add_argument("--parcelports", nargs="+", default=["mpi", "rma"])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeat", type=int, default=1,
                   help="rounds of every configuration in turn; each keeps its best")
    p.add_argument("--launcher", default="mpiexec",
                   help='the MPI launcher and its options, before "-n R" '
                        '(e.g. "mpirun --bind-to core")')
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    p.add_argument("--out", default="scaling", help="output prefix (OUT.csv, OUT.png)")
    p.add_argument("--dry-run", action="store_true")
    a = p.parse_args(argv)
    if a.repeat < 1:
        p.error(f"--repeat must be at least 1, got {a.repeat}")
    rows = study(a.input, a.ranks, a.levels, a.parcelports, a.steps, a.set, a.repeat,
                 a.timeout, a.dry_run, a.launcher)
    if a.dry_run:
        return 0
    write_csv(rows, a.out + ".csv")
    print(f"wrote {a.out}.csv")
    if plot(rows, a.out + ".png"):
        print(f"wrote {a.out}.png")
    failed = [r for r in rows if r.get("error")]
    if failed:
        print(f"{len(failed)} of {len(rows)} runs failed (see the error column)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
