"""OSU-style latency / bandwidth / bi-directional bandwidth of runtime actions, with baselines.

    mpiexec -n 2 python -m runtime.benchmarks.osu latency|bw|bibw [--parcelport mpi,rma]
        [--buffer serialize_buffer,rma_vector] [--threads 1,2] [--register attach|copy]
        [--min-size B] [--max-size B] [--window W] [--loop N] [--repeat R] [--rounds K]
        [--completion auto,on,off] [--poll-sends on,off] [--json FILE]

As HPX's OSU ports (paper, Figure 5): ``latency`` is a ping-pong of an echo action whose
argument is a SerializeBuffer of the message size (the action returns it, so both ways carry
the payload); ``bw`` issues a window of actions with a SerializeBuffer argument from locality
0 to 1 and waits for all of them, ``loop`` times; ``bibw`` does that both ways at once.  In
the same run, before the runtime starts, the same patterns run with native mpi4py buffer
Send/Recv (Isend/Irecv windows, one ack per window) and with mpi4py.util.pkl5 object
send/recv.  Latency is one-way (half the round trip), bandwidth in MB/s (10^6 bytes/s).
Sizes are powers of two from 1 B to 64 MiB; the window shrinks for large messages so that
a window holds at most 256 MiB, the same for all three variants.

Figure 5 in one run: ``--parcelport``, ``--buffer`` and ``--threads`` take comma lists and
the runtime is started once per combination (parcelport x buffer x threads), each a
column beside the same baselines.  ``serialize_buffer`` wraps a plain array (the rma
parcelport registers it on the fly, per ``--register``: ``attach`` by default, as in the
paper, where the runtime itself defaults to ``copy``); ``rma_vector`` allocates an
RmaVector after the runtime started, from the registered pool.  ``--repeat R`` measures
each point R times and keeps the best, ``--rounds K`` runs the baselines and then the whole
set of configurations K times in turn and keeps the best of all (the machine may be shared).
A second table gives, per configuration, the median over the rounds of its ratio to the
baseline measured in the same round (bw, bibw: to native; latency: to pkl5), the issue's
targets; the JSON keeps every round's value (``<column>:by_round``) and those ratios
(``<config>:vs_native`` / ``:vs_pkl5``), per size the fewest bytes sent zero-copy and the
most copied of any round (``<config>:zero_copy_B``, ``:copied_B``), and every round's
runtime statistics (``statistics``: ``<config>``, the last round's, and
``<config>:by_round``).  ``--completion`` and ``--poll-sends`` take lists
too, for A/B runs of the mpi parcelport's completion threads (``auto``, the default: the
runtime's own choice; ``on``, column ``/ct``; ``off``, column ``/noct``) and of hard polling
of large sends (``on``; ``off``, column ``/nops``).
"""
import argparse
import json
import sys
import time

import numpy as np

import runtime
from runtime.parcelport.mpi import _mpi
from runtime.memory import RmaVector
from runtime.serialization import SerializeBuffer

TAG, ACK = 100, 101
_SUFFIX = {"auto": "", "on": "/ct", "off": "/noct"}  # a column's --completion


def _loop(size, kind):
    if kind == "latency":
        return int(min(1000, max(20, 2e8 / (size + 2e5))))
    return int(min(100, max(10, 1e9 / (size * _window(size) + 1e6))))


