"""Round trips, thresholds, layouts, zero copy and copy accounting of runtime.serialization."""
import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest

from runtime.serialization import (DEFAULT_THRESHOLD, POINTER, RMA, SerializationError,
                                   SerializeBuffer, decode_header, dumps, dumps_archive,
                                   get_threshold, loads, register, serializable,
                                   set_threshold, type_id)

SMALL = 64  # a small threshold so edge cases stay cheap


def _payload(a):
    """Bytes of an array's fields (padding between fields is unspecified)."""
    if a.dtype.names is None:
        return a.tobytes()
    return b"".join(_payload(a[name]) for name in a.dtype.names)


def assert_same(a, b):
    """Assert ``b`` equals ``a`` with the same types all the way down (NaN equals NaN)."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert _payload(a) == _payload(b)
        if a.ndim > 1 and a.size > 1 and a.flags.f_contiguous and not a.flags.c_contiguous:
            assert b.flags.f_contiguous
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    elif isinstance(a, float):
        assert a == b or (math.isnan(a) and math.isnan(b))
        assert math.copysign(1, a) == math.copysign(1, b)
    elif isinstance(a, complex):
        assert repr(a) == repr(b)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, SerializeBuffer):
        assert a == b
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name))
    else:
        assert a == b


def roundtrip(obj, threshold=None):
    """Decode three times: the first time, by the structure plan built the second time,
    by the cached plan; every time the same value."""
    frames = dumps(obj, threshold=threshold)
    for _ in range(3):
        out = loads(frames)
        assert_same(obj, out)
    return out


BUILTINS = [
    None, True, False, 0, 1, -1, 2**63 - 1, -2**63, 2**63, -2**63 - 1, 10**100, -(7**300),
    0.0, -0.0, 1.5, float("inf"), float("-inf"), float("nan"), 1e-310,
    1 + 2j, complex(float("nan"), -0.0),
    "", "x", "héllo wörld ✓ 🚀", "\ud800 lone surrogate", "nul\x00inside", "a" * 10000,
    b"", b"\x00\xff", bytearray(b"abc"), bytearray(),
    (), (1,), [], [1, [2, [3, []]]], {}, {"a": 1}, {1: "a", (1, 2): "b", None: 0, 2.5: [1]},
    set(), {1, 2, "x"}, frozenset({(1, 2), 3}),
    list(range(100)), [0.5 * i for i in range(40)], [f"s{i}" for i in range(40)],
    tuple(range(20)), tuple(f"t{i}" for i in range(20)), [True] * 20, [1] * 15 + [True],
    [1] * 20 + [2**70], ["a\x00"] * 20, ["plain"] * 19 + ["with\x00nul"], [1.0] * 19 + [1],
    [np.int64(3)] * 20, [None] * 20, {"k": {"k": {"k": [(), {}, set()]}}},
    {f"key{i}": i for i in range(50)}, {i: str(i) for i in range(50)},
]


@pytest.mark.parametrize("obj", BUILTINS, ids=lambda o: repr(o)[:40])
def test_builtin_roundtrip(obj):
    roundtrip(obj)


SCALARS = [np.bool_(True), np.int8(-3), np.uint8(200), np.int16(-300), np.uint16(60000),
           np.int32(-7), np.uint32(7), np.int64(-2**62), np.uint64(2**64 - 1), np.float16(1.5),
           np.float32(2.5), np.float64(-0.25), np.longdouble(1) / 3, np.complex64(1 - 1j),
           np.complex128(2 + 3j), np.clongdouble(1 + 1j) / 3, np.datetime64("2026-11-21T12:00"),
           np.timedelta64(5, "ms"), np.str_("numpy ✓"), np.bytes_(b"nb"),
           np.zeros(1, dtype=[("a", "<i4"), ("b", ">f8", (2,))])[0]]


@pytest.mark.parametrize("x", SCALARS, ids=lambda x: type(x).__name__)
def test_numpy_scalar_roundtrip(x):
    roundtrip(x)


DTYPES = sorted(set(np.typecodes["All"]) - {"O", "U", "S", "V"}) + [
    "<U5", "S3", "V8", "M8[ns]", "m8[s]", ">f8", ">i4", ">c16", "<u2", ">M8[us]",
    [("x", "<f8"), ("id", ">i8"), ("flag", "?")],
    np.dtype({"names": ["a", "b"], "formats": ["<i2", "<f8"], "offsets": [0, 10], "itemsize": 24}),
    np.dtype([("a", "u1"), ("b", "<f8")], align=True),
    [("pos", "<f4", (3,)), ("name", "S8"), ("sub", [("p", "<i2"), ("q", ">u4", (2, 2))])],
]


def _array_of(dtype, shape):
    dtype = np.dtype(dtype)
    raw = np.random.default_rng(1).integers(0, 256, int(np.prod(shape)) * dtype.itemsize,
                                            dtype=np.uint8)
    a = raw.view(dtype).reshape(shape) if dtype.itemsize else np.zeros(shape, dtype)
    if dtype.kind == "M" or dtype.kind == "m":
        a = np.arange(int(np.prod(shape))).astype(dtype).reshape(shape)
    return a


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("threshold", [SMALL, DEFAULT_THRESHOLD])
def test_array_every_dtype(dtype, threshold):
    for shape in [(7,), (5, 9), (40, 3)]:
        roundtrip(_array_of(dtype, shape), threshold)


AWKWARD = {
    "fortran": lambda: np.asfortranarray(np.arange(60.0).reshape(3, 4, 5)),
    "fortran_big": lambda: np.asfortranarray(np.arange(6000.0).reshape(30, 200)),
    "strided": lambda: np.arange(200.0)[::3],
    "strided_2d": lambda: np.arange(4000.0).reshape(40, 100)[::2, 1::3],
    "transposed_3d": lambda: np.arange(2400.0).reshape(10, 12, 20).transpose(1, 0, 2),
    "reversed": lambda: np.arange(1000, dtype=np.int32)[::-1],
    "zero_size": lambda: np.zeros((0, 3)),
    "zero_size_big_dims": lambda: np.zeros((1000, 0, 1000), dtype=np.float32),
    "zero_d": lambda: np.array(3.25),
    "zero_d_struct": lambda: np.array((1, 2.0), dtype=[("a", "i4"), ("b", "f8")]),
    "big_endian": lambda: np.arange(300, dtype=">f8").reshape(10, 30),
    "structured": lambda: np.array([(1, 2.0, b"ab"), (3, 4.0, b"cd")] * 50,
                                   dtype=[("i", "<i4"), ("f", ">f8"), ("s", "S2")]),
    "structured_field_view": lambda: np.zeros(100, dtype=[("a", "f8"), ("b", "i4")])["a"],
    "readonly": lambda: np.frombuffer(bytes(range(256)) * 40, dtype=np.uint16),
    "memmap_like_uint8": lambda: np.arange(5000, dtype=np.uint8),
}


@pytest.mark.parametrize("name", list(AWKWARD))
@pytest.mark.parametrize("threshold", [SMALL, DEFAULT_THRESHOLD, 2**40])
def test_awkward_layouts(name, threshold):
    a = AWKWARD[name]()
    out = roundtrip(a, threshold)
    assert out.flags.writeable or a.nbytes >= threshold


@pytest.mark.parametrize("threshold,sizes", [(SMALL, (63, 64, 65)),
                                             (DEFAULT_THRESHOLD, (4095, 4096, 4097))])
def test_threshold_edges(threshold, sizes):
    below, at, above = sizes
    for n, expect_chunk in [(below, False), (at, True), (above, True)]:
        for value in [np.arange(n, dtype=np.uint8), bytes(n), bytearray(n),
                      SerializeBuffer(np.arange(n, dtype=np.uint8))]:
            ar = dumps_archive(value, threshold=threshold)
            assert ar.nchunks == int(expect_chunk), (n, type(value))
            assert len(ar.frames) == 1 + expect_chunk
            assert ar.bytes_zero_copy == (n if expect_chunk else 0)
            assert_same(value, loads(ar.frames))


def test_threshold_counts_bytes_not_elements():
    a = np.arange(8, dtype=np.float64)            # 64 bytes, 8 elements
    assert dumps_archive(a, threshold=64).nchunks == 1
    assert dumps_archive(a[:7], threshold=64).nchunks == 0


def test_global_and_per_call_threshold():
    a = np.zeros(100, dtype=np.uint8)
    assert get_threshold() == DEFAULT_THRESHOLD
    old = set_threshold(50)
    try:
        assert old == DEFAULT_THRESHOLD and get_threshold() == 50
        assert len(dumps(a)) == 2                     # global threshold applies
        assert len(dumps(a, threshold=101)) == 1      # per call wins
        assert len(dumps(a, threshold=100)) == 2
    finally:
        set_threshold(old)
    assert len(dumps(a)) == 1
    assert len(dumps([a, np.zeros(0), b""], threshold=0)) == 4        # 0: everything is a chunk
    assert_same([a, np.zeros(0), b""], loads(dumps([a, np.zeros(0), b""], threshold=0)))
    for bad in [-1, 1.5, "64", True]:
        with pytest.raises(ValueError):
            set_threshold(bad)
        with pytest.raises(ValueError):
            dumps(a, threshold=bad)
    assert get_threshold() == DEFAULT_THRESHOLD


def test_pointer_chunk_is_a_view_of_the_callers_array():
    a = np.arange(100_000, dtype=np.float64)
    frames = dumps((1, a, "x"))
    assert len(frames) == 2
    view = np.frombuffer(frames[1], dtype=np.uint8)
    assert isinstance(frames[1], memoryview) and frames[1].c_contiguous
    assert frames[1].format == "B" and frames[1].nbytes == a.nbytes
    assert np.shares_memory(view, a)
    a[5] = -1.0                                      # no copy was taken
    out = loads(frames)
    assert out[1][5] == -1.0 and np.shares_memory(out[1], a)


def test_fortran_chunk_is_zero_copy():
    a = np.asfortranarray(np.arange(20000.0).reshape(100, 200))
    ar = dumps_archive(a)
    assert ar.bytes_zero_copy == a.nbytes
    assert np.shares_memory(np.frombuffer(ar.frames[1], np.uint8), a)
    out = loads(ar.frames)
    assert out.flags.f_contiguous and np.array_equal(out, a)


def _receive(hdr, frames, bufs):
    """Play the transport: copy each chunk frame into the receiver's buffer."""
    for buf, frame in zip(bufs, frames[1:]):
        memoryview(buf).cast("B")[:] = memoryview(frame).cast("B")


