"""The step loop: ``Simulation(config)`` builds the AMR mesh and advances it in time.

One step (``Simulation.advance``) is SSP-RK3 (Shu & Osher 1988) with one global time step
from the CFL condition, no subcycling.  Every stage is a list of per-node tasks:

1. restrict leaves into interior nodes (``exchange.restrict_all``),
2. fill every node's ghosts, coarse to fine (``exchange.fill_ghosts``; batched, only what
   the stage reads: ``stage=True``, the leaves' face slabs and the interior nodes their
   interpolation reads, so edge and corner ghosts of leaves keep the last full fill's
   values; init, regrid and ``from_state`` fill everything),
3. (first stage) the CFL time step, a min-reduction over leaves,
4. face fluxes of every leaf (``hydro.compute_fluxes``),
5. flux correction at coarse/fine faces (``exchange.correct_fluxes``),
6. the stage update of every leaf (``hydro.rk_stage``, or ``rk_stage_src`` with the FMM
   gravity source of ``octosim.gravity`` when ``gravity.enable``) and its dual-energy sync.
   With ``gravity.well_balanced`` step 4 reconstructs rho and p about each cell's
   hydrostatic equilibrium in the stage's potential and gives the momentum source that
   balances it (``hydro.wellbalanced``, one locality only; momentum is then conserved only
   to the truncation error).

After the step each leaf gets the density and energy floors (cells counted), and every
``mesh.regrid_every`` steps the mesh is regridded (``amr.regrid``).

With the default kernels (``octosim.hydro``) every phase is one numba call over all leaves
or nodes of the mesh (``octosim.hydro.batched``, the ``exchange.ExchangePlan`` tables over
the pooled ``mesh.layout()``), bitwise the same as a Python loop over blocks; other
``kernels`` objects are called block by block.  Timers (seconds, ``sim.timers``):
``exchange`` restriction and ghost fill, ``reflux`` flux correction, ``hydro`` face fluxes,
``update`` stage updates and dual-energy sync, ``timestep``, ``gravity``, ``floors``,
``regrid``, ``init``.  Without gravity the batched driver updates each leaf right after its
fluxes while it is in cache (``hydro.batched.fluxes_update_all``), except the leaves that
receive flux corrections; then ``hydro`` also holds those updates and ``update`` the
deferred ones (``sim.fused = False`` separates the phases, at some 5% cost).

Restart: a continuation is bitwise identical to the uninterrupted run given the config, the
time and step (exact float64 / int) and the leaf keys with the leaves' interior arrays
(``Simulation.state()``).  Nothing else is carried between steps: interior nodes are
restricted from the leaves and every ghost is refilled before it is read, and the step's
dt is recomputed from the leaves; the regrid phase follows from ``step``.
"""

import math
import time as _time

import numpy as np

from octosim import amr, exchange, totals
from octosim.fields import EGAS, GHOST, RHO, SX, SY, SZ, field_names, nfields
from octosim.mesh import Mesh
from octosim.outflow import BoundaryTally
from octosim.tree import CURVE, Octree, choose_curve

_BUILTIN_DEFAULTS = {
    "mesh": {"xscale": 1.0, "subgrid_size": 8, "max_level": 2, "regrid_every": 4,
             "boundary": "outflow"},
    "hydro": {"gamma": 5.0 / 3.0, "cfl": 0.4, "reconstruction": "ppm",
              "dual_energy_switch": 1e-3, "rho_floor": 1e-12, "e_floor": 1e-14},
    "problem": {"name": None},
    "refinement": dict(amr.REFINEMENT_DEFAULTS),
    "time": {"stop_time": None, "stop_step": None},
}

TIMERS = ("exchange", "reflux", "timestep", "hydro", "update", "gravity", "floors", "regrid",
          "init")


def _defaults():
    try:
        from octosim.config import SCHEMA
    except ImportError:
        return {s: dict(v) for s, v in _BUILTIN_DEFAULTS.items()}
    out = {s: {k: p.default for k, p in sec.items()} for s, sec in SCHEMA.items()}
    for s, sec in _BUILTIN_DEFAULTS.items():
        for k, v in sec.items():
            out.setdefault(s, {}).setdefault(k, v)
    return out


