"""Numpy arrays and scalars of every non-object dtype, structured records included.

An array of at least the threshold is a pointer chunk over the caller's memory: as is
when C-contiguous, as its (C-contiguous) transpose when Fortran-contiguous, and only when
neither (strided views) through a contiguous copy, which is counted in ``bytes_copied``.
A smaller array is copied inline and decodes to a fresh writable array of the same
dtype, shape and (C or Fortran) order. Big-endian and other non-native dtypes keep their
byte order. Subclasses of ndarray other than memmap are refused (a mask would be lost).
"""
from itertools import islice

import numpy as np

from .archive import POINTER
from .dtypes import _dec_cache, decode_dtype, dtype_spec
from .errors import SerializationError
from .registry import register_tag
from .wire import MAX_NDIM, T_NDARRAY, T_NDCHUNK, T_NPSCALAR


def _enc_ndarray(ar, a):
    flags = a.flags
    if a.nbytes >= ar.threshold:       # (the chunk-table entry checks the dtype)
        if flags.c_contiguous:
            ar._chunks.append((POINTER, a, None, False))
            order = 0
        elif flags.f_contiguous:
            ar.add_chunk(POINTER, a.T)
            order = 1
        else:
            ar.add_chunk(POINTER, np.ascontiguousarray(a), copied=True)
            order = 0
        ar.tags.append(T_NDCHUNK)
        ar.ints.append(order)
        return
    spec = dtype_spec(a.dtype)
    fortran = not flags.c_contiguous and flags.f_contiguous
    ar.tags.append(T_NDARRAY)
    ints = ar.ints
    ints.append(fortran)
    ints.append(a.ndim)
    ints += a.shape
    raw = ar.raw
    raw += spec
    raw += a.T.tobytes() if fortran else a.tobytes()


def _dec_ndarray(ia):
    nxt = ia.next_int
    fortran = nxt()
    ndim = nxt()
    if fortran not in (0, 1) or not 0 <= ndim <= MAX_NDIM:
        raise SerializationError(f"bad array header (order {fortran}, ndim {ndim})")
    if ndim == 1:
        count = nxt()
        shape = (count,)
        if count < 0:
            raise SerializationError(f"negative dimension in {shape}")
    else:
        shape = tuple(islice(ia.int_iter, ndim))
        if len(shape) != ndim:
            raise SerializationError("array shape cut short")
        count = 1
        for n in shape:
            if n < 0:
                raise SerializationError(f"negative dimension in {shape}")
            count *= n
    raw, pos, end = ia.raw, ia.rpos, ia.rend
    dt = None
    if pos + 2 <= end and raw[pos] == 0:            # simple spec: try the cache first
        stop = pos + 2 + raw[pos + 1]
        if stop <= end:
            dt = _dec_cache.get(bytes(raw[pos + 2:stop]))
            pos = stop
    if dt is None:
        dt, pos = decode_dtype(raw, ia.rpos, end)
    size = dt.itemsize
    left = end - pos
    nbytes = count * size
    if nbytes > left or (size == 0 and count > left):
        raise SerializationError(f"array of {shape} {dt} needs {nbytes} bytes, {left} left")
    ia.rpos = pos + nbytes
    if not count:
        arr = np.empty(shape[::-1] if fortran else shape, dt)
    elif ndim == 1:
        return np.frombuffer(raw, dt, count, pos).copy()
    else:
        arr = np.frombuffer(raw, dt, count, pos).copy().reshape(
            shape[::-1] if fortran else shape)
    return arr.T if fortran else arr


def _dec_ndchunk(ia):
    order = ia.next_int()
    if order not in (0, 1):
        raise SerializationError(f"bad array order {order}")
    i = ia.cursor
    if i >= len(ia.arrays):
        raise SerializationError("index data refers to more chunks than the table lists")
    ia.cursor = i + 1
    return ia.arrays[i].T if order else ia.arrays[i]


def _enc_npscalar(ar, x):
    ar.tags.append(T_NPSCALAR)
    raw = ar.raw
    raw += dtype_spec(x.dtype)
    raw += x.tobytes()


def _dec_npscalar(ia):
    dt, ia.rpos = decode_dtype(ia.raw, ia.rpos, ia.rend)
    size = dt.itemsize
    if size == 0:
        raise SerializationError("zero-size scalar dtype")
    pos = ia.take(size)
    return np.frombuffer(ia.raw, dt, 1, pos).copy()[0]


register_tag(T_NDARRAY, [np.ndarray, np.memmap], _enc_ndarray, _dec_ndarray)
register_tag(T_NDCHUNK, [], _enc_ndarray, _dec_ndchunk)
register_tag(T_NPSCALAR, [np.generic], _enc_npscalar, _dec_npscalar, subclasses=True)