def test_two_phase_decoded_arrays_are_the_receivers_buffers():
    a = np.arange(5000, dtype=np.float32)
    f = np.asfortranarray(np.ones((64, 32), dtype=">i4"))
    s = np.zeros(600, dtype=[("x", "<f8"), ("n", "u1")])
    obj = {"a": a, "f": f, "small": np.arange(3), "s": s, "sb": SerializeBuffer(bytearray(9000))}
    frames = dumps(obj)
    hdr = decode_header(frames[0])
    assert [c.index for c in hdr.chunks] == [0, 1, 2, 3]
    assert all(c.kind == POINTER and c.key is None for c in hdr.chunks)
    assert [(c.nbytes, c.dtype, c.shape) for c in hdr.chunks] == [
        (a.nbytes, a.dtype, a.shape), (f.nbytes, f.dtype, (32, 64)),
        (s.nbytes, s.dtype, s.shape), (9000, np.dtype(np.uint8), (9000,))]
    bufs = hdr.allocate()
    for c, b in zip(hdr.chunks, bufs):
        assert isinstance(b, np.ndarray) and b.flags.writeable and b.flags.c_contiguous
        assert (b.dtype, b.shape, b.nbytes) == (c.dtype, c.shape, c.nbytes)
    _receive(hdr, frames, bufs)
    out = hdr.finish(bufs)
    assert out["a"] is bufs[0]
    assert out["f"].base is bufs[1] and out["f"].flags.f_contiguous
    assert out["s"] is bufs[2]
    assert out["sb"].array is bufs[3]
    assert_same(obj, out)


