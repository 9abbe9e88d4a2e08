"""The runtime instance: start-up, the send and receive paths of actions, shutdown, failure.

One Runtime per process (= locality).  Under a launcher (mpiexec) it uses the ``mpi``
parcelport and is one locality per rank; run plainly it is a single locality on the
``local`` parcelport and makes no MPI call.
"""
import atexit
import contextlib
import functools
import itertools
import os
import sys
import threading
import time
import traceback

from . import futures as _fut
from .actions import Action, action
from .actions import _by_id as _actions_by_id
from .agas import Agas, GlobalId
from .futures import Future, Promise, RemoteError
from .parcel import F_INTERNAL, F_NOREPLY, pack_route, unpack_route
from .parcelport import get_parcelport
from .scheduler import Scheduler
from . import stats as S
from .stats import Statistics

__all__ = ["Runtime", "init", "finalize", "current", "here", "localities", "launcher_detected"]

_current = None
_LAUNCHER_VARS = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS",
                  "SLURM_STEP_NUM_TASKS_MPI")


def launcher_detected():
    """Return True when started by an MPI launcher (its environment variables are set)."""
    return any(v in os.environ for v in _LAUNCHER_VARS)


def current():
    """Return the running Runtime; RuntimeError if ``init()`` was not called."""
    if _current is None:
        raise RuntimeError("the runtime is not running: call runtime.init() first")
    return _current


def _ser():
    from . import serialization
    return serialization


_types_registered = False


def _register_types():
    """Teach the serializer the runtime's own types (once)."""
    global _types_registered
    if _types_registered:
        return
    ser = _ser()

    def save(ar, g):
        ar.write(g.locality)
        ar.write(g.lid)

    ser.register(GlobalId, save, lambda ar: GlobalId(ar.read(), ar.read()), name="runtime.GlobalId")
    _types_registered = True


def _outcome_tb(f):
    """Return ``(ok, value)`` of a finished future, an exception as ``(exc, traceback text)``."""
    if f.has_exception():
        e = f._result
        return False, (e, "".join(traceback.format_exception(e)))
    return True, f._result


