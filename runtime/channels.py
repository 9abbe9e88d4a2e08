"""Channels keyed by (component, tag, cycle), as Octo-Tiger's halo exchange uses them.

``channel_set(gid, tag, cycle, value)`` delivers ``value`` to the locality hosting component
``gid`` (following migrations); ``channel_get(gid, tag, cycle)`` there returns a future of it.
Either may come first; each key is used once (one set, one get), then forgotten.
"""
from .actions import action
from .core import current
from .futures import Promise

__all__ = ["channel_set", "channel_get"]


def _slot(rt, key, setter):
    """Return the key's promise; the second of setter/getter removes the slot."""
    with rt.chan_lock:
        ent = rt.chan.get(key)
        if ent is None:
            rt.chan[key] = [Promise(), setter]
            return rt.chan[key][0]
        if ent[1] == setter:
            raise ValueError(f"channel {key}: {'set' if setter else 'get'} twice for one cycle")
        del rt.chan[key]
        return ent[0]


@action(name="runtime.channels.put", direct=True)
def _put(component, tag, cycle, value):
    _slot(current(), (component.gid, tag, cycle), True).set_value(value)


def channel_set(gid, tag, cycle, value):
    """Send ``value`` to the (gid, tag, cycle) slot; return a future ready once it is stored."""
    return current().call(_put, gid, (tag, cycle, value))


def channel_get(gid, tag, cycle):
    """Return a future of the value set for (gid, tag, cycle) on this locality."""
    return _slot(current(), (gid, tag, cycle), False).future