def test_two_phase_with_receiver_supplied_bytearrays():
    a = np.arange(3000, dtype=np.int64).reshape(30, 100)
    frames = dumps([a, "tail"])
    hdr = decode_header(frames[0])
    bufs = [bytearray(c.nbytes) for c in hdr.chunks]
    _receive(hdr, frames, bufs)
    out = hdr.finish(bufs)
    assert np.shares_memory(out[0], np.frombuffer(bufs[0], np.uint8))
    assert out[0].flags.writeable and np.array_equal(out[0], a)
    with pytest.raises(SerializationError):
        hdr.allocate(max_nbytes=a.nbytes - 1)
    assert len(hdr.allocate(max_nbytes=a.nbytes)) == 1


def test_copy_accounting_is_exact():
    big = np.zeros(10_000, dtype=np.uint8)
    strided = np.zeros((100, 100))[::2]          # 40,000 bytes, not contiguous
    small = np.zeros(10, dtype=np.float64)
    ar = dumps_archive((big, strided, small, b"x" * 5000, "abc"))
    sizes = [memoryview(f).nbytes for f in ar.frames]
    assert ar.nchunks == 3 and len(ar.frames) == 4
    assert ar.bytes_zero_copy == 10_000 + 5000
    assert ar.bytes_copied == sizes[0] + strided.nbytes
    assert ar.bytes_copied + ar.bytes_zero_copy == ar.nbytes == sum(sizes)
    assert sizes[0] < 1000                       # only small values were copied in
    tiny = dumps_archive({"a": small})
    assert tiny.nchunks == 0 and tiny.bytes_zero_copy == 0
    assert tiny.bytes_copied == len(tiny.frames[0])


