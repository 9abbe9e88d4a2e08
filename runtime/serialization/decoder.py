"""Two-phase decoding: read the chunk table from frame 0, then build values over buffers.

Phase 1, ``decode_header(frame0)``, checks the header and the chunk table against frame 0
and lists one ``ChunkSpec`` per chunk. The receiver allocates a buffer per chunk (or
``Header.allocate()`` does), receives the chunk's bytes straight into it, and phase 2,
``Header.finish(buffers)``, decodes the index data; every array that travelled as a chunk
is the receiver's buffer itself (or a transposed view of it), never a copy.

Nothing from the wire is executed; every count and size is checked against the bytes
that are there before anything is allocated; any failure is a ``SerializationError``.

Hot-path economies, none of which trusts the wire more: decoding reuses InputArchives
from a free list (their per-tag readers are bound once), a chunk table whose exact bytes
were checked before is looked up instead of parsed, a message structure (tags, container
lengths, dict keys) seen before is decoded by a plan checked the first time (see
"structure plans" below), ``loads`` decodes a frame 0 without chunks without making a
Header, and maps a frame 0 it has checked (or built) for one C-ordered array straight to
a view of the chunk.
"""
import collections
import sys
from array import array
from itertools import accumulate
from operator import itemgetter, length_hint

import numpy as np

from .archive import FAST_F0, POINTER, RMA, ChunkKind, fast_frame0
from .dtypes import decode_dtype
from .errors import SerializationError
from .builtins import _FALSES, _NONES, _TRUES, _Getters, call
from .lean import MAGIC_LEAN, decode as _lean_decode
from .registry import DECODERS
from .wire import (CHUNK, FLOAT64S, HEADER, INT64S, MAGIC, MAX_DEPTH, MAX_KEYLEN, MAX_NDIM,
                   MODE_KEYS, MODE_STRS, T_BIGINT, T_BUFCHUNK, T_BYTEARRAY, T_BYTES,
                   T_COMPLEX, T_DICT, T_FALSE, T_FLOAT, T_FROZENSET, T_HOM, T_INT, T_LIST,
                   T_NDARRAY, T_NDCHUNK, T_NONE, T_NPSCALAR, T_SDICT, T_SET, T_STR, T_TRUE,
                   T_TUPLE, UINT32S, VERSION)

_SWAP = sys.byteorder == "big"
_Spec = collections.namedtuple("_Spec", "index kind nbytes dtype shape")


class ChunkSpec(_Spec):
    """What to allocate for one chunk: ``(index, kind, nbytes, dtype, shape)``.

    ``key`` is an RMA chunk's memory key (a tuple of ints), None for a pointer chunk.
    """

    key = None      # set on the instance for RMA chunks

    def __new__(cls, index, kind, nbytes, dtype, shape, key=None):
        self = tuple.__new__(cls, (index, kind, nbytes, dtype, shape))
        if key is not None:
            self.key = key
        return self

    def __repr__(self):
        return (f"ChunkSpec(index={self.index}, kind={self.kind.name}, nbytes={self.nbytes}, "
                f"dtype={self.dtype}, shape={self.shape}, key={self.key})")


_KINDS = {int(k): k for k in ChunkKind}
_ENTRIES = {}       # chunk-table entry bytes (pointer chunks, simple dtypes) -> parsed fields
_new_tuple = tuple.__new__
_ndarray = np.ndarray
_TABLES = {}        # chunk table bytes (pointer chunks only) -> tuple of ChunkSpecs


