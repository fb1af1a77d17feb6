#!/usr/bin/python3
"""compare_numpy.py A.qtr B.qtr - the numpy + msgpack equivalent of
`qdb compare --all --format csv A B`, used by scripts/bench/compare as the
baseline. Same metrics as shared/DESIGN.md section 4 (double accumulation,
NaN/Inf pairs excluded and counted), aggregated over all shared samples
(mean and worst with the worst sample), layers aligned by exact name.

It indexes both files with a streaming Unpacker (offsets only, payloads are
not kept), then decodes each record from an mmap slice: the way one would
write it by hand without holding gigabytes in memory.
"""
import math
import mmap
import sys

import msgpack
import numpy as np

DT = {"f32": "<f4", "f64": "<f8", "i8": "i1", "u8": "u1", "i16": "<i2",
      "i32": "<i4", "i64": "<i8"}
HIGHER = {"cosine", "sqnr_db"}
METRICS = ["cosine", "max_abs", "mean_abs", "mse", "sqnr_db", "rel_l2",
           "max_steps", "mismatch"]
ATOL = 1e-5


def index(path):
    f = open(path, "rb")
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    up = msgpack.Unpacker(f, raw=False, max_buffer_size=2**31 - 1)
    header = up.unpack()
    layers = [l["name"] for l in header["layers"]]
    idx, samples = {}, []
    seen = set()
    while True:
        start = up.tell()
        try:
            rec = up.unpack()
        except msgpack.OutOfData:
            break
        s = rec["sample"]
        if s not in seen:
            seen.add(s)
            samples.append(s)
        idx[s, rec["layer"]] = (start, up.tell())
    return mm, layers, samples, idx


def load(mm, span):
    t = msgpack.unpackb(mm[span[0]:span[1]], raw=False)["tensor"]
    shape = tuple(t["shape"])
    x = np.frombuffer(t["data"], dtype=DT[t["dtype"]]).reshape(shape)
    if "scale" not in t:
        return x.astype(np.float64), None, shape
    scale = np.asarray(t["scale"], dtype=np.float64)
    zp = np.asarray(t["zero_point"], dtype=np.float64)
    if scale.ndim and scale.size > 1:
        bshape = [1] * len(shape)
        bshape[t["axis"]] = scale.size
        scale, zp = scale.reshape(bshape), zp.reshape(bshape)
    if t["dtype"] in ("f32", "f64"):
        real = x.astype(np.float64)   # fake-quantized float: params only give the step
    else:
        real = (x.astype(np.float64) - zp) * scale
    return real, np.broadcast_to(scale, shape), shape


def metrics(a, b, bscale):
    m = {}
    fin = np.isfinite(a) & np.isfinite(b)
    m["nonfinite"] = int(a.size - fin.sum())
    if m["nonfinite"]:
        a, b = a[fin], b[fin]
        bscale = bscale[fin] if bscale is not None else None
    a, b = a.ravel(), b.ravel()
    d = a - b
    ad = np.abs(d)
    aa, bb, ab, dd = a @ a, b @ b, a @ b, d @ d
    n = a.size
    if aa == 0 and bb == 0:
        m["cosine"] = 1.0
    elif aa == 0 or bb == 0:
        m["cosine"] = 0.0
    else:
        m["cosine"] = ab / (math.sqrt(aa) * math.sqrt(bb))
    m["max_abs"] = float(ad.max()) if n else 0.0
    m["mean_abs"] = float(ad.mean()) if n else 0.0
    m["mse"] = dd / n if n else 0.0
    m["sqnr_db"] = math.inf if dd == 0 else (10 * math.log10(aa / dd) if aa > 0 else -math.inf)
    m["rel_l2"] = (0.0 if dd == 0 else math.inf) if aa == 0 else math.sqrt(dd) / math.sqrt(aa)
    if bscale is not None:
        steps = ad / bscale.ravel()
        m["max_steps"] = float(steps.max()) if n else 0.0
        m["mismatch"] = float((steps > 1).mean()) if n else 0.0
    else:
        m["max_steps"] = math.nan
        m["mismatch"] = float((ad > ATOL).mean()) if n else 0.0
    return m


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: compare_numpy.py A.qtr B.qtr")
    ma, la, sa, ia = index(sys.argv[1])
    mb, lb, sb, ib = index(sys.argv[2])
    lbset, sbset = set(lb), set(sb)
    layers = [l for l in la if l in lbset]
    samples = [s for s in sa if s in sbset]
    agg = {l: {k: [] for k in METRICS} for l in layers}
    for s in samples:
        for l in layers:
            if (s, l) not in ia or (s, l) not in ib:
                continue
            a, _, sha = load(ma, ia[s, l])
            b, bscale, shb = load(mb, ib[s, l])
            if a.size != b.size:
                continue
            m = metrics(a.reshape(-1), b.reshape(-1),
                        bscale.reshape(-1) if bscale is not None else None)
            for k in METRICS:
                agg[l][k].append((m[k], s))
    print("layer," + ",".join("%s_mean,%s_worst,%s_worst_sample" % (k, k, k) for k in METRICS))
    for l in layers:
        row = [l]
        for k in METRICS:
            v = agg[l][k]
            if not v:
                row += ["", "", ""]
                continue
            vals = np.array([x for x, _ in v])
            w = (min if k in HIGHER else max)(v, key=lambda p: p[0])
            row += ["%.17g" % vals.mean(), "%.17g" % w[0], str(w[1])]
        print(",".join(row))


if __name__ == "__main__":
    main()