def test_listing2_call_archive():
    data = np.full(1_000_000, 2.718, dtype=np.float32)
    ar = dumps_archive(("5", 3.1415, data, "string"))
    assert ar.nchunks == 1 and ar.bytes_zero_copy == data.nbytes
    assert ar.bytes_copied < 200
    assert_same(("5", 3.1415, data, "string"), loads(ar.frames))


# ---------------------------------------------------------------- user types

@serializable
@dataclasses.dataclass
class Halo:
    gid: int
    face: str
    data: np.ndarray
    meta: dict = dataclasses.field(default_factory=dict)


@serializable(name="tests.FrozenPoint")
@dataclasses.dataclass(frozen=True, slots=True)
class FrozenPoint:
    x: float
    y: float
    tag: tuple = ()


@serializable
@dataclasses.dataclass
class Node:
    value: int
    children: list


class Particles:
    """A user type registered by a save/load pair (paper, Listing 1)."""

    def __init__(self, pos, name):
        self.pos, self.name = pos, name


def _save_particles(ar, p):
    ar.write(len(p.pos))
    ar.save_binary(p.pos)
    ar.write(p.name)


def _load_particles(ar):
    n = ar.read()
    pos = ar.load_binary()
    assert len(pos) == n
    return Particles(pos, ar.read())


register(Particles, _save_particles, _load_particles)


def test_dataclass_roundtrip():
    h = Halo(7, "+x", np.arange(3 * 14 * 14, dtype=np.float64).reshape(3, 14, 14), {"lvl": 2})
    out = roundtrip([h, FrozenPoint(1.0, 2.0, ("a",)), Node(1, [Node(2, []), Node(3, [])])])
    assert (out[0].gid, out[0].face, out[0].meta) == (7, "+x", {"lvl": 2})
    assert np.array_equal(out[0].data, h.data)
    assert out[1] == FrozenPoint(1.0, 2.0, ("a",))
    assert out[2] == Node(1, [Node(2, []), Node(3, [])])
    frames = dumps(h)
    assert len(frames) == 2 and np.shares_memory(np.frombuffer(frames[1], np.uint8), h.data)


def test_user_registered_type_roundtrip():
    p = Particles(np.random.default_rng(0).random((500, 3)), "stars")
    ar = dumps_archive({"p": p, "q": Particles(np.zeros((2, 3)), "tiny")})
    assert ar.nchunks == 1 and ar.bytes_zero_copy == p.pos.nbytes
    out = loads(ar.frames)
    assert type(out["p"]) is Particles and out["p"].name == "stars"
    assert np.array_equal(out["p"].pos, p.pos) and np.array_equal(out["q"].pos, np.zeros((2, 3)))