def with_defaults(config):
    """Return a copy of the nested config dict with every missing key set to its default."""
    out = _defaults()
    for section, values in (config or {}).items():
        if isinstance(values, dict):
            out.setdefault(section, {}).update(values)
        else:
            out[section] = values
    return out


def _hydro_kernels():
    import octosim.hydro as hydro
    return hydro


def _load_problem(name):
    """Return the problem module ``name`` from the registry (or the package as fallback)."""
    import importlib

    import octosim.problems as problems
    if hasattr(problems, "get_problem"):
        return problems.get_problem(name)
    return importlib.import_module(f"octosim.problems.{name}")


def _recon_code(kernels, name):
    """Return the kernels' code of the reconstruction named in the configuration."""
    table = getattr(kernels, "RECON_NAMES", None) or {
        "ppm": getattr(kernels, "RECON_PPM", 1), "plm": getattr(kernels, "RECON_PLM", 0)}
    if isinstance(name, str):
        return table[name]
    return int(name)


def _problem_params(problem, config, name):
    params = {}
    table = getattr(problem, "PARAMS", {}) or {}
    for k, v in table.items():
        params[k] = v[1] if isinstance(v, tuple) else v
    params.update(config.get(name, {}) or {})
    return params


def check_well_balanced(nloc, distributed=False):
    """Refuse ``gravity.well_balanced`` on several localities (ConfigError): the
    multi-locality step loop has no well-balanced path."""
    from octosim.config import ConfigError
    if nloc > 1 or distributed:
        raise ConfigError(f"gravity.well_balanced = true needs one locality (got {nloc}): the "
                          "multi-locality step loop solves gravity after the fluxes")


def _check_well_balanced(sim):
    """Refuse ``gravity.well_balanced`` where its step loop does not exist (ConfigError)."""
    from octosim.config import ConfigError
    check_well_balanced(getattr(sim, "nloc", 1), getattr(sim, "distributed", False))
    if not sim.batched:
        raise ConfigError("gravity.well_balanced = true needs the default hydro kernels "
                          "(octosim.hydro)")


