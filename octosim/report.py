"""End-of-run report: throughput per refinement level, phases, parcels, conservation drift.

``RunStats`` is fed once per step by the CLI; ``build_report`` turns it into a dict whose keys
are stable and documented in the README ("Configuration and output"); ``format_report``
prints it as tables and ``write_json`` stores it.
"""

import json
import math
import os
import time as _time

from octosim.io._atomic import atomic_path

REPORT_VERSION = 1
PARCEL_KEYS = ("parcels", "bytes", "bytes_zero_copy", "bytes_copied")
# runtime counter names (runtime/stats.py KEYS) that feed each report key
_PARCEL_SOURCES = {"parcels": ("parcels_sent", "parcels"),
                   "bytes": ("bytes_sent", "bytes"),
                   "bytes_zero_copy": ("bytes_zero_copy",),
                   "bytes_copied": ("bytes_copied",)}


def level_census(tree):
    """Return ``{level: (subgrids, leaves)}`` of an octree (``tree.nodes``, ``is_leaf``)."""
    out = {}
    for key in tree.nodes:
        sub, leaf = out.get(key[0], (0, 0))
        out[key[0]] = (sub + 1, leaf + (1 if tree.is_leaf(key) else 0))
    return out


class RunStats:
    """Counters of one run: per-level grid-steps, steps, compute and I/O seconds."""

    def __init__(self, cells_per_subgrid):
        self.cells_per_subgrid = int(cells_per_subgrid)
        self.levels = {}          # level -> dict(subgrids, leaves, grid_steps)
        self.steps = 0
        self.io_seconds = 0.0         # writing snapshots and checkpoints, whole run
        self.overhead_seconds = 0.0   # time between steps inside the run window (output, counting)
        self.wall_start = _time.perf_counter()
        self.wall_seconds = 0.0
        self.initial_totals = None
        self.final_totals = None
        self.outflow = None           # {quantity: amount out through the domain's faces}

    def census(self, tree):
        """Record the current tree (subgrids and leaves per level) without counting a step."""
        seen = level_census(tree)
        for lev, (sub, leaf) in seen.items():
            row = self.levels.setdefault(lev, {"subgrids": 0, "leaves": 0, "grid_steps": 0})
            row["subgrids"], row["leaves"] = sub, leaf
        for lev, row in self.levels.items():
            if lev not in seen:
                row["subgrids"] = row["leaves"] = 0
        return seen

    def count_step(self, tree):
        """Count one step over the leaves of ``tree`` as it was during that step."""
        for lev, (_, leaf) in self.census(tree).items():
            self.levels[lev]["grid_steps"] += leaf
        self.steps += 1

    def take_driver_levels(self, before, after):
        """Use the driver's own per-level counters (``sim.level_stats()`` at the start and the
        end of the run: dicts with level, subgrids, leaves, grid_steps) instead of the census."""
        start = {r["level"]: r["grid_steps"] for r in before}
        self.levels = {r["level"]: {"subgrids": r["subgrids"], "leaves": r["leaves"],
                                    "grid_steps": r["grid_steps"] - start.get(r["level"], 0)}
                       for r in after}

    def stop(self):
        self.wall_seconds = _time.perf_counter() - self.wall_start

    @property
    def compute_seconds(self):
        """Seconds of the step loop less what was spent between steps."""
        return max(self.wall_seconds - self.overhead_seconds, 1e-12)


def _rate(n, seconds):
    return n / seconds if seconds > 0 else 0.0


def _totals_dict(totals, names=None):
    """Normalise ``sim.conserved_totals()`` (dict, or sequence in field order) to a dict."""
    if totals is None:
        return None
    if isinstance(totals, dict):
        return {str(k): float(v) for k, v in totals.items()}
    vals = [float(v) for v in totals]
    names = list(names or [])
    names += [f"q{i}" for i in range(len(names), len(vals))]
    return dict(zip(names, vals))


#: the vector quantities whose components are judged against ``<quantity>_scale``
_SCALED = ("momentum", "angular_momentum")


