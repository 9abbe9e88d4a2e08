"""AGAS: global ids naming a component on a locality, the component table and migration.

A GlobalId is ``(locality, lid)``: the locality where the component was created (its home)
and a serial number there; ``lid == 0`` names the locality itself.  The home keeps the
authoritative location of its components; a locality a component left keeps a forwarding
entry, so parcels addressed with stale knowledge are forwarded, never lost.  While a
component migrates, calls reaching it are queued and re-sent to its new host afterwards.
"""
import itertools
import threading
import time

from .actions import action

__all__ = ["GlobalId", "Component", "component_type", "Agas"]


class GlobalId:
    """The global name of a component (or, with ``lid == 0``, of a locality)."""

    __slots__ = ("locality", "lid")

    def __init__(self, locality, lid):
        object.__setattr__(self, "locality", int(locality))
        object.__setattr__(self, "lid", int(lid))

    def __setattr__(self, k, v):
        raise AttributeError("GlobalId is immutable")

    def __eq__(self, other):
        return isinstance(other, GlobalId) and self.locality == other.locality and self.lid == other.lid

    def __hash__(self):
        return hash((self.locality, self.lid))

    def __lt__(self, other):
        return (self.locality, self.lid) < (other.locality, other.lid)

    def __reduce__(self):
        return (GlobalId, (self.locality, self.lid))

    def __repr__(self):
        return f"GlobalId({self.locality}, {self.lid})"


_types = {}


class Component:
    """Base class of objects addressed by a global id; subclasses register by qualified name.

    Migration moves ``__getstate__()`` (default: the instance dict; every value must be
    serializable) and rebuilds with ``__setstate__`` on the destination.
    """

    gid = None

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        _types[component_type(cls)] = cls


def component_type(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def _rt():
    from . import core
    return core.current()


class Agas:
    """This locality's part of the global address space."""

    def __init__(self, here):
        self.here = here
        self.lock = threading.RLock()
        self.local = {}        # gid -> instance hosted here
        self.home = {}         # gid born here -> locality now hosting it (only after a migration)
        self.forward = {}      # gid that left here (or resolved elsewhere) -> locality
        self.migrating = {}    # gid -> list of callables(dest) queued during its migration
        self.pins = {}         # gid -> actions running on it
        self._serial = itertools.count(1)

    def register(self, obj):
        gid = GlobalId(self.here, next(self._serial))
        obj.gid = gid
        with self.lock:
            self.local[gid] = obj
        return gid

    def resolve(self, gid):
        """Return the locality this locality believes hosts ``gid``."""
        if gid.lid == 0:
            return gid.locality
        with self.lock:
            if gid in self.local or gid in self.migrating:
                return self.here
            loc = self.forward.get(gid)
            if loc is not None:
                return loc
            if gid.locality == self.here:
                return self.home.get(gid, self.here)
            return gid.locality

    QUEUED = object()

    def pin(self, gid, requeue):
        """Return the instance with one more running action, ``QUEUED`` if it is migrating
        (``requeue(dest)`` is then called once it has arrived), or None if it is not here."""
        with self.lock:
            q = self.migrating.get(gid)
            if q is not None:
                q.append(requeue)
                return self.QUEUED
            obj = self.local.get(gid)
            if obj is not None:
                self.pins[gid] = self.pins.get(gid, 0) + 1
            return obj

    def unpin(self, gid):
        with self.lock:
            n = self.pins[gid] - 1
            if n:
                self.pins[gid] = n
            else:
                del self.pins[gid]


# ---- internal actions --------------------------------------------------------------------

@action(name="runtime.agas.create")
def _create(type_name, args):
    cls = _types.get(type_name)
    if cls is None:
        raise TypeError(f"component type {type_name!r} is not defined on locality {_rt().here}")
    return _rt().agas.register(cls(*args))


@action(name="runtime.agas.update", direct=True)
def _update(gid, loc):
    ag = _rt().agas
    with ag.lock:
        ag.home[gid] = loc
        if loc != ag.here:
            ag.forward[gid] = loc


@action(name="runtime.agas.install", direct=True)
def _install(gid, type_name, state):
    rt = _rt()
    cls = _types[type_name]
    obj = cls.__new__(cls)
    if hasattr(obj, "__setstate__"):
        obj.__setstate__(state)
    else:
        obj.__dict__.update(state)
    obj.gid = gid
    ag = rt.agas
    with ag.lock:
        ag.local[gid] = obj
        ag.forward.pop(gid, None)
        if gid.locality == ag.here:
            ag.home[gid] = ag.here
    return True


@action(name="runtime.agas.migrate_out")
def _migrate_out(gid, dest, timeout):
    rt = _rt()
    ag = rt.agas
    deadline = time.monotonic() + timeout
    while True:
        with ag.lock:
            if gid in ag.migrating:  # another migration of it is under way: let it finish
                pass
            elif gid not in ag.local:  # moved meanwhile: chase it
                loc = ag.resolve(gid)
                if loc == ag.here:
                    raise LookupError(f"no component {gid} on locality {ag.here}")
                return rt.call(_migrate_out, GlobalId(loc, 0), (gid, dest, timeout))
            elif dest == ag.here:
                return True
            else:
                ag.migrating[gid] = []
                break
        if time.monotonic() > deadline:
            raise TimeoutError(f"migration of {gid}: another migration still running after {timeout} s")
        time.sleep(1e-3)
    try:
        while True:
            with ag.lock:
                if not ag.pins.get(gid):
                    obj = ag.local[gid]
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"migration of {gid}: actions still running after {timeout} s")
            time.sleep(1e-4)
        state = obj.__getstate__() if hasattr(obj, "__getstate__") else dict(obj.__dict__)
        state = {k: v for k, v in state.items() if k != "gid"} if isinstance(state, dict) else state
        rt.call(_install, dest, (gid, component_type(type(obj)), state)).get(timeout)
    except BaseException:  # it stays here: run what was queued meanwhile, then report
        with ag.lock:
            queued = ag.migrating.pop(gid)
        for resend in queued:
            resend(ag.here)
        raise
    if gid.locality not in (ag.here, dest):
        rt.call(_update, gid.locality, (gid, dest)).get(timeout)
    with ag.lock:
        del ag.local[gid]
        ag.forward[gid] = dest
        if gid.locality == ag.here:
            ag.home[gid] = dest
        queued = ag.migrating.pop(gid)
    for resend in queued:
        resend(dest)
    return True


# ---- public API --------------------------------------------------------------------------

def new(cls, *args, locality=None):
    """Create a ``cls(*args)`` component on ``locality`` (default here); return a future of its GlobalId."""
    rt = _rt()
    if not (isinstance(cls, type) and issubclass(cls, Component)):
        raise TypeError(f"{cls!r} is not a Component subclass")
    loc = rt.here if locality is None else locality
    return rt.call(_create, loc, (component_type(cls), tuple(args)))


def resolve(gid):
    """Return the locality that this locality believes hosts ``gid`` (calls to it are forwarded if stale)."""
    return _rt().agas.resolve(gid)


def migrate(gid, locality, timeout=None):
    """Move component ``gid`` to ``locality``; return a future ready once it lives there.

    Calls in flight or made meanwhile are queued or forwarded and run on the new host.
    """
    rt = _rt()
    rt._check_loc(locality)
    timeout = rt.timeout if timeout is None else timeout
    return rt.call(_migrate_out, GlobalId(rt.agas.resolve(gid), 0), (gid, int(locality), float(timeout)))


def local_object(gid):
    """Return the instance of component ``gid`` if it lives on this locality, else None."""
    return _rt().agas.local.get(gid)
