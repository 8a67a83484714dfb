"""Minimal GGUF v3 writer plus ggml-exact F16/BF16/Q8_0/Q4_0 encoders (numpy only).

Part of graft's reference generators (tests/reference/): it writes the fixture models that graft's
loader and decoder tests read. Written from the published GGUF layout, independent of graft's code.

File layout (all little-endian):
  "GGUF" u32 version=3 u64 n_tensors u64 n_kv
  n_kv x  { string key, u32 value_type, value }          string = u64 length + UTF-8 bytes
  n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
  zero padding to `alignment` (32), then the tensor data; each tensor starts at a multiple of 32
  from the data start (its `offset`), zero padding between tensors.
ne[0] is the fastest-varying (contiguous) dimension: a numpy array of shape (a, b) has ne = [b, a].
"""

import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
ALIGNMENT = 32

# gguf metadata value types
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY, \
    T_UINT64, T_INT64, T_FLOAT64 = range(13)

# ggml tensor types used here: id, (elements per block, bytes per block)
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0, GGML_BF16 = 0, 1, 2, 8, 30
GGML_BLOCK = {GGML_F32: (1, 4), GGML_F16: (1, 2), GGML_Q4_0: (32, 18), GGML_Q8_0: (32, 34),
              GGML_BF16: (1, 2)}
GGML_NAME = {GGML_F32: "F32", GGML_F16: "F16", GGML_Q4_0: "Q4_0", GGML_Q8_0: "Q8_0", GGML_BF16: "BF16"}

_SCALAR_FMT = {T_UINT8: "<B", T_INT8: "<b", T_UINT16: "<H", T_INT16: "<h", T_UINT32: "<I",
               T_INT32: "<i", T_FLOAT32: "<f", T_BOOL: "<?", T_UINT64: "<Q", T_INT64: "<q",
               T_FLOAT64: "<d"}


# ---------------------------------------------------------------------------------------------
# element encoders: each returns (raw bytes, the float32 values a reader decodes from them)

def encode_f32(x):
    x = np.ascontiguousarray(x, dtype="<f4")
    return x.tobytes(), x.astype(np.float32)


def encode_f16(x):
    """IEEE half, round-to-nearest-even (numpy's float32 -> float16 cast is RNE, as F16C is)."""
    h = np.ascontiguousarray(x, dtype=np.float32).astype("<f2")
    return h.tobytes(), h.astype(np.float32)


def f32_to_bf16_bits(x):
    """bfloat16 bits of float32 x, round-to-nearest-even; NaN stays a quiet NaN."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    is_nan = (u & 0x7FFFFFFF) > 0x7F800000
    bits = np.where(is_nan, (u >> 16) | 64, rounded)
    return bits.astype("<u2")


def bf16_bits_to_f32(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def encode_bf16(x):
    b = f32_to_bf16_bits(x)
    return b.tobytes(), bf16_bits_to_f32(b).reshape(np.shape(x))


def _round_half_away(v32):
    """C roundf on float32 values: computed in float64, where v + 0.5 is exact."""
    v = v32.astype(np.float64)
    return np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5))


def encode_q8_0(x):
    """ggml Q8_0: blocks of 32 along the last axis; block = f16 d, int8 q[32]; value = q*d.

    As ggml's reference quantiser, all in float32: d = amax/127, id = 1/d (0 if d == 0),
    q = roundf(x*id) (half away from zero); d is stored as f16 (RNE)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    assert x.shape[-1] % 32 == 0
    blk = x.reshape(-1, 32)                                              # (n_blocks, 32)
    amax = np.max(np.abs(blk), axis=1)                                   # float32, exact
    d = (amax / np.float32(127.0)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1.0) / d, np.float32(0.0)).astype(np.float32)
    x0 = (blk * inv[:, None]).astype(np.float32)
    q = _round_half_away(x0).astype(np.int8)
    d16 = d.astype("<f2")
    out = np.zeros((blk.shape[0], 34), dtype=np.uint8)
    out[:, 0:2] = d16.view(np.uint8).reshape(-1, 2)
    out[:, 2:34] = q.view(np.uint8)
    deq = (q.astype(np.float32) * d16.astype(np.float32)[:, None]).astype(np.float32)
    return out.tobytes(), deq.reshape(x.shape)


