"""Hostile input: random, mutated and truncated frames raise SerializationError and nothing else."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.serialization import SerializationError, SerializeBuffer, decode_header, dumps, loads
from runtime.serialization.wire import HEADER

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SAMPLES = [
    None,
    [1, 2.5, "three", b"four", (5, None), {"six": 6}],
    {"ids": list(range(40)), "names": [f"n{i}" for i in range(20)], "x": 2**80, "c": 1j,
     "s": {1, 2}, "f": frozenset({"a"}), "b": bytearray(b"xy"), "t": (1.0,) * 20},
    ("5", 3.14, np.arange(300, dtype=np.float32), "string"),
    {"a": np.zeros((4, 5), order="F"), "r": np.zeros(3, dtype=[("p", "<f8"), ("q", ">i2", (2,))]),
     "d": np.datetime64("2026-01-01"), "z": np.zeros((0, 2)), "sb": SerializeBuffer(b"abc" * 30)},
    (7, -1.5, None, True, False, "h\u00e9llo", b"xy", SerializeBuffer(np.arange(4, dtype=np.int16)),
     np.arange(6.0).reshape(2, 3), np.zeros((0, 3), np.uint8)),      # a lean frame 0
]
FRAMES = [[bytes(f) for f in dumps(obj, threshold=64)] for obj in SAMPLES]


def _decode(frames):
    """Decode three times (the first time, then by a structure plan built the second time,
    then by the cached plan); the only allowed failure is SerializationError."""
    for _ in range(3):
        try:
            loads(frames)
        except SerializationError:
            pass


@FUZZ
@given(st.binary(max_size=400), st.lists(st.binary(max_size=64), max_size=3))
def test_random_frames(frame0, rest):
    _decode([frame0] + rest)


@FUZZ
@given(st.sampled_from(range(len(FRAMES))), st.binary(max_size=200))
def test_random_body_behind_a_valid_header(i, body):
    frame0 = FRAMES[i][0]
    _decode([frame0[:HEADER.size] + body] + FRAMES[i][1:])


@FUZZ
@given(st.sampled_from(range(len(FRAMES))),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_bytes(i, edits):
    frame0 = bytearray(FRAMES[i][0])
    for pos, value in edits:
        frame0[pos % len(frame0)] = value
    _decode([bytes(frame0)] + FRAMES[i][1:])


@FUZZ
@given(st.sampled_from(range(len(FRAMES))), st.integers(0, 10**6), st.integers(1, 16),
       st.binary(max_size=16))
def test_cut_and_spliced(i, pos, cut, insert):
    frame0 = FRAMES[i][0]
    pos %= len(frame0)
    _decode([frame0[:pos] + insert + frame0[pos + cut:]] + FRAMES[i][1:])


@FUZZ
@given(st.sampled_from(range(len(FRAMES))), st.integers(0, 10**6))
def test_truncated(i, cut):
    frames = FRAMES[i]
    cut %= len(frames[0])
    try:
        loads([frames[0][:cut]] + frames[1:])
    except SerializationError:
        return
    raise AssertionError("a truncated frame 0 decoded")


@FUZZ
@given(st.sampled_from(range(len(FRAMES))), st.integers(0, 10),
       st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2**31, 2**32 - 1])))
def test_hostile_header_counts(i, field, value):
    frame0 = FRAMES[i][0]
    fields = list(HEADER.unpack_from(frame0, 0))
    # mode, nchunks, ntags, nints, nfloats, nlens, nkeys, nstrs, raw, key and string bytes
    slot = 2 + field
    fields[slot] = value if field != 0 else value % 256
    _decode([HEADER.pack(*fields) + frame0[HEADER.size:]] + FRAMES[i][1:])


@FUZZ
@given(st.sampled_from(range(len(FRAMES))), st.integers(0, 10**6),
       st.sampled_from([-1, 0, 1, 7, 64, 2**31, 2**62, -2**63, 2**63 - 1]))
def test_hostile_int_column(i, which, value):
    """Overwrite one int64 of the ints column (dims, block sizes, type ids) with a nasty value."""
    frame0 = bytearray(FRAMES[i][0])
    fields = HEADER.unpack_from(frame0, 0)
    nints, raw = fields[5], fields[10]
    if not nints:
        return
    at = HEADER.size + raw + 8 * (which % nints)
    frame0[at:at + 8] = int(value).to_bytes(8, "little", signed=True)
    _decode([bytes(frame0)] + FRAMES[i][1:])


@FUZZ
@given(st.sampled_from(range(len(FRAMES))), st.integers(0, 10**6),
       st.sampled_from([0, 1, 2, 7, 64, 2**31, 2**32 - 1]))
def test_hostile_len_column(i, which, value):
    """Overwrite one u32 of the len column (container item counts) with a nasty value."""
    frame0 = bytearray(FRAMES[i][0])
    fields = HEADER.unpack_from(frame0, 0)
    if fields[1] != 3:                     # a lean frame 0
        return
    nints, nfloats, ntags, nlens, raw = fields[5], fields[6], fields[4], fields[7], fields[10]
    if not nlens:
        return
    at = HEADER.size + raw + 8 * (nints + nfloats) + ntags + 4 * (which % nlens)
    frame0[at:at + 4] = value.to_bytes(4, "little")
    for _ in range(3):                     # classic, then by structure plan
        _decode([bytes(frame0)] + FRAMES[i][1:])


@FUZZ
@given(st.sampled_from(range(len(FRAMES))), st.lists(st.integers(0, 5000), max_size=4))
def test_wrong_chunk_sizes(i, sizes):
    _decode([FRAMES[i][0]] + [bytes(n) for n in sizes])


@FUZZ
@given(st.binary(max_size=300))
def test_decode_header_alone(frame0):
    try:
        hdr = decode_header(frame0)
    except SerializationError:
        return
    hdr.allocate(max_nbytes=1 << 20) if hdr.chunk_nbytes <= 1 << 20 else None


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.complex_numbers(
        allow_nan=False) | st.text() | st.binary(max_size=100),
    lambda inner: (st.lists(inner, max_size=20) | st.tuples(inner, inner)
                   | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=6)
                   | st.frozensets(st.integers() | st.text(max_size=4), max_size=5)),
    max_leaves=40)


@FUZZ
@given(VALUES, st.sampled_from([0, 1, 8, 64, 4096]))
def test_roundtrip_property(value, threshold):
    frames = dumps(value, threshold=threshold)
    for _ in range(3):              # the first time, by a new plan, by the cached plan
        assert loads(frames) == value


@FUZZ
@given(st.sampled_from(["<f8", ">i4", "u1", "<c8", "?", "S3", "<U2", ">m8[s]"]),
       st.lists(st.integers(0, 6), min_size=0, max_size=3), st.booleans(),
       st.sampled_from([0, 1, 16, 64, 4096]))
def test_array_roundtrip_property(dtype, shape, fortran, threshold):
    a = np.zeros(shape, dtype=dtype, order="F" if fortran else "C")
    a.reshape(-1).view(np.uint8)[:] = np.arange(a.nbytes, dtype=np.uint8) if a.size else 0
    b = loads(dumps(a, threshold=threshold))
    assert b.dtype == a.dtype and b.shape == a.shape and b.tobytes() == a.tobytes()