class Runtime:
    """One locality: scheduler, AGAS part, parcelport, statistics."""

    def __init__(self, parcelport=None, threads=None, loopback=False, abort_on_error=None,
                 timeout=None, switch_interval=5e-4, **options):
        if parcelport is None:
            parcelport = os.environ.get("OCTOSIM_PARCELPORT") or ("mpi" if launcher_detected() else "local")
        if threads is None:
            threads = int(os.environ.get("OCTOSIM_THREADS", "0")) or min(2, os.cpu_count() or 1)
        self.timeout = _fut.DEFAULT_TIMEOUT if timeout is None else float(timeout)
        self.stats = Statistics()
        self.pp = get_parcelport(parcelport)(self, **options)
        self.parcelport_name = parcelport
        self.loopback = bool(loopback)
        self.threads = int(threads)
        self.abort_on_error = self.pp.distributed if abort_on_error is None else abort_on_error
        self.errors = []
        self._pending = {}
        self._plock = threading.Lock()
        self._cont = itertools.count(1)
        self._old_hooks = None
        self._fatal_once = threading.Lock()
        self._switch = switch_interval
        self.running = False

    # ---- life cycle --------------------------------------------------------------------
    def start(self):
        global _current
        if _current is not None:
            raise RuntimeError("the runtime is already running")
        _register_types()
        self._dumps_archive = _ser().dumps_archive
        self.pp.start()
        self.here, self.size = self.pp.rank, self.pp.size
        self.agas = Agas(self.here)
        self.sched = Scheduler(self.threads, progress=self.pp.progress, on_error=self._task_error,
                               pending=self.pp.in_flight)
        self.coll = {}  # collectives' state, see collectives.py
        self.chan = {}  # channel slots, see channels.py
        self.chan_lock = threading.Lock()
        self._old_switch = sys.getswitchinterval()
        if self._switch:
            sys.setswitchinterval(self._switch)
        _fut._wait_hook = self.sched.help_wait
        _fut._submit_hook = self.sched.submit
        _current = self  # before the progress thread can deliver a parcel
        self.running = True
        self.sched.start()
        if self.abort_on_error:
            self._old_hooks = (sys.excepthook, threading.excepthook)
            sys.excepthook = self._excepthook
            threading.excepthook = self._thread_excepthook
        atexit.register(self._atexit)
        return self

    def finalize(self, timeout=None):
        """Drain every parcel in flight on every locality (collective), then stop."""
        global _current
        if not self.running:
            return
        timeout = self.timeout if timeout is None else timeout
        try:
            self._drain(timeout)
            from .collectives import barrier
            barrier(timeout=timeout)
        except BaseException:
            self.fatal("finalize failed:\n" + traceback.format_exc())
            raise
        self.running = False
        self.sched.stop()
        self.pp.stop()
        _fut._wait_hook = _fut._submit_hook = None
        sys.setswitchinterval(self._old_switch)
        if self._old_hooks:
            sys.excepthook, threading.excepthook = self._old_hooks
        _current = None
        atexit.unregister(self._atexit)
        if self.errors:
            raise RuntimeError(f"{len(self.errors)} uncaught error(s) in tasks; first:\n{self.errors[0]}")

    def _drain(self, timeout):
        """Termination detection: counts of sent and finished parcels agree twice in a row."""
        from .collectives import all_reduce
        deadline = time.monotonic() + timeout
        prev, pause = None, 2e-4
        while True:
            busy = 1 if self.sched.busy() else 0
            st = self.stats.snapshot()
            mine = [st.get("app_sent", 0), st.get("app_done", 0), busy]
            tot = all_reduce(mine, "sum", timeout=max(0.1, deadline - time.monotonic()), internal=True)
            tot = [int(x) for x in tot]
            if tot[0] == tot[1] and tot[2] == 0 and tot == prev:
                return
            prev = tot
            if time.monotonic() > deadline:
                raise TimeoutError(f"finalize: parcels still in flight after {timeout} s (sent/done/busy {tot})")
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None and self.abort_on_error:
            self.fatal("".join(traceback.format_exception(et, ev, tb)))
        self.finalize()
        return False

    def _atexit(self):
        if self.running:
            self.finalize()

    # ---- failure -----------------------------------------------------------------------
    def fatal(self, text):
        """Print ``text`` naming this locality; end every locality if abort_on_error."""
        msg = f"octosim runtime: fatal error on locality {self.here} of {self.size}:\n{text}"
        if self.abort_on_error:
            if not self._fatal_once.acquire(blocking=False):
                return
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except Exception:  # noqa: BLE001 - the message below matters more
                pass
            os.write(2, (msg.rstrip() + "\n").encode(errors="replace"))
            time.sleep(0.5)  # let the launcher forward the message before the job is torn down
            self.pp.abort(1)
        else:
            sys.stderr.write(msg.rstrip() + "\n")
            self.errors.append(text)

    def _task_error(self, tb_text):
        self.fatal("uncaught exception in a task:\n" + tb_text)

    def _excepthook(self, et, ev, tb):
        self.fatal("uncaught exception:\n" + "".join(traceback.format_exception(et, ev, tb)))

    def _thread_excepthook(self, args):
        self.fatal(f"uncaught exception in thread {args.thread.name if args.thread else '?'}:\n"
                   + "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))

    # ---- sending -----------------------------------------------------------------------
    def _target(self, target):
        if type(target) is int and 0 <= target < self.size:  # a locality number (the common case)
            return None, target
        if isinstance(target, GlobalId):
            if target.lid == 0:
                return None, self._check_loc(target.locality)
            return target, self.agas.resolve(target)
        return None, self._check_loc(target)

    def _check_loc(self, loc):
        loc = int(loc)
        if not 0 <= loc < self.size:
            raise ValueError(f"locality {loc} does not exist (there are {self.size})")
        return loc

    def _send(self, dest, route, args, on_sent=None, internal=False):
        t0 = time.perf_counter()
        ar = self._dumps_archive(args)
        dt = time.perf_counter() - t0
        c = self.stats.local()
        c[S.PARCELS_SENT] += 1
        c[S.SERIALIZATION_TIME] += dt
        c[S.BYTES_ZERO_COPY] += ar.bytes_zero_copy
        c[S.BYTES_COPIED] += ar.bytes_copied
        if not internal:
            c[S.APP_SENT] += 1
        self.pp.send(dest, route, ar, on_sent)
        self.sched.kick()

    def call(self, act, target, args, reply=True, on_sent=None, flags=0):
        """Invoke ``act(*args)`` on ``target``; return a Future of the result (None if not ``reply``)."""
        if not isinstance(act, Action):
            raise TypeError(f"{act!r} is not a registered action (decorate it with @runtime.action)")
        gid, dest = self._target(target)
        promise = Promise() if reply else None
        if dest == self.here and not self.loopback:
            self.stats.add("local_calls")
            finish = functools.partial(self._finish_local, promise, act)
            requeue = functools.partial(self._requeue_local, act, gid, args, promise, flags)
            if act.direct:
                self._run(act, gid, args, finish, requeue)
            else:
                self.sched.submit(self._run, act, gid, args, finish, requeue)
            if on_sent is not None:
                on_sent()
            return promise.future if promise else None
        self._send_remote(dest, act, gid, args, promise, flags, on_sent)
        return promise.future if promise else None

    def _send_remote(self, dest, act, gid, args, promise, flags, on_sent=None):
        cont = 0
        if promise is not None:
            cont = next(self._cont)
            self._pending[cont] = (promise, act)  # one dict operation: atomic, no lock needed
        else:
            flags |= F_NOREPLY
        route = pack_route(self.here, gid.locality if gid else -1, gid.lid if gid else 0, act.id, cont, flags)
        self._send(dest, route, args, on_sent, internal=bool(flags & F_INTERNAL))

    def _requeue_local(self, act, gid, args, promise, flags, dest):
        if dest == self.here:
            self.sched.submit(self._run, act, gid, args,
                              functools.partial(self._finish_local, promise, act),
                              functools.partial(self._requeue_local, act, gid, args, promise, flags))
        else:
            self._send_remote(dest, act, gid, args, promise, flags)

    # ---- executing ---------------------------------------------------------------------
    def _run(self, act, gid, args, finish, requeue):
        obj = None
        if gid is not None:
            obj = self.agas.pin(gid, requeue)
            if obj is self.agas.QUEUED:
                return
            if obj is None:
                dest = self.agas.resolve(gid)
                if dest == self.here:
                    finish(False, (LookupError(f"no component {gid} on locality {self.here}"), ""))
                else:
                    requeue(dest)
                return
        try:
            r = act.fn(obj, *args) if obj is not None else act.fn(*args)
        except BaseException as e:  # noqa: BLE001 - travels to the caller
            finish(False, (e, traceback.format_exc()))
            return
        finally:
            if obj is not None:
                self.agas.unpin(gid)
        if isinstance(r, Future):
            r.add_done_callback(lambda f: finish(*_outcome_tb(f)))
        else:
            finish(True, r)

    def _finish_local(self, promise, act, ok, value):
        if ok:
            self.stats.add("actions_executed")
        if promise is None:
            if not ok:
                self.fatal(f"action {act.name} (applied) raised:\n{value[1]}")
            return
        if ok:
            promise.set_value(value)
        else:
            promise.set_exception(value[0])

    def deliver(self, route, args):
        """Run a parcel received by the parcelport (called from the progress thread)."""
        flags, source, gl, lid, aid, cont = unpack_route(route)
        act = _actions_by_id.get(aid)
        if not lid and act is not None and act.direct:  # fast path: a direct action on this locality
            try:
                r = act.fn(*args)
            except BaseException as e:  # noqa: BLE001 - travels to the caller
                self._finish_remote(source, cont, flags, act, False, (e, traceback.format_exc()))
                return
            if not isinstance(r, Future):
                self._finish_remote(source, cont, flags, act, True, r)
                return
            r.add_done_callback(lambda f: self._finish_remote(source, cont, flags, act, *_outcome_tb(f)))
            return
        finish = functools.partial(self._finish_remote, source, cont, flags, act)
        if act is None:
            finish(False, (KeyError(f"no action with id {aid:#x} is registered on locality {self.here}"), ""))
            return
        if lid:
            gid = GlobalId(gl, lid)
            requeue = functools.partial(self._forward, route, args, flags)
        else:
            gid = requeue = None
        if act.direct:
            self._run(act, gid, args, finish, requeue)
        else:
            self.sched.submit(self._run, act, gid, args, finish, requeue)

    def _forward(self, route, args, flags, dest):
        self.stats.add("parcels_forwarded")
        self._send(dest, route, args, internal=bool(flags & F_INTERNAL))
        self._count_done(flags)

    def _count_done(self, flags, executed=0):
        c = self.stats.local()
        c[S.ACTIONS_EXECUTED] += executed
        if not flags & F_INTERNAL:
            c[S.APP_DONE] += 1

    def _finish_remote(self, source, cont, flags, act, ok, value):
        done = int(ok)
        try:
            name = act.name if act is not None else "?"
            if flags & F_NOREPLY:
                if not ok:
                    self.fatal(f"action {name} (applied from locality {source}) raised:\n{value[1]}")
                return
            if ok:
                try:
                    self._reply(source, _set_value, (cont, value), flags)
                    done = 1
                    return
                except Exception:  # noqa: BLE001 - e.g. an unserializable result
                    ok, value = False, (None, traceback.format_exc())
            e, tb = value
            text = f"{type(e).__name__}: {e}" if e is not None else "result could not be sent"
            self._reply(source, _set_exception, (cont, text, name, self.here, tb), flags)
        finally:
            self._count_done(flags, done)

    def _reply(self, source, act, args, flags):
        route = pack_route(self.here, -1, 0, act.id, 0, F_NOREPLY | (flags & F_INTERNAL))
        self._send(source, route, args, internal=bool(flags & F_INTERNAL))

    def _take(self, cont):
        return self._pending.pop(cont)


@action(name="runtime.core.set_value", direct=True)
def _set_value(cont, value):
    promise, _ = current()._take(cont)
    promise.set_value(value)


@action(name="runtime.core.set_exception", direct=True)
def _set_exception(cont, text, name, loc, tb):
    promise, _ = current()._take(cont)
    promise.set_exception(RemoteError(f"{text} (in action {name} on locality {loc})", loc, tb))


# ---- module-level API ------------------------------------------------------------------

def init(parcelport=None, threads=None, **options):
    """Start this locality's runtime and return it (also a context manager that finalizes).

    ``parcelport``: a registered name (default ``mpi`` under a launcher, else ``local``);
    ``threads``: worker threads (default ``$OCTOSIM_THREADS`` or min(2, cores)).  Other
    options go to the parcelport (e.g. ``eager_threshold``, ``max_message``) or the runtime
    (``loopback=True`` sends same-locality calls through the parcelport, ``timeout``).
    """
    return Runtime(parcelport, threads, **options).start()


@contextlib.contextmanager
def computing():
    """Mark a compute phase: the progress thread polls with short sleeps instead of spinning.

    For a program whose main thread runs long ``nogil`` kernels on the core it shares with
    the progress thread: parcels in flight still move (polled every 20-100 us); with nothing
    in flight the thread sleeps up to ``Scheduler.computing_idle_sleep`` (a send posted wakes
    it), and a thread that waits on a future inside the phase polls hard itself.  Nests; a
    no-op without a runtime.
    """
    rt = _current
    if rt is None:
        yield
        return
    sched, pp = rt.sched, rt.pp
    with sched._cv:
        sched.computing += 1
        pp.quiet = True
    try:
        yield
    finally:
        with sched._cv:
            sched.computing -= 1
            pp.quiet = sched.computing > 0


def finalize(timeout=None):
    """Drain parcels in flight on every locality and stop the runtime (collective)."""
    if _current is not None:
        _current.finalize(timeout)


def here():
    """Return this locality's number."""
    return current().here


def localities():
    """Return the list of all locality numbers."""
    return list(range(current().size))