def encode_q4_0(x):
    """ggml Q4_0: blocks of 32 along the last axis; block = f16 d, u8 qs[16]; value = (q-8)*d.

    As ggml's reference quantiser, all in float32: m = the first element of largest |x| (with its
    sign, +0 if all zero), d = m / -8, id = 1/d (0 if d == 0), q = min(15, (int8)(x*id + 8.5f))
    (truncation toward zero); qs[j] = q[j] | q[j+16] << 4; d is stored as f16 (RNE)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    assert x.shape[-1] % 32 == 0
    blk = x.reshape(-1, 32)                                              # (n_blocks, 32)
    a = np.abs(blk)
    idx = np.argmax(a, axis=1)                                           # first of the largest
    amax = a[np.arange(blk.shape[0]), idx]
    m = np.where(amax > 0, blk[np.arange(blk.shape[0]), idx], np.float32(0.0)).astype(np.float32)
    d = (m / np.float32(-8.0)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1.0) / d, np.float32(0.0)).astype(np.float32)
    x0 = (blk * inv[:, None]).astype(np.float32)
    t = (x0 + np.float32(8.5)).astype(np.float32)                        # float32 add, as in C
    q = np.minimum(15, np.trunc(t.astype(np.float64)).astype(np.int64))
    assert q.min() >= 0
    q = q.astype(np.uint8)
    d16 = d.astype("<f2")
    out = np.zeros((blk.shape[0], 18), dtype=np.uint8)
    out[:, 0:2] = d16.view(np.uint8).reshape(-1, 2)
    out[:, 2:18] = q[:, :16] | (q[:, 16:] << 4)
    deq = ((q.astype(np.float32) - np.float32(8.0)) * d16.astype(np.float32)[:, None]).astype(np.float32)
    return out.tobytes(), deq.reshape(x.shape)


ENCODERS = {GGML_F32: encode_f32, GGML_F16: encode_f16, GGML_BF16: encode_bf16,
            GGML_Q8_0: encode_q8_0, GGML_Q4_0: encode_q4_0}


# ---------------------------------------------------------------------------------------------
# the writer

def _pack_string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _pack_value(vtype, value):
    if vtype == T_STRING:
        return _pack_string(value)
    if vtype == T_ARRAY:
        etype, items = value
        out = [struct.pack("<IQ", etype, len(items))]
        if etype == T_STRING:
            out += [_pack_string(s) for s in items]
        else:
            fmt = _SCALAR_FMT[etype]
            out += [struct.pack(fmt, v) for v in items]
        return b"".join(out)
    return struct.pack(_SCALAR_FMT[vtype], value)


class GGUFWriter:
    """Collects metadata and tensors in insertion order; write() lays them out as GGUF v3."""

    def __init__(self):
        self.kv = []          # (key, type, value)
        self.tensors = []     # (name, ne list, ggml_type, raw bytes)

    def add(self, key, vtype, value):
        assert all(k != key for k, _, _ in self.kv), key
        self.kv.append((key, vtype, value))

    def add_u32(self, key, v):
        self.add(key, T_UINT32, int(v))

    def add_i32(self, key, v):
        self.add(key, T_INT32, int(v))

    def add_f32(self, key, v):
        self.add(key, T_FLOAT32, float(v))

    def add_bool(self, key, v):
        self.add(key, T_BOOL, bool(v))

    def add_string(self, key, v):
        self.add(key, T_STRING, str(v))

    def add_array(self, key, etype, items):
        self.add(key, T_ARRAY, (etype, list(items)))

    def add_tensor(self, name, x, ggml_type):
        """Encodes numpy array x (C order; shape (.., ne1, ne0)) as ggml_type.
        Returns the float32 values a reader will decode (the round-tripped weights)."""
        raw, decoded = ENCODERS[ggml_type](x)
        ne = list(reversed(np.shape(x)))
        bs, bb = GGML_BLOCK[ggml_type]
        assert ne[0] % bs == 0 and len(raw) == int(np.prod(ne)) // bs * bb
        assert all(t[0] != name for t in self.tensors), name
        self.tensors.append((name, ne, ggml_type, raw))
        return decoded

    def to_bytes(self):
        head = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv))]
        for key, vtype, value in self.kv:
            head.append(_pack_string(key) + struct.pack("<I", vtype) + _pack_value(vtype, value))
        offset = 0
        offsets = []
        for name, ne, gtype, raw in self.tensors:
            offsets.append(offset)
            head.append(_pack_string(name) + struct.pack("<I", len(ne))
                        + struct.pack("<%dQ" % len(ne), *ne) + struct.pack("<IQ", gtype, offset))
            offset += (len(raw) + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
        out = bytearray(b"".join(head))
        out += b"\0" * (-len(out) % ALIGNMENT)
        data_start = len(out)
        for (name, ne, gtype, raw), off in zip(self.tensors, offsets):
            assert len(out) - data_start == off
            out += raw
            out += b"\0" * (-len(out) % ALIGNMENT)
        return bytes(out)

    def write(self, path):
        data = self.to_bytes()
        with open(path, "wb") as f:
            f.write(data)
        return data
