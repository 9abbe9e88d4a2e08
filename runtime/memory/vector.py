"""RmaVector and rma_object: values whose memory comes from the registered pool (paper, 3.4).

``RmaVector`` behaves like a numpy array (indexing, ufuncs, operators, ``np.asarray``)
over a block of the default pool.  As the paper's ``rma_vector<T>``, *copying shares*:
``RmaVector(v)`` and ``copy.copy(v)`` give a second handle on the same memory, so a vector
passes to a function without a serialize_buffer; ``v.copy()`` and ``copy.deepcopy(v)``
allocate a distinct block.  The block returns to the pool when the last handle and the
last numpy view are gone.

Sending.  Its serializer writes an RMA chunk whose key is ``(window id, rank,
displacement, nbytes)``: the ``rma`` parcelport lets the receiver get the bytes straight
from this memory with no registration on the fly, into an RmaVector from the receiver's
own pool.  A vector below the archive's zero-copy threshold is copied into the index data
instead (both ends would use the eager message anyway).  Over another transport the RMA
chunk is an ordinary pointer chunk and the received vector adopts the receive buffer
(``registered`` is then False; sent on, it is registered on the fly).

Distinct copies.  A remote call gives the receiver its own vector: changes there are not
seen by the caller, and a vector sent back arrives in a new block on the caller.  A local
call (same locality, nothing serialized) passes the same vector, shared.
"""
import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from .pool import UNREGISTERED, PoolExhausted, default_pool, locate
from ..serialization import register

__all__ = ["RmaVector", "RmaObject", "rma_object", "memory_key"]


def memory_key(a):
    """Return the RMA key ``(window id, rank, displacement, nbytes)`` of array ``a``'s memory."""
    addr = a.__array_interface__["data"][0]
    hit = locate(addr, a.nbytes)
    if hit is None:
        return (UNREGISTERED, default_pool().rank, addr, a.nbytes)
    pool, win, disp = hit
    return (win, pool.rank, disp, a.nbytes)


def _pool_array(shape, dtype, pool, fill=None):
    a = (pool or default_pool()).empty(shape, dtype)
    if fill is not None:
        a[...] = fill
    return a


def _adopt_or_copy(arr):
    """Wrap a decoded array: pool memory as is, small inline arrays copied into the pool."""
    try:
        return _pool_array(arr.shape, arr.dtype, None, arr)
    except PoolExhausted:
        return arr


class RmaVector(NDArrayOperatorsMixin):
    """A numpy-like array in registered memory whose copies share the buffer.

    ``RmaVector(n, dtype)`` or ``RmaVector(shape, dtype)``: zeros; ``RmaVector(array_like)``:
    a copy of the data in pool memory; ``RmaVector(other_vector)``: shares its memory.
    ``RmaVector.empty(shape, dtype)`` leaves the memory uninitialised.  ``pool=`` picks
    a pool other than the default.  PoolExhausted if the pool cannot hold it.
    """

    __slots__ = ("_a",)

    def __init__(self, data=0, dtype=None, *, pool=None):
        if isinstance(data, RmaVector):
            self._a = data._a
            return
        if isinstance(data, (int, np.integer)) or (
                isinstance(data, tuple) and all(isinstance(s, (int, np.integer)) for s in data)):
            self._a = _pool_array(data, dtype or np.float64, pool, 0)
            return
        src = np.asarray(data, dtype=dtype)
        if src.dtype.hasobject:
            raise TypeError("RmaVector cannot hold Python objects")
        self._a = _pool_array(src.shape, src.dtype, pool, src)

    @classmethod
    def empty(cls, shape, dtype=np.float64, *, pool=None):
        """Return a vector of ``shape`` whose memory is not initialised."""
        return cls._adopt(_pool_array(shape, dtype, pool))

    @classmethod
    def _adopt(cls, arr):
        v = cls.__new__(cls)
        v._a = arr
        return v

    # ---- numpy behaviour ---------------------------------------------------------------
    @property
    def array(self):
        """The numpy array over this vector's memory (a view, not a copy)."""
        return self._a

    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self._a, dtype=dtype, copy=True)
        return self._a if dtype is None else self._a.astype(dtype, copy=False)

    def __array_ufunc__(self, ufunc, method, *inputs, **kw):
        inputs = tuple(x._a if isinstance(x, RmaVector) else x for x in inputs)
        out = kw.get("out")
        if out:
            kw["out"] = tuple(o._a if isinstance(o, RmaVector) else o for o in out)
        r = getattr(ufunc, method)(*inputs, **kw)
        if out and len(out) == 1 and isinstance(out[0], RmaVector):
            return out[0]  # in-place operators keep the vector
        return r

    def __len__(self):
        return len(self._a)

    def __getitem__(self, i):
        return self._a[i]

    def __setitem__(self, i, value):
        self._a[i] = value

    def __iter__(self):
        return iter(self._a)

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)
    ndim = property(lambda self: self._a.ndim)
    nbytes = property(lambda self: self._a.nbytes)

    def tolist(self):
        return self._a.tolist()

    def copy(self):
        """Return a vector with a distinct block holding the same data."""
        return RmaVector(self._a)

    def __copy__(self):
        return RmaVector(self)

    def __deepcopy__(self, memo):
        return self.copy()

    def shares_memory(self, other):
        """Return True if ``other`` (vector or array) uses this vector's memory."""
        return np.shares_memory(self._a, other._a if isinstance(other, RmaVector) else other)

    @property
    def registered(self):
        """True if the memory is registered (an MPI window), so it travels without registration."""
        return memory_key(self._a)[0] != UNREGISTERED

    @property
    def key(self):
        """The RMA key ``(window id, rank, displacement, nbytes)`` written when serialized."""
        return memory_key(self._a)

    def __repr__(self):
        return f"RmaVector({self._a!r}, registered={self.registered})"

    __hash__ = None