def conservation(initial, final, outflow=None):
    """Return ``{quantity: {initial, final, change, relative_change}}``, and with
    ``outflow`` (``{quantity: amount that left through the domain's faces}``) also
    ``outflow`` and ``relative_error`` for the quantities it holds (others: ``None``).

    ``relative_change`` is ``(final - initial) / |initial|``; for a momentum component the
    denominator is ``max(|initial|, momentum_scale)`` when ``initial`` carries
    ``momentum_scale`` (the total of |rho v| dV over the cells): a net momentum that starts
    at round-off (a binary about its centre of mass) is judged against the momentum that is
    there, not against its own round-off.  An angular momentum component is judged so
    against ``angular_momentum_scale`` (the total of |r| |rho v| dV, ``octosim.totals``).
    ``null`` when the denominator is 0.
    ``relative_error`` is ``(final + outflow - initial)`` over the largest of that
    denominator, ``|final|`` and ``|outflow|``: what the boundary does not explain (round-off,
    floors, and for energy the work of gravity), ``null`` when all are 0.
    """
    if not initial or not final:
        return {}
    scales = {q: initial.get(q + "_scale") or 0.0 for q in _SCALED}
    out = {}
    for k, a in initial.items():
        if k not in final or k.endswith("_scale"):
            continue
        b = final[k]
        ref = abs(a)
        q = k.rsplit("_", 1)[0]
        if q in scales and math.isfinite(scales[q]):
            ref = max(ref, scales[q])
        ok = ref != 0 and math.isfinite(a)
        out[k] = {"initial": a, "final": b, "change": b - a,
                  "relative_change": (b - a) / ref if ok else None}
        if outflow is not None:
            o = outflow.get(k)
            big = max(ref, abs(b), abs(o)) if o is not None and math.isfinite(a) else 0.0
            out[k]["outflow"] = o
            out[k]["relative_error"] = (b + o - a) / big if big != 0 else None
    return out


def parcel_stats(raw):
    """Map runtime counters (``runtime.statistics()``) to the report's parcel keys, or None."""
    if not raw:
        return None
    out = {}
    for key, sources in _PARCEL_SOURCES.items():
        for s in sources:
            if s in raw:
                out[key] = int(raw[s])
                break
        else:
            out[key] = None
    return out


def build_report(stats, *, phases=None, parcels=None, meta=None, time=None, step=None,
                 nlocalities=1, threads=1):
    """Return the report dict (see README for every key and its unit)."""
    secs = stats.compute_seconds
    cells = stats.cells_per_subgrid
    levels = []
    for lev in sorted(stats.levels):
        row = stats.levels[lev]
        levels.append({"level": lev, "subgrids": row["subgrids"], "leaves": row["leaves"],
                       "grid_steps": row["grid_steps"],
                       "grids_per_second": _rate(row["grid_steps"], secs)})
    grid_steps = sum(r["grid_steps"] for r in levels)
    cell_updates = grid_steps * cells
    cores = max(1, nlocalities * threads)
    totals = {"subgrids": sum(r["subgrids"] for r in levels),
              "leaves": sum(r["leaves"] for r in levels),
              "leaf_cells": sum(r["leaves"] for r in levels) * cells,
              "grid_steps": grid_steps,
              "grids_per_second": _rate(grid_steps, secs),
              "cell_updates": cell_updates,
              "cell_updates_per_second": _rate(cell_updates, secs),
              "cell_updates_per_second_per_core": _rate(cell_updates, secs) / cores}
    from octosim import __version__
    rep = {"report_version": REPORT_VERSION, "octosim_version": __version__}
    rep.update(meta or {})
    rep.update({
        "localities": nlocalities, "threads": threads, "cores": cores,
        "steps": stats.steps, "final_step": step, "final_time": time,
        "wall_seconds": stats.wall_seconds, "compute_seconds": secs,
        "io_seconds": stats.io_seconds,
        "levels": levels, "totals": totals,
        "phases": {str(k): float(v) for k, v in (phases or {}).items()},
        "parcels": parcels,
        "conservation": conservation(stats.initial_totals, stats.final_totals, stats.outflow),
    })
    return rep


