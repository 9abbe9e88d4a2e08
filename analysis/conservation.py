"""Conserved totals over a run's snapshots: mass, momentum, gas energy, angular momentum.

Usage::

    python analysis/conservation.py output/binary/snapshot_*.h5 [--out cons]

Each snapshot's leaf cells (``octosim.io.read_snapshot``) give ``Q = sum q dV`` for the
density, the momenta, the gas energy, each species and the angular momentum about the origin
(``sum r x rho v dV``, cell centres), added with ``math.fsum`` so the totals do not depend
on the cells' order.  Prints one row per snapshot (in time order) and each quantity's drift
from the first, relative to ``|Q_0|`` (for a momentum or angular momentum component to the
total of ``|rho v| dV`` or ``|r| |rho v| dV`` when larger: a net momentum that starts at
round-off is judged against the momentum present, as the end-of-run report does).  Writes
``OUT.csv`` (time, step, then every total) and ``OUT.png`` when matplotlib is installed.
Gravity's potential energy is not in a snapshot, so ``energy`` is the gas energy only, and
neither is what left through open faces (the end-of-run report's ``outflow`` column): with
outflow boundaries the totals drift by that too.  An unreadable file is an error naming it
(exit status 2).
"""

import argparse
import csv
import math
import os
import sys

import numpy as np
from _pyplot import pyplot

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def totals(cells):
    """Return ``{quantity: total}`` of one snapshot's cell columns (see the module doc)."""
    dv = cells["dx"] ** 3
    x, y, z = cells["x"], cells["y"], cells["z"]
    sx, sy, sz = cells["sx"], cells["sy"], cells["sz"]
    out = {"mass": cells["rho"], "momentum_x": sx, "momentum_y": sy, "momentum_z": sz,
           "energy": cells["egas"]}
    out.update({f"mass_{k}": cells[k] for k in sorted(cells) if k.startswith("spc_")})
    out.update(angular_momentum_x=y * sz - z * sy, angular_momentum_y=z * sx - x * sz,
               angular_momentum_z=x * sy - y * sx)
    p = np.sqrt(sx * sx + sy * sy + sz * sz)
    out.update(momentum_scale=p, angular_momentum_scale=np.sqrt(x * x + y * y + z * z) * p)
    return {k: math.fsum(v * dv) for k, v in out.items()}


def drift(first, t):
    """Return ``{quantity: (t[q] - first[q]) / scale}`` (None where the scale is 0)."""
    out = {}
    for q, a in first.items():
        if q.endswith("_scale"):
            continue
        ref = abs(a)
        for vec in ("momentum", "angular_momentum"):
            if q.startswith(vec + "_"):
                ref = max(ref, first[vec + "_scale"])
        out[q] = (t[q] - a) / ref if ref > 0 else None
    return out


def _plot(rows, path):
    plt = pyplot()
    if plt is None:
        return None
    first = rows[0][2]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for q in first:
        d = [drift(first, t)[q] for _, _, t in rows]
        if q.endswith("_scale") or any(v is None for v in d):
            continue
        ax.plot([r[0] for r in rows], [abs(v) + 1e-300 for v in d], marker="o", label=q)
    ax.set_yscale("log")
    ax.set_xlabel("time [code units]")
    ax.set_ylabel("|relative drift from the first snapshot|")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def main(argv=None):
    sys.path.insert(0, REPO)
    from octosim.io import SnapshotError, read_snapshot
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("snapshots", nargs="+", help="snapshot files (HDF5) of one run")
    p.add_argument("--out", default="conservation", help="OUT.csv and OUT.png")
    a = p.parse_args(argv)
    rows = []
    for path in a.snapshots:
        try:
            s = read_snapshot(path)
        except (SnapshotError, FileNotFoundError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        rows.append((s.time, s.step, totals(s.cells)))
    rows.sort(key=lambda r: (r[0], r[1]))
    names = list(rows[0][2])
    with open(a.out + ".csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "step"] + names)
        for t, step, tot in rows:
            w.writerow([repr(t), step] + [repr(tot[q]) for q in names])
    shown = [q for q in names if not q.endswith("_scale")]
    print(f"{'time':>12} {'step':>6} " + " ".join(f"{q[:18]:>18}" for q in shown))
    for t, step, tot in rows:
        d = drift(rows[0][2], tot)
        print(f"{t:12.6g} {step:6d} " + " ".join(
            f"{'-' if d[q] is None else format(d[q], '.3e'):>18}" for q in shown))
    print("(relative drift from the first snapshot; momenta against sum |rho v| dV, angular "
          "momenta, about the origin, against sum |r| |rho v| dV; what left through open "
          f"faces is not in snapshots)\nwrote {a.out}.csv")
    png = _plot(rows, a.out + ".png")
    if png:
        print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
