"""Encode numpy dtypes as a small safe spec, and decode them without evaluating anything.

A spec is one kind byte, then:

* 0 (simple): u8 length, ``dtype.str`` in ASCII (``<f8``, ``>i4``, ``|b1``, ``<U5``,
  ``<M8[ns]``, ``|V16``), checked against a strict pattern before numpy sees it;
* 1 (structured): itemsize u32, aligned u8, nfields u16, then per field the name
  (u16 length + UTF-8), the offset u32 and the field's own spec;
* 2 (subarray, fields only): the base spec, u8 ndim, ndim u32 dims.

Object dtypes (and records holding objects) and dtypes of zero itemsize are refused: only bitwise
serializable data travels.
"""
import re
import struct

import numpy as np

from .errors import SerializationError
from .wire import MAX_DTYPE_DEPTH, MAX_NDIM

_SIMPLE = re.compile(rb"[<>|=][biufcmMSUV]\d{1,9}(\[\d{0,6}[a-zA-Z]{1,3}\])?\Z")
_H = struct.Struct("<H")
_I = struct.Struct("<I")
_IBH = struct.Struct("<IBH")

_enc_cache = {}
_dec_cache = {}


def _encode(dt, depth):
    if depth > MAX_DTYPE_DEPTH:
        raise TypeError(f"dtype nested deeper than {MAX_DTYPE_DEPTH}: {dt}")
    if dt.hasobject:
        raise TypeError(f"dtype {dt} holds Python objects; only bitwise data serializes")
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        return (b"\x02" + _encode(base, depth + 1) + bytes([len(shape)])
                + b"".join(_I.pack(n) for n in shape))
    if dt.names is not None:
        out = [b"\x01", _IBH.pack(dt.itemsize, bool(dt.isalignedstruct), len(dt.names))]
        for name in dt.names:
            sub, offset = dt.fields[name][:2]
            raw = name.encode("utf-8", "surrogatepass")
            out += [_H.pack(len(raw)), raw, _I.pack(offset), _encode(sub, depth + 1)]
        return b"".join(out)
    s = dt.str.encode("ascii")
    if not _SIMPLE.match(s):
        raise TypeError(f"dtype {dt} has no portable description")
    return bytes((0, len(s))) + s


def dtype_spec(dt):
    """Return the wire spec of dtype ``dt`` (cached); TypeError for object dtypes."""
    try:
        return _enc_cache[dt]
    except KeyError:
        pass
    if dt.itemsize == 0:
        raise TypeError(f"dtype {dt} has no bytes per item; give it a size")
    spec = _encode(dt, 0)
    if len(_enc_cache) < 4096:
        _enc_cache[dt] = spec
    return spec


def _decode(data, pos, end, depth):
    if depth > MAX_DTYPE_DEPTH:
        raise SerializationError("dtype spec nested too deeply")
    if pos + 2 > end:
        raise SerializationError("truncated dtype spec")
    kind = data[pos]
    if kind == 0:
        n = data[pos + 1]
        stop = pos + 2 + n
        if stop > end:
            raise SerializationError("truncated dtype spec")
        s = bytes(data[pos + 2:stop])
        dt = _dec_cache.get(s)
        if dt is None:
            if not _SIMPLE.match(s):
                raise SerializationError(f"bad dtype string {s!r}")
            try:
                dt = np.dtype(s.decode("ascii"))
            except (TypeError, ValueError) as exc:
                raise SerializationError(f"bad dtype string {s!r}") from exc
            if dt.hasobject:
                raise SerializationError("object dtype on the wire")
            if len(_dec_cache) < 1024:
                _dec_cache[s] = dt
        return dt, stop
    if kind == 1:
        if pos + 8 > end:
            raise SerializationError("truncated structured dtype spec")
        itemsize, aligned, nfields = _IBH.unpack_from(data, pos + 1)
        pos += 8
        if nfields > end - pos:
            raise SerializationError("structured dtype field count exceeds the message")
        names, formats, offsets = [], [], []
        for _ in range(nfields):
            if pos + 2 > end:
                raise SerializationError("truncated structured dtype spec")
            (n,) = _H.unpack_from(data, pos)
            pos += 2
            if pos + n + 4 > end:
                raise SerializationError("truncated structured dtype spec")
            names.append(bytes(data[pos:pos + n]).decode("utf-8", "surrogatepass"))
            (off,) = _I.unpack_from(data, pos + n)
            offsets.append(off)
            sub, pos = _decode(data, pos + n + 4, end, depth + 1)
            formats.append(sub)
        try:
            dt = np.dtype({"names": names, "formats": formats, "offsets": offsets,
                           "itemsize": itemsize}, align=bool(aligned))
        except (TypeError, ValueError, KeyError) as exc:
            raise SerializationError("bad structured dtype spec") from exc
        return dt, pos
    if kind == 2:
        base, pos = _decode(data, pos + 1, end, depth + 1)
        if pos + 1 > end:
            raise SerializationError("truncated subarray dtype spec")
        ndim = data[pos]
        pos += 1
        if ndim > MAX_NDIM or pos + 4 * ndim > end:
            raise SerializationError("bad subarray dtype spec")
        shape = struct.unpack_from(f"<{ndim}I", data, pos)
        count = 1
        for n in shape:
            count *= n
        if count * base.itemsize > 1 << 31:
            raise SerializationError("subarray dtype too large")
        try:
            dt = np.dtype((base, shape))
        except (TypeError, ValueError) as exc:
            raise SerializationError("bad subarray dtype spec") from exc
        return dt, pos + 4 * ndim
    raise SerializationError(f"unknown dtype spec kind {kind}")


def decode_dtype(data, pos, end):
    """Decode the spec at ``data[pos:end]``; return ``(dtype, next_pos)``."""
    if pos + 2 <= end and data[pos] == 0:           # simple spec: try the cache first
        stop = pos + 2 + data[pos + 1]
        if stop <= end:
            dt = _dec_cache.get(bytes(data[pos + 2:stop]))
            if dt is not None:
                return dt, stop
    return _decode(data, pos, end, 0)
