"""Collectives over actions: barrier, broadcast, all-reduce, all-gather.

Every locality calls the same collectives in the same order (SPMD); the n-th call of a
named collective on each locality matches the n-th elsewhere.  Contributions go to
locality 0, which combines them in rank order once all have arrived (never in arrival order),
so results are bitwise identical however messages race; the result goes back to everyone.
"""
import threading

import numpy as np

from .actions import action
from .core import current
from .futures import Promise
from .parcel import F_INTERNAL

__all__ = ["barrier", "broadcast", "all_reduce", "all_gather", "all_reduce_async", "OPS"]

ROOT = 0


def _sum(a, b):
    return a + b


def _elementwise(npfn, pyfn):
    def f(a, b):
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return npfn(a, b)
        if isinstance(a, (list, tuple)):
            return type(a)(pyfn(x, y) for x, y in zip(a, b))
        return pyfn(a, b)
    return f


OPS = {
    "sum": _elementwise(np.add, _sum),
    "prod": _elementwise(np.multiply, lambda a, b: a * b),
    "min": _elementwise(np.minimum, min),
    "max": _elementwise(np.maximum, max),
}


def _fold(op, values):
    """Combine ``values`` (in rank order) left to right."""
    if op == "gather":
        return list(values)
    if op.startswith("root:"):
        return values[int(op[5:])]
    f = OPS[op]
    acc = values[0]
    if isinstance(acc, np.ndarray):
        acc = acc.copy()
    for v in values[1:]:
        acc = f(acc, v)
    return acc


def _state(rt):
    st = rt.coll
    if not st:
        st.update(lock=threading.Lock(), gen={}, inbox={}, out={})
    return st


def _slot(st, key):
    p = st["out"].get(key)
    if p is None:
        p = st["out"][key] = Promise()
    return p


@action(name="runtime.collectives.contribute", direct=True)
def _contribute(name, gen, op, rank, value, internal):
    rt = current()
    st = _state(rt)
    key = (name, gen)
    with st["lock"]:
        box = st["inbox"].setdefault(key, {})
        if rank in box:
            raise AssertionError(f"collective {key}: locality {rank} contributed twice")
        box[rank] = value
        if len(box) < rt.size:
            return
        del st["inbox"][key]
    result = _fold(op, [box[r] for r in range(rt.size)])
    for r in range(rt.size):
        rt.call(_result, r, (name, gen, result), reply=False, flags=F_INTERNAL if internal else 0)


@action(name="runtime.collectives.result", direct=True)
def _result(name, gen, value):
    st = _state(current())
    with st["lock"]:
        p = _slot(st, (name, gen))
    p.set_value(value)


def all_reduce_async(value, op="sum", name="all_reduce", internal=False):
    """Return a future of the combination of every locality's ``value`` (see ``all_reduce``)."""
    rt = current()
    if op not in OPS and op != "gather" and not op.startswith("root:"):
        raise ValueError(f"unknown reduction {op!r} (use one of {', '.join(OPS)})")
    st = _state(rt)
    with st["lock"]:
        gen = st["gen"].get(name, 0)
        st["gen"][name] = gen + 1
        p = _slot(st, (name, gen))
    fut = p.future

    def done(_):
        with st["lock"]:
            st["out"].pop((name, gen), None)

    fut.add_done_callback(done)
    rt.call(_contribute, ROOT, (name, gen, op, rt.here, value, internal), reply=False,
            flags=F_INTERNAL if internal else 0)
    return fut


def all_reduce(value, op="sum", name="all_reduce", timeout=None, internal=False):
    """Return the reduction of every locality's ``value``: sum, prod, min or max, elementwise
    for arrays and lists, summed in rank order on locality 0 (identical on every locality)."""
    return all_reduce_async(value, op, name, internal).get(timeout)


def all_gather(value, name="all_gather", timeout=None):
    """Return the list of every locality's ``value`` in rank order."""
    return all_reduce_async(value, "gather", name).get(timeout)


def broadcast(value=None, root=0, name="broadcast", timeout=None):
    """Return ``value`` as given on locality ``root`` (other localities' values are ignored)."""
    rt = current()
    rt._check_loc(root)
    return all_reduce_async(value if rt.here == root else None, f"root:{root}", name).get(timeout)


def barrier(name="barrier", timeout=None):
    """Return once every locality has entered the barrier."""
    all_reduce(0, "sum", name, timeout)
