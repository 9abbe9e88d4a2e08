"""Encoders and decoders for Python builtins, with fast paths for the common cases.

Each value is one tag plus its payload in a column (see ``wire``); a container's item
count goes to the len column and a str-keyed dict's keys to the key column. Encoding
handles the scalars, str-keyed dicts and lists inside containers inline, without a
dispatch call per item; decoding reads a container's items by mapping its tags through
per-message readers, a loop that runs in C (or by a structure plan, see ``decoder``).
A list or tuple of at least ``HOM_MIN`` items all of exact type int (fitting int64) or
float is packed as one block in the raw column (``T_HOM``, with ``container, kind, n``
in the ints column); one of strings goes to the string column in one step and decodes
as one slice of it. Large ``bytes``/``bytearray`` (at least the threshold) travel as
pointer chunks; they decode to new ``bytes``/``bytearray`` objects (immutable types
cannot wrap a buffer).
"""
import sys
from array import array
from functools import partial
from itertools import chain, islice, repeat
from operator import length_hint
try:
    from operator import call
except ImportError:         # Python 3.10
    def call(fn):
        return fn()

import numpy as np

from .archive import POINTER
from .errors import SerializationError
from .registry import DECODERS, ENCODERS, encoder_for, register_tag
from .wire import (H_F64, H_I64, H_STR, I64_MAX, I64_MIN, MAX_DEPTH, T_BIGINT, T_BUFCHUNK,
                   T_BYTEARRAY, T_BYTES, T_COMPLEX, T_DICT, T_FALSE, T_FLOAT,
                   T_FROZENSET, T_HOM, T_INT, T_LIST, T_NONE, T_SDICT, T_SET, T_STR,
                   T_TRUE, T_TUPLE)

HOM_MIN = 16
_I8, _F8 = np.dtype("<i8"), np.dtype("<f8")
_SWAP = sys.byteorder == "big"


def _too_deep():
    raise SerializationError(f"values nested deeper than {MAX_DEPTH} (cyclic?)")


# ---------------------------------------------------------------- encoders

def _enc_none(ar, obj):
    ar.tags.append(T_NONE)


def _enc_bool(ar, obj):
    ar.tags.append(T_TRUE if obj else T_FALSE)


