"""Command line: ``python -m octosim INPUT.yaml [options]``.

Exit status 0 on success, 2 for bad input or usage (one line naming the key or file, nothing
written), 1 for a failure during the run (one line saying what failed, at which step and
where; checkpoints already written stay intact).  Set ``OCTOSIM_TRACEBACK=1`` to also print
the traceback of a run failure.
"""

import argparse
import os
import sys
import time as _time
import traceback

from octosim import __version__
from octosim.config import (ConfigError, config_from_text, dump_config, load_config,
                            parse_scalar, parse_set)
from octosim.io.outputs import OutputSchedule

BENCHMARK_STEPS = 10


class UsageError(Exception):
    """Bad command-line usage; exit status 2."""


class RunError(Exception):
    """A failure while running; exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _parser():
    p = _Parser(prog="python -m octosim",
                description="Octree AMR hydrodynamics with FMM gravity (octosim).",
                epilog="Exit status: 0 success, 2 bad input or usage, 1 failure during the "
                       "run.  Options override the file; see README 'Configuration and "
                       "output' for every key.")
    p.add_argument("input", nargs="?", metavar="INPUT.yaml", help="run configuration (YAML)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one key (YAML scalar rules); repeatable")
    p.add_argument("--output", metavar="DIR", help="output directory (output.dir)")
    p.add_argument("--max-level", metavar="L", help="deepest refinement level (mesh.max_level)")
    p.add_argument("--stop-step", metavar="S", help="stop at this step (time.stop_step)")
    p.add_argument("--stop-time", metavar="T", help="stop at this time (time.stop_time)")
    p.add_argument("--parcelport", metavar="mpi|rma", help="runtime.parcelport")
    p.add_argument("--threads", metavar="K", help="worker threads per locality "
                   "(runtime.threads)")
    p.add_argument("--restart", metavar="CHECKPOINT", help="continue from a checkpoint; "
                   "INPUT is optional (the checkpoint's config is used)")
    p.add_argument("--json", metavar="FILE", help="write the end-of-run report as JSON")
    p.add_argument("--benchmark", action="store_true",
                   help=f"fixed short run ({BENCHMARK_STEPS} steps, no output files): "
                        "print zone-cycles/s per core and grids/s")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--version", action="version", version=f"octosim {__version__}")
    return p


_OPTION_KEYS = (("output", "output", "dir", True), ("max_level", "mesh", "max_level", False),
                ("stop_step", "time", "stop_step", False),
                ("stop_time", "time", "stop_time", False),
                ("parcelport", "runtime", "parcelport", True),
                ("threads", "runtime", "threads", False))


def _overrides(args):
    """Return ``(label, section, key, value)`` for every --set and key option, in order."""
    out = []
    for text in args.set:
        try:
            out.append((f"--set {text}",) + parse_set(text))
        except ConfigError as exc:
            msg = str(exc)
            raise ConfigError(msg if msg.startswith("--set") else f"--set {text}: {msg}") \
                from None
    for attr, section, key, is_str in _OPTION_KEYS:
        raw = getattr(args, attr)
        if raw is None:
            continue
        flag = "--" + attr.replace("_", "-")
        try:
            value = raw if is_str else parse_scalar(raw)
        except ConfigError as exc:
            raise ConfigError(f"{flag} {raw}: {exc}") from None
        out.append((f"{flag} {raw}", section, key, value))
    if args.stop_step is not None and args.stop_time is None:
        out.append(("--stop-step", "time", "stop_time", None))
    if args.stop_time is not None and args.stop_step is None:
        out.append(("--stop-time", "time", "stop_step", None))
    return out


def _benchmark_text():
    """Return the built-in benchmark input: an off-centre blast wave on levels 1 and 2."""
    return ("problem: {name: blast}\nblast: {radius: 0.15, x_c: 0.1, y_c: 0.1, z_c: 0.1}\n"
            "mesh: {xscale: 0.5, subgrid_size: 8, max_level: 2, regrid_every: 0}\n"
            f"time: {{stop_step: {BENCHMARK_STEPS}}}\n")


def _load(args):
    """Return ``(config, checkpoint or None)``; ConfigError / SnapshotError on bad input."""
    ovs = _overrides(args)
    ckpt = None
    if args.restart:
        from octosim.io import read_checkpoint
        ckpt = read_checkpoint(args.restart)
    if args.input:
        cfg = load_config(args.input, ovs)
    elif ckpt is not None:
        if ckpt.config is None:
            raise ConfigError(f"{args.restart}: checkpoint holds no config; give INPUT.yaml")
        cfg = config_from_text(dump_config(ckpt.config), source=args.restart, overrides=ovs)
    elif args.benchmark:
        cfg = config_from_text(_benchmark_text(), source="--benchmark", overrides=ovs)
    else:
        raise UsageError("missing INPUT.yaml (try --help)")
    if ckpt is not None and ckpt.config:
        _check_restart_compatible(cfg, ckpt.config, args.restart)
    nloc = _world()[1]
    if cfg["runtime"]["parcelport"] == "local" and nloc > 1:
        raise ConfigError(f"runtime.parcelport = 'local' cannot join {nloc} localities; "
                          "use auto, mpi or rma")
    if cfg["gravity"]["enable"] and cfg["gravity"]["well_balanced"]:
        from octosim.driver import check_well_balanced
        check_well_balanced(nloc)  # before the set-up, on every rank alike
    if args.benchmark:
        for sec, key in (("output", "every"), ("output", "checkpoint_every")):
            cfg[sec][key] = 0
        cfg["output"]["dt"] = None
        if args.stop_step is None and args.stop_time is None:
            cfg["time"]["stop_step"] = (ckpt.step if ckpt else 0) + BENCHMARK_STEPS
            cfg["time"]["stop_time"] = None
    return cfg, ckpt


_RESTART_FIXED = (("problem", "name"), ("mesh", "subgrid_size"), ("mesh", "xscale"),
                  ("mesh", "boundary"))


def _check_restart_compatible(cfg, old, path):
    """Refuse keys that change the meaning of the checkpoint's arrays."""
    for sec, key in _RESTART_FIXED:
        was = (old.get(sec) or {}).get(key)
        if was is not None and was != cfg[sec][key]:
            raise ConfigError(f"--restart {path}: {sec}.{key} = {cfg[sec][key]!r} differs from "
                              f"the checkpoint's {was!r}")