def test_type_ids_come_from_names_not_import_order():
    assert type_id("tests.FrozenPoint") == type_id("tests.FrozenPoint")
    assert type_id("a") != type_id("b") and 0 <= type_id("a") < 2**63
    code = ("from runtime.serialization import type_id; "
            "print(type_id('tests.FrozenPoint'), type_id('runtime.serialization.SerializeBuffer'))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.split() == [str(type_id("tests.FrozenPoint")),
                                    str(type_id("runtime.serialization.SerializeBuffer"))]


def test_registration_errors():
    class Other:
        pass

    with pytest.raises(ValueError):
        register(Other, _save_particles, _load_particles, name=f"{__name__}.Particles")
    with pytest.raises(TypeError):
        serializable(Other)
    with pytest.raises(TypeError):
        dumps(Other())
    with pytest.raises(TypeError):
        dumps(np.array([object()]))
    with pytest.raises(TypeError):
        dumps(np.zeros(3, dtype="V0"))
    with pytest.raises(TypeError):
        dumps(np.ma.masked_array([1, 2], mask=[0, 1]))


def test_unknown_type_on_the_wire(monkeypatch):
    from runtime.serialization import registry
    frames = dumps(FrozenPoint(1.0, 2.0))
    monkeypatch.delitem(registry._USER, type_id("tests.FrozenPoint"))
    with pytest.raises(SerializationError, match="unknown type id"):
        loads(frames)


def test_loader_that_misreads_is_caught():
    class Sloppy:
        pass

    register(Sloppy, lambda ar, o: (ar.write(1), ar.write(2)), lambda ar: (ar.read(), Sloppy())[1],
             name="tests.Sloppy")
    with pytest.raises(SerializationError, match="loader read"):
        loads(dumps(Sloppy()))


# ---------------------------------------------------------------- RMA chunks

class ToyRmaVector:
    """Stands in for runtime.memory's RmaVector: memory with a (window, displacement) key."""

    def __init__(self, array, window, disp):
        self.array, self.window, self.disp = array, window, disp


def _save_rma(ar, v):
    ar.write(v.window)
    ar.write_rma_chunk(v.array, (v.window, v.disp, v.array.nbytes))


def _load_rma(ar):
    window = ar.read()
    array, key = ar.read_rma_chunk()
    assert key[0] == window
    return ToyRmaVector(array, key[0], key[1])


register(ToyRmaVector, _save_rma, _load_rma, name="tests.ToyRmaVector")


def test_rma_chunk_carries_its_key():
    big = np.arange(10_000, dtype=np.float64)
    tiny = np.arange(4, dtype=np.int16)          # below the threshold: still an RMA chunk
    obj = [ToyRmaVector(big, 3, 4096), np.arange(6000, dtype=np.uint8), ToyRmaVector(tiny, 3, 0)]
    ar = dumps_archive(obj)
    assert ar.nchunks == 3 and ar.bytes_zero_copy == big.nbytes + 6000 + tiny.nbytes
    hdr = decode_header(ar.frames[0])
    assert [c.kind for c in hdr.chunks] == [RMA, POINTER, RMA]
    assert hdr.chunks[0].key == (3, 4096, big.nbytes) and hdr.chunks[1].key is None
    assert hdr.chunks[2].key == (3, 0, 8) and hdr.chunks[2].dtype == np.int16
    bufs = hdr.allocate()
    _receive(hdr, ar.frames, bufs)
    out = hdr.finish(bufs)
    assert out[0].array is bufs[0] and np.array_equal(out[0].array, big) and out[0].disp == 4096
    assert out[2].array is bufs[2] and np.array_equal(out[2].array, tiny)
    with pytest.raises(ValueError):
        dumps_archive(ToyRmaVector(big, 2**70, 0))


def test_rma_read_of_a_pointer_chunk_is_an_error():
    class Liar:
        pass

    register(Liar, lambda ar, o: ar.write_pointer_chunk(np.zeros(3)),
             lambda ar: ar.read_rma_chunk(), name="tests.Liar")
    with pytest.raises(SerializationError, match="RMA"):
        loads(dumps(Liar()))


# ---------------------------------------------------------------- SerializeBuffer