def _si(x):
    if x is None:
        return "-"
    for unit, f in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= f:
            return f"{x / f:.3g}{unit}"
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def format_report(rep):
    """Return the report as plain-text tables."""
    lines = [f"octosim {rep.get('octosim_version', '')}: {rep['steps']} steps to "
             f"t={rep['final_time']:.6g} (step {rep['final_step']}) in "
             f"{rep['wall_seconds']:.3f} s ({rep['compute_seconds']:.3f} s compute) on "
             f"{rep['localities']} localit{'y' if rep['localities'] == 1 else 'ies'} x "
             f"{rep['threads']} thread(s)", "",
             f"{'level':>5} {'subgrids':>9} {'leaves':>9} {'grid-steps':>11} {'grids/s':>10}"]
    for r in rep["levels"]:
        lines.append(f"{r['level']:5d} {r['subgrids']:9d} {r['leaves']:9d} "
                     f"{r['grid_steps']:11d} {r['grids_per_second']:10.2f}")
    t = rep["totals"]
    lines.append(f"{'total':>5} {t['subgrids']:9d} {t['leaves']:9d} {t['grid_steps']:11d} "
                 f"{t['grids_per_second']:10.2f}")
    lines.append(f"cell updates/s: {t['cell_updates_per_second']:.4g} "
                 f"({t['cell_updates_per_second_per_core']:.4g} per core)")
    if rep["phases"]:
        total = sum(rep["phases"].values()) or 1.0
        per = rep.get("phases_by_locality") or []
        head = f"{'phase':<20} {'seconds':>10} {'share':>7}"
        lines += ["", head + (f" {'min/loc':>10} {'max/loc':>10}" if per else "")]
        for k, v in sorted(rep["phases"].items(), key=lambda kv: -kv[1]):
            row = f"{k:<20} {v:10.4f} {100 * v / total:6.1f}%"
            if per:
                vals = [d.get(k, 0.0) for d in per]
                row += f" {min(vals):10.4f} {max(vals):10.4f}"
            lines.append(row)
        if per:
            for key, name in (("comm", "(waiting on parcels)"), ("fmm", "(FMM solves)"),
                              ("moments", "(FMM moments)")):
                vals = [d.get(key, 0.0) for d in per]
                if key == "comm" or max(vals) > 0.0:
                    lines.append(f"{name:<20} {'':>10} {'':>7} {min(vals):10.4f} "
                                 f"{max(vals):10.4f}")
    if rep["parcels"]:
        p = rep["parcels"]
        lines += ["", "parcels: " + ", ".join(f"{k} {_si(p[k])}" for k in PARCEL_KEYS)]
    if rep["conservation"]:
        cons = rep["conservation"]
        out = any("outflow" in c for c in cons.values())
        w = max(10, *(len(k) for k in cons))     # potential_energy is 16 wide
        head = f"{'conserved':<{w}} {'initial':>14} {'final':>14} {'rel. change':>12}"
        lines += ["", head + (f" {'outflow':>14} {'rel. error':>11}" if out else "")]
        for k, c in cons.items():
            row = (f"{k:<{w}} {c['initial']:14.7e} {c['final']:14.7e} "
                   f"{_fmt(c['relative_change'], '.3e'):>12}")
            if out:
                row += (f" {_fmt(c.get('outflow'), '14.7e'):>14} "
                        f"{_fmt(c.get('relative_error'), '.2e'):>11}")
            lines.append(row)
        if out:
            lines.append("(outflow: what left through the domain's faces; rel. error: "
                         "final + outflow - initial, relative)")
        if any(k.startswith("angular_momentum") for k in cons):
            lines.append("(angular momentum: about the origin, sum of r x rho v dV; the "
                         "Cartesian scheme does not conserve it exactly)")
    return "\n".join(lines)


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def write_json(rep, path):
    """Write the report as JSON to ``path`` atomically (non-finite numbers become null)."""
    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(clean(rep), fh, indent=2)
            fh.write("\n")
