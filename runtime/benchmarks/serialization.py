"""Serialization benchmark in the spirit of the paper's Figure 3, baselines in the same run.

    python -m runtime.benchmarks.serialization [--json FILE] [--quick]
    python -m runtime.benchmarks.serialization --ab [REPEATS]

Payloads: (a) ``listing2``, the paper's Listing 2 call: a char, a double, 1,000,000 float32
and a string; (b) ``record``, a mixed record under 20 KB (1000 int64 ids and 100 strings as
in the paper's comparison, plus three small arrays and a nested dict of parameters);
(c) ``halo``, halo-exchange arguments: one 3x14x14 float64 slab (8^3 subgrid, 3 ghost layers)
for each of 6 fields, plus ints; (d) ``array-<size>``, one float64 array from 64 B to 64 MiB
(to 16 MiB with ``--quick``).

Libraries: ``octosim`` (this archive, zero-copy threshold at its default), ``octosim-copy``
(threshold out of reach: everything copied in, as the paper's "zero copy disabled"),
``pickle5`` (protocol 5, in band), ``pickle5-oob`` (protocol 5 with out-of-band buffers) and
``msgpack`` (with msgpack-numpy), when installed.

For each payload and library: encode and decode time (minimum over repeats; each repeat
times all libraries in turn, starting with a different one each time, so all see the same
machine; at least 3 (quick) or 5 repeats, more within a time budget per payload), bytes
copied while encoding, archive size (all frames or buffers), and both as ratios to pickle
in band. Decoding reads
the frames the encoder produced, so zero-copy decoders give arrays over the sender's memory
(``shares_memory`` in the JSON says whether the decoded arrays share memory with the input).

``--ab`` times payload (b) only, octosim against pickle5 (in band), encode and decode
interleaved in one process: REPEATS rounds (default 300), each timing 10 calls of each of
the four in a rotating order; minimum per call over the rounds, and the ratio of the
totals (pickle5 / octosim: above 1, octosim is faster).

JSON (``--json FILE``): ``{"meta": {...}, "results": [{"payload", "library", "encode_s",
"decode_s", "total_s", "bytes_copied", "archive_bytes", "time_vs_pickle",
"size_vs_pickle", "shares_memory"}, ...], "targets": {name: {"value", "target", "ok"}}}``.
"""
import argparse
import json
import pickle
import platform
import sys
import time

import numpy as np

from runtime.serialization import dumps_archive, get_threshold, loads

try:
    import msgpack
    import msgpack_numpy
except ImportError:  # the bench extra is optional
    msgpack = None

KIB, MIB = 1 << 10, 1 << 20
NO_ZERO_COPY = 1 << 62


# ---------------------------------------------------------------- payloads

def listing2():
    """Return the paper's Listing 2 arguments."""
    return ("5", 3.1415, np.full(1_000_000, 2.718, dtype=np.float32), "string")


def mixed_record():
    """Return a mixed record just under 20 KB (ids, strings, small arrays, nested dicts)."""
    rng = np.random.default_rng(7)
    text = "shgfkghsdfjhgsfjhfgjhfgjsffghgsfdhgsfdfkdjhfioukjhkfdljgdfkgvjafdhasgdfwurtjkghfsdjkfg"
    return {
        "ids": [int(x) for x in rng.integers(-2**62, 2**62, 1000)],
        "strings": [f"{text}-{i:03d}" for i in range(100)],
        "fields": {"rho": rng.random(128), "pos": rng.random((32, 3)).astype(np.float32),
                   "level": np.arange(256, dtype=np.int16)},
        "meta": {"gid": 0x7F0000001234, "locality": 3, "step": 1042, "time": 0.3125,
                 "name": "subgrid/level-4/node-000731",
                 "hydro": {"cfl": 0.4, "gamma": 5 / 3, "reconstruction": "ppm", "riemann": "kt"},
                 "gravity": {"theta": 0.5, "order": 2, "enabled": True},
                 "amr": {"max_level": 6, "refine_every": 4, "criteria": ["density", "gradient"]}},
    }


def halo_args(n=8, ghost=3, nfields=6):
    """Return halo-exchange arguments: a ghost-deep slab per field of an n^3 subgrid, plus ints."""
    m = n + 2 * ghost
    u = np.random.default_rng(3).random((nfields, m, m, m))
    slabs = [u[f, ghost:2 * ghost] for f in range(nfields)]       # (3, 14, 14) each, contiguous
    return (0x1234_0000_0042, 4, 1042, 0, slabs)


def sizes(quick):
    """Return the single-array sizes in bytes."""
    top = 16 * MIB if quick else 64 * MIB
    out, s = [], 64
    while s <= top:
        out.append(s)
        s *= 4 if not quick else 16
    if top not in out:
        out.append(top)
    return out


