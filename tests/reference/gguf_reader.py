"""Minimal GGUF (v2/v3) reader with its own F32/F16/BF16/Q8_0/Q4_0 decoders (numpy only).

Part of graft's reference generators (tests/reference/): it reads back the fixtures that
gguf_writer.py writes (a round-trip check with a second, separately written decoder) and reads
llama.cpp's own GGUF files so the float64 reference can be compared with llama.cpp's logits.
"""

import struct

import numpy as np

_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
           11: "<q", 12: "<d"}
T_STRING, T_ARRAY = 8, 9

# ggml type id -> (name, elements per block, bytes per block)
GGML_TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 8: ("Q8_0", 32, 34),
              30: ("BF16", 1, 2)}


class _Cursor:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take("<Q")
        s = bytes(self.buf[self.pos:self.pos + n]).decode("utf-8")
        self.pos += n
        return s

    def value(self, vtype):
        if vtype == T_STRING:
            return self.string()
        if vtype == T_ARRAY:
            etype, n = self.take("<I"), self.take("<Q")
            self.last_array_type = etype
            if etype == T_STRING:
                return [self.string() for _ in range(n)]
            if etype == T_ARRAY:
                return [self.value(T_ARRAY) for _ in range(n)]
            fmt = _SCALAR[etype]
            size = struct.calcsize(fmt)
            arr = np.frombuffer(self.buf, dtype=np.dtype(fmt), count=n, offset=self.pos)
            self.pos += n * size
            return arr.tolist()
        return self.take(_SCALAR[vtype])


class GGUFFile:
    """Parses the whole file at construction.

    .meta      {key: value}          (arrays as Python lists)
    .types     {key: gguf value type}   .array_types {key: element type}   .kv_order [keys]
    .tensors   {name: {"type": ggml id, "ne": [..], "offset": absolute file offset, "nbytes": n}}
    .tensor(name) -> float32 ndarray of shape reversed(ne), decoded from the stored type.
    .blocks(name) -> (d, q): a Q8_0/Q4_0 matrix's scales and integer quants, not multiplied out.
    data: the file's bytes (then path is only used in messages)."""

    def __init__(self, path, data=None):
        if data is None:
            with open(path, "rb") as f:
                data = f.read()
        self.buf = bytes(data)
        c = _Cursor(self.buf)
        if self.buf[:4] != b"GGUF":
            raise ValueError("%s: not a GGUF file" % path)
        c.pos = 4
        self.version = c.take("<I")
        if self.version not in (2, 3):
            raise ValueError("unsupported GGUF version %d" % self.version)
        n_tensors, n_kv = c.take("<Q"), c.take("<Q")
        self.meta, self.types, self.array_types, self.kv_order = {}, {}, {}, []
        for _ in range(n_kv):
            key = c.string()
            vtype = c.take("<I")
            self.meta[key] = c.value(vtype)
            self.types[key] = vtype
            self.kv_order.append(key)
            if vtype == T_ARRAY:
                self.array_types[key] = c.last_array_type
        infos = []
        for _ in range(n_tensors):
            name = c.string()
            n_dims = c.take("<I")
            ne = [c.take("<Q") for _ in range(n_dims)]
            gtype, off = c.take("<I"), c.take("<Q")
            infos.append((name, ne, gtype, off))
        align = self.meta.get("general.alignment", 32)
        data_start = (c.pos + align - 1) // align * align
        self.tensor_order = [i[0] for i in infos]
        self.tensors = {}
        for name, ne, gtype, off in infos:
            if gtype not in GGML_TYPES:
                raise ValueError("%s: unsupported ggml type %d" % (name, gtype))
            _, bs, bb = GGML_TYPES[gtype]
            n = int(np.prod(ne))
            assert ne[0] % bs == 0 and off % align == 0
            nbytes = n // bs * bb
            assert data_start + off + nbytes <= len(self.buf)
            self.tensors[name] = {"type": gtype, "ne": ne, "offset": data_start + off, "nbytes": nbytes}

    def type_name(self, name):
        return GGML_TYPES[self.tensors[name]["type"]][0]

    def raw(self, name):
        t = self.tensors[name]
        return np.frombuffer(self.buf, dtype=np.uint8, count=t["nbytes"], offset=t["offset"])

    def blocks(self, name):
        """A 2-D Q8_0/Q4_0 tensor with ne = [n, rows] as its blocks: d (rows, n/32) float64 (the f16
        scales) and q (rows, n/32, 32) int64 (Q8_0: the int8 quants; Q4_0: nibble - 8, element j
        in the low nibble of byte j, element j+16 in its high nibble)."""
        t = self.tensors[name]
        kind = GGML_TYPES[t["type"]][0]
        n, rows = t["ne"]
        nb = n // 32
        raw = self.raw(name)
        if kind == "Q8_0":
            b = raw.reshape(rows, nb, 34)
            q = b[:, :, 2:].copy().view(np.int8).astype(np.int64)
        elif kind == "Q4_0":
            b = raw.reshape(rows, nb, 18)
            qs = b[:, :, 2:].astype(np.int64)
            q = np.concatenate([(qs & 0x0F) - 8, (qs >> 4) - 8], axis=2)
        else:
            raise ValueError("%s: %s is not a block type" % (name, kind))
        d = b[:, :, 0:2].copy().view("<f2")[:, :, 0].astype(np.float64)
        return d, q

    def tensor(self, name):
        t = self.tensors[name]
        shape = tuple(reversed(t["ne"]))
        raw = self.raw(name)
        kind = GGML_TYPES[t["type"]][0]
        if kind == "F32":
            out = raw.view("<f4").astype(np.float32)
        elif kind == "F16":
            out = raw.view("<f2").astype(np.float32)
        elif kind == "BF16":
            out = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
        elif kind == "Q8_0":
            b = raw.reshape(-1, 34)
            d = b[:, 0:2].copy().view("<f2").astype(np.float32)         # (n_blocks, 1)
            q = b[:, 2:].view(np.int8).astype(np.float32)                # (n_blocks, 32)
            out = q * d
        elif kind == "Q4_0":
            b = raw.reshape(-1, 18)
            d = b[:, 0:2].copy().view("<f2").astype(np.float32)         # (n_blocks, 1)
            qs = b[:, 2:]                                                # (n_blocks, 16)
            lo = (qs & 0x0F).astype(np.float32) - 8.0                     # elements 0..15
            hi = (qs >> 4).astype(np.float32) - 8.0                       # elements 16..31
            out = np.concatenate([lo, hi], axis=1) * d
        else:
            raise ValueError(kind)
        return out.astype(np.float32).reshape(shape)
