"""Actions: functions registered under an id that is the same on every locality.

The id is a 63-bit hash of the action's qualified name (``module.qualname``), so every
locality running the same program derives the same table without exchanging it.  A function
defined in a Component subclass is a component action: invoked on a component's global id it
receives the component instance first.  ``direct=True`` makes the action run inline in the
thread that received the parcel (HPX's direct actions): keep those short and non-blocking.
"""
import hashlib

__all__ = ["Action", "action", "lookup", "action_id", "async_", "async_cb", "apply"]

_by_id = {}


def action_id(name):
    """Return the stable nonzero 63-bit id of the action called ``name``."""
    h = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
    return (h & ((1 << 63) - 1)) or 1


class Action:
    """A registered function; calling it directly runs it here, synchronously."""

    __slots__ = ("fn", "name", "id", "direct", "__wrapped__")

    def __init__(self, fn, name, direct):
        self.fn, self.name, self.direct = fn, name, direct
        self.id = action_id(name)
        self.__wrapped__ = fn

    def __call__(self, *args, **kw):
        return self.fn(*args, **kw)

    def __get__(self, obj, objtype=None):
        # used as a method: behave like the plain function bound to the instance
        return self if obj is None else self.fn.__get__(obj, objtype)

    def __repr__(self):
        return f"<action {self.name} id={self.id:#x}>"


def action(fn=None, *, name=None, direct=False):
    """Register ``fn`` as an action (decorator, with or without arguments)."""
    def deco(f):
        n = name or f"{f.__module__}.{f.__qualname__}"
        a = Action(f, n, direct)
        old = _by_id.get(a.id)
        if old is not None and old.name != n:
            raise ValueError(f"action id collision between {old.name!r} and {n!r}")
        _by_id[a.id] = a  # re-registration (module reload) replaces the function
        return a
    return deco(fn) if fn is not None else deco


def lookup(aid):
    """Return the action with id ``aid``; KeyError names the id if unknown here."""
    try:
        return _by_id[aid]
    except KeyError:
        raise KeyError(f"no action with id {aid:#x} is registered on this locality") from None


_core = None


def _rt():
    global _core
    if _core is None:
        from . import core
        _core = core
    return _core.current()


def async_(act, target, *args):
    """Invoke ``act`` on ``target`` (locality number or component GlobalId); return a Future of its result."""
    return _rt().call(act, target, args)


def async_cb(act, target, callback, *args):
    """Like ``async_``; ``callback()`` runs once the parcel has left and its buffers may be reused."""
    return _rt().call(act, target, args, on_sent=callback)


def apply(act, target, *args):
    """Invoke ``act`` on ``target`` without a result (fire-and-forget); an exception there is fatal."""
    _rt().call(act, target, args, reply=False)
