"""When to write snapshots and checkpoints during a run, and gathering what they hold.

``OutputSchedule`` is called by the CLI before the first step, after every step and at the
end; locality 0 writes.  Its state (the next ``output.dt`` multiple, the last snapshot step)
travels in checkpoints' ``extra`` so a restart writes the same files as an uninterrupted run.
"""

import math
import os
import time as _time

from octosim.io import checkpoint_name, snapshot_name, write_checkpoint, write_snapshot


class OutputSchedule:
    """Decide and write snapshots and checkpoints of ``sim`` (locality 0 writes).

    Snapshots: at step 0 when any are asked for, every ``output.every`` steps, at the first
    step past each multiple of ``output.dt``, and at the end.  Checkpoints: every
    ``output.checkpoint_every`` steps and at the end.  Write time adds to
    ``stats.io_seconds``; nothing is written in benchmark mode.
    """

    def __init__(self, sim, cfg, stats, writer, ckpt_extra=None, benchmark=False,
                 nlocalities=1, rt=None):
        self.sim, self.cfg, self.stats, self.writer, self.rt = sim, cfg, stats, writer, rt
        self.nlocalities = nlocalities
        out = cfg["output"]
        self.dir = out["dir"]
        self.every, self.dt, self.ckpt_every = out["every"], out["dt"], out["checkpoint_every"]
        self.xdmf = out["format"] == "xdmf"
        self.benchmark = benchmark
        extra = ckpt_extra or {}
        if self.dt:
            nxt = extra.get("next_output")
            self.next_out = int(nxt) if nxt else math.floor(sim.time / self.dt) + 1
        else:
            self.next_out = None
        self.last_snapshot_step = extra.get("last_snapshot_step")
        self.last_checkpoint = None

    def _timed(self, fn, *a):
        t0 = _time.perf_counter()
        try:
            return fn(*a)
        finally:
            self.stats.io_seconds += _time.perf_counter() - t0

    def snapshot(self):
        sim = self.sim
        if self.last_snapshot_step == sim.step:
            return
        cells = _gathered(sim, self.rt, "leaf_table")
        if self.writer:
            write_snapshot(os.path.join(self.dir, snapshot_name(sim.step)), sim.time, sim.step,
                           self.cfg, cells, nlocalities=self.nlocalities, xdmf=self.xdmf)
        self.last_snapshot_step = sim.step

    def checkpoint(self):
        sim = self.sim
        keys, arrays = _gathered(sim, self.rt, "state")
        extra = {"next_output": self.next_out, "last_snapshot_step": self.last_snapshot_step}
        if self.writer:
            path = os.path.join(self.dir, checkpoint_name(sim.step))
            write_checkpoint(path, sim.time, sim.step, self.cfg, keys, arrays, extra)
            self.last_checkpoint = path

    def start(self):
        if not self.benchmark and (self.every or self.dt) and self.sim.step == 0:
            self._timed(self.snapshot)

    def after_step(self):
        if self.benchmark:
            return
        sim = self.sim
        due = bool(self.every) and sim.step % self.every == 0
        if self.dt:
            while sim.time >= self.next_out * self.dt * (1.0 - 1e-12):
                due = True
                self.next_out += 1
        if due:
            self._timed(self.snapshot)
        if self.ckpt_every and sim.step % self.ckpt_every == 0:
            self._timed(self.checkpoint)

    def finish(self):
        if self.benchmark:
            return
        self._timed(self.snapshot)
        if self.ckpt_every and self.last_checkpoint != os.path.join(
                self.dir, checkpoint_name(self.sim.step)):
            self._timed(self.checkpoint)


def _node_state(sim):
    """Return ``(node_keys, node_arrays)`` of every node of the mesh, parents first."""
    state = getattr(sim, "state", None)
    if callable(state):
        st = state()            # (time, step, keys, arrays) from the driver
        return st[-2], st[-1]
    mesh = sim.mesh
    keys = mesh.tree.sorted_nodes()
    return keys, [mesh.subgrids[k].U for k in keys]


def _gathered(sim, rt, what):
    """Return the whole mesh's leaf table (``what='leaf_table'``) or ``(keys, arrays)``
    (``what='state'``).

    A driver whose ``leaf_table()``/``state()`` return only this locality's part says so with
    ``sim.distributed = True``; the parts are then gathered (collective) in locality order.
    """
    part = sim.leaf_table() if what == "leaf_table" else _node_state(sim)
    if rt is None or rt.size == 1 or not getattr(sim, "distributed", False):
        return part
    import numpy as np
    import runtime
    parts = runtime.all_gather(part, name=f"octosim.io.{what}")
    if what == "leaf_table":
        return {k: np.concatenate([p[k] for p in parts]) for k in part}
    return ([k for p in parts for k in p[0]], [a for p in parts for a in p[1]])