class Simulation:
    """An AMR hydro run: mesh, time, step, timers and per-level counters.

    ``kernels`` (default ``octosim.hydro``) supplies ``compute_fluxes``, ``max_signal_speed``,
    ``rk_stage``, ``apply_floors``, ``dual_energy_sync`` and ``fill_boundary``; ``problem``
    (default ``octosim.problems.get_problem(config['problem']['name'])``) supplies ``PARAMS``,
    ``init_data`` and optionally ``refine``.
    """

    def __init__(self, config, kernels=None, problem=None, _init=True):
        cfg = with_defaults(config)
        self.config = cfg
        m, h = cfg["mesh"], cfg["hydro"]
        self.kernels = kernels if kernels is not None else _hydro_kernels()
        self.batched = getattr(self.kernels, "__name__", None) == "octosim.hydro"
        self.fused = self.batched    # fluxes and updates in one pass (no gravity)
        name = cfg["problem"].get("name")
        if problem is None:
            problem = _load_problem(name)
        self.problem = problem
        self.params = _problem_params(problem, cfg, name)
        gamma = h.get("gamma")
        self.gamma = float(gamma if gamma is not None
                           else getattr(problem, "DEFAULT_GAMMA", 5.0 / 3.0))
        self.cfl = float(h["cfl"])
        self.recon = _recon_code(self.kernels, h["reconstruction"])
        self.de_switch = float(h["dual_energy_switch"])
        self.rho_floor = float(h["rho_floor"])
        self.e_floor = float(h["e_floor"])
        self.nspecies = int(h.get("nspecies", self.params.get("nspecies", 0)) or 0)
        self.field_names = field_names(self.nspecies)
        self.regrid_every = int(m["regrid_every"])
        self.curve = m.get("curve", "auto")
        self.mesh = Mesh(int(m["subgrid_size"]), nfields(self.nspecies), float(m["xscale"]),
                         int(m["max_level"]), m["boundary"],
                         curve=CURVE if self.curve == "auto" else self.curve)
        self.criterion = amr.Criterion(cfg.get("refinement"), self.gamma, problem, self.params)
        self.time = 0.0
        self.step = 0
        self.dt = 0.0
        self.timers = {k: 0.0 for k in TIMERS}
        self.floor_cells = 0
        self.last_floor_cells = 0
        self.regrids = 0
        self.outflow = BoundaryTally()  # what left through the domain's faces (exact sums)
        self.grid_steps = [0] * (self.mesh.max_level + 1)
        self._flux_work = None
        g = cfg.get("gravity") or {}
        self.gravity = bool(g.get("enable", False))
        self.grav = {"G": float(g.get("G", 1.0)), "theta": float(g.get("theta", 0.5)),
                     "order": int(g.get("order", 2)), "angmom": bool(g.get("angmom", False))}
        self.well_balanced = self.gravity and bool(g.get("well_balanced", False))
        if self.well_balanced:
            _check_well_balanced(self)
        self._accel = None
        self._phi = None
        self._fmm = None                # (mesh version, ThreadedSolver) with runtime.threads > 1
        self._wb_source = None
        if _init:
            t0 = _time.perf_counter()
            self._initialize()
            self._warm_up()
            self.timers["init"] += _time.perf_counter() - t0

    def _warm_up(self):
        """Load (or compile) the batched kernels now, so the first step does not pay for it.

        Each is called once with no leaves: same argument types as in a step, no work.
        """
        if not self.batched:
            return
        from octosim.hydro import batched as B
        from octosim.hydro.fluxes import make_work
        from octosim.kernels_amr import correct_fluxes_pool
        N, nf = self.mesh.N, self.mesh.nf
        M = N + 2 * GHOST
        pool = np.zeros((1, nf, M, M, M))
        none = np.zeros(0, dtype=np.int64)
        dx = np.zeros(0)
        Fx, Fy, Fz = (np.zeros((0, nf, N + 1, N, N)), np.zeros((0, nf, N, N + 1, N)),
                      np.zeros((0, nf, N, N, N + 1)))
        if self._flux_work is None:
            self._flux_work = make_work(pool[0])
        g, de = self.gamma, self.de_switch
        B.save_stage(pool, none, pool)
        B.fluxes_all(pool, none, g, self.recon, de, Fx, Fy, Fz, self._flux_work)
        B.update_all(pool, none, pool, Fx, Fy, Fz, 1.0, dx, 0.5, g, de)
        if self.gravity:
            B.update_all_src(pool, none, pool, Fx, Fy, Fz, np.zeros((0, nf, N, N, N)), 1.0,
                             dx, 0.5, g, de)
        if self.well_balanced:
            from octosim.hydro import wellbalanced as wb
            phi, acc = np.zeros((0, M, M, M)), np.zeros((0, 3, N, N, N))
            wb.extend_potential_all(phi, np.zeros((0, N, N, N)), acc, dx,
                                    np.zeros((0, 6), dtype=np.int64))
            wb.fluxes_wb_all(pool, none, phi, acc, dx, g, self.recon, de, Fx, Fy, Fz, acc,
                             self._flux_work, wb.make_wb_work(pool[0]))
        B.fluxes_update_all(pool, none, np.zeros(0, dtype=np.bool_), g, self.recon, de, Fx, Fy,
                            Fz, self._flux_work, pool, 1.0, dx, 0.5)
        B.update_some(pool, none, none, pool, Fx, Fy, Fz, 1.0, dx, 0.5, g, de)
        B.min_dt_all(pool, none, dx, g, de)
        B.floors_all(pool, none, self.rho_floor, self.e_floor, g)
        correct_fluxes_pool(Fx, Fy, Fz, np.zeros((0, 6), dtype=np.int64))

    # -- setup --------------------------------------------------------------------------------
    def _fill(self, U, axis, side, kind):
        self.kernels.fill_boundary(U, axis, side, kind)

    @property
    def _bc_fill(self):
        """The boundary fill for exchange/amr: None (their pooled kernel) with default kernels."""
        return None if self.batched else self._fill

    def _init_leaf(self, key):
        sg = self.mesh.subgrids[key]
        x, y, z = sg.centers()
        self.problem.init_data(sg.U, x, y, z, self.params, self.gamma)

    def _initialize(self):
        """Set the initial data, refining from the root while the criteria ask for it.

        A refinement pass creates its new leaves empty and writes their initial data (no
        prolongation, which the data would overwrite); when the criteria read ghosts, the
        next pass's exchange fills them first (else no pass builds the pooled layout and its
        exchange plan), and a step fills what it reads."""
        mesh = self.mesh
        for key in mesh.leaves():
            self._init_leaf(key)
        for _ in range(mesh.max_level):
            if self.criterion.reads_ghosts:
                self._exchange()
            flags = {k: True for k, f in amr.flag_leaves(mesh, self.criterion).items() if f}
            before = set(mesh.tree.nodes)
            amr.regrid(mesh, flags, self._bc_fill, data=False)
            new = [k for k in mesh.leaves() if k not in before]
            if not new:
                break
            for key in new:
                self._init_leaf(key)
        if self.curve == "auto":
            mesh.set_curve(choose_curve(mesh.tree))
        post_init = getattr(self.problem, "post_init", None)
        if post_init is not None:
            post_init(mesh, self.params, self.gamma)
        exchange.restrict_all(mesh)

    @classmethod
    def from_state(cls, config, time, step, node_keys, node_arrays, kernels=None, problem=None):
        """Rebuild a run from ``state()``: leaf keys (tuples or locational codes) and arrays.

        Arrays may be the leaves' interiors ``(nf, N, N, N)`` or full arrays with ghosts;
        keys of interior nodes may be included and are ignored (their data is restricted).
        """
        from octosim.tree import key_from_code
        sim = cls(config, kernels=kernels, problem=problem, _init=False)
        keys = [key_from_code(k) if isinstance(k, (int, np.integer)) else tuple(int(v) for v in k)
                for k in node_keys]
        deepest = max(k[0] for k in keys)
        if deepest > sim.mesh.max_level:
            raise ValueError(f"state has level-{deepest} nodes but mesh.max_level = "
                             f"{sim.mesh.max_level}")
        tree = Octree.from_leaves(keys, sim.mesh.max_level, sim.mesh.tree.periodic,
                                  sim.mesh.tree.curve)
        if not tree.is_balanced():
            raise ValueError("state's leaves violate 2:1 balance (corrupt or foreign state)")
        if sim.curve == "auto":         # the fields do not depend on the curve
            tree.set_curve(choose_curve(tree))
        sim.mesh = Mesh(sim.mesh.N, sim.mesh.nf, sim.mesh.xscale, tree.max_level,
                        sim.mesh.boundary, tree)
        G, N = GHOST, sim.mesh.N
        for key, arr in zip(keys, node_arrays):
            if not tree.is_leaf(key):
                continue
            arr = np.asarray(arr, dtype=np.float64)
            if arr.shape[1] == N:
                sim.mesh.subgrids[key].interior[...] = arr
            else:
                sim.mesh.subgrids[key].U[...] = arr
        sim.time = float(time)
        sim.step = int(step)
        sim._exchange()     # every ghost valid (a stage fill refreshes only what it reads)
        sim._warm_up()
        return sim

    def state(self):
        """Return ``(time, step, leaf_keys, leaf_interiors)`` for a bitwise restart."""
        keys = self.mesh.leaves()
        arrays = [np.ascontiguousarray(self.mesh.subgrids[k].interior) for k in keys]
        return self.time, self.step, keys, arrays

    # -- step ---------------------------------------------------------------------------------
    def _exchange(self, stage=False):
        if stage and self.batched:
            exchange.restrict_all(self.mesh, stage=True)
            exchange.fill_ghosts(self.mesh, None, stage=True)
            return
        exchange.restrict_all(self.mesh)
        exchange.fill_ghosts(self.mesh, self._bc_fill)

    def _task_fluxes(self, key):
        sg = self.mesh.subgrids[key]
        _, Fx, Fy, Fz = sg.work_buffers()
        k = self.kernels
        if hasattr(k, "compute_fluxes_work"):
            if self._flux_work is None:
                from octosim.hydro.fluxes import make_work
                self._flux_work = make_work(sg.U)
            k.compute_fluxes_work(sg.U, self.gamma, self.recon, self.de_switch, Fx, Fy, Fz,
                                  self._flux_work)
        else:
            k.compute_fluxes(sg.U, self.gamma, self.recon, self.de_switch, Fx, Fy, Fz)

    def _solve_gravity(self):
        """Return ``(phi, g)`` dicts over the leaves from the FMM (``octosim.gravity``); with
        ``runtime.threads`` > 1 the leaves split into target shares solved at once
        (``ThreadedSolver``, bitwise the one-thread fields), kept while the tree stands."""
        p = self.grav
        kw = dict(G=p["G"], theta=p["theta"], order=max(p["order"], 1),
                  angmom=p.get("angmom", False))
        threads = self.config["runtime"]["threads"]
        mesh = self.mesh
        if threads <= 1:
            from octosim.gravity import solve
            return solve(mesh, **kw)
        if self._fmm is None or self._fmm[0] != mesh.version:
            from octosim.gravity.distributed import ThreadedSolver
            self._fmm = (mesh.version, ThreadedSolver(mesh.tree, mesh.N, mesh.xscale,
                                                      mesh.leaves(), threads))
        rho = {k: mesh.subgrids[k].interior[RHO] for k in mesh.leaves()}
        return self._fmm[1].solve(rho, **kw)

    def _task_update(self, key, dt, a):
        sg = self.mesh.subgrids[key]
        U0, Fx, Fy, Fz = sg.work_buffers()
        if self._accel is not None:
            from octosim.gravity import gravity_source
            S = gravity_source(sg.U, self._phi[key], self._accel[key], fluxes=(Fx, Fy, Fz),
                               dx=sg.dx)
            self.kernels.rk_stage_src(sg.U, U0, Fx, Fy, Fz, S, dt, sg.dx, a)
        else:
            self.kernels.rk_stage(sg.U, U0, Fx, Fy, Fz, dt, sg.dx, a)
        self.kernels.dual_energy_sync(sg.U, self.gamma, self.de_switch)

    def _task_dt(self, key):
        sg = self.mesh.subgrids[key]
        s = float(self.kernels.max_signal_speed(sg.U, self.gamma, self.de_switch))
        return sg.dx / s if s > 0.0 else math.inf

    def _task_floors(self, key):
        U = self.mesh.subgrids[key].U
        return int(self.kernels.apply_floors(U, self.rho_floor, self.e_floor, self.gamma))

    def compute_dt(self):
        """Return the CFL time step: a min over leaves of ``cfl * dx / max signal speed``."""
        if self.batched:
            from octosim.hydro.batched import min_dt_all
            lay = self.mesh.layout()
            return self.cfl * min_dt_all(lay.pool, lay.leaf_slots, lay.leaf_dx, self.gamma,
                                         self.de_switch)
        return self.cfl * min(self._task_dt(k) for k in self.mesh.leaves())

    # per-phase work of one stage: block by block (any kernels) or batched (octosim.hydro)
    def _save_stage(self, leaves):
        if self.batched:
            from octosim.hydro.batched import save_stage
            lay = self.mesh.layout()
            save_stage(lay.pool, lay.leaf_slots, lay.U0)
            return
        for key in leaves:
            U0 = self.mesh.subgrids[key].work_buffers()[0]
            U0[...] = self.mesh.subgrids[key].U

    def _fluxes(self, leaves):
        if self.batched:
            from octosim.hydro.batched import fluxes_all
            lay = self.mesh.layout()
            if self._flux_work is None:
                from octosim.hydro.fluxes import make_work
                self._flux_work = make_work(lay.pool[0])
            fluxes_all(lay.pool, lay.leaf_slots, self.gamma, self.recon, self.de_switch,
                       lay.Fx, lay.Fy, lay.Fz, self._flux_work)
            return
        for key in leaves:
            self._task_fluxes(key)

    def _fluxes_wb(self):
        """Well-balanced fluxes and momentum sources of every leaf (``hydro.wellbalanced``).

        The stage's potential gets its face ghost layers first (same-level neighbours
        copied, reflecting walls mirrored, else extrapolated); ``_update`` then uses the
        well-balanced momentum sources in place of ``rho g``.
        """
        from octosim.hydro import wellbalanced as wb
        lay = self.mesh.layout()
        if self._flux_work is None:
            from octosim.hydro.fluxes import make_work
            self._flux_work = make_work(lay.pool[0])
        plan = lay.plans.get("well_balanced")
        if plan is None:
            N, nl = self.mesh.N, len(lay.leaves)
            M = N + 2 * GHOST
            plan = lay.plans["well_balanced"] = {
                "faces": wb.face_table(self.mesh.tree, lay.leaves, self.mesh.boundary),
                "phi": np.zeros((nl, M, M, M)), "S": np.zeros((nl, 3, N, N, N)),
                "work": wb.make_wb_work(lay.pool[0])}
        phi = np.stack([self._phi[k] for k in lay.leaves])
        g = np.stack([self._accel[k] for k in lay.leaves])
        wb.extend_potential_all(plan["phi"], phi, g, lay.leaf_dx, plan["faces"])
        wb.fluxes_wb_all(lay.pool, lay.leaf_slots, plan["phi"], g, lay.leaf_dx, self.gamma,
                         self.recon, self.de_switch, lay.Fx, lay.Fy, lay.Fz, plan["S"],
                         self._flux_work, plan["work"])
        self._wb_source = plan["S"]

    def _fluxes_update(self, dt, a):
        """Fluxes and, for leaves that get no flux correction, the update: one numba call."""
        from octosim.hydro.batched import fluxes_update_all
        lay, p = exchange.plan(self.mesh)
        fluxes_update_all(lay.pool, lay.leaf_slots, p.reflux_target, self.gamma, self.recon,
                          self.de_switch, lay.Fx, lay.Fy, lay.Fz, self._flux_work, lay.U0, dt,
                          lay.leaf_dx, a)
        return p.reflux_targets

    def _update_deferred(self, which, dt, a):
        from octosim.hydro.batched import update_some
        lay = self.mesh.layout()
        update_some(lay.pool, lay.leaf_slots, which, lay.U0, lay.Fx, lay.Fy, lay.Fz, dt,
                    lay.leaf_dx, a, self.gamma, self.de_switch)

    def _update(self, leaves, dt, a):
        if not self.batched:
            for key in leaves:
                self._task_update(key, dt, a)
            return
        from octosim.hydro.batched import update_all, update_all_src
        lay = self.mesh.layout()
        if self._accel is None:
            update_all(lay.pool, lay.leaf_slots, lay.U0, lay.Fx, lay.Fy, lay.Fz, dt,
                       lay.leaf_dx, a, self.gamma, self.de_switch)
            return
        from octosim.gravity import stage_sources
        S = stage_sources(self.mesh.subgrids, lay.leaves, self._phi, self._accel, lay.Fx,
                          lay.Fy, lay.Fz)
        if self._wb_source is not None:
            S[:, SX:SZ + 1] = self._wb_source
        update_all_src(lay.pool, lay.leaf_slots, lay.U0, lay.Fx, lay.Fy, lay.Fz, S, dt,
                       lay.leaf_dx, a, self.gamma, self.de_switch)

    def _floors(self, leaves):
        if self.batched:
            from octosim.hydro.batched import floors_all
            lay = self.mesh.layout()
            return int(floors_all(lay.pool, lay.leaf_slots, self.rho_floor, self.e_floor,
                                  self.gamma))
        return sum(self._task_floors(k) for k in leaves)

    def advance(self, dt_max=None):
        """Advance one SSP-RK3 step of one global dt (at most ``dt_max``); return dt."""
        mesh, T = self.mesh, self.timers
        clock = _time.perf_counter
        leaves = mesh.leaves()
        self._save_stage(leaves)
        self.outflow.begin(tuple(leaves), leaves, mesh.tree.periodic, mesh.nf)
        dt = None
        for a in (0.0, 0.75, 1.0 / 3.0):
            t0 = clock()
            self._exchange(stage=True)
            t1 = clock()
            T["exchange"] += t1 - t0
            if dt is None:
                dt = self.compute_dt()
                if dt_max is not None:
                    dt = min(dt, dt_max)
                assert dt > 0.0 and math.isfinite(dt), f"bad time step {dt} at step {self.step}"
                t2 = clock()
                T["timestep"] += t2 - t1
                t1 = t2
            if self.gravity:
                self._phi, self._accel = self._solve_gravity()
                t2 = clock()
                T["gravity"] += t2 - t1
                t1 = t2
            if self.fused and self.batched and self._accel is None:
                deferred = self._fluxes_update(dt, a)
                t2 = clock()
                exchange.correct_fluxes(mesh)
                t3 = clock()
                self._update_deferred(deferred, dt, a)
            else:
                if self.well_balanced:
                    self._fluxes_wb()
                else:
                    self._fluxes(leaves)
                t2 = clock()
                exchange.correct_fluxes(mesh)
                t3 = clock()
                self._update(leaves, dt, a)
            t4 = clock()
            self._outflow_stage(leaves, dt, a)
            T["hydro"] += t2 - t1
            T["reflux"] += t3 - t2
            T["update"] += t4 - t3
        self._accel = self._phi = self._wb_source = None
        t0 = clock()
        nfl = self._floors(leaves)
        T["floors"] += clock() - t0
        return self._end_step(dt, leaves, nfl)

    def _outflow_stage(self, leaves, dt, a):
        """Fold this stage's fluxes through the domain's faces into ``outflow``."""
        if self.batched:
            lay = self.mesh.layout()
            self.outflow.stage(lay.Fx, lay.Fy, lay.Fz, lay.leaf_dx, dt, a)
            return
        bufs = [self.mesh.subgrids[k].work_buffers() for k in leaves]
        self.outflow.stage(*(np.stack([b[i] for b in bufs]) for i in (1, 2, 3)),
                           np.array([self.mesh.subgrids[k].dx for k in leaves]), dt, a)

    def boundary_outflow(self):
        """Return ``{quantity: amount}`` that left through the domain's faces so far
        (``conserved_totals``' mass, momenta and energy; ``octosim.outflow``); None when
        every axis is periodic."""
        return None if all(self.mesh.tree.periodic) else self.outflow.as_dict()

    def _end_step(self, dt, leaves, nfl):
        """Record the step's floor cells and grid-steps, advance the clock, regrid when due."""
        self.outflow.end()
        self.last_floor_cells = nfl
        self.floor_cells += nfl
        for key in leaves:
            self.grid_steps[key[0]] += 1
        self.dt = dt
        self.time += dt
        self.step += 1
        if (self.regrid_every > 0 and self.mesh.max_level > 0
                and self.step % self.regrid_every == 0):
            self.regrid()
        return dt

    def regrid(self):
        """Flag leaves by the criteria and regrid (refine, balance, derefine)."""
        t0 = _time.perf_counter()
        self._exchange()
        flags = amr.flag_leaves(self.mesh, self.criterion)
        amr.regrid(self.mesh, flags, self._bc_fill, self.criterion)
        exchange.restrict_all(self.mesh)
        self.regrids += 1
        self.timers["regrid"] += _time.perf_counter() - t0

    def run(self, stop_time=None, stop_step=None, on_step=None):
        """Advance until ``stop_time`` or ``stop_step`` (defaults from ``config['time']``).

        ``on_step(sim)`` is called after every step; returning True stops the run.
        """
        t = self.config.get("time", {})
        stop_time = t.get("stop_time") if stop_time is None else stop_time
        stop_step = t.get("stop_step") if stop_step is None else stop_step
        assert stop_time is not None or stop_step is not None, "run needs a stop time or step"
        while True:
            if stop_step is not None and self.step >= stop_step:
                break
            if stop_time is not None and self.time >= stop_time:
                break
            dt_max = None if stop_time is None else stop_time - self.time
            if self.advance(dt_max) == dt_max:
                self.time = float(stop_time)   # land on stop_time exactly
            if on_step is not None and on_step(self):
                break
        return self

    # -- diagnostics --------------------------------------------------------------------------
    def momentum_scale(self):
        """Return the total of |rho v| dV (L1 over cells and components; Morton-order fsum)."""
        return math.fsum(float(np.sum(np.abs(self.mesh.subgrids[k].interior[SX:SZ + 1])))
                         * self.mesh.subgrids[k].dx ** 3 for k in self.mesh.leaves())

    def angular_momentum(self):
        """Return ``totals.ANGMOM_KEYS``: angular momentum about the origin and its scale."""
        return totals.add_rows([totals.leaf_angular_momentum(self.mesh.subgrids[k])
                                for k in self.mesh.leaves()])

    def conserved_totals(self):
        """Return ``{mass, momentum_x, momentum_y, momentum_z, energy}`` summed over leaves.

        Each leaf's sum is taken in a fixed order and the leaves are added in Morton order
        with ``math.fsum``, so the result does not depend on where leaves live.  With gravity
        on, ``potential_energy`` (1/2 sum rho phi dV) and ``total_energy`` are added.
        """
        fields = {"mass": RHO, "momentum_x": SX, "momentum_y": SY, "momentum_z": SZ,
                  "energy": EGAS}
        parts = {k: [] for k in fields}
        for key in self.mesh.leaves():
            sg = self.mesh.subgrids[key]
            vol = sg.dx ** 3
            inner = sg.interior
            for name, f in fields.items():
                parts[name].append(float(np.sum(inner[f])) * vol)
        out = {k: math.fsum(v) for k, v in parts.items()}
        if self.gravity:
            from octosim.gravity import potential_energy
            phi, _ = self._solve_gravity()
            out["potential_energy"] = math.fsum(
                potential_energy(self.mesh.subgrids[k].interior[RHO], phi[k],
                                 self.mesh.subgrids[k].dx) for k in self.mesh.leaves())
            out["total_energy"] = out["energy"] + out["potential_energy"]
        return out

    def leaf_table(self):
        """Return the leaf cells as 1-D arrays: x, y, z, dx, level and every field by name."""
        cols = {k: [] for k in ("x", "y", "z", "dx", "level") + tuple(self.field_names)}
        for key in self.mesh.leaves():
            sg = self.mesh.subgrids[key]
            x, y, z = sg.centers()
            X, Y, Z = np.meshgrid(x, y, z, indexing="ij")
            n = X.size
            cols["x"].append(X.ravel())
            cols["y"].append(Y.ravel())
            cols["z"].append(Z.ravel())
            cols["dx"].append(np.full(n, sg.dx))
            cols["level"].append(np.full(n, key[0], dtype=np.int32))
            inner = sg.interior
            for f, name in enumerate(self.field_names):
                cols[name].append(inner[f].ravel())
        return {k: np.concatenate(v) for k, v in cols.items()}

    def level_stats(self):
        """Return one dict per level: subgrids, leaves, grid_steps (leaves x steps so far)."""
        out = []
        levels = self.mesh.tree.levels()
        for lev in range(self.mesh.max_level + 1):
            nodes = levels[lev] if lev < len(levels) else []
            nleaf = sum(1 for k in nodes if self.mesh.tree.is_leaf(k))
            out.append({"level": lev, "subgrids": len(nodes), "leaves": nleaf,
                        "grid_steps": self.grid_steps[lev]})
        return out
