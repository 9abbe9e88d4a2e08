"""Wire constants: frame-0 layout, value tags and the packers shared by encoder and decoder.

Frame 0 is ``HEADER | raw | ints | floats | tags | lens | keys | strings | chunk table``,
all integers little-endian. The index data is columnar, so that decoding walks one byte per
value and takes payloads from ready-made Python lists instead of unpacking them one by one:

* HEADER (60 bytes): magic ``b"OCZ\\x03"``, version u8, string modes u8 (bit 0: the string
  column, bit 1: the key column; see below), 2 pad bytes, then u32 counts nchunks, ntags,
  nints, nfloats, nlens, nkeys, nstrs, then u64 raw, key and string bytes.
* raw: byte payloads in value order (bytes, big ints, numpy scalars with their dtype
  specs, inline arrays with their headers (see ``arrays``), homogeneous number blocks).
* ints: int64 per int value, byte and big-int lengths, homogeneous block headers, chunk
  array order, user type id and value count.
* floats: float64 per float value (two per complex).
* tags: one byte per value (``T_*``), in depth-first order.
* lens: u32 per container (list, tuple, dict, set, frozenset: its item count, in tag order).
* keys: the keys of every str-keyed dict (``T_SDICT``), in tag order, coded as strings.
* strings: every other str value (homogeneous str blocks included), UTF-8; mode 0: joined
  with NUL (used when no string holds a NUL), mode 1: nstrs int64 character lengths, then
  the concatenation. The key column uses the same two modes.
* chunk table: per chunk ``kind u8, ndim u8, keylen u8, nbytes u64``, a dtype spec
  (see ``dtypes``), ``ndim`` i64 dims, ``keylen`` i64 key words (RMA chunks only).

tags, lens and keys together are the message's structure (no values): they are adjacent
so that a decoder can recognise a structure it has seen before by their bytes alone.

Frames 1..n are the chunks' raw bytes, in chunk-table order.

Two shortcuts share this wire: a flat tuple of small values (an action's arguments, no
chunks) travels as a lean frame 0 that starts with ``lean.MAGIC_LEAN`` instead (see
``lean``), and one top-level C-contiguous array above the threshold has a frame 0 that
depends on its dtype and shape only, so both ends cache it (``archive.fast_frame0``).
"""
import struct

MAGIC = b"OCZ\x03"
VERSION = 3
HEADER = struct.Struct("<4sBBxxIIIIIIIQQQ")

MAX_DEPTH = 64          # nesting of containers / user types, both ways
MAX_NDIM = 64           # numpy's own limit
MAX_KEYLEN = 8          # words in an RMA chunk's memory key
MAX_DTYPE_DEPTH = 8     # nesting of structured dtypes

# value tags (one byte); identical on every process by construction
T_NONE, T_TRUE, T_FALSE, T_INT, T_BIGINT, T_FLOAT, T_COMPLEX = 0, 1, 2, 3, 4, 5, 6
T_STR, T_BYTES, T_BYTEARRAY, T_BUFCHUNK = 7, 8, 9, 10
T_TUPLE, T_LIST, T_DICT, T_SET, T_FROZENSET, T_HOM, T_SDICT = 11, 12, 13, 14, 15, 16, 17
T_NDARRAY, T_NDCHUNK, T_NPSCALAR = 20, 21, 22
T_SBUF = 23             # a SerializeBuffer: this tag, then its array (T_NDARRAY or T_NDCHUNK)
T_EXT = 30

# homogeneous sequence element kinds (T_HOM)
H_I64, H_F64, H_STR = 0, 1, 2

CHUNK = struct.Struct("<BBBQ")
INT64S = [struct.Struct(f"<{n}q") for n in range(65)]   # shapes, keys, short int columns
FLOAT64S = [struct.Struct(f"<{n}d") for n in range(65)]
UINT32S = [struct.Struct(f"<{n}I") for n in range(65)]  # short len columns

I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
MODE_STRS, MODE_KEYS = 1, 2     # header mode bits: that column has lengths (holds a NUL)
