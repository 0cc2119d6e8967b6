#!/usr/bin/env python3
"""Regenerates the fuzz seed corpora from tests/data: small but real files.

gguf/: each test model's metadata (arrays cut to their first 8 items) with three of its tensors
(cut to their first rows), so the seeds carry every value type the real files use.
safetensors/: each HF model's header entries for three tensors, with their first rows of data.
Run from the repository root: python3 fuzz/make_corpus.py
"""
import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ROOT / "tests/data/models"
OUT = ROOT / "fuzz/corpus"
BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 13: (256, 176), 14: (256, 210)}
SIZES = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "B", 10: "Q", 11: "q", 12: "d"}


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, fmt):
        v = struct.unpack_from("<" + fmt, self.b, self.p)[0]
        self.p += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("Q")
        s = self.b[self.p:self.p + n]
        self.p += n
        return s


def read_value(r, t):
    if t == 8:
        return r.string()
    if t == 9:
        et, n = r.take("I"), r.take("Q")
        return (et, [read_value(r, et) for _ in range(n)])
    return r.take(SIZES[t])


def write_value(t, v, cap):
    if t == 8:
        return struct.pack("<Q", len(v)) + v
    if t == 9:
        et, items = v
        items = items[:cap]
        return struct.pack("<IQ", et, len(items)) + b"".join(write_value(et, x, cap) for x in items)
    return struct.pack("<" + SIZES[t], v)


def gguf_seed(path):
    b = path.read_bytes()
    r = Reader(b)
    r.take("I"), r.take("I")
    n_t, n_kv = r.take("Q"), r.take("Q")
    kvs = []
    for _ in range(n_kv):
        k = r.string()
        t = r.take("I")
        kvs.append((k, t, read_value(r, t)))
    infos = []
    for _ in range(n_t):
        name = r.string()
        nd = r.take("I")
        ne = [r.take("Q") for _ in range(nd)]
        infos.append((name, ne, r.take("I"), r.take("Q")))
    start = (r.p + 31) // 32 * 32
    out = struct.pack("<4sIQQ", b"GGUF", 3, 3, len(kvs))
    for k, t, v in kvs:
        out += struct.pack("<Q", len(k)) + k + struct.pack("<I", t) + write_value(t, v, 8)
    data, off = b"", 0
    for name, ne, t, o in infos[:3]:
        bs, bb = BLOCK[t]
        ne2 = [ne[0]] + [1] * (len(ne) - 1)  # keep one row
        n = ne[0] // bs * bb
        out += struct.pack("<Q", len(name)) + name + struct.pack("<I", len(ne2)) + b"".join(struct.pack("<Q", x) for x in ne2)
        out += struct.pack("<IQ", t, off)
        chunk = b[start + o:start + o + n]
        data += chunk + b"\0" * ((32 - len(chunk) % 32) % 32)
        off += (n + 31) // 32 * 32
    out += b"\0" * ((32 - len(out) % 32) % 32)
    return out + data


def safetensors_seed(path):
    b = path.read_bytes()
    n = struct.unpack_from("<Q", b)[0]
    header = json.loads(b[8:8 + n])
    out_header, data = {}, b""
    if "__metadata__" in header:
        out_header["__metadata__"] = header.pop("__metadata__")
    for name, e in list(header.items())[:3]:
        shape = e["shape"][:1] if e["shape"] else []
        item = {"F32": 4, "BF16": 2, "F16": 2, "F8_E4M3": 1}[e["dtype"]]
        count = 1
        for d in shape:
            count *= d
        begin = 8 + n + e["data_offsets"][0]
        chunk = b[begin:begin + count * item]
        out_header[name] = {"dtype": e["dtype"], "shape": shape, "data_offsets": [len(data), len(data) + len(chunk)]}
        data += chunk
    text = json.dumps(out_header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


for p in sorted(MODELS.glob("*.gguf")):
    (OUT / "gguf" / p.name).write_bytes(gguf_seed(p))
for p in sorted(MODELS.glob("*/*.safetensors")):
    (OUT / "safetensors" / (p.parent.name + "-" + p.name)).write_bytes(safetensors_seed(p))
