"""Two-phase decoding: read the chunk table from frame 0, then build values over buffers.

Phase 1, ``decode_header(frame0)``, checks the header and the chunk table against frame 0
and lists one ``ChunkSpec`` per chunk. The receiver allocates a buffer per chunk (or
``Header.allocate()`` does), receives the chunk's bytes straight into it, and phase 2,
``Header.finish(buffers)``, decodes the index data; every array that travelled as a chunk
is the receiver's buffer itself (or a transposed view of it), never a copy.

Nothing from the wire is executed; every count and size is checked against the bytes
that are there before anything is allocated; any failure is a ``SerializationError``.
"""
import collections

import numpy as np

from .archive import POINTER, RMA, ChunkKind
from .dtypes import decode_dtype
from .errors import SerializationError
from .registry import DECODERS
from .wire import CHUNK, HEADER, MAGIC, MAX_KEYLEN, MAX_NDIM, VERSION

_Spec = collections.namedtuple("_Spec", "index kind nbytes dtype shape")


class ChunkSpec(_Spec):
    """What to allocate for one chunk: ``(index, kind, nbytes, dtype, shape)``; ``.key`` for RMA."""

    def __new__(cls, index, kind, nbytes, dtype, shape, key=None):
        self = super().__new__(cls, index, kind, nbytes, dtype, shape)
        self.key = key
        return self

    def __repr__(self):
        return (f"ChunkSpec(index={self.index}, kind={self.kind.name}, nbytes={self.nbytes}, "
                f"dtype={self.dtype}, shape={self.shape}, key={self.key})")


class InputArchive:
    """Read values back from index data and received chunk buffers (handed to ``load``)."""

    __slots__ = ("data", "pos", "end", "depth", "specs", "arrays", "cursor")

    def __init__(self, data, pos, end, specs, arrays):
        self.data, self.pos, self.end = data, pos, end
        self.depth = 0
        self.specs, self.arrays, self.cursor = specs, arrays, 0

    def read(self):
        """Read the next value."""
        pos = self.pos
        if pos >= self.end:
            raise SerializationError("index data ends before the value does")
        dec = DECODERS[self.data[pos]]
        if dec is None:
            raise SerializationError(f"unknown value tag {self.data[pos]}")
        self.pos = pos + 1
        return dec(self)

    def load_binary(self):
        """Read the next ``save_binary`` buffer back as an ndarray."""
        arr = self.read()
        if not isinstance(arr, np.ndarray):
            raise SerializationError(f"expected a binary buffer, found {type(arr).__name__}")
        return arr

    def take(self, n):
        """Return the position of the next ``n`` raw bytes and step over them."""
        pos = self.pos
        if n < 0 or n > self.end - pos:
            raise SerializationError(f"{n} bytes claimed, {self.end - pos} left in index data")
        self.pos = pos + n
        return pos

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


def _as_bytes(frame):
    if type(frame) is bytes:
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

    __slots__ = ("chunks", "index_nbytes", "_data", "_index_end")

    def __init__(self, data, chunks, index_end):
        self._data = data
        self.chunks = chunks
        self._index_end = index_end
        self.index_nbytes = index_end - HEADER.size

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
        arrays = [_chunk_array(spec, buf) for spec, buf in zip(specs, buffers)]
        ia = InputArchive(self._data, HEADER.size, self._index_end, specs, arrays)
        try:
            obj = ia.read()
        except SerializationError:
            raise
        except RecursionError as exc:
            raise SerializationError("values nested too deeply") from exc
        except Exception as exc:   # a user loader or numpy refusing hostile data
            raise SerializationError(f"malformed message: {type(exc).__name__}: {exc}") from exc
        if ia.pos != ia.end:
            raise SerializationError(f"{ia.end - ia.pos} trailing bytes after the value")
        if ia.cursor != len(specs):
            raise SerializationError(f"{len(specs) - ia.cursor} chunks left unused")
        return obj


def _chunk_array(spec, buf):
    if (type(buf) is np.ndarray and buf.dtype == spec.dtype and buf.shape == spec.shape
            and buf.flags.c_contiguous):
        return buf
    try:
        mv = memoryview(buf)
    except TypeError as exc:
        raise SerializationError(f"chunk {spec.index}: not a buffer ({type(buf).__name__})") from exc
    if not mv.c_contiguous:
        raise SerializationError(f"chunk {spec.index}: buffer is not contiguous")
    if mv.nbytes != spec.nbytes:
        raise SerializationError(
            f"chunk {spec.index}: {mv.nbytes} bytes received, {spec.nbytes} announced")
    if spec.nbytes == 0:
        return np.empty(spec.shape, spec.dtype)
    if mv.ndim != 1 or mv.format not in ("B", "b", "c"):
        mv = mv.cast("B")
    return np.frombuffer(mv, dtype=spec.dtype).reshape(spec.shape)


def decode_header(frame0):
    """Phase 1: check frame 0's header and chunk table; return a Header."""
    data = _as_bytes(frame0)
    size = len(data)
    if size < HEADER.size:
        raise SerializationError(f"frame 0 has {size} bytes, fewer than the {HEADER.size}-byte header")
    magic, version, nchunks, index_len = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise SerializationError(f"bad magic {magic!r}: not an octosim archive")
    if version != VERSION:
        raise SerializationError(f"archive version {version}, this reader knows {VERSION}")
    index_end = HEADER.size + index_len
    if index_end > size:
        raise SerializationError(f"index data of {index_len} bytes overruns frame 0 ({size} bytes)")
    pos = index_end
    if nchunks * CHUNK.size > size - pos:
        raise SerializationError(f"{nchunks} chunks claimed, table has {size - pos} bytes")
    chunks = []
    for i in range(nchunks):
        if pos + CHUNK.size > size:
            raise SerializationError("truncated chunk table")
        kind, ndim, keylen, nbytes = CHUNK.unpack_from(data, pos)
        if kind not in (POINTER, RMA):
            raise SerializationError(f"chunk {i}: unknown kind {kind}")
        if ndim > MAX_NDIM or keylen > MAX_KEYLEN or (keylen and kind != RMA):
            raise SerializationError(f"chunk {i}: bad ndim {ndim} or key length {keylen}")
        dtype, pos = decode_dtype(data, pos + CHUNK.size, size)
        if pos + 8 * (ndim + keylen) > size:
            raise SerializationError("truncated chunk table")
        shape = tuple(np.frombuffer(data, "<i8", ndim, pos).tolist()) if ndim else ()
        pos += 8 * ndim
        key = tuple(np.frombuffer(data, "<i8", keylen, pos).tolist()) if kind == RMA else None
        pos += 8 * keylen
        count = 1
        for n in shape:
            if n < 0:
                raise SerializationError(f"chunk {i}: negative dimension in {shape}")
            count *= n
        if dtype.itemsize == 0 or count * dtype.itemsize != nbytes:
            raise SerializationError(
                f"chunk {i}: {nbytes} bytes do not hold {shape} of {dtype}")
        chunks.append(ChunkSpec(i, ChunkKind(kind), nbytes, dtype, shape, key))
    if pos != size:
        raise SerializationError(f"{size - pos} stray bytes after the chunk table")
    return Header(data, chunks, index_end)


def loads(frames):
    """Decode frames from ``dumps``; chunk arrays are views of ``frames[1:]`` (zero copy)."""
    try:
        frames = list(frames)
    except TypeError as exc:
        raise SerializationError("frames must be a sequence of buffers") from exc
    if not frames:
        raise SerializationError("no frames")
    return decode_header(frames[0]).finish(frames[1:])
