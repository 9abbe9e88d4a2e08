"""The output archive and its chunker: index data copied in, pointer chunks referenced.

Small values are copied into the index data (columns of frame 0, see ``wire``). A
contiguous buffer of at least the zero-copy threshold becomes a pointer chunk instead: the
archive keeps a reference to the caller's memory and emits a byte view of it as its own
frame, never a copy (paper, section 3.1). A Fortran-ordered array travels as its C-ordered
transpose, still without a copy; only a non-contiguous (strided) array above the threshold
is first copied to a contiguous temporary, and that copy is counted in ``bytes_copied``.
RMA chunks are pointer chunks that also carry a small memory key for one-sided transports
(paper, section 3.4).

Copy accounting, exact: ``bytes_copied`` is the size of frame 0 plus those temporaries;
``bytes_zero_copy`` is the size of the chunks that view the caller's memory; their sum is
``nbytes``, the size of all frames.
"""
import enum

import numpy as np

from . import lean
from .registry import ENCODERS, encoder_for
from .dtypes import dtype_spec
from .wire import (CHUNK, FLOAT64S, HEADER, I64_MAX, I64_MIN, INT64S, MAGIC, MAX_KEYLEN,
                   MODE_KEYS, MODE_STRS, T_NDCHUNK, UINT32S, VERSION)

DEFAULT_THRESHOLD = 4096
_entries = {}    # (kind, dtype, shape) -> (chunk-table entry bytes, cast ok), keyless chunks
_threshold = DEFAULT_THRESHOLD


class ChunkKind(enum.IntEnum):
    """Kind of a non-index chunk."""

    POINTER = 1
    RMA = 2


POINTER = ChunkKind.POINTER
RMA = ChunkKind.RMA


def get_threshold():
    """Return the global zero-copy threshold in bytes."""
    return _threshold


def _check_threshold(n):
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"zero-copy threshold must be an int >= 0, got {n!r}")
    return n


def set_threshold(nbytes):
    """Set the global zero-copy threshold: buffers of at least ``nbytes`` become pointer chunks.

    Returns the previous value. 0 sends every array and bytes object as a chunk (even empty
    ones); a huge value turns zero copy off.
    """
    global _threshold
    old, _threshold = _threshold, _check_threshold(nbytes)
    return old


def _as_flat_array(buffer):
    """Return a C-contiguous ndarray over ``buffer`` without copying; ValueError if impossible."""
    if isinstance(buffer, np.ndarray):
        if not buffer.flags.c_contiguous:
            raise ValueError("chunk buffer must be C-contiguous")
        return buffer
    try:
        return np.frombuffer(buffer, dtype=np.uint8)
    except BufferError as exc:
        raise ValueError(f"chunk buffer must be contiguous: {exc}") from exc


