"""Encoders and decoders for Python builtins, with fast paths for the common cases.

Scalars inside containers are written inline (no dispatch call per item). A list or tuple
of at least ``HOM_MIN`` items all of exact type int (fitting int64), float or str (none
holding NUL) is written as one packed block (``T_HOM``) and rebuilt in a few C calls.
Large ``bytes``/``bytearray`` (at least the threshold) travel as pointer chunks; they
decode to new ``bytes``/``bytearray`` objects (immutable types cannot wrap a buffer).
"""
import sys
from array import array
from itertools import chain

import numpy as np

from .archive import POINTER
from .errors import SerializationError
from .registry import register_tag
from .wire import (BB, BBBI, BBI, BI, Bd, Bdd, Bq, I, MAX_DEPTH, I64_MAX, I64_MIN, H_F64, H_I64,
                   H_STR, T_BIGINT, T_BUFCHUNK, T_BYTEARRAY, T_BYTES, T_COMPLEX, T_DICT,
                   T_FALSE, T_FLOAT, T_FROZENSET, T_HOM, T_INT, T_LIST, T_NONE, T_SET,
                   T_STR, T_TRUE, T_TUPLE, d, dd, q)

HOM_MIN = 16
_SWAP = sys.byteorder == "big"
_UTF8 = "utf-8"
_SP = "surrogatepass"


def _short(what="value"):
    raise SerializationError(f"truncated {what} in index data")


def _enter(ar):
    depth = ar.depth = ar.depth + 1
    if depth > MAX_DEPTH:
        raise SerializationError(f"values nested deeper than {MAX_DEPTH} (cyclic?)")


# ---------------------------------------------------------------- encoders

def _enc_none(ar, obj):
    ar.buf.append(T_NONE)


def _enc_bool(ar, obj):
    ar.buf.append(T_TRUE if obj else T_FALSE)