def _window(size, base=64):
    return int(max(1, min(base, (256 << 20) // max(size, 1))))


def _sizes(lo, hi):
    s, out = max(1, lo), []
    while s <= hi:
        out.append(s)
        s *= 2
    return out


# ---- native mpi4py ----------------------------------------------------------------------

def native(comm, kind, size, loop, window, skip):
    MPI = _mpi()
    rank = comm.Get_rank()
    peer = 1 - rank
    sbuf = np.ones(size, np.uint8)
    rbufs = [np.empty(size, np.uint8) for _ in range(window if kind != "latency" else 1)]
    ack = np.zeros(1, np.uint8)
    comm.Barrier()
    for i in range(loop + skip):
        if i == skip:
            comm.Barrier()
            t0 = time.perf_counter()
        if kind == "latency":
            if rank == 0:
                comm.Send([sbuf, MPI.BYTE], peer, TAG)
                comm.Recv([rbufs[0], MPI.BYTE], peer, TAG)
            else:
                comm.Recv([rbufs[0], MPI.BYTE], peer, TAG)
                comm.Send([sbuf, MPI.BYTE], peer, TAG)
            continue
        reqs = []
        if kind == "bibw" or rank == 1:
            reqs += [comm.Irecv([b, MPI.BYTE], peer, TAG) for b in rbufs]
        if kind == "bibw" or rank == 0:
            reqs += [comm.Isend([sbuf, MPI.BYTE], peer, TAG) for _ in range(window)]
        MPI.Request.Waitall(reqs)
        if rank == 0:
            comm.Recv([ack, MPI.BYTE], peer, ACK)
        else:
            comm.Send([ack, MPI.BYTE], peer, ACK)
    return time.perf_counter() - t0


def pickle5(comm, kind, size, loop, window, skip):
    from mpi4py.util import pkl5
    c = pkl5.Intracomm(comm)
    rank = comm.Get_rank()
    peer = 1 - rank
    obj = np.ones(size, np.uint8)
    comm.Barrier()
    for i in range(loop + skip):
        if i == skip:
            comm.Barrier()
            t0 = time.perf_counter()
        if kind == "latency":
            if rank == 0:
                c.send(obj, peer, TAG)
                c.recv(None, peer, TAG)
            else:
                c.send(c.recv(None, peer, TAG), peer, TAG)
            continue
        reqs = []
        if kind == "bibw" or rank == 0:
            reqs = [c.isend(obj, peer, TAG) for _ in range(window)]
        if kind == "bibw" or rank == 1:
            for _ in range(window):
                c.recv(None, peer, TAG)
        pkl5.Request.waitall(reqs)
        if rank == 0:
            c.recv(None, peer, ACK)
        else:
            c.send(b"", peer, ACK)
    return time.perf_counter() - t0


# ---- the runtime ------------------------------------------------------------------------

@runtime.action(name="runtime.benchmarks.osu.echo", direct=True)
def echo(buf):
    """Return the message (the ping-pong's pong)."""
    return buf


@runtime.action(name="runtime.benchmarks.osu.sink", direct=True)
def sink(buf):
    """Receive a message and return nothing."""


@runtime.action(name="runtime.benchmarks.osu.echo_task")
def echo_task(buf):
    return buf


@runtime.action(name="runtime.benchmarks.osu.sink_task")
def sink_task(buf):
    pass


def make_buffer(size, buffer="serialize_buffer"):
    """Return the message: a SerializeBuffer over a plain array, or an RmaVector from the pool."""
    if buffer == "rma_vector":
        v = RmaVector.empty(size, np.uint8)
        v[:] = 1
        return v
    return SerializeBuffer(np.ones(size, np.uint8))


def with_runtime(kind, size, loop, window, skip, direct=True, buffer="serialize_buffer"):
    me = runtime.here()
    peer = 1 - me
    buf = make_buffer(size, buffer)
    e, s = (echo, sink) if direct else (echo_task, sink_task)
    runtime.barrier()
    for i in range(loop + skip):
        if i == skip:
            runtime.barrier()
            t0 = time.perf_counter()
        if kind == "latency":
            if me == 0:
                runtime.async_(e, peer, buf).get()
            continue
        if kind == "bibw" or me == 0:
            runtime.when_all([runtime.async_(s, peer, buf) for _ in range(window)]).get()
    t = time.perf_counter() - t0
    runtime.barrier()
    return t


def _metric(kind, size, loop, window, t):
    if kind == "latency":
        return t / (2 * loop) * 1e6  # us one-way
    n = 2 if kind == "bibw" else 1
    return n * size * window * loop / t / 1e6  # MB/s


def _check_args(ap, a):
    """Check the options before MPI starts (``ap.error``: one line, exit status 2); return
    the lists (parcelports, buffers, threads, completion, poll-sends)."""
    pps, buffers = a.parcelport.split(","), a.buffer.split(",")
    comps, polls = a.completion.split(","), a.poll_sends.split(",")
    for pp in pps:
        if pp not in ("mpi", "rma"):
            ap.error(f"--parcelport: unknown parcelport {pp!r} (mpi, rma)")
    for b in buffers:
        if b not in ("serialize_buffer", "rma_vector"):
            ap.error(f"--buffer: unknown buffer {b!r} (serialize_buffer, rma_vector)")
    threads = a.threads.split(",")
    if not all(t.isdigit() and int(t) >= 1 for t in threads):
        ap.error(f"--threads: {a.threads!r} is not a comma list of counts >= 1")
    for c in comps:
        if c not in ("auto", "on", "off"):
            ap.error(f"--completion: {c!r} is none of auto, on, off")
    for c in polls:
        if c not in ("on", "off"):
            ap.error(f"--poll-sends: {c!r} is neither on nor off")
    if a.loop < 0 or a.window < 1 or a.repeat < 1 or a.rounds < 1:
        ap.error("--loop must be >= 0, and --window, --repeat, --rounds >= 1")
    if not 1 <= a.min_size <= a.max_size:
        ap.error(f"--min-size {a.min_size} / --max-size {a.max_size}: need 1 <= min <= max")
    return pps, buffers, [int(t) for t in threads], comps, polls


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m runtime.benchmarks.osu", description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=["latency", "bw", "bibw"])
    ap.add_argument("--parcelport", default="mpi", help="comma list, e.g. mpi,rma")
    ap.add_argument("--buffer", default="serialize_buffer",
                    help="comma list of serialize_buffer, rma_vector")
    ap.add_argument("--threads", default="2", help="worker threads, comma list, e.g. 1,2")
    ap.add_argument("--register", choices=["attach", "copy"], default="attach",
                    help="rma parcelport: how unregistered buffers are registered on the fly "
                         "(attach, the paper's, falls back to copy without dynamic windows; "
                         "the runtime's own default is copy)")
    ap.add_argument("--repeat", type=int, default=1, help="measure each point R times, keep the best")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every configuration K times in turn, keep the best (spreads load drift)")
    ap.add_argument("--min-size", type=int, default=1)
    ap.add_argument("--max-size", type=int, default=64 << 20)
    ap.add_argument("--window", type=int, default=64,
                    help="bw/bibw: actions in flight per iteration (fewer where a window would "
                         "pass 256 MiB)")
    ap.add_argument("--loop", type=int, default=0, metavar="N",
                    help="timed iterations per size (default 0: by size, about 1 GB a point)")
    ap.add_argument("--tasks", action="store_true", help="run the actions as tasks on workers, not direct")
    ap.add_argument("--coalesce", type=int, default=0, metavar="K",
                    help="let up to K small parcels share a message (mpi parcelport)")
    ap.add_argument("--completion", default="auto",
                    help="comma list of auto, on, off: the mpi parcelport's completion threads "
                         "(A/B; auto: the runtime's own choice)")
    ap.add_argument("--poll-sends", default="on",
                    help="comma list of on, off: poll hard while large sends are in flight (A/B)")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args(argv)

    pps, buffers, threads, comps, polls = _check_args(ap, a)
    MPI = _mpi()
    if not MPI.Is_initialized():
        MPI.Init_thread(MPI.THREAD_MULTIPLE)
    world = MPI.COMM_WORLD
    if world.Get_size() != 2:
        if world.Get_rank() == 0:
            print("osu: run on exactly 2 ranks (mpiexec -n 2 ...)", file=sys.stderr)
        MPI.Finalize()  # every rank leaves cleanly, so the launcher reports status 2
        sys.exit(2)
    rank = world.Get_rank()
    sizes = _sizes(a.min_size, a.max_size)
    rows = {s: {"size": s, "loop": a.loop or _loop(s, a.kind), "window": _window(s, a.window)}
            for s in sizes}
    best = max if a.kind != "latency" else min

    def keep(r, col, value):
        """Record one round's value of a column; the column keeps the best of all rounds."""
        r.setdefault(col + ":by_round", []).append(value)
        r[col] = best(r[col], value) if col in r else value

    configs = [(pp, b, t, c, ps) for pp in pps for b in buffers for t in threads for c in comps
               for ps in polls]
    names = [f"{pp}/{'rv' if b == 'rma_vector' else 'sb'}/{t}t{_SUFFIX[c]}"
             f"{'' if ps == 'on' else '/nops'}" for pp, b, t, c, ps in configs]
    stats = {}
    for (pp, b, t, c, ps), name in [cn for _ in range(a.rounds) for cn in zip(configs, names)]:
        if not a.no_baselines and name == names[0]:  # each round starts with the baselines
            comm = world.Dup()
            for s in sizes:
                r = rows[s]
                skip = max(2, r["loop"] // 10)
                args = (comm, a.kind, s, r["loop"], r["window"], skip)
                keep(r, "native", best(_metric(a.kind, s, r["loop"], r["window"], native(*args))
                                       for _ in range(a.repeat)))
                keep(r, "pkl5", best(_metric(a.kind, s, r["loop"], r["window"], pickle5(*args))
                                     for _ in range(a.repeat)))
            comm.Free()
        opts = {"coalesce": a.coalesce} if a.coalesce else {}
        if c != "auto":
            opts["completion_thread"] = c == "on"
        opts["poll_large_sends"] = ps == "on"
        if pp == "rma":  # an arena that holds the largest window of messages in flight
            inflight = max(s * rows[s]["window"] for s in sizes)
            arena = min(1 << 30, max(64 << 20, inflight + 2 * a.max_size, 18 * a.max_size))
            opts.update(arena_bytes=arena, pool_max_bytes=arena + (256 << 20))
            if a.register:
                opts["register"] = a.register
        rt = runtime.init(parcelport=pp, threads=t, **opts)
        for s in sizes:
            r = rows[s]
            skip = max(2, r["loop"] // 10)
            st0 = runtime.statistics()
            ts = [with_runtime(a.kind, s, r["loop"], r["window"], skip, direct=not a.tasks, buffer=b)
                  for _ in range(a.repeat)]
            st1 = runtime.statistics()
            keep(r, name, best(_metric(a.kind, s, r["loop"], r["window"], t_) for t_ in ts))
            zc = (st1["bytes_zero_copy"] - st0["bytes_zero_copy"]) // a.repeat
            cp = (st1["bytes_copied"] - st0["bytes_copied"]) // a.repeat
            # over the rounds: the fewest bytes zero-copy and the most copied
            r[name + ":zero_copy_B"] = min(zc, r.get(name + ":zero_copy_B", zc))
            r[name + ":copied_B"] = max(cp, r.get(name + ":copied_B", cp))
            if len(configs) == 1:  # the keys of a single-configuration run, as before
                r["runtime"] = r[name]
                r["bytes_zero_copy"] = r[name + ":zero_copy_B"]
                r["bytes_copied"] = r[name + ":copied_B"]
        stats[name] = runtime.gather_statistics()       # at the end: the last round's
        stats.setdefault(name + ":by_round", []).append(stats[name])
        if pp == "rma":
            stats[name + ":rma"] = rt.pp.rma_stats()
            stats.setdefault(name + ":rma:by_round", []).append(stats[name + ":rma"])
        rt.finalize()
    if rank == 0:
        unit = "us (one-way)" if a.kind == "latency" else "MB/s"
        print(f"# osu {a.kind}; {'task' if a.tasks else 'direct'} actions"
              f"{f', coalescing {a.coalesce}' if a.coalesce else ''}"
              f"{f', rma register {a.register}' if a.register else ''}; best of {a.repeat} x {a.rounds}; {unit}")
        print("# columns: parcelport/buffer (sb serialize_buffer, rv rma_vector)/worker threads"
              "[/ct, /noct: completion threads forced on, off][/nops: no hard polling of "
              "large sends]")
        print(f"{'size':>10} {'native':>10} {'pkl5':>10} " + " ".join(f"{n:>11}" for n in names))
        for s in sizes:
            r = rows[s]
            nat, pk = r.get("native", float("nan")), r.get("pkl5", float("nan"))
            print(f"{s:>10} {nat:>10.1f} {pk:>10.1f} " + " ".join(f"{r[n]:>11.1f}" for n in names))
        if not a.no_baselines:  # each round's ratio to the baseline of the same round
            base, what = ("pkl5", "runtime over pkl5 (lower is better)") if a.kind == "latency" \
                else ("native", "runtime over native (higher is better)")
            print(f"# ratio per round, {what}: median over the {a.rounds} round(s)")
            print(f"{'size':>10} " + " ".join(f"{n:>11}" for n in names))
            for s in sizes:
                r = rows[s]
                for n in names:
                    r[f"{n}:vs_{base}"] = float(np.median(np.divide(r[n + ":by_round"],
                                                                    r[base + ":by_round"])))
                print(f"{s:>10} " + " ".join(f"{r[f'{n}:vs_{base}']:>11.3f}" for n in names))
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"benchmark": a.kind, "configs": names, "coalesce": a.coalesce,
                           "completion": comps, "poll_sends": polls,
                           "register": a.register, "repeat": a.repeat, "rounds": a.rounds,
                           "actions": "task" if a.tasks else "direct", "unit": unit,
                           "rows": [rows[s] for s in sizes], "statistics": stats}, f, indent=1)
    MPI.Finalize()


if __name__ == "__main__":
    main()