class OutputArchive:
    """Serialize values into index data plus pointer/RMA chunks; read ``frames`` at the end.

    Encoders append one tag per value to ``tags`` and its payload to ``ints``, ``floats``,
    ``strs`` or ``raw``, a container's item count to ``lens`` and a str-keyed dict's keys to
    ``keys`` (see ``wire``); ``raw`` is the bytearray that becomes frame 0.
    """

    __slots__ = ("raw", "tags", "ints", "floats", "strs", "lens", "keys", "threshold", "depth",
                 "_chunks", "frames", "bytes_copied", "bytes_zero_copy", "puts")

    def __init__(self, threshold=None):
        self.raw = bytearray(HEADER.size)
        self.tags = tags = bytearray()
        self.ints = ints = []
        self.floats = floats = []
        self.strs = strs = []
        self.lens = lens = []
        self.keys = keys = []
        # the column appenders, bound once: (tag, int, float, str, len, keys.extend)
        self.puts = (tags.append, ints.append, floats.append, strs.append, lens.append,
                     keys.extend)
        self.threshold = _threshold if threshold is None else _check_threshold(threshold)
        self.depth = 0
        self._chunks = []          # (kind, C-contiguous ndarray, key, copied)
        self.frames = None
        self.bytes_copied = 0
        self.bytes_zero_copy = 0

    def write(self, obj):
        """Append one value of any registered type."""
        tp = type(obj)
        enc = ENCODERS.get(tp)
        if enc is None:
            enc = encoder_for(tp)
        enc(self, obj)

    def save_binary(self, buffer):
        """Append a buffer: a pointer chunk at or above the threshold, else copied inline.

        Reads back (``read``/``load_binary``) as an ndarray of the buffer's dtype and shape
        (uint8 for a non-numpy buffer).
        """
        arr = buffer if isinstance(buffer, np.ndarray) else np.frombuffer(buffer, np.uint8)
        self.write(arr)

    def add_chunk(self, kind, array, key=None, copied=False):
        """Append a chunk over C-contiguous ``array`` to the chunk table; return its index."""
        self._chunks.append((kind, array, key, copied))
        return len(self._chunks) - 1

    def write_pointer_chunk(self, buffer):
        """Append ``buffer`` as a pointer chunk whatever its size (reads back as an ndarray)."""
        self.add_chunk(POINTER, _as_flat_array(buffer))
        self.tags.append(T_NDCHUNK)
        self.ints.append(0)

    def write_rma_chunk(self, buffer, key):
        """Append ``buffer`` as an RMA chunk carrying ``key``, a tuple of up to 8 int64 words.

        Whatever its size it is never copied; ``read_rma_chunk`` returns ``(array, key)``.
        """
        key = tuple(key)
        if len(key) > MAX_KEYLEN or not all(
                isinstance(k, (int, np.integer)) and I64_MIN <= k <= I64_MAX for k in key):
            raise ValueError(f"RMA key must be at most {MAX_KEYLEN} int64 words, got {key!r}")
        self.add_chunk(RMA, _as_flat_array(buffer), tuple(int(k) for k in key))
        self.tags.append(T_NDCHUNK)
        self.ints.append(0)

    @property
    def nchunks(self):
        """Number of pointer and RMA chunks (frames after frame 0)."""
        return len(self._chunks)

    @property
    def nbytes(self):
        """Total bytes over all frames (``bytes_copied + bytes_zero_copy``)."""
        return self.bytes_copied + self.bytes_zero_copy

    def finish(self):
        """Append the columns and chunk table, fill in the header, build ``frames``."""
        if self.frames is not None:
            return self
        buf = self.raw
        raw_nbytes = len(buf) - HEADER.size
        ints, floats, lens, keys, strs = self.ints, self.floats, self.lens, self.keys, self.strs
        if ints:
            n = len(ints)
            buf += (INT64S[n].pack(*ints) if n < 65 else np.fromiter(ints, "<i8", n).data)
        if floats:
            n = len(floats)
            buf += (FLOAT64S[n].pack(*floats) if n < 65 else np.fromiter(floats, "<f8", n).data)
        buf += self.tags
        if lens:
            n = len(lens)
            buf += (UINT32S[n].pack(*lens) if n < 65 else np.fromiter(lens, "<u4", n).data)
        mode = 0
        start = len(buf)
        if keys and _put_strings(buf, keys):
            mode = MODE_KEYS
        key_nbytes = len(buf) - start
        if strs and _put_strings(buf, strs):
            mode |= MODE_STRS
        str_nbytes = len(buf) - start - key_nbytes
        frames = [buf]
        copied = zero = 0
        entries = _entries
        for kind, arr, key, was_copied in self._chunks:
            nbytes = arr.nbytes
            entry = entries.get((kind, arr.dtype, arr.shape)) if not key else None
            if entry is None:
                entry = _chunk_entry(kind, arr, key)
            buf += entry[0]
            if key:
                buf += INT64S[len(key)].pack(*key)
            frames.append(memoryview(arr).cast("B") if entry[1]
                          else memoryview(arr.reshape(-1).view(np.uint8)))
            if was_copied:
                copied += nbytes
            else:
                zero += nbytes
        HEADER.pack_into(buf, 0, MAGIC, VERSION, mode, len(self._chunks), len(self.tags),
                         len(ints), len(floats), len(lens), len(keys), len(strs), raw_nbytes,
                         key_nbytes, str_nbytes)
        self.frames = frames
        self.bytes_copied = len(buf) + copied
        self.bytes_zero_copy = zero
        return self


def _put_strings(buf, strs):
    """Append a string column to ``buf``; return True if it needs lengths (mode 1)."""
    cat = "".join(strs)
    if "\x00" in cat:          # a string holds a NUL (memchr; str.count would walk it all)
        buf += np.fromiter(map(len, strs), "<i8", len(strs)).data
        buf += cat.encode("utf-8", "surrogatepass")
        return True
    buf += "\x00".join(strs).encode("utf-8", "surrogatepass")
    return False


