"""The lean frame 0: a flat tuple of small values (an action's arguments), coded in one pass.

Most parcels carry a few scalars and small buffers: for them the columnar index data (see
``wire``) costs more to set up than to fill. When the value is a tuple of at most 255
items, each None, a bool, an int64, a float, a str, bytes, or a C-contiguous ndarray or
SerializeBuffer of a simple dtype below the zero-copy threshold (so there are no chunks),
frame 0 is instead:

    MAGIC_LEAN (4 bytes) | u8 item count | per item: u8 code, then its payload

payloads: int ``<q``; float ``<d``; str and bytes ``u32 length`` + the bytes (UTF-8 for
str); ndarray and SerializeBuffer the dtype spec (``dtypes``, simple kind only), ``u8
ndim``, ``ndim`` int64 dims, then the data. Anything else uses the columnar format.
Decoding checks every length against the bytes that are there before it allocates and
raises SerializationError only.
"""
import struct

import numpy as np

from .dtypes import _dec_cache, decode_dtype, dtype_spec
from .errors import SerializationError
from .wire import I64_MAX, I64_MIN, INT64S, MAX_NDIM

MAGIC_LEAN = b"OCS\x01"
L_NONE, L_TRUE, L_FALSE, L_INT, L_FLOAT, L_STR, L_BYTES, L_ARRAY, L_SBUF = range(9)
MAX_ITEMS = 255

_Q = struct.Struct("<q")
_D = struct.Struct("<d")
_I = struct.Struct("<I")
_BQ = struct.Struct("<Bq")
_BD = struct.Struct("<Bd")
_BI = struct.Struct("<BI")
_HEAD = (MAGIC_LEAN, ) + tuple(bytes((n,)) for n in range(MAX_ITEMS + 1))
_specs = {}          # dtype -> spec bytes, simple dtypes only (None: not lean)
_MISSING = object()
_sbuf = []           # [SerializeBuffer class, its constructor-free factory], set by ``buffer``
_ndarray = np.ndarray


def register_buffer_type(cls, make):
    """Let SerializeBuffer (``cls``) travel lean; ``make(array)`` rebuilds one when decoding."""
    _sbuf[:] = [cls, make]


def _spec(dt):
    try:
        return _specs[dt]
    except KeyError:
        pass
    try:
        spec = dtype_spec(dt)
    except TypeError:
        spec = None
    if spec is not None and spec[0] != 0:     # structured/subarray: the columnar format
        spec = None
    if len(_specs) < 1024:
        _specs[dt] = spec
    return spec


def encode(obj, threshold):
    """Return the lean frame 0 of tuple ``obj`` as bytes, or None if it does not qualify."""
    n = len(obj)
    if n > MAX_ITEMS:
        return None
    out = [MAGIC_LEAN, _HEAD[n + 1]]
    put = out.append
    sbuf = _sbuf[0] if _sbuf else None
    for x in obj:
        t = type(x)
        if t is int:
            if not I64_MIN <= x <= I64_MAX:
                return None
            put(_BQ.pack(L_INT, x))
        elif t is float:
            put(_BD.pack(L_FLOAT, x))
        elif x is None:
            put(b"\x00")
        elif t is bool:
            put(b"\x01" if x else b"\x02")
        elif t is str:
            b = x.encode("utf-8", "surrogatepass")
            put(_BI.pack(L_STR, len(b)))
            put(b)
        elif t is sbuf or t is _ndarray:
            if t is sbuf:
                a = x.array                  # C-contiguous by construction
                if a.nbytes >= threshold:
                    return None
                put(b"\x08")
            else:
                a = x
                if a.nbytes >= threshold or not a.flags.c_contiguous:
                    return None
                put(b"\x07")
            spec = _specs.get(a.dtype, _MISSING)
            if spec is _MISSING:
                spec = _spec(a.dtype)
            if spec is None:
                return None
            shape = a.shape
            put(spec)
            put(_HEAD[len(shape) + 1])
            put(INT64S[len(shape)].pack(*shape))
            put(a.tobytes())
        elif t is bytes:
            if len(x) >= threshold:
                return None
            put(_BI.pack(L_BYTES, len(x)))
            put(x)
        else:
            return None
    return b"".join(out)


def decode(data):
    """Decode a lean frame 0 (``bytes``); SerializationError for anything malformed."""
    try:
        return _decode(data)
    except SerializationError:
        raise
    except Exception as exc:      # defensive: nothing but SerializationError leaves here
        raise SerializationError(f"malformed lean message: {type(exc).__name__}: {exc}") from exc


def _decode(data):
    if type(data) is not bytes:
        data = bytes(data)
    end = len(data)
    if end < 5:
        raise SerializationError("lean frame 0 cut short")
    n = data[4]
    pos = 5
    out = []
    put = out.append
    for _ in range(n):
        if pos >= end:
            raise SerializationError("lean frame 0 cut short")
        code = data[pos]
        pos += 1
        if code == L_INT:
            if pos + 8 > end:
                raise SerializationError("lean int cut short")
            put(_Q.unpack_from(data, pos)[0])
            pos += 8
        elif code == L_FLOAT:
            if pos + 8 > end:
                raise SerializationError("lean float cut short")
            put(_D.unpack_from(data, pos)[0])
            pos += 8
        elif code <= L_FALSE:
            put(None if code == L_NONE else code == L_TRUE)
        elif code == L_STR or code == L_BYTES:
            if pos + 4 > end:
                raise SerializationError("lean length cut short")
            (m,) = _I.unpack_from(data, pos)
            pos += 4
            if m > end - pos:
                raise SerializationError(f"{m} bytes claimed, {end - pos} left")
            b = data[pos:pos + m]
            put(b.decode("utf-8", "surrogatepass") if code == L_STR else bytes(b))
            pos += m
        elif code == L_ARRAY or code == L_SBUF:
            if pos + 2 <= end and data[pos] == 0:
                stop = pos + 2 + data[pos + 1]
                dt = _dec_cache.get(data[pos + 2:stop])
                if dt is None:
                    dt, stop = decode_dtype(data, pos, end)
            else:
                raise SerializationError("lean array without a simple dtype")
            pos = stop
            if pos >= end:
                raise SerializationError("lean array cut short")
            ndim = data[pos]
            pos += 1
            if ndim > MAX_NDIM or pos + 8 * ndim > end:
                raise SerializationError(f"lean array of {ndim} dimensions cut short")
            shape = INT64S[ndim].unpack_from(data, pos)
            pos += 8 * ndim
            count = 1
            for d in shape:
                if d < 0:
                    raise SerializationError(f"negative dimension in {shape}")
                count *= d
            size = dt.itemsize
            nbytes = count * size
            if nbytes > end - pos or (size == 0 and count > end - pos):
                raise SerializationError(f"array of {shape} {dt} needs {nbytes} bytes")
            if count:
                arr = np.frombuffer(data, dt, count, pos).copy()
                if ndim != 1:
                    arr = arr.reshape(shape)
            else:
                arr = np.empty(shape, dt)
            pos += nbytes
            if code == L_SBUF:
                if not _sbuf:
                    raise SerializationError("SerializeBuffer is not registered here")
                arr = _sbuf[1](arr)
            put(arr)
        else:
            raise SerializationError(f"unknown lean item code {code}")
    if pos != end:
        raise SerializationError(f"{end - pos} stray bytes after the lean items")
    return tuple(out)