def _where(exc):
    """Return ``file:line in function`` of the innermost frame of ``exc``'s traceback."""
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return "?"
    fr = tb[-1]
    path = fr.filename
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if path.startswith(root + os.sep):
        path = path[len(root) + 1:]
    return f"{path}:{fr.lineno} in {fr.name}"


def _write_text(path, text):
    from octosim.io._atomic import atomic_path
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            fh.write(text)


def _world(rt=None):
    """Return ``(rank, size)`` of this process; no MPI call without a launcher."""
    if rt is not None:
        return rt.here, rt.size
    env = os.environ
    for rk, sz in (("PMI_RANK", "PMI_SIZE"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
                   ("PMIX_RANK", "PMIX_SIZE")):
        if sz in env and rk in env:
            try:
                return int(env[rk]), int(env[sz])
            except ValueError:
                pass
    return 0, 1


def _start_runtime(cfg):
    """Start this locality's task runtime as configured; None if there is no runtime."""
    try:
        import runtime
    except ImportError:
        return None
    rc = cfg["runtime"]
    try:
        from runtime.serialization import set_threshold
        set_threshold(rc["zero_copy_threshold"])
    except ImportError:
        pass
    pp = None if rc["parcelport"] == "auto" else rc["parcelport"]
    return runtime.init(parcelport=pp, threads=rc["threads"])


def _stop_runtime(rt):
    if rt is not None:
        import runtime
        runtime.finalize()


def _parcel_stats(rt):
    """Return the report's parcel statistics summed over localities (collective), or None."""
    from octosim.report import parcel_stats
    if rt is None:
        return None
    import runtime
    try:
        per = runtime.gather_statistics() if rt.size > 1 else [runtime.statistics()]
    except Exception:  # noqa: BLE001 - statistics are best effort, never fail a finished run
        return None
    summed = {}
    for d in per:
        for k, v in d.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                summed[k] = summed.get(k, 0) + v
    out = parcel_stats(summed)
    if out is not None:
        out["messages"] = int(summed.get("messages_sent", 0))
        out["parcelport"] = per[0].get("parcelport")
        if len(per) > 1:
            out["per_locality"] = [dict(parcel_stats(d), messages=int(d.get("messages_sent", 0)))
                                   for d in per]
    return out


def _conserved(sim):
    fn = getattr(sim, "conserved_totals", None)
    if not callable(fn):
        return None
    from octosim.fields import BASE_NAMES
    from octosim.report import _totals_dict
    out = _totals_dict(fn(), BASE_NAMES)
    scale = getattr(sim, "momentum_scale", None)
    if out is not None and callable(scale):
        out["momentum_scale"] = float(scale())
    angmom = getattr(sim, "angular_momentum", None)
    if out is not None and callable(angmom) and not any(sim.mesh.tree.periodic):
        out.update(angmom())     # about the origin: not conserved across a periodic face
    return out


def _run(args, cfg, ckpt):
    """Set up the simulation and run it; return the report dict.  Raises RunError."""
    from octosim.progress import Progress
    out_dir = cfg["output"]["dir"]
    if not args.benchmark and _world()[0] == 0:
        try:
            os.makedirs(out_dir, exist_ok=True)
            _write_text(os.path.join(out_dir, "params.yaml"), dump_config(cfg))
        except OSError as exc:
            raise ConfigError(f"output.dir = {out_dir!r}: cannot write there "
                              f"({exc.strerror or exc})") from None
    try:
        rt = _start_runtime(cfg)
    except Exception as exc:
        raise RunError(f"starting the runtime ({cfg['runtime']['parcelport']} parcelport, "
                       f"{cfg['runtime']['threads']} threads) failed: {type(exc).__name__}: "
                       f"{exc} [{_where(exc)}]") from None
    try:
        return _run_sim(args, cfg, ckpt, rt)
    finally:
        _stop_runtime(rt)


def _run_sim(args, cfg, ckpt, rt):
    from octosim.progress import Progress
    from octosim.report import RunStats, build_report
    writer = _world(rt)[0] == 0
    stage = "setting up problem " + cfg["problem"]["name"]
    sim = None
    try:
        from octosim.driver import Simulation
        if rt is not None and rt.size > 1:    # each locality advances its Morton share
            from octosim.distributed import DistributedSimulation as Simulation
        if ckpt is not None:
            stage = f"restarting from {args.restart}"
            sim = Simulation.from_state(cfg, ckpt.time, ckpt.step, ckpt.node_keys,
                                        ckpt.node_arrays)
        else:
            sim = Simulation(cfg)
        N = cfg["mesh"]["subgrid_size"]
        stats = RunStats(N ** 3)
        stats.initial_totals = _conserved(sim)
        outputs = OutputSchedule(sim, cfg, stats, writer, ckpt.extra if ckpt else None,
                           benchmark=args.benchmark, nlocalities=_world(rt)[1], rt=rt)
        t = cfg["time"]
        prog = Progress(t["stop_time"], t["stop_step"], every=cfg["output"]["progress_every"],
                        quiet=args.quiet or not writer)
        prog.begin(sim.time, sim.step)
        stage = "writing the initial snapshot"
        outputs.start()
        stats.census(sim.mesh.tree)
        t_io = [0.0]

        def on_step(*_):
            t0 = _time.perf_counter()
            stats.count_step(sim.mesh.tree)
            outputs.after_step()
            prog.update(sim.time, sim.step, getattr(sim, "dt", None),
                        len(sim.mesh.tree.leaves()))
            t_io[0] += _time.perf_counter() - t0
        stage = "running"
        level_stats = getattr(sim, "level_stats", None)
        levels_before = level_stats() if callable(level_stats) else None
        stats.wall_start = _time.perf_counter()
        sim.run(stop_time=t["stop_time"], stop_step=t["stop_step"], on_step=on_step)
        stats.stop()
        stats.overhead_seconds = t_io[0]     # output and bookkeeping between steps
        if levels_before is not None:   # the driver counts the leaves each step advanced
            stats.take_driver_levels(levels_before, level_stats())
        prog.finish()
        stage = "writing the final output"
        outputs.finish()
        stats.final_totals = _conserved(sim)
        out = getattr(sim, "boundary_outflow", None)
        stats.outflow = out() if callable(out) and stats.final_totals is not None else None
    except ConfigError:
        raise
    except Exception as exc:
        where = _where(exc)
        at = f" at step {sim.step} (t={sim.time:.6g})" if sim is not None else ""
        last = ""
        if sim is not None and "outputs" in locals() and outputs.last_checkpoint:
            last = f"; last checkpoint {outputs.last_checkpoint}"
        if os.environ.get("OCTOSIM_TRACEBACK"):
            traceback.print_exc()
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise RunError(f"{stage} failed{at}: {type(exc).__name__}: {msg} [{where}]{last}") \
            from None
    meta = {"input": args.input, "problem": cfg["problem"]["name"],
            "subgrid_size": cfg["mesh"]["subgrid_size"], "max_level": cfg["mesh"]["max_level"],
            "curve": sim.mesh.tree.curve,
            "parcelport": cfg["runtime"]["parcelport"], "restart": args.restart,
            "benchmark": bool(args.benchmark)}
    rep = build_report(stats, phases=getattr(sim, "timers", None), parcels=_parcel_stats(rt),
                       meta=meta, time=sim.time, step=sim.step, nlocalities=_world(rt)[1],
                       threads=cfg["runtime"]["threads"])
    rep["phases_by_locality"] = _phases_by_locality(rt, sim)
    rep["writer"] = writer
    return rep


def _phases_by_locality(rt, sim):
    """Return every locality's phase seconds plus ``comm`` (sending and waiting on parcels,
    within the phases), ``fmm`` (its FMM solves' computing, within ``gravity``),
    ``moments`` (its solves' trading of moments, within ``gravity`` and ``comm``) and the
    counts ``tails_taken`` and ``tails_lost`` (``gravity.steal``), or None."""
    if rt is None or rt.size == 1:
        return None
    import runtime
    mine = {str(k): float(v) for k, v in (getattr(sim, "timers", None) or {}).items()}
    mine["comm"] = float(getattr(sim, "comm_seconds", 0.0))
    mine["fmm"] = float(getattr(sim, "fmm_seconds", 0.0))
    mine["moments"] = float(getattr(sim, "moments_seconds", 0.0))
    mine["tails_taken"] = int(getattr(sim, "tails_taken", 0))
    mine["tails_lost"] = int(getattr(sim, "tails_lost", 0))
    return runtime.all_gather(mine, name="octosim.phases")


def _parcel_table(p):
    """Return the parcel statistics per locality and in total as text ('' when none)."""
    if not p or p.get("parcels") is None:
        return ""
    keys = ("parcels", "messages", "bytes", "bytes_zero_copy", "bytes_copied")
    rows = [(str(i), d) for i, d in enumerate(p.get("per_locality") or [])] + [("total", p)]
    out = [f"\nparcels by locality ({p.get('parcelport')} parcelport)",
           f"{'locality':<9}" + "".join(f"{k:>16}" for k in keys)]
    for name, d in rows:
        out.append(f"{name:<9}" + "".join(f"{d.get(k) if d.get(k) is not None else '-':>16}"
                                          for k in keys))
    return "\n".join(out)


def main(argv=None):
    """Run the command line; return the exit status."""
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        print(f"error: {exc} (try --help)", file=sys.stderr)
        return 2
    from octosim.io import SnapshotError
    rank, size = _world()
    try:
        cfg, ckpt = _load(args)
        rep = _run(args, cfg, ckpt)
    except (ConfigError, SnapshotError, UsageError) as exc:
        if rank == 0:                   # every locality sees the same input: say it once
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunError as exc:
        where = f"[locality {rank}] " if size > 1 else ""
        print(f"error: {where}{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    if not rep.pop("writer"):
        return 0
    from octosim.report import format_report, write_json
    if args.benchmark:
        t = rep["totals"]
        print(f"benchmark: {rep['problem']} N={rep['subgrid_size']} max_level="
              f"{rep['max_level']}, {rep['steps']} steps, {t['leaves']} leaves: "
              f"{t['cell_updates_per_second_per_core']:.4g} zone-cycles/s per core, "
              f"{t['grids_per_second']:.4g} grids/s")
        if size == 1 and ckpt is None:      # one short run is noisy: add the best of repeats
            from octosim.bench import format_result, measure
            print("best of 3 repeats from the same initial state (setup and compilation "
                  "excluded; one thread, no runtime):")
            print(format_result(measure(cfg, steps=max(rep["steps"], 1), repeat=3)))
    else:
        print(format_report(rep))
        print(_parcel_table(rep.get("parcels")))
    if args.json:
        try:
            write_json(rep, args.json)
        except OSError as exc:
            print(f"error: --json {args.json}: cannot write ({exc.strerror or exc})",
                  file=sys.stderr)
            return 1
    return 0