# ---------------------------------------------------------------- one array, fast
# A top-level C-contiguous ndarray at or above the threshold (the common large message) has
# a frame 0 that depends on its dtype and shape only: build it once, then reuse it. FAST_F0
# maps such a frame 0 (bytes) back to ``(dtype, shape, nbytes)`` for ``loads``.

_fast = {}       # (dtype, shape) -> (frame 0 bytes, nbytes, cast) ; cast: memoryview.cast works
FAST_F0 = {}     # frame 0 bytes -> (dtype, shape, nbytes), only frames this module would emit
_FAST_MAX = 1024
_new = object.__new__


def fast_frame0(dtype, shape):
    """Return the frame 0 of one C-ordered pointer-chunk array of ``dtype`` and ``shape``."""
    nbytes = dtype.itemsize
    for n in shape:
        nbytes *= n
    return (HEADER.pack(MAGIC, VERSION, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
            + INT64S[1].pack(0) + bytes((T_NDCHUNK,)) + CHUNK.pack(POINTER, len(shape), 0, nbytes)
            + dtype_spec(dtype) + INT64S[len(shape)].pack(*shape)), nbytes


def _fast_entry(a):
    key = (a.dtype, a.shape)
    f0, nbytes = fast_frame0(a.dtype, a.shape)
    try:
        memoryview(a).cast("B")
        cast = True
    except (TypeError, ValueError):
        cast = False
    entry = (f0, nbytes, cast)
    if len(_fast) < _FAST_MAX:
        _fast[key] = entry
        FAST_F0[f0] = (a.dtype, a.shape, nbytes)
    return entry


def _fast_array(a, threshold):
    """Return ``(frames, frame-0 size, chunk bytes)`` for a large C-contiguous array, else None."""
    th = _threshold if threshold is None else _check_threshold(threshold)
    if a.nbytes < th or not a.flags.c_contiguous:
        return None
    entry = _fast.get((a.dtype, a.shape))
    if entry is None:
        try:
            entry = _fast_entry(a)
        except TypeError:           # object dtypes: the generic path says why
            return None
    f0, nbytes, cast = entry
    frame = memoryview(a).cast("B") if cast else memoryview(a.reshape(-1).view(np.uint8))
    return [f0, frame], len(f0), nbytes


def _chunk_entry(kind, arr, key):
    """Return ``(chunk-table entry bytes, whether memoryview.cast("B") works)``, cached when keyless."""
    shape = arr.shape
    entry = (CHUNK.pack(kind, len(shape), len(key) if key else 0, arr.nbytes)
             + dtype_spec(arr.dtype) + INT64S[len(shape)].pack(*shape))
    try:
        memoryview(arr).cast("B")
        cast = True
    except (TypeError, ValueError):      # formats memoryview cannot cast
        cast = False
    if not key and len(_entries) < 1024:
        _entries[(kind, arr.dtype, shape)] = (entry, cast)
    return entry, cast


def dumps_archive(obj, threshold=None):
    """Serialize ``obj``; return the finished OutputArchive (``frames``, copy accounting)."""
    if type(obj) is np.ndarray:
        fast = _fast_array(obj, threshold)
        if fast is not None:
            ar = _new(OutputArchive)
            ar.frames, ar.bytes_copied, ar.bytes_zero_copy = fast
            ar._chunks = _ONE
            return ar
    elif type(obj) is tuple:
        f0 = lean.encode(obj, _threshold if threshold is None else _check_threshold(threshold))
        if f0 is not None:
            ar = _new(OutputArchive)
            ar.frames = [f0]
            ar.bytes_copied = len(f0)
            ar.bytes_zero_copy = 0
            ar._chunks = ()
            return ar
    ar = OutputArchive(threshold)
    ar.write(obj)
    return ar.finish()


_ONE = (None,)      # stands for the chunk list of a fast archive (``nchunks`` is 1)


def dumps(obj, threshold=None):
    """Serialize ``obj`` into frames: index data + chunk table, then one frame per chunk."""
    if type(obj) is np.ndarray:
        fast = _fast_array(obj, threshold)
        if fast is not None:
            return fast[0]
    elif type(obj) is tuple:
        f0 = lean.encode(obj, _threshold if threshold is None else _check_threshold(threshold))
        if f0 is not None:
            return [f0]
    ar = OutputArchive(threshold)
    ar.write(obj)
    return ar.finish().frames
