"""Numpy arrays and scalars of every non-object dtype, structured records included.

An array of at least the threshold is a pointer chunk over the caller's memory: as is
when C-contiguous, as its (C-contiguous) transpose when Fortran-contiguous, and only when
neither (strided views) through a contiguous copy, which is counted in ``bytes_copied``.
A smaller array is copied inline and decodes to a fresh writable array of the same
dtype, shape and (C or Fortran) order. Big-endian and other non-native dtypes keep their
byte order. Subclasses of ndarray other than memmap are refused (a mask would be lost).

Wire: a chunk array is ``T_NDCHUNK`` with its order (0 C, 1 Fortran) in the ints column;
an inline array is ``T_NDARRAY`` and, in the raw column, its header (see ``_head``: size,
dtype spec, order, ndim, dims) then its bytes in C order (of the transpose for Fortran).
"""
import numpy as np

from .archive import POINTER
from .dtypes import decode_dtype, dtype_spec
from .errors import SerializationError
from .registry import register_tag
from .wire import INT64S, MAX_NDIM, T_NDARRAY, T_NDCHUNK, T_NPSCALAR


def _enc_ndarray(ar, a):
    if a.nbytes >= ar.threshold:       # (the chunk-table entry checks the dtype)
        flags = a.flags
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
    ar.tags.append(T_NDARRAY)
    raw = ar.raw
    flags = a.flags
    if flags.c_contiguous or not flags.f_contiguous:
        head = _heads.get((a.dtype, a.shape))
        raw += head if head is not None else _head(a.dtype, a.shape, 0)
        raw += a.tobytes()
    else:                               # Fortran order: the bytes of its C-ordered transpose
        raw += _head(a.dtype, a.shape, 1)
        raw += a.T.tobytes()


# inline array header: ``u8 h`` (its own size; 255: a u32 size follows), dtype spec, u8
# Fortran order, u8 ndim, ndim int64 dims. Both ends cache headers: the encoder by
# (dtype, shape) (C order), the decoder by the header bytes, so each is checked once.
_heads = {}
_infos = {}
_HEAD_CACHE = 1024


def _head(dt, shape, fortran):
    body = dtype_spec(dt) + bytes((fortran, len(shape))) + INT64S[len(shape)].pack(*shape)
    head = (bytes((len(body) + 1,)) + body if len(body) < 254
            else b"\xff" + (len(body) + 5).to_bytes(4, "little") + body)
    if not fortran and len(_heads) < _HEAD_CACHE:
        _heads[(dt, shape)] = head
    return head


def _info(raw, pos, end):
    """Check the inline array header at ``raw[pos:]`` (array bytes up to ``end``), cache
    and return its info."""
    h = raw[pos]
    at = pos + 1
    if h == 255:
        if pos + 5 > end:
            raise SerializationError("array header cut short")
        h = int.from_bytes(raw[pos + 1:pos + 5], "little")
        at = pos + 5
    stop = pos + h
    if h < 3 or stop > end:
        raise SerializationError(f"array header of {h} bytes overruns the raw column")
    dt, at = decode_dtype(raw, at, stop)
    if at + 2 > stop:
        raise SerializationError("array header cut short")
    fortran, ndim = raw[at], raw[at + 1]
    at += 2
    if fortran > 1 or ndim > MAX_NDIM or at + 8 * ndim != stop:
        raise SerializationError(f"bad array header (order {fortran}, ndim {ndim})")
    shape = INT64S[ndim].unpack_from(raw, at)
    count = 1
    for n in shape:
        if n < 0:
            raise SerializationError(f"negative dimension in {shape}")
        count *= n
    nbytes = count * dt.itemsize
    if dt.itemsize == 0 or nbytes > end - stop:
        raise SerializationError(f"array of {shape} {dt} needs {nbytes} bytes, "
                                 f"{end - stop} left")
    # (dtype, count, nbytes, header size, shape to reshape to or None, Fortran order)
    info = (dt, count, nbytes, h, (shape[::-1] if fortran else shape) if ndim != 1 else None,
            fortran)
    if h <= 1024:                       # (a bounded cache: at most ~1 MiB of keys)
        if len(_infos) >= _HEAD_CACHE:
            _infos.clear()
        _infos[bytes(raw[pos:stop])] = info
    return info


def _dec_ndarray(ia):
    raw, pos, end = ia.raw, ia.rpos, ia.rend
    if pos >= end:
        raise SerializationError("array header past the raw column")
    info = _infos.get(bytes(raw[pos:pos + raw[pos]]))
    if info is None:
        info = _info(raw, pos, end)
    dt, count, nbytes, h, shape, fortran = info
    pos += h
    if nbytes > end - pos:
        raise SerializationError(f"array of {count} {dt} needs {nbytes} bytes, {end - pos} left")
    ia.rpos = pos + nbytes
    if count:
        arr = np.frombuffer(raw, dt, count, pos).copy()
        if shape is None:
            return arr
        arr = arr.reshape(shape)
    else:
        arr = np.empty(shape if shape is not None else 0, dt)
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
