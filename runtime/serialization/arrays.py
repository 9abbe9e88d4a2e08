"""Numpy arrays and scalars of every non-object dtype, structured records included.

An array of at least the threshold is a pointer chunk over the caller's memory: as is
when C-contiguous, as its (C-contiguous) transpose when Fortran-contiguous, and only when
neither (strided views) through a contiguous copy, which is counted in ``bytes_copied``.
A smaller array is copied inline and decodes to a fresh writable array of the same
dtype, shape and (C or Fortran) order. Big-endian and other non-native dtypes keep their
byte order. Subclasses of ndarray other than memmap are refused (a mask would be lost).
"""
import struct

import numpy as np

from .archive import POINTER
from .dtypes import decode_dtype, dtype_spec
from .errors import SerializationError
from .registry import register_tag
from .wire import B, BB, MAX_NDIM, T_NDARRAY, T_NDCHUNK, T_NPSCALAR


def _enc_ndarray(ar, a):
    spec = dtype_spec(a.dtype)
    flags = a.flags
    if a.nbytes >= ar.threshold:
        if flags.c_contiguous:
            ar.add_chunk(POINTER, a)
            order = 0
        elif flags.f_contiguous:
            ar.add_chunk(POINTER, a.T)
            order = 1
        else:
            ar.add_chunk(POINTER, np.ascontiguousarray(a), copied=True)
            order = 0
        ar.buf += BB.pack(T_NDCHUNK, order)
        return
    fortran = not flags.c_contiguous and flags.f_contiguous
    buf = ar.buf
    buf += BB.pack(T_NDARRAY, fortran)
    buf += spec
    buf += B.pack(a.ndim)
    if a.ndim:
        buf += struct.pack(f"<{a.ndim}q", *a.shape)
    buf += a.T.tobytes() if fortran else a.tobytes()


def _dec_ndarray(ia):
    data, end = ia.data, ia.end
    pos = ia.pos
    if pos + 1 > end:
        raise SerializationError("truncated array")
    fortran = data[pos]
    dt, pos = decode_dtype(data, pos + 1, end)
    if pos >= end:
        raise SerializationError("truncated array")
    ndim = data[pos]
    pos += 1
    if fortran > 1 or ndim > MAX_NDIM or pos + 8 * ndim > end:
        raise SerializationError(f"bad array header (order {fortran}, ndim {ndim})")
    shape = struct.unpack_from(f"<{ndim}q", data, pos) if ndim else ()
    pos += 8 * ndim
    count = 1
    for n in shape:
        if n < 0:
            raise SerializationError(f"negative dimension in {shape}")
        count *= n
    nbytes = count * dt.itemsize
    if nbytes > end - pos or (dt.itemsize == 0 and count > end - pos):
        raise SerializationError(f"array of {shape} {dt} needs {nbytes} bytes, {end - pos} left")
    ia.pos = pos + nbytes
    rshape = shape[::-1] if fortran else shape
    if count:
        arr = np.frombuffer(data, dt, count, pos).reshape(rshape).copy()
    else:
        arr = np.empty(rshape, dt)
    return arr.T if fortran else arr


def _dec_ndchunk(ia):
    pos = ia.take(1)
    order = ia.data[pos]
    if order > 1:
        raise SerializationError(f"bad array order {order}")
    _, arr = ia.next_chunk()
    return arr.T if order else arr


def _enc_npscalar(ar, x):
    buf = ar.buf
    buf += B.pack(T_NPSCALAR)
    buf += dtype_spec(x.dtype)
    buf += x.tobytes()


def _dec_npscalar(ia):
    dt, pos = decode_dtype(ia.data, ia.pos, ia.end)
    ia.pos = pos
    size = dt.itemsize
    if size == 0:
        raise SerializationError("zero-size scalar dtype")
    pos = ia.take(size)
    return np.frombuffer(ia.data, dt, 1, pos)[0]


register_tag(T_NDARRAY, [np.ndarray, np.memmap], _enc_ndarray, _dec_ndarray)
register_tag(T_NDCHUNK, [], _enc_ndarray, _dec_ndchunk)
register_tag(T_NPSCALAR, [np.generic], _enc_npscalar, _dec_npscalar, subclasses=True)
