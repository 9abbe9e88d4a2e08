"""Wire constants: frame-0 layout, value tags and the packers shared by encoder and decoder.

Frame 0 is ``HEADER | index data | chunk table``; all integers little-endian.

* HEADER (20 bytes): magic ``b"OCZ\\x01"``, version u8, 3 pad bytes, nchunks u32,
  index length u64.
* index data: a stream of tagged values (one tag byte, then the value's body).
* chunk table: per chunk ``kind u8, ndim u8, keylen u8, nbytes u64``, a dtype spec
  (see ``dtypes``), ``ndim`` i64 dims, ``keylen`` i64 key words (RMA chunks only).

Frames 1..n are the chunks' raw bytes, in chunk-table order.
"""
import struct

MAGIC = b"OCZ\x01"
VERSION = 1
HEADER = struct.Struct("<4sB3xIQ")

MAX_DEPTH = 64          # nesting of containers / user types, both ways
MAX_NDIM = 64           # numpy's own limit
MAX_KEYLEN = 8          # words in an RMA chunk's memory key
MAX_DTYPE_DEPTH = 8     # nesting of structured dtypes

# value tags (one byte); identical on every process by construction
T_NONE, T_TRUE, T_FALSE, T_INT, T_BIGINT, T_FLOAT, T_COMPLEX = 0, 1, 2, 3, 4, 5, 6
T_STR, T_BYTES, T_BYTEARRAY, T_BUFCHUNK = 7, 8, 9, 10
T_TUPLE, T_LIST, T_DICT, T_SET, T_FROZENSET, T_HOM = 11, 12, 13, 14, 15, 16
T_NDARRAY, T_NDCHUNK, T_NPSCALAR = 20, 21, 22
T_EXT = 30

# homogeneous sequence element kinds (T_HOM)
H_I64, H_F64, H_STR = 0, 1, 2

B = struct.Struct("<B")
BB = struct.Struct("<BB")
BI = struct.Struct("<BI")
Bq = struct.Struct("<Bq")
Bd = struct.Struct("<Bd")
Bdd = struct.Struct("<Bdd")
BBBI = struct.Struct("<BBBI")
BBI = struct.Struct("<BBI")
I = struct.Struct("<I")
q = struct.Struct("<q")
d = struct.Struct("<d")
dd = struct.Struct("<dd")
QI = struct.Struct("<QI")
BQI = struct.Struct("<BQI")
CHUNK = struct.Struct("<BBBQ")

I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