class RmaObject:
    """A single large value (a record or subarray dtype) in registered memory.

    ``value`` reads and writes it; copies share, as RmaVector's.  Made by ``rma_object``.
    """

    __slots__ = ("_a",)

    def __init__(self, value=None, dtype=None, *, pool=None):
        if isinstance(value, RmaObject):
            self._a = value._a
            return
        dtype = np.dtype(dtype if dtype is not None else np.asarray(value).dtype)
        self._a = _pool_array((), dtype, pool, 0 if value is None else value)

    @property
    def value(self):
        """The value: a numpy scalar (record), or an array view for a subarray dtype."""
        return self._a[()] if self._a.ndim == 0 else self._a

    @value.setter
    def value(self, v):
        self._a[...] = v

    @property
    def array(self):
        return self._a

    nbytes = property(lambda self: self._a.nbytes)
    dtype = property(lambda self: self._a.dtype)

    def copy(self):
        o = RmaObject.__new__(RmaObject)
        o._a = _pool_array(self._a.shape, self._a.dtype, None, self._a)
        return o

    def __copy__(self):
        return RmaObject(self)

    def __deepcopy__(self, memo):
        return self.copy()

    @property
    def key(self):
        return memory_key(self._a)

    def __repr__(self):
        return f"rma_object({self.value!r})"


def rma_object(value=None, dtype=None, *, pool=None):
    """Return an RmaObject holding ``value`` (of ``dtype``) in registered memory."""
    return RmaObject(value, dtype, pool=pool)


# ---- serialization ---------------------------------------------------------------------

def _saver(get_array):
    def save(ar, obj):
        a = get_array(obj)
        if a.nbytes < ar.threshold:  # small: copied into the index data (eager)
            ar.write(False)
            ar.write(a)
        else:
            ar.write(True)
            ar.write_rma_chunk(a, memory_key(a))
    return save


def _read(ar):
    if ar.read():
        arr, _ = ar.read_rma_chunk()
        return arr  # the transport's buffer (from the receiver's pool under ``rma``)
    return _adopt_or_copy(ar.read())


def _load_vector(ar):
    return RmaVector._adopt(_read(ar))


def _load_object(ar):
    o = RmaObject.__new__(RmaObject)
    o._a = _read(ar)
    return o


register(RmaVector, _saver(lambda v: v._a), _load_vector, name="runtime.memory.RmaVector")
register(RmaObject, _saver(lambda o: o._a), _load_object, name="runtime.memory.RmaObject")