class InputArchive:
    """Read values back from index data and received chunk buffers (handed to ``load``).

    ``next_tag``, ``next_int``, ``next_float``, ``next_str`` and ``next_len`` pull the
    next item of each column (StopIteration when a column runs dry: a truncated message),
    ``key_iter`` yields dict keys; ``raw`` and ``rpos``/``rend`` are the raw byte column.
    """

    __slots__ = ("raw", "rpos", "rend", "depth", "specs", "arrays", "cursor", "next_tag",
                 "next_int", "next_float", "next_str", "next_len", "tag_iter", "int_iter",
                 "str_iter", "key_iter", "strs", "ntags", "getters", "pgetters")

    def read(self):
        """Read the next value."""
        tag = self.next_tag()
        dec = DECODERS[tag]
        if dec is None:
            raise SerializationError(f"unknown value tag {tag}")
        return dec(self)

    def load_binary(self):
        """Read the next ``save_binary`` buffer back as an ndarray."""
        arr = self.read()
        if not isinstance(arr, np.ndarray):
            raise SerializationError(f"expected a binary buffer, found {type(arr).__name__}")
        return arr

    def take(self, n):
        """Return the position in ``raw`` of the next ``n`` raw bytes and step over them."""
        pos = self.rpos
        if n < 0 or n > self.rend - pos:
            raise SerializationError(f"{n} raw bytes claimed, {self.rend - pos} left")
        self.rpos = pos + n
        return pos

    def count(self, per=1):
        """Read a container length (times ``per``) and check it against the message's tags."""
        n = per * self.next_len()
        if n > self.ntags:
            raise SerializationError(f"{n} items claimed, the message holds {self.ntags} values")
        return n

    def tags_left(self):
        """Number of value tags not yet read."""
        return length_hint(self.tag_iter)

    def next_chunk(self):
        """Return ``(spec, array)`` of the next chunk in table order."""
        i = self.cursor
        if i >= len(self.specs):
            raise SerializationError("index data refers to more chunks than the table lists")
        self.cursor = i + 1
        return self.specs[i], self.arrays[i]

    def read_rma_chunk(self):
        """Read the next value, an RMA chunk; return ``(array, key)``."""
        i = self.cursor
        arr = self.read()
        if self.cursor != i + 1 or self.specs[i].kind != RMA:
            raise SerializationError("expected an RMA chunk")
        return arr, self.specs[i].key


def _column(data, start, n, code):
    if n < len(INT64S):
        return (INT64S if code == "q" else FLOAT64S)[n].unpack_from(data, start)
    block = array(code)
    block.frombytes(data[start:start + 8 * n])
    if _SWAP:
        block.byteswap()
    return block.tolist()


def _strings(data, start, end, nstrs, mode):
    """Decode the string (or key) column ``data[start:end]`` of ``nstrs`` strings."""
    if not nstrs:
        if end != start:
            raise SerializationError("string bytes without strings")
        return []
    if not mode:
        out = str(memoryview(data)[start:end], "utf-8",    # no slice copy
                  "surrogatepass").split("\x00")
    else:
        if 8 * nstrs > end - start:
            raise SerializationError("string lengths overrun the string column")
        lengths = _column(data, start, nstrs, "q")
        text = data[start + 8 * nstrs:end].decode("utf-8", "surrogatepass")
        if min(lengths) < 0 or sum(lengths) != len(text):
            raise SerializationError("string lengths do not add up")
        offsets = list(accumulate(lengths, initial=0))
        out = [text[a:b] for a, b in zip(offsets, offsets[1:])]
    if len(out) != nstrs:
        raise SerializationError(f"{len(out)} strings found, {nstrs} announced")
    return out


def _lens(data, start, n):
    """The len column: ``n`` u32 at ``data[start:]``."""
    if n < 65:
        return UINT32S[n].unpack_from(data, start)
    return np.frombuffer(data, "<u4", n, start).tolist()


def _as_bytes(frame):
    if type(frame) is bytes or type(frame) is bytearray:    # read in place
        return frame
    try:
        mv = memoryview(frame)
    except TypeError as exc:
        raise SerializationError(f"frame 0 is not a buffer ({type(frame).__name__})") from exc
    if not mv.c_contiguous:
        raise SerializationError("frame 0 is not contiguous")
    return mv.tobytes()