def _enc_int(ar, x):
    if I64_MIN <= x <= I64_MAX:
        ar.tags.append(T_INT)
        ar.ints.append(x)
    else:
        raw = x.to_bytes((x.bit_length() + 8) // 8, "little", signed=True)
        ar.tags.append(T_BIGINT)
        ar.ints.append(len(raw))
        ar.raw += raw


def _enc_float(ar, x):
    ar.tags.append(T_FLOAT)
    ar.floats.append(x)


def _enc_complex(ar, x):
    ar.tags.append(T_COMPLEX)
    ar.floats += (x.real, x.imag)


def _enc_str(ar, s):
    ar.tags.append(T_STR)
    ar.strs.append(s)


def _enc_binary(ar, b):
    n = len(b)
    mutable = type(b) is bytearray
    if n >= ar.threshold:
        ar.add_chunk(POINTER, np.frombuffer(b, np.uint8))
        ar.tags.append(T_BUFCHUNK)
        ar.ints.append(mutable)
    else:
        ar.tags.append(T_BYTEARRAY if mutable else T_BYTES)
        ar.ints.append(n)
        ar.raw += b


def _enc_items(ar, items, depth):
    """Append every value of ``items``, inside ``depth`` enclosing containers.

    Scalars, str-keyed dicts and lists are handled inline (nested ones by recursion, no
    call per item); anything else goes to its registered encoder, which sees
    ``ar.depth == depth``.
    """
    if depth > MAX_DEPTH:
        _too_deep()
    tag, put_int, put_float, put_str, put_len, put_keys = ar.puts
    for x in items:
        t = type(x)
        if t is str:
            tag(T_STR)
            put_str(x)
        elif t is int:
            if I64_MIN <= x <= I64_MAX:
                tag(T_INT)
                put_int(x)
            else:
                _enc_int(ar, x)
        elif t is float:
            tag(T_FLOAT)
            put_float(x)
        elif t is dict:
            n = len(x)
            if list(map(type, x)).count(str) == n:      # str keys: to the key column
                tag(T_SDICT)
                put_len(n)
                put_keys(x)
                _enc_items(ar, x.values(), depth + 1)
            else:
                ar.depth = depth
                _enc_dict(ar, x)
        elif x is None:
            tag(T_NONE)
        elif t is bool:
            tag(T_TRUE if x else T_FALSE)
        elif t is list:
            n = len(x)
            if n < HOM_MIN or not _enc_hom(ar, x, 0):
                tag(T_LIST)
                put_len(n)
                _enc_items(ar, x, depth + 1)
        else:
            ar.depth = depth
            enc = ENCODERS.get(t)
            if enc is None:
                enc = encoder_for(t)
            enc(ar, x)


def _enc_hom(ar, seq, container):
    """Write ``seq`` as one block if it is homogeneous; return whether it was."""
    t = type(seq[0])
    if t is not int and t is not float and t is not str:
        return False
    n = len(seq)
    if list(map(type, seq)).count(t) != n:
        return False
    if t is str:
        kind = H_STR
        ar.strs += seq
    else:
        try:
            block = np.fromiter(seq, _I8 if t is int else _F8, n)
        except OverflowError:
            return False
        kind = H_I64 if t is int else H_F64
        ar.raw += block.data
    ar.tags.append(T_HOM)
    ar.ints += (container, kind, n)
    return True


def _enc_list(ar, obj):
    n = len(obj)
    if n >= HOM_MIN and _enc_hom(ar, obj, 0):
        return
    ar.tags.append(T_LIST)
    ar.lens.append(n)
    depth = ar.depth
    _enc_items(ar, obj, depth + 1)
    ar.depth = depth


def _enc_tuple(ar, obj):
    n = len(obj)
    if n >= HOM_MIN and _enc_hom(ar, obj, 1):
        return
    ar.tags.append(T_TUPLE)
    ar.lens.append(n)
    depth = ar.depth
    _enc_items(ar, obj, depth + 1)
    ar.depth = depth


def _enc_set(ar, obj):
    ar.tags.append(T_FROZENSET if type(obj) is frozenset else T_SET)
    ar.lens.append(len(obj))
    depth = ar.depth
    _enc_items(ar, obj, depth + 1)
    ar.depth = depth


def _enc_dict(ar, obj):
    n = len(obj)
    depth = ar.depth
    if list(map(type, obj)).count(str) == n:     # str keys: to the key column
        ar.tags.append(T_SDICT)
        ar.lens.append(n)
        ar.keys += obj
        _enc_items(ar, obj.values(), depth + 1)
    else:
        ar.tags.append(T_DICT)
        ar.lens.append(n)
        _enc_items(ar, chain.from_iterable(obj.items()), depth + 1)
    ar.depth = depth


# ---------------------------------------------------------------- decoders

def _dec_none(ia):
    return None


def _dec_true(ia):
    return True


def _dec_false(ia):
    return False


def _dec_int(ia):
    return ia.next_int()


def _dec_float(ia):
    return ia.next_float()


def _dec_complex(ia):
    re = ia.next_float()
    return complex(re, ia.next_float())


def _dec_str(ia):
    return ia.next_str()


def _dec_bigint(ia):
    n = ia.next_int()
    pos = ia.take(n)
    return int.from_bytes(ia.raw[pos:pos + n], "little", signed=True)


def _dec_bytes(ia):
    n = ia.next_int()
    pos = ia.take(n)
    return bytes(ia.raw[pos:pos + n])


def _dec_bytearray(ia):
    n = ia.next_int()
    pos = ia.take(n)
    return bytearray(ia.raw[pos:pos + n])


def _dec_bufchunk(ia):
    mutable = ia.next_int()
    spec, arr = ia.next_chunk()
    if spec.kind != POINTER or arr.dtype != np.uint8 or arr.ndim != 1:
        raise SerializationError("bytes chunk of the wrong kind")
    return bytearray(arr) if mutable else arr.tobytes()


class _Getters(dict):
    """Tag -> zero-argument reader bound to one InputArchive, made on first use.

    The archive drops it when decoding ends (``Header.finish``), breaking the cycle.
    """

    __slots__ = ("ia",)

    def __missing__(self, tag):
        dec = DECODERS[tag]
        if dec is None:
            raise SerializationError(f"unknown value tag {tag}")
        reader = self[tag] = partial(dec, self.ia)
        return reader


_NONES, _TRUES, _FALSES = repeat(None).__next__, repeat(True).__next__, repeat(False).__next__


def _getters(ia):
    getters = ia.getters = _Getters({T_STR: ia.next_str, T_INT: ia.next_int,
                                     T_FLOAT: ia.next_float, T_NONE: _NONES, T_TRUE: _TRUES,
                                     T_FALSE: _FALSES})
    getters.ia = ia
    return getters


def _values(ia, n):
    """Read ``n`` values; the loop runs in C (map over the tag column), nesting included."""
    depth = ia.depth = ia.depth + 1
    if depth > MAX_DEPTH:
        _too_deep()
    getters = ia.getters or _getters(ia)
    out = list(map(call, map(getters.__getitem__, islice(ia.tag_iter, n))))
    if len(out) != n:        # tags ran dry (or a column did, which also ends the map)
        raise SerializationError(f"{n} values claimed, {len(out)} found")
    ia.depth = depth - 1
    return out


def _dec_list(ia):
    n = ia.next_len()
    if n > ia.ntags:
        raise SerializationError(f"{n} items claimed, the message holds {ia.ntags} values")
    depth = ia.depth + 1
    if depth > MAX_DEPTH:
        _too_deep()
    ia.depth = depth
    out = list(map(call, map((ia.getters or _getters(ia)).__getitem__,
                             islice(ia.tag_iter, n))))
    if len(out) != n:
        raise SerializationError(f"{n} values claimed, {len(out)} found")
    ia.depth = depth - 1
    return out


def _dec_tuple(ia):
    return tuple(_values(ia, ia.count()))


def _dec_set(ia):
    return set(_values(ia, ia.count()))


def _dec_frozenset(ia):
    return frozenset(_values(ia, ia.count()))


def _dec_dict(ia):
    items = iter(_values(ia, ia.count(2)))
    return dict(zip(items, items))


def _dec_sdict(ia):
    n = ia.next_len()
    if n > ia.ntags:
        raise SerializationError(f"{n} items claimed, the message holds {ia.ntags} values")
    depth = ia.depth + 1
    if depth > MAX_DEPTH:
        _too_deep()
    ia.depth = depth
    # the keys come from the key column; the values go straight into the dict (a column
    # running dry ends the zip early: caught by the count below)
    keys = tuple(islice(ia.key_iter, n))
    if n < 12:          # a few items: a plain loop allocates less than the C pipeline
        if len(keys) != n:
            raise SerializationError(f"{n} items claimed, {len(keys)} keys found")
        get = (ia.getters or _getters(ia)).__getitem__
        tag = ia.next_tag
        out = {}
        for k in keys:
            out[k] = get(tag())()
    else:
        out = dict(zip(keys, map(call, map((ia.getters or _getters(ia)).__getitem__,
                                           islice(ia.tag_iter, n)))))
    if len(out) != n:       # short key/value columns (or duplicate keys: never encoded)
        raise SerializationError(f"{n} items claimed, {len(out)} distinct items found")
    ia.depth = depth - 1
    return out


def _dec_hom(ia):
    nxt = ia.next_int
    container = nxt()
    kind = nxt()
    n = nxt()
    if container not in (0, 1) or n < 0:
        raise SerializationError(f"bad homogeneous block ({container}, {n})")
    if kind == H_STR:           # a slice of the string list; the iterator skips it
        si = ia.str_iter
        strs = ia.strs
        at = len(strs) - length_hint(si)
        out = strs[at:at + n]
        if len(out) != n:
            raise SerializationError("string column ran dry")
        si.__setstate__(at + n)
    elif kind == H_I64 or kind == H_F64:
        pos = ia.rpos
        nbytes = 8 * n
        if nbytes > ia.rend - pos:
            raise SerializationError(f"{n} numbers claimed, {ia.rend - pos} raw bytes left")
        ia.rpos = pos + nbytes
        block = array("q" if kind == H_I64 else "d")
        block.frombytes(memoryview(ia.raw)[pos:pos + nbytes])     # no intermediate copy
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
register_tag(T_SDICT, [], _enc_dict, _dec_sdict)
register_tag(T_SET, [set], _enc_set, _dec_set)
register_tag(T_FROZENSET, [frozenset], _enc_set, _dec_frozenset)