def payloads(quick):
    """Return ``[(name, object), ...]``."""
    out = [("listing2", listing2()), ("record", mixed_record()), ("halo", halo_args())]
    out += [(f"array-{_human(s)}", np.arange(s // 8, dtype=np.float64)) for s in sizes(quick)]
    return out


def _human(n):
    for unit, size in (("MiB", MIB), ("KiB", KIB)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n}B"


# ---------------------------------------------------------------- libraries
# each: encode(obj) -> (message, bytes_copied, archive_bytes); decode(message) -> obj

def _octosim(threshold):
    def encode(obj):
        ar = dumps_archive(obj, threshold=threshold)
        return ar.frames, ar.bytes_copied, ar.nbytes
    return encode, loads


def _pickle_encode(obj):
    data = pickle.dumps(obj, protocol=5)
    return data, len(data), len(data)


def _pickle_oob_encode(obj):
    bufs = []
    data = pickle.dumps(obj, protocol=5, buffer_callback=bufs.append)
    views = [b.raw() for b in bufs]
    return (data, views), len(data), len(data) + sum(v.nbytes for v in views)


def _pickle_oob_decode(msg):
    data, views = msg
    return pickle.loads(data, buffers=views)


def _msgpack_encode(obj):
    data = msgpack.packb(obj, default=msgpack_numpy.encode, use_bin_type=True)
    return data, len(data), len(data)


def _msgpack_decode(data):
    return msgpack.unpackb(data, object_hook=msgpack_numpy.decode, raw=False,
                           strict_map_key=False)


def libraries():
    """Return ``{name: (encode, decode)}``; pickle5 first (the reference)."""
    libs = {"pickle5": (_pickle_encode, pickle.loads),
            "pickle5-oob": (_pickle_oob_encode, _pickle_oob_decode),
            "octosim": _octosim(None),
            "octosim-copy": _octosim(NO_ZERO_COPY)}
    if msgpack is not None:
        libs["msgpack"] = (_msgpack_encode, _msgpack_decode)
    return libs


# ---------------------------------------------------------------- timing

def _arrays(obj):
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _arrays(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _arrays(x)


def _shares(src, out):
    big = [(a, b) for a, b in zip(_arrays(src), _arrays(out)) if a.nbytes >= get_threshold()]
    return bool(big) and all(np.shares_memory(a, b) for a, b in big)


def _calibrate(fn, target):
    """Return ``(number, seconds per call)``: how many calls make one timing of ``target``."""
    fn()                                    # warm caches
    t0 = time.perf_counter()
    fn()
    dt = max(time.perf_counter() - t0, 1e-7)
    return max(1, min(20000, int(target / dt))), dt


def _time(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def measure(obj, libs, repeats, target, budget):
    """Return ``{lib: row}`` for one payload.

    Each repeat times every library in turn (interleaved, so all see the same machine,
    starting with a different one each time); the minimum over repeats is kept. At least
    ``repeats`` repeats, more while the payload's time ``budget`` (seconds) lasts, at most
    1000.
    """
    rows, plan = {}, {}
    per_repeat = 0.0
    for name, (enc, dec) in libs.items():
        msg, copied, size = enc(obj)
        out = dec(msg)
        n_enc, t_enc = _calibrate(lambda: enc(obj), target)
        n_dec, t_dec = _calibrate(lambda: dec(msg), target)
        per_repeat += n_enc * t_enc + n_dec * t_dec
        plan[name] = (lambda enc=enc: enc(obj), lambda dec=dec, msg=msg: dec(msg), n_enc, n_dec)
        rows[name] = {"encode_s": float("inf"), "decode_s": float("inf"),
                      "bytes_copied": copied, "archive_bytes": size,
                      "shares_memory": _shares(obj, out)}
        del msg, out
    order = list(plan)
    for r in range(max(repeats, min(1000, int(budget / per_repeat)))):
        for name in order[r % len(order):] + order[:r % len(order)]:   # rotating order
            enc, dec, n_enc, n_dec = plan[name]
            row = rows[name]
            row["encode_s"] = min(row["encode_s"], _time(enc, n_enc))
            row["decode_s"] = min(row["decode_s"], _time(dec, n_dec))
    ref = rows["pickle5"]
    ref_total = ref["encode_s"] + ref["decode_s"]
    for row in rows.values():
        row["total_s"] = row["encode_s"] + row["decode_s"]
        row["time_vs_pickle"] = row["total_s"] / ref_total
        row["size_vs_pickle"] = row["archive_bytes"] / ref["archive_bytes"]
    return rows


# ---------------------------------------------------------------- report

def targets(results, quick):
    """Check the issue's targets against the measured rows."""
    by = {(r["payload"], r["library"]): r for r in results}
    arrays = sorted((int(r["array_bytes"]), r) for r in results
                    if r["library"] == "octosim" and r.get("array_bytes", 0) >= 64 * KIB)
    out = {}
    times = [r["total_s"] for _, r in arrays]
    if times:
        spread = max(times) / min(times)
        out["array>=64KiB time spread (max/min)"] = {"value": spread, "target": "<= 3",
                                                     "ok": spread <= 3}
    big = by.get(("array-16MiB", "octosim"))
    if big:
        speedup = 1 / big["time_vs_pickle"]
        out["array-16MiB speedup vs pickle5"] = {"value": speedup, "target": ">= 500",
                                                 "ok": speedup >= 500}
    rec = by[("record", "octosim")]
    out["record time vs pickle5"] = {"value": rec["time_vs_pickle"], "target": "<= 1",
                                     "ok": rec["time_vs_pickle"] <= 1}
    zero = [r for r in results if r["library"] == "octosim" and r.get("array_bytes", 0)
            >= get_threshold()]
    copied_ok = all(r["bytes_copied"] == r["archive_bytes"] - r["array_bytes"]
                    and r["shares_memory"] for r in zero)
    out["pointer chunks: 0 payload bytes copied, decoded arrays share memory"] = {
        "value": copied_ok, "target": True, "ok": copied_ok}
    return out


def _table(results):
    head = (f"{'payload':<14}{'library':<14}{'encode us':>12}{'decode us':>12}{'total us':>12}"
            f"{'x pickle':>10}{'copied B':>12}{'archive B':>12}{'size x':>8}  zc")
    lines = [head, "-" * len(head)]
    last = None
    for r in results:
        if last is not None and r["payload"] != last:
            lines.append("")
        last = r["payload"]
        lines.append(f"{r['payload']:<14}{r['library']:<14}{r['encode_s'] * 1e6:>12.2f}"
                     f"{r['decode_s'] * 1e6:>12.2f}{r['total_s'] * 1e6:>12.2f}"
                     f"{r['time_vs_pickle']:>10.4f}{r['bytes_copied']:>12}{r['archive_bytes']:>12}"
                     f"{r['size_vs_pickle']:>8.3f}  {'yes' if r['shares_memory'] else '-'}")
    return "\n".join(lines)


def run(quick=False, out=sys.stdout):
    """Run every payload through every library; return the JSON-ready report."""
    libs = libraries()
    # short timings, many repeats: on a shared machine a window of a few hundred
    # microseconds often runs unpreempted, one of several milliseconds rarely does
    repeats, target, budget = (3, 3e-4, 0.6) if quick else (5, 3e-4, 2.5)
    results = []
    for name, obj in payloads(quick):
        rows = measure(obj, libs, repeats, target, budget)
        for lib, row in rows.items():
            row = {"payload": name, "library": lib, **row}
            if isinstance(obj, np.ndarray):
                row["array_bytes"] = obj.nbytes
            results.append(row)
        print(f"# {name} done", file=sys.stderr, flush=True)
    checks = targets(results, quick)
    print(_table(results), file=out)
    print("\ntargets:", file=out)
    for key, t in checks.items():
        value = t["value"] if isinstance(t["value"], bool) else f"{t['value']:.3g}"
        print(f"  {'ok  ' if t['ok'] else 'MISS'} {key}: {value} (target {t['target']})", file=out)
    meta = {"python": platform.python_version(), "numpy": np.__version__,
            "msgpack": ".".join(map(str, msgpack.version)) if msgpack else None,
            "machine": platform.machine(), "threshold": get_threshold(), "quick": quick,
            "min_repeats": repeats, "budget_s_per_payload": budget,
            "timing": "perf_counter, min over repeats, libraries interleaved",
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return {"meta": meta, "results": results, "targets": checks}


def ab(repeats=300, out=sys.stdout):
    """Interleaved A/B of octosim and pickle5 on payload (b); return the per-call minima."""
    obj = mixed_record()
    frames = dumps_archive(obj).frames
    data = pickle.dumps(obj, protocol=5)
    fns = {"octosim encode": lambda: dumps_archive(obj).frames,
           "octosim decode": lambda: loads(frames),
           "pickle5 encode": lambda: pickle.dumps(obj, protocol=5),
           "pickle5 decode": lambda: pickle.loads(data)}
    for fn in fns.values():             # warm up (and, for octosim, the structure plan)
        for _ in range(3):
            fn()
    best = dict.fromkeys(fns, float("inf"))
    names = list(fns)
    clock = time.perf_counter
    for r in range(repeats):
        for name in names[r % 4:] + names[:r % 4]:
            fn = fns[name]
            t0 = clock()
            for _ in range(10):
                fn()
            best[name] = min(best[name], (clock() - t0) / 10)
    octo = best["octosim encode"] + best["octosim decode"]
    pick = best["pickle5 encode"] + best["pickle5 decode"]
    for name, t in best.items():
        print(f"{name:16s}{t * 1e6:9.2f} us", file=out)
    print(f"{'octosim total':16s}{octo * 1e6:9.2f} us\n{'pickle5 total':16s}{pick * 1e6:9.2f} us\n"
          f"pickle5 / octosim: {pick / octo:.3f} (octosim at {octo / pick:.3f}x pickle5's "
          f"time), {repeats} interleaved rounds", file=out)
    return best


def main(argv=None):
    """Command line entry point."""
    p = argparse.ArgumentParser(prog="python -m runtime.benchmarks.serialization",
                                description=__doc__.split("\n")[0])
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    p.add_argument("--ab", nargs="?", type=int, const=300, metavar="REPEATS",
                   help="only an interleaved A/B of octosim and pickle5 on payload (b)")
    args = p.parse_args(argv)
    if args.ab is not None:
        ab(args.ab)
        return 0
    report = run(quick=args.quick)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