class Header:
    """Frame 0 decoded as far as the chunk table: ``chunks``, ``allocate()``, ``finish()``."""

    __slots__ = ("chunks", "index_nbytes", "_data", "_layout")

    def __init__(self, data, chunks, layout, index_nbytes):
        self._data = data
        self.chunks = chunks
        self._layout = layout
        self.index_nbytes = index_nbytes

    @property
    def chunk_nbytes(self):
        """Total bytes the chunks will need."""
        return sum(c.nbytes for c in self.chunks)

    def allocate(self, max_nbytes=None):
        """Return one writable C-contiguous ndarray per chunk, of the chunk's dtype and shape.

        ``max_nbytes`` bounds the total (a header is trusted for sizes only this far).
        """
        if max_nbytes is not None and self.chunk_nbytes > max_nbytes:
            raise SerializationError(
                f"chunks need {self.chunk_nbytes} bytes, more than the allowed {max_nbytes}")
        try:
            return [np.empty(c.shape, c.dtype) for c in self.chunks]
        except (ValueError, MemoryError) as exc:
            raise SerializationError(f"cannot allocate chunk buffers: {exc}") from exc

    def finish(self, buffers):
        """Decode the value; chunk arrays are (views of) ``buffers``, never copies."""
        specs = self.chunks
        if len(buffers) != len(specs):
            raise SerializationError(f"{len(buffers)} chunk buffers for {len(specs)} chunks")
        if specs:
            try:
                arrays = []
                put = arrays.append
                for spec, buf in zip(specs, buffers):
                    tb = type(buf)
                    if tb is memoryview and buf.nbytes == spec[2] and buf.c_contiguous and spec[2]:
                        put(_ndarray(spec[4], spec[3], buf))      # a view, never a copy
                    elif (tb is np.ndarray and buf.dtype == spec[3] and buf.shape == spec[4]
                          and buf.flags.c_contiguous):
                        put(buf)
                    else:
                        put(_chunk_array(spec, buf))
            except (BufferError, ValueError, TypeError) as exc:
                if isinstance(exc, SerializationError):
                    raise
                raise SerializationError(f"bad chunk buffer: {exc}") from exc
        else:
            arrays = ()
        return _finish(self._data, self._layout, specs, arrays)


def _finish(data, layout, specs, arrays):
    """Decode the index data of frame 0 (``layout`` from ``_parse``) over chunk ``arrays``."""
    (ntags, nlens, nkeys, mode, nints, nfloats, nstrs, raw_end, floats_at, tags_at, lens_at,
     keys_at, strs_at, index_end) = layout
    plan = None
    if ntags <= _PLAN_MAX_TAGS and strs_at - tags_at <= _PLAN_MAX_BYTES:
        skey = data[tags_at:strs_at]
        if type(skey) is not bytes:                 # a bytearray frame 0
            skey = bytes(skey)
        plan = _PLANS.get(skey)
        if plan is None:
            if skey in _SEEN:                       # the second time: worth a plan
                plan = _plan_for(skey, data, layout)
            else:
                if len(_SEEN) >= _PLAN_CACHE:
                    _SEEN.clear()
                _SEEN[skey] = None
        if plan and plan[0] != layout[:4]:      # (how the bytes split into the columns)
            plan = None
    try:
        ia = _free_pop()
    except IndexError:
        ia = _new_archive()
    ia.raw, ia.rpos, ia.rend, ia.specs, ia.arrays, ia.cursor = (data, _HSIZE, raw_end, specs,
                                                                arrays, 0)
    try:
        ii = iter(INT64S[nints].unpack_from(data, raw_end) if nints < 65
                  else _column(data, raw_end, nints, "q"))
        fi = iter(_column(data, floats_at, nfloats, "d") if nfloats else ())
        ia.strs = strs = (_strings(data, strs_at, index_end, nstrs, mode & MODE_STRS)
                          if nstrs or index_end != strs_at else [])
        ia.str_iter = si = iter(strs)
        ia.next_int, ia.next_float, ia.next_str = ii.__next__, fi.__next__, si.__next__
        if plan:
            # every value that is not a container in one C loop over the plan's leaf tags
            # (scalars straight from their columns, others by their decoders, through
            # ``ia``), then the containers, innermost first
            _, leaf_tags, prog = plan
            pget = ia.pgetters
            pget[T_INT], pget[T_FLOAT], pget[T_STR] = ia.next_int, ia.next_float, ia.next_str
            vals = list(map(call, map(pget.__getitem__, leaf_tags)))
            if len(vals) != len(leaf_tags):
                raise SerializationError("truncated message: a column ran dry")
            put = vals.append
            for kind, keys, items in prog:
                if kind == T_SDICT:
                    put(dict(zip(keys, items(vals))))
                elif kind == T_LIST:
                    put(items(vals))                    # a slice: a new list
                else:
                    put(_close(kind, items(vals)))
            obj = vals[-1]
            ti = None               # (the plan read every tag, len and key)
        else:
            ia.depth, ia.ntags, ia.int_iter = 0, ntags, ii
            getters = ia.getters
            getters[T_INT], getters[T_FLOAT], getters[T_STR] = (ia.next_int, ia.next_float,
                                                                ia.next_str)
            ia.tag_iter = ti = iter(data[tags_at:lens_at])
            ia.next_tag = ti.__next__
            ia.next_len = (li := iter(_lens(data, lens_at, nlens))).__next__
            ia.key_iter = ki = iter(_strings(data, keys_at, strs_at, nkeys, mode & MODE_KEYS)
                                    if nkeys or keys_at != strs_at else ())
            tag = ti.__next__()
            dec = DECODERS[tag]
            if dec is None:
                raise SerializationError(f"unknown value tag {tag}")
            obj = dec(ia)
    except SerializationError:
        raise
    except StopIteration as exc:
        raise SerializationError("truncated message: a column ran dry") from exc
    except RecursionError as exc:
        raise SerializationError("values nested too deeply") from exc
    except Exception as exc:   # a user loader or numpy refusing hostile data
        raise SerializationError(f"malformed message: {type(exc).__name__}: {exc}") from exc
    finally:
        cursor, rpos = ia.cursor, ia.rpos
        # back to this thread's free list, holding none of the message's buffers (its
        # column iterators hold at most copies of this frame 0's small columns)
        ia.raw = ia.arrays = ia.specs = ia.strs = None
        _free_push(ia)
    if (rpos != raw_end or length_hint(ii) or length_hint(si) or length_hint(fi)
            or ti is not None and (length_hint(ti) or length_hint(li) or length_hint(ki))):
        raise SerializationError("trailing data after the value")
    if cursor != len(specs):
        raise SerializationError(f"{len(specs) - cursor} chunks left unused")
    return obj