def _enc_int(ar, x):
    if I64_MIN <= x <= I64_MAX:
        ar.buf += Bq.pack(T_INT, x)
    else:
        raw = x.to_bytes((x.bit_length() + 8) // 8, "little", signed=True)
        ar.buf += BI.pack(T_BIGINT, len(raw))
        ar.buf += raw


def _enc_float(ar, x):
    ar.buf += Bd.pack(T_FLOAT, x)


def _enc_complex(ar, x):
    ar.buf += Bdd.pack(T_COMPLEX, x.real, x.imag)


def _enc_str(ar, s):
    e = s.encode(_UTF8, _SP)
    buf = ar.buf
    buf += BI.pack(T_STR, len(e))
    buf += e


def _enc_binary(ar, b):
    n = len(b)
    mutable = type(b) is bytearray
    if n >= ar.threshold:
        ar.add_chunk(POINTER, np.frombuffer(b, np.uint8))
        ar.buf += BB.pack(T_BUFCHUNK, mutable)
    else:
        buf = ar.buf
        buf += BI.pack(T_BYTEARRAY if mutable else T_BYTES, n)
        buf += b


def _enc_items(ar, items):
    buf = ar.buf
    write = ar.write
    for x in items:
        t = type(x)
        if t is str:
            e = x.encode(_UTF8, _SP)
            buf += BI.pack(T_STR, len(e))
            buf += e
        elif t is int and I64_MIN <= x <= I64_MAX:
            buf += Bq.pack(T_INT, x)
        elif t is float:
            buf += Bd.pack(T_FLOAT, x)
        else:
            write(x)


def _enc_hom(ar, seq, container):
    """Write ``seq`` as one packed block if it is homogeneous; return whether it was."""
    types = set(map(type, seq))
    if len(types) != 1:
        return False
    t = types.pop()
    n = len(seq)
    if t is int:
        try:
            block = array("q", seq)
        except OverflowError:
            return False
        kind = H_I64
    elif t is float:
        block = array("d", seq)
        kind = H_F64
    elif t is str:
        joined = "\x00".join(seq)
        if joined.count("\x00") != n - 1:
            return False
        block = joined.encode(_UTF8, _SP)
        kind = H_STR
    else:
        return False
    if _SWAP and kind != H_STR:
        block.byteswap()
    buf = ar.buf
    nbytes = len(block) * block.itemsize if kind != H_STR else len(block)
    buf += BBBI.pack(T_HOM, container, kind, n)
    if kind == H_STR:
        buf += I.pack(nbytes)
    buf += block
    return True


def _enc_list(ar, obj):
    n = len(obj)
    if n >= HOM_MIN and _enc_hom(ar, obj, 0):
        return
    ar.buf += BI.pack(T_LIST, n)
    _enter(ar)
    _enc_items(ar, obj)
    ar.depth -= 1


def _enc_tuple(ar, obj):
    n = len(obj)
    if n >= HOM_MIN and _enc_hom(ar, obj, 1):
        return
    ar.buf += BI.pack(T_TUPLE, n)
    _enter(ar)
    _enc_items(ar, obj)
    ar.depth -= 1


def _enc_set(ar, obj):
    ar.buf += BI.pack(T_FROZENSET if type(obj) is frozenset else T_SET, len(obj))
    _enter(ar)
    _enc_items(ar, obj)
    ar.depth -= 1


def _enc_dict(ar, obj):
    ar.buf += BI.pack(T_DICT, len(obj))
    _enter(ar)
    _enc_items(ar, chain.from_iterable(obj.items()))
    ar.depth -= 1


# ---------------------------------------------------------------- decoders

def _dec_none(ia):
    return None


def _dec_true(ia):
    return True


def _dec_false(ia):
    return False


def _fixed(ia, n, st):
    pos = ia.pos
    if pos + n > ia.end:
        _short()
    ia.pos = pos + n
    return st.unpack_from(ia.data, pos)


def _dec_int(ia):
    return _fixed(ia, 8, q)[0]


def _dec_float(ia):
    return _fixed(ia, 8, d)[0]


def _dec_complex(ia):
    re, im = _fixed(ia, 16, dd)
    return complex(re, im)


def _length(ia):
    (n,) = _fixed(ia, 4, I)
    return n


def _dec_bigint(ia):
    n = _length(ia)
    pos = ia.take(n)
    return int.from_bytes(ia.data[pos:pos + n], "little", signed=True)


def _dec_str(ia):
    n = _length(ia)
    pos = ia.take(n)
    return ia.data[pos:pos + n].decode(_UTF8, _SP)


def _dec_bytes(ia):
    n = _length(ia)
    pos = ia.take(n)
    return ia.data[pos:pos + n]


def _dec_bytearray(ia):
    n = _length(ia)
    pos = ia.take(n)
    return bytearray(ia.data[pos:pos + n])


def _dec_bufchunk(ia):
    mutable = ia.data[ia.take(1)]
    spec, arr = ia.next_chunk()
    if spec.kind != POINTER:
        raise SerializationError("bytes chunk of the wrong kind")
    return bytearray(arr) if mutable else arr.tobytes()


def _read_items(ia, n):
    """Read ``n`` values, decoding strings, ints and floats inline."""
    data, end = ia.data, ia.end
    pos = ia.pos
    if n > end - pos:
        raise SerializationError(f"{n} items claimed, {end - pos} bytes left")
    depth = ia.depth = ia.depth + 1
    if depth > MAX_DEPTH:
        raise SerializationError(f"values nested deeper than {MAX_DEPTH}")
    out = []
    append = out.append
    unpack_i, unpack_q, unpack_d = I.unpack_from, q.unpack_from, d.unpack_from
    for _ in range(n):
        if pos >= end:
            _short()
        tag = data[pos]
        if tag == T_STR:
            start = pos + 5
            stop = start + unpack_i(data, pos + 1)[0]
            if stop > end:
                _short("string")
            append(data[start:stop].decode(_UTF8, _SP))
            pos = stop
        elif tag == T_INT:
            if pos + 9 > end:
                _short()
            append(unpack_q(data, pos + 1)[0])
            pos += 9
        elif tag == T_FLOAT:
            if pos + 9 > end:
                _short()
            append(unpack_d(data, pos + 1)[0])
            pos += 9
        else:
            ia.pos = pos
            append(ia.read())
            pos = ia.pos
    ia.pos = pos
    ia.depth = depth - 1
    return out


def _dec_list(ia):
    return _read_items(ia, _length(ia))


def _dec_tuple(ia):
    return tuple(_read_items(ia, _length(ia)))


def _dec_set(ia):
    return set(_read_items(ia, _length(ia)))


def _dec_frozenset(ia):
    return frozenset(_read_items(ia, _length(ia)))


def _dec_dict(ia):
    items = _read_items(ia, 2 * _length(ia))
    return dict(zip(items[0::2], items[1::2]))


def _dec_hom(ia):
    container, kind, n = _fixed(ia, 6, BBI)
    if container > 1:
        raise SerializationError(f"bad container kind {container}")
    if kind == H_STR:
        nbytes = _length(ia)
        pos = ia.take(nbytes)
        out = ia.data[pos:pos + nbytes].decode(_UTF8, _SP).split("\x00")
        if len(out) != n:
            raise SerializationError("string block count mismatch")
    elif kind == H_I64 or kind == H_F64:
        if n > (ia.end - ia.pos) // 8:
            raise SerializationError(f"{n} numbers claimed, {ia.end - ia.pos} bytes left")
        pos = ia.take(8 * n)
        block = array("q" if kind == H_I64 else "d")
        block.frombytes(ia.data[pos:pos + 8 * n])
        if _SWAP:
            block.byteswap()
        out = block.tolist()
    else:
        raise SerializationError(f"bad homogeneous element kind {kind}")
    return tuple(out) if container else out


register_tag(T_NONE, [type(None)], _enc_none, _dec_none)
register_tag(T_TRUE, [bool], _enc_bool, _dec_true)
register_tag(T_FALSE, [], _enc_bool, _dec_false)
register_tag(T_INT, [int], _enc_int, _dec_int)
register_tag(T_BIGINT, [], _enc_int, _dec_bigint)
register_tag(T_FLOAT, [float], _enc_float, _dec_float)
register_tag(T_COMPLEX, [complex], _enc_complex, _dec_complex)
register_tag(T_STR, [str], _enc_str, _dec_str)
register_tag(T_BYTES, [bytes], _enc_binary, _dec_bytes)
register_tag(T_BYTEARRAY, [bytearray], _enc_binary, _dec_bytearray)
register_tag(T_BUFCHUNK, [], _enc_binary, _dec_bufchunk)
register_tag(T_LIST, [list], _enc_list, _dec_list)
register_tag(T_TUPLE, [tuple], _enc_tuple, _dec_tuple)
register_tag(T_HOM, [], _enc_list, _dec_hom)
register_tag(T_DICT, [dict], _enc_dict, _dec_dict)
register_tag(T_SET, [set], _enc_set, _dec_set)
register_tag(T_FROZENSET, [frozenset], _enc_set, _dec_frozenset)