@pytest.mark.parametrize("make", [lambda n: bytes(range(256)) * (n // 256),
                                  lambda n: bytearray(n), lambda n: memoryview(bytearray(n)),
                                  lambda n: np.arange(n // 8, dtype=np.float64)])
def test_serialize_buffer_is_never_copied(make):
    data = make(8192)
    sb = SerializeBuffer(data)
    assert sb.data is data and len(sb) == 8192
    ar = dumps_archive(("call", sb))
    assert ar.nchunks == 1 and ar.bytes_zero_copy == 8192
    assert np.shares_memory(np.frombuffer(ar.frames[1], np.uint8), sb.array)
    out = loads(ar.frames)[1]
    assert isinstance(out, SerializeBuffer) and out == sb
    assert np.shares_memory(out.array, np.frombuffer(ar.frames[1], np.uint8))
    small = SerializeBuffer(make(256))
    assert dumps_archive(small).nchunks == 0 and loads(dumps(small)) == small


def test_serialize_buffer_refuses_non_contiguous():
    with pytest.raises(ValueError):
        SerializeBuffer(np.zeros((10, 10))[:, ::2])
    with pytest.raises(ValueError):
        SerializeBuffer(memoryview(bytearray(100))[::2])


# ---------------------------------------------------------------- limits and errors

def test_nesting_is_bounded_both_ways():
    deep = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(SerializationError):
        dumps(deep)
    cyclic = []
    cyclic.append(cyclic)
    with pytest.raises(SerializationError):
        dumps(cyclic)
    ok = []
    for i in range(30):
        ok = [i, {"k": ok}]
    roundtrip(ok)


def test_hostile_nesting_on_the_wire_is_refused():
    from runtime.serialization.wire import HEADER, MAGIC, T_LIST, VERSION
    depth = 5000
    tags = bytes([T_LIST]) * depth
    lens = np.ones(depth, "<u4")
    lens[-1] = 0
    # (magic, version, mode, nchunks, ntags, nints, nfloats, nlens, nkeys, nstrs, raw, keys, strs)
    header = HEADER.pack(MAGIC, VERSION, 0, 0, depth, 0, 0, depth, 0, 0, 0, 0, 0)
    for _ in range(3):          # the second time through a structure plan: refused as well
        with pytest.raises(SerializationError, match="nested"):
            loads([header + tags + lens.tobytes()])


def test_hostile_counts_do_not_allocate():
    from runtime.serialization.wire import HEADER, MAGIC, T_HOM, T_LIST, VERSION
    lens = np.array([2**32 - 1], "<u4").tobytes()
    header = HEADER.pack(MAGIC, VERSION, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0)
    for _ in range(3):
        with pytest.raises(SerializationError):
            loads([header + bytes([T_LIST]) + lens])
    ints = np.array([0, 0, 2**40], "<i8").tobytes()            # 2**40 int64 claimed
    header = HEADER.pack(MAGIC, VERSION, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0)
    for _ in range(3):
        with pytest.raises(SerializationError):
            loads([header + ints + bytes([T_HOM])])
    header = HEADER.pack(MAGIC, VERSION, 0, 0, 2**31, 2**31, 0, 0, 0, 0, 0, 0, 0)
    with pytest.raises(SerializationError, match="overruns"):
        loads([header])


def test_malformed_frames_raise_serialization_error():
    frames = dumps({"a": np.arange(10_000), "b": "text"})
    frame0 = bytes(frames[0])
    bad = [
        [],
        [b""],
        [b"nonsense"],
        [frame0],                                        # chunk frame missing
        [frame0, frames[1], frames[1]],                  # one frame too many
        [frame0, bytes(10)],                             # wrong chunk size
        [frame0, object()],                              # not a buffer
        [frame0, memoryview(bytearray(160_000))[::2]],   # not contiguous
        [b"XXXX" + frame0[4:], frames[1]],               # bad magic
        [frame0[:4] + b"\x09" + frame0[5:], frames[1]],  # unknown version
        [frame0 + b"\x00", frames[1]],                   # stray byte
        None,
        42,
    ]
    for case in bad:
        with pytest.raises(SerializationError):
            loads(case)
    for cut in range(len(frame0)):
        with pytest.raises(SerializationError):
            loads([frame0[:cut], frames[1]])
    assert issubclass(SerializationError, ValueError)


# ---------------------------------------------------------------- lean frame 0 and fast paths

def test_lean_tuples_round_trip_and_fall_back():
    from runtime.serialization.lean import MAGIC_LEAN
    th = 64
    cases = [
        (), (None, True, False), (2**63 - 1, -2**63, 0, -1.0, float("inf")),
        ("", "h\u00e9llo", "\ud800 surrogate", "nul\x00inside", b"", b"\x00" * 63),
        (np.arange(7, dtype=np.float64), np.zeros((2, 0, 3)), np.array(3.5), np.arange(7, dtype=">i8")),
        (SerializeBuffer(bytearray(63)), SerializeBuffer(np.arange(3, dtype=np.uint16))),
        tuple(range(255)),
    ]
    for obj in cases:
        ar = dumps_archive(obj, threshold=th)
        assert bytes(ar.frames[0][:4]) == MAGIC_LEAN and len(ar.frames) == 1, obj
        assert ar.bytes_copied == len(ar.frames[0]) and ar.bytes_zero_copy == 0 and ar.nchunks == 0
        out = loads(ar.frames)
        assert type(out) is tuple and len(out) == len(obj)
        assert_same(obj, out)
        hdr = decode_header(ar.frames[0])
        assert hdr.chunks == [] and hdr.allocate() == []
        assert_same(obj, hdr.finish([]))
    # not lean: nested, big ints, at/above the threshold, strided, structured, too many items
    for obj in [((1,),), (2**63,), (np.zeros(8),), (b"x" * 64,), (SerializeBuffer(bytearray(64)),),
                (np.zeros((4, 4))[:, 1],), (np.zeros(2, dtype=[("a", "<f4")]),), tuple(range(256)),
                (np.float32(1),), ([1],)]:
        frames = dumps(obj, threshold=th)
        assert bytes(frames[0][:4]) != MAGIC_LEAN
        assert_same(obj, loads(frames))


def test_lean_frame_0_errors_are_serialization_errors():
    frame0 = dumps((1, "abc", np.arange(3)), threshold=1 << 20)[0]
    for cut in range(len(frame0)):
        with pytest.raises(SerializationError):
            loads([frame0[:cut]])
    with pytest.raises(SerializationError):
        loads([frame0 + b"\x00"])
    with pytest.raises(SerializationError):
        loads([frame0, memoryview(bytearray(8))])


def test_single_array_fast_path_matches_the_general_format():
    from runtime.serialization.archive import fast_frame0
    for a in [np.arange(1000.0), np.zeros((64, 64), np.float32), np.zeros(4096, ">f8"),
              np.zeros((10, 500), dtype="M8[ns]")]:
        ar = dumps_archive(a)
        assert ar.frames[0] == fast_frame0(a.dtype, a.shape)[0]
        assert ar.bytes_zero_copy == a.nbytes and ar.bytes_copied == len(ar.frames[0])
        assert ar.nchunks == 1
        out = loads(ar.frames)
        assert np.shares_memory(out, a) and out.dtype == a.dtype and out.shape == a.shape
        out2 = loads([bytes(ar.frames[0]), memoryview(a.tobytes())])   # a received frame 0
        assert np.array_equal(out2, a)
        with pytest.raises(SerializationError):
            loads([ar.frames[0], memoryview(bytearray(a.nbytes - 1))])


# ---------------------------------------------------------------- structure plans

def _plans():
    from runtime.serialization import decoder
    return decoder._PLANS, decoder._SEEN


PLANNED = [
    {"a": 1, "b": [1, 2.5, "x", None, True, False], "c": {"d": {}, "e": [], "f": ()}},
    [1, {"k": [2, {"j": 3}], "l": 4}, 5, [6, [7, [8]]], 9],             # items out of slot order
    [[], {}, (), set(), frozenset(), [[]], {"": {}}],                    # empty containers
    ({1: "one", (2, 3): [4]}, {5, 6}, frozenset({"x"}), (7,), [(8, 9)]),
    {"ids": list(range(40)), "f": [0.5] * 20, "s": [f"s{i}" for i in range(20)],
     "t": tuple(range(20)), "a": np.arange(12.0).reshape(3, 4),
     "F": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "z": np.zeros((0, 2)),
     "b": b"bytes", "ba": bytearray(b"ba"), "big": 2**80, "c": 1 - 2j, "n": np.float32(1.5)},
    {"nul\x00key": "nul\x00value", "k": ["x\x00"] * 20},                # string mode 1
    [{"x": i, "y": float(i)} for i in range(8)],
    "top-level scalar", 42, [],
]


@pytest.mark.parametrize("obj", PLANNED, ids=lambda o: repr(o)[:30])
@pytest.mark.parametrize("threshold", [SMALL, DEFAULT_THRESHOLD])
def test_structure_plans_decode_like_the_classic_path(obj, threshold):
    plans, _ = _plans()
    frames = dumps(obj, threshold=threshold)
    for _ in range(3):
        assert_same(obj, loads(frames))
    from runtime.serialization.decoder import _parse
    f0 = bytes(frames[0])
    layout = _parse(f0)[0]
    assert plans.get(f0[layout[9]:layout[12]]), "no plan was made"


def test_a_plan_serves_the_same_structure_with_new_values():
    def record(i):
        return {"gid": i, "name": f"n{i}", "x": i / 3, "sub": {"k": [i, str(i)], "e": None},
                "arr": np.full(3, i, np.int16), "ids": list(range(i, i + 20))}
    for i in range(6):                  # structure seen from the second message on
        frames = dumps(record(i))
        assert_same(record(i), loads(frames))
    # the same structure with values of other sizes
    obj = record(7)
    obj["name"] = "a much longer name \u00e9" * 10
    obj["ids"] = list(range(-10**15, -10**15 + 20))
    assert_same(obj, loads(dumps(obj)))


def test_no_plan_for_user_types_and_serialize_buffers():
    @serializable(name="tests.plans.Point")
    @dataclasses.dataclass
    class Point:
        x: float
        tags: list

    plans, seen = _plans()
    for obj in [[Point(1.0, ["a"]), {"p": Point(2.0, [])}], {"sb": SerializeBuffer(b"abc")}]:
        frames = dumps(obj)
        for _ in range(3):
            assert_same(obj, loads(frames))
        from runtime.serialization.decoder import _parse
        f0 = bytes(frames[0])
        layout = _parse(f0)[0]
        assert plans.get(f0[layout[9]:layout[12]]) is False     # (tags, lens and keys)


def test_hostile_messages_with_a_known_structure():
    """A cached plan does not make a bad message decode: every column is still checked."""
    from runtime.serialization.wire import HEADER
    obj = {"a": [1, 2, 3], "b": {"c": "text", "d": 2.5}, "e": np.arange(4)}
    frame0 = bytes(dumps(obj)[0])
    for _ in range(3):
        loads([frame0])                                  # the plan exists
    fields = list(HEADER.unpack_from(frame0, 0))
    nints, nfloats, nstrs, raw = fields[5], fields[6], fields[9], fields[10]
    body = frame0[HEADER.size:]
    cases = []
    for slot, delta in [(5, -1), (5, 1), (6, -1), (9, -1), (10, -1), (10, 1)]:
        f = list(fields)
        f[slot] += delta                                 # columns that do not add up
        cases.append(HEADER.pack(*f) + body)
    cases.append(frame0[:-1])                            # a string cut short
    cases.append(frame0 + b"\x00")
    bad_raw = bytearray(frame0)
    bad_raw[HEADER.size] = 0xFE                          # array header size overrun
    cases.append(bytes(bad_raw))
    for case in cases:
        for _ in range(3):
            with pytest.raises(SerializationError):
                loads([case])


def test_plan_tables_stay_bounded():
    from runtime.serialization import decoder
    for i in range(3 * decoder._PLAN_CACHE):
        frames = dumps({f"k{i}": [i] * (i % 7), "j": {str(i): None}})
        loads(frames)
        loads(frames)
    assert len(decoder._PLANS) <= decoder._PLAN_CACHE
    assert len(decoder._SEEN) <= decoder._PLAN_CACHE
    big = [[i] for i in range(decoder._PLAN_MAX_TAGS)]   # too big for a plan: classic
    for _ in range(3):
        assert loads(dumps(big)) == big