# ---------------------------------------------------------------- structure plans
# A message's structure is its tag, len and key columns (adjacent in frame 0, see ``wire``):
# which values, which containers of how many items, which dict keys; not the values. RPC
# traffic repeats a few structures with new values, so a structure seen twice gets a plan,
# checked once (``_build_plan``): the tags of its leaves (the values that are not
# containers), and per container its kind, its keys (already decoded) and where its items
# are. Decoding by plan reads every leaf in one C loop, then builds the containers
# innermost first, one line each. The plan is only a shortcut: a structure that the
# classic decoder would refuse has none, and every value column is read and checked as
# before. Structures with values that read further tags themselves (SerializeBuffer, user
# types) have no plan either. Both tables are bounded (cleared when full).

_PLAN_MAX_TAGS = 512        # larger structures are decoded the classic way
_PLAN_MAX_BYTES = 1 << 13   # (their tag, len and key columns)
_PLAN_CACHE = 256           # entries of each table
_PLANS = {}          # structure bytes -> (split, leaf tags, program) or False (no plan)
_SEEN = {}           # structure bytes seen once
_CONTAINERS = frozenset((T_LIST, T_TUPLE, T_SDICT, T_DICT, T_SET, T_FROZENSET))
_LEAVES = frozenset((T_NONE, T_TRUE, T_FALSE, T_INT, T_BIGINT, T_FLOAT, T_COMPLEX, T_STR,
                     T_BYTES, T_BYTEARRAY, T_BUFCHUNK, T_HOM, T_NDARRAY, T_NDCHUNK,
                     T_NPSCALAR))
_NO_ITEMS = itemgetter(slice(0, 0))
_T_LIST_OF_TUPLE = 256      # plan kind: a list whose items the plan gets as a tuple


def _plan_for(skey, data, layout):
    """Build, cache and return the plan of a structure; False if it has none."""
    ntags, nlens, nkeys, mode, _, _, _, _, _, _, lens_at, keys_at, strs_at, _ = layout
    try:
        prog = _build_plan(skey[:ntags], _lens(data, lens_at, nlens),
                           _strings(data, keys_at, strs_at, nkeys, mode & MODE_KEYS))
    except Exception:           # malformed: the classic path says what is wrong
        prog = None
    # (ntags, nlens, nkeys, string modes): how the structure bytes split into tags, lens and
    # keys, and how the keys are coded (a message with other string modes is decoded the
    # classic way)
    plan = (layout[:4],) + prog if prog else False
    if len(_PLANS) >= _PLAN_CACHE:
        _PLANS.clear()
    _PLANS[skey] = plan
    _SEEN.pop(skey, None)
    return plan


