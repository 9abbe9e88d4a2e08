"""Chunked zero-copy serialization (paper, section 3): index data, pointer and RMA chunks.

``dumps(obj)`` returns frames: frame 0 holds the index data (small values copied in) and
the chunk table; each further frame is a pointer chunk, a byte view of the caller's own
buffer. ``loads(frames)`` decodes in one go; ``decode_header(frame0)`` then
``Header.finish(buffers)`` decode in two phases so a transport can receive each chunk
straight into the final array. See docs/CONTRACTS.md.
"""
from .archive import (DEFAULT_THRESHOLD, POINTER, RMA, ChunkKind, OutputArchive, dumps,
                      dumps_archive, get_threshold, set_threshold)
from .errors import SerializationError
from .registry import register, serializable, type_id
from . import builtins as _builtins  # noqa: F401  (registers builtin types)
from . import arrays as _arrays      # noqa: F401  (registers numpy types)
from .buffer import SerializeBuffer
from .decoder import ChunkSpec, Header, InputArchive, decode_header, loads
from .wire import MAX_DEPTH

__all__ = [
    "dumps", "loads", "dumps_archive", "decode_header", "register", "serializable",
    "SerializeBuffer", "SerializationError", "get_threshold", "set_threshold",
    "ChunkSpec", "ChunkKind", "POINTER", "RMA", "Header", "OutputArchive", "InputArchive",
    "DEFAULT_THRESHOLD", "MAX_DEPTH", "type_id",
]