def _build_plan(tags, lens, keys):
    """Return ``(leaf tags, program)`` for a well-formed structure, None for any other
    (decoded the classic way, which says what is wrong).

    Slots: the leaves (values that are not containers) in tag order, then the containers
    in the order they close (innermost first, the outermost value last). The program
    lists, per container, its kind, its keys (str-keyed dicts) and a getter of its items'
    slots.
    """
    nleaves = sum(tag not in _CONTAINERS for tag in tags)
    prog = []
    stack = []          # open containers: [kind, items left, item slots, keys]
    nlens = len(lens)
    li = ki = leaf = 0
    left = len(tags)
    done = False
    for tag in tags:
        left -= 1
        if done:
            return None
        if tag in _CONTAINERS:
            if li >= nlens or len(stack) >= MAX_DEPTH:
                return None
            n = lens[li]
            li += 1
            k = None
            if tag == T_SDICT:
                k = tuple(keys[ki:ki + n])
                ki += n
                if len(k) != n or len(set(k)) != n:
                    return None
            items = 2 * n if tag == T_DICT else n
            if items > left:
                return None
            if items:
                stack.append([tag, items, [], k])
                continue
            slot = nleaves + len(prog)
            prog.append((tag, k, _NO_ITEMS))
        elif tag in _LEAVES:
            slot = leaf
            leaf += 1
        else:
            return None
        while stack:            # hand ``slot`` to its container, close what it completes
            top = stack[-1]
            top[2].append(slot)
            top[1] -= 1
            if top[1]:
                break
            stack.pop()
            kind, _, got, k = top
            first = got[0]
            if got == list(range(first, first + len(got))):     # one slice: a new list
                items = itemgetter(slice(first, first + len(got)))
            else:                                               # a tuple
                items = itemgetter(*got) if len(got) > 1 else itemgetter(slice(first, first + 1))
                if kind == T_LIST:
                    kind = _T_LIST_OF_TUPLE                     # (made a list by _close)
            slot = nleaves + len(prog)
            prog.append((kind, k, items))
        else:
            done = True
    if not done or li != nlens or ki != len(keys):
        return None
    return bytes(tag for tag in tags if tag not in _CONTAINERS), tuple(prog)


def _close(kind, vals):
    """Build a container of ``kind`` (not a str-keyed dict) from its items ``vals``."""
    if kind == T_TUPLE:
        return tuple(vals)
    if kind == T_DICT:
        it = iter(vals)
        v = dict(zip(it, it))
        if 2 * len(v) != len(vals):
            raise SerializationError(f"{len(vals) // 2} items claimed, {len(v)} distinct found")
        return v
    if kind == T_SET:
        return set(vals)
    if kind == T_FROZENSET:
        return frozenset(vals)
    return list(vals)                       # _T_LIST_OF_TUPLE


# free InputArchives, shared by all threads: each decode pops one (or makes one) and pushes
# it back (decoding may nest), one list operation each, atomic
_free = []
_free_pop, _free_push = _free.pop, _free.append
_HSIZE = HEADER.size


def _new_archive():
    """Return an InputArchive whose tag readers (``getters``) are bound to it for good."""
    ia = InputArchive()
    ia.getters = getters = _Getters({T_NONE: _NONES, T_TRUE: _TRUES, T_FALSE: _FALSES})
    getters.ia = ia
    # the same for decoding by plan (leaves only)
    ia.pgetters = pget = _Getters({T_NONE: _NONES, T_TRUE: _TRUES, T_FALSE: _FALSES})
    pget.ia = ia
    return ia


class LeanHeader:
    """A lean frame 0 (see ``lean``): no chunks; ``finish(())`` decodes it."""

    __slots__ = ("chunks", "_data")
    chunk_nbytes = 0

    def __init__(self, data):
        self._data = data
        self.chunks = []

    @property
    def index_nbytes(self):
        """Size of frame 0."""
        return len(self._data)

    def allocate(self, max_nbytes=None):
        """Return no buffers (a lean message has no chunks)."""
        return []

    def finish(self, buffers):
        """Decode the value."""
        if len(buffers):
            raise SerializationError(f"{len(buffers)} chunk buffers for 0 chunks")
        return _lean_decode(self._data)


def _chunk_array(spec, buf):
    if type(buf) is np.ndarray:
        if buf.dtype == spec.dtype and buf.shape == spec.shape and buf.flags.c_contiguous:
            return buf
    elif (type(buf) is memoryview and buf.format == "B" and buf.ndim == 1
          and buf.c_contiguous and buf.nbytes == spec.nbytes and buf.nbytes):
        arr = np.frombuffer(buf, dtype=spec.dtype)      # 1-D bytes: always contiguous
        return arr if len(spec.shape) == 1 else arr.reshape(spec.shape)
    try:
        mv = memoryview(buf)
    except TypeError as exc:
        raise SerializationError(
            f"chunk {spec.index}: not a buffer ({type(buf).__name__})") from exc
    if not mv.c_contiguous:
        raise SerializationError(f"chunk {spec.index}: buffer is not contiguous")
    if mv.nbytes != spec.nbytes:
        raise SerializationError(
            f"chunk {spec.index}: {mv.nbytes} bytes received, {spec.nbytes} announced")
    if spec.nbytes == 0:
        return np.empty(spec.shape, spec.dtype)
    if mv.ndim != 1 or mv.format not in ("B", "b", "c"):
        mv = mv.cast("B")
    arr = np.frombuffer(mv, dtype=spec.dtype)
    return arr if len(spec.shape) == 1 else arr.reshape(spec.shape)


def decode_header(frame0):
    """Phase 1: check frame 0's header and chunk table; return a Header.

    ``bytes`` and ``bytearray`` are read in place (keep a bytearray unchanged until
    ``finish`` returns); any other contiguous buffer is copied once (it is small).
    """
    try:
        data = frame0 if type(frame0) is bytes else _as_bytes(frame0)
        if data[:4] == MAGIC_LEAN:
            return LeanHeader(data)
        return _decode_header(data)
    except SerializationError:
        raise
    except Exception as exc:     # defensive: nothing but SerializationError leaves here
        raise SerializationError(f"malformed header: {type(exc).__name__}: {exc}") from exc


def _parse(data):
    """Check frame 0's header against its size; return ``(layout, nchunks)``."""
    size = len(data)
    if size < _HSIZE:
        raise SerializationError(
            f"frame 0 has {size} bytes, fewer than the {HEADER.size}-byte header")
    (magic, version, mode, nchunks, ntags, nints, nfloats, nlens, nkeys, nstrs, raw_nbytes,
     key_nbytes, str_nbytes) = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise SerializationError(f"bad magic {magic!r}: not an octosim archive")
    if version != VERSION:
        raise SerializationError(f"archive version {version}, this reader knows {VERSION}")
    if mode & ~(MODE_STRS | MODE_KEYS):
        raise SerializationError(f"unknown string mode {mode}")
    raw_end = _HSIZE + raw_nbytes
    floats_at = raw_end + 8 * nints
    tags_at = floats_at + 8 * nfloats
    lens_at = tags_at + ntags
    keys_at = lens_at + 4 * nlens
    strs_at = keys_at + key_nbytes
    index_end = strs_at + str_nbytes
    if (index_end > size or nstrs > str_nbytes + 1 or nkeys > key_nbytes + 1
            or nlens > ntags or nkeys > ntags):
        raise SerializationError(f"index data of {index_end} bytes overruns frame 0 ({size} bytes)")
    return (ntags, nlens, nkeys, mode, nints, nfloats, nstrs, raw_end, floats_at, tags_at,
            lens_at, keys_at, strs_at, index_end), nchunks


def _decode_header(data):
    layout, nchunks = _parse(data)
    size = len(data)
    pos = index_end = layout[-1]
    if nchunks * CHUNK.size > size - pos:
        raise SerializationError(f"{nchunks} chunks claimed, table has {size - pos} bytes")
    if not nchunks:
        if pos != size:
            raise SerializationError(f"{size - pos} stray bytes after the chunk table")
        return Header(data, [], layout, index_end - HEADER.size)
    table = data[pos:] if type(data) is bytes else bytes(data[pos:])
    known = _TABLES.get(table)
    if known is not None and len(known) == nchunks:     # the same table bytes, checked before
        return Header(data, list(known), layout, index_end - HEADER.size)
    chunks = []
    entries = _ENTRIES
    for i in range(nchunks):
        if pos + CHUNK.size + 2 > size:
            raise SerializationError("truncated chunk table")
        # a known (kind, nbytes, simple dtype, shape) entry skips the checks it passed before
        if data[pos + CHUNK.size] == 0:
            stop = pos + CHUNK.size + 2 + data[pos + CHUNK.size + 1] + 8 * data[pos + 1]
            known = entries.get(bytes(data[pos:stop]))
            if known is not None:
                chunks.append(_new_tuple(ChunkSpec, (i,) + known))
                pos = stop
                continue
        start = pos
        kind, ndim, keylen, nbytes = CHUNK.unpack_from(data, pos)
        kind = _KINDS.get(kind)
        if kind is None:
            raise SerializationError(f"chunk {i}: unknown kind")
        if ndim > MAX_NDIM or keylen > MAX_KEYLEN or (keylen and kind != RMA):
            raise SerializationError(f"chunk {i}: bad ndim {ndim} or key length {keylen}")
        dtype, pos = decode_dtype(data, pos + CHUNK.size, size)
        if pos + 8 * (ndim + keylen) > size:
            raise SerializationError("truncated chunk table")
        shape = INT64S[ndim].unpack_from(data, pos)
        pos += 8 * ndim
        key = INT64S[keylen].unpack_from(data, pos) if kind == RMA else None
        pos += 8 * keylen
        count = 1
        for n in shape:
            if n < 0:
                raise SerializationError(f"chunk {i}: negative dimension in {shape}")
            count *= n
        if dtype.itemsize == 0 or count * dtype.itemsize != nbytes:
            raise SerializationError(
                f"chunk {i}: {nbytes} bytes do not hold {shape} of {dtype}")
        spec = _new_tuple(ChunkSpec, (i, kind, nbytes, dtype, shape))
        if key is not None:
            spec.key = key
        elif data[start + CHUNK.size] == 0 and len(entries) < 1024:
            entries[bytes(data[start:pos])] = (kind, nbytes, dtype, shape)
        chunks.append(spec)
    if pos != size:
        raise SerializationError(f"{size - pos} stray bytes after the chunk table")
    if len(_TABLES) < 1024 and all(c.kind == POINTER and c.key is None for c in chunks):
        _TABLES[table] = tuple(chunks)
    return Header(data, chunks, layout, index_end - HEADER.size)


def loads(frames):
    """Decode frames from ``dumps``; chunk arrays are views of ``frames[1:]`` (zero copy)."""
    if type(frames) is not list:
        try:
            frames = list(frames)
        except TypeError as exc:
            raise SerializationError("frames must be a sequence of buffers") from exc
    if not frames:
        raise SerializationError("no frames")
    f0 = frames[0]
    if len(frames) == 1:
        tf = type(f0)
        if (tf is bytes or tf is bytearray) and f0[:4] == MAGIC:   # no chunks: no Header
            layout, nchunks = _parse(f0)
            if not nchunks and layout[-1] == len(f0):
                return _finish(f0, layout, (), ())
    elif len(frames) == 2 and type(f0) is bytes:
        fast = FAST_F0.get(f0)
        if fast is not None:          # one C-ordered array (a frame 0 we built or checked)
            buf = frames[1]
            if (type(buf) is memoryview and buf.nbytes == fast[2] and buf.ndim == 1
                    and buf.format == "B" and fast[2]):
                arr = np.frombuffer(buf, fast[0])
                return arr if len(fast[1]) == 1 else arr.reshape(fast[1])
        obj = decode_header(f0).finish(frames[1:])
        if fast is None and type(obj) is np.ndarray and len(FAST_F0) < 1024:
            _learn(f0, obj)
        return obj
    return decode_header(f0).finish(frames[1:])


def _learn(f0, arr):
    """Remember a checked frame 0 of one C-ordered array so the next one decodes fast."""
    try:
        if arr.flags.c_contiguous and fast_frame0(arr.dtype, arr.shape)[0] == f0:
            FAST_F0[f0] = (arr.dtype, arr.shape, arr.nbytes)
    except TypeError:
        pass
