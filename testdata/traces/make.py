#!/usr/bin/python3
"""make.py - writes the small .qtr traces in this directory.

Run by hand from anywhere (/usr/bin/python3 testdata/traces/make.py); the
output is committed, so the tests never need numpy. Deterministic: fixed
seeds, no timestamps. The format is shared/DESIGN.md section 2 (and
man/qdb-formats.5): a header map, then {sample, layer, tensor} records.

Files:
  ref.qtr        float reference, 8 layers x 4 samples (ints 0..3)
  same.qtr       identical data, other stage label          -> exit 0, cosine 1
  perturbed.qtr  conv2 and everything after it perturbed; sample 2 much
                 worse than the others                       -> first divergent conv2
  nan.qtr        NaN in fc (sample 1) and +Inf in softmax (sample 3)
  shape.qtr      conv2 reshaped (same element count), pool with fewer elements
  onesided.qtr   relu1 missing, an extra layer "aux_head" at the end
  renamed.qtr    B-side names "model.<name>", conv1+relu1 fused into
                 "conv1_relu1"; renamed.map holds the rules that align them
  int8_a.qtr     int8 per-channel reference (see int8 below)
  int8_b.qtr     int8 candidate, hand-checked differences:
                   layer "pc" (1x2x2x2, axis 1, scale [0.1, 0.5], zp [0, 3]):
                     ch0 one element +3 steps (0.3), ch1 one element -1 step (0.5)
                     -> max_abs 0.5, max_steps 3, mismatch 1/8
                   layer "pt" per-tensor (scale 0.25, zp -2), identical
                   layer "sat" half the values at -128/127 -> saturation flag
                   layer "fa" float f32 reference vs int8 candidate
  longnames.qtr  layer names of 40-90 characters (table fitting)
  sample.qds     a dataset: input "image" 1x3x4x4 f32, 3 named classes,
                 10 records (class counts 5, 3, 2) - for `qdb info`
  sample.npy     a 2x3 f32 array with a NaN - for `qdb info --stats`
  sample.qbc     a 4-node quantized graph (fixed profile, half_up rounding):
                 quantize -> linear (int8 per-channel weights) -> relu on
                 cpu -> dequantize, with one edit record - for `qdb info`
  demo_qat.qtr   the bundled demo: a small convnet (12 layers) run in float
                 with QAT-style fake quant, 8 samples "frame_0000".. 
  demo_int.qtr   the same net with integer outputs; layer3.conv's weights
                 were quantized with a clipped range, so it and everything
                 after it drift
"""
import os

import msgpack
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

DT = {np.float32: "f32", np.float64: "f64", np.int8: "i8", np.uint8: "u8",
      np.int16: "i16", np.int32: "i32", np.int64: "i64"}


def tensor(arr, scale=None, zero_point=None, axis=None):
    arr = np.ascontiguousarray(arr)
    t = {"dtype": DT[arr.dtype.type], "shape": list(arr.shape),
         "data": arr.astype(arr.dtype.newbyteorder("<")).tobytes()}
    if scale is not None:
        if np.ndim(scale):
            t["scale"] = [float(s) for s in scale]
            t["zero_point"] = [int(z) for z in zero_point]
            t["axis"] = int(axis)
        else:
            t["scale"] = float(scale)
            t["zero_point"] = int(zero_point)
    return t


def write(name, stage, layers, records, model="tiny", producer="testdata/traces/make.py"):
    """layers: [(name, op)]; records: [(sample, layer, tensor-dict)]."""
    path = os.path.join(HERE, name)
    with open(path, "wb") as f:
        f.write(msgpack.packb({"format": "qdb.trace", "version": 1, "stage": stage,
                               "model": model, "producer": producer,
                               "layers": [{"name": n, "op": o} for n, o in layers]},
                              use_bin_type=True))
        for s, l, t in records:
            f.write(msgpack.packb({"sample": s, "layer": l, "tensor": t}, use_bin_type=True))


# ---- float reference and its variants --------------------------------------
TINY = [("input", "identity", (1, 3, 8, 8)), ("conv1", "conv2d", (1, 8, 8, 8)),
        ("relu1", "relu", (1, 8, 8, 8)), ("conv2", "conv2d", (1, 8, 4, 4)),
        ("relu2", "relu", (1, 8, 4, 4)), ("pool", "global_avgpool", (1, 8)),
        ("fc", "linear", (1, 10)), ("softmax", "softmax", (1, 10))]
SAMPLES = [0, 1, 2, 3]


def tiny_ref():
    rng = np.random.default_rng(1)
    data = {}
    for s in SAMPLES:
        for name, op, shape in TINY:
            x = rng.standard_normal(shape).astype(np.float32)
            if op in ("relu", "softmax"):
                x = np.abs(x)
            data[s, name] = x
    return data


def tiny_write(fname, stage, data, layers=None, rename=lambda n: n):
    layers = layers if layers is not None else [(n, o) for n, o, _ in TINY]
    names = [n for n, _ in layers]
    recs = [(s, rename(n), tensor(data[s, n])) for s in SAMPLES for n in names if (s, n) in data]
    write(fname, stage, [(rename(n), o) for n, o in layers], recs)


def tiny_all():
    ref = tiny_ref()
    tiny_write("ref.qtr", "float", ref)
    tiny_write("same.qtr", "qat.pt", ref)

    rng = np.random.default_rng(2)
    pert = dict(ref)
    after = False
    for name, _, shape in TINY:
        after = after or name == "conv2"
        if not after:
            continue
        for s in SAMPLES:
            x = ref[s, name]
            # relative noise: 0.5 for sample 2 (cosine ~0.9), 0.02 elsewhere (~0.9998)
            k = 0.5 if s == 2 else 0.02
            pert[s, name] = (x + k * np.abs(x).mean() * rng.standard_normal(shape)).astype(np.float32)
    tiny_write("perturbed.qtr", "qat.export", pert)

    bad = dict(ref)
    x = ref[1, "fc"].copy()
    x[0, 3] = np.nan
    bad[1, "fc"] = x
    x = ref[3, "softmax"].copy()
    x[0, 0] = np.inf
    bad[3, "softmax"] = x
    tiny_write("nan.qtr", "quantized.bc", bad)

    sh = dict(ref)
    for s in SAMPLES:
        sh[s, "conv2"] = ref[s, "conv2"].reshape(1, 8, 2, 8)
        sh[s, "pool"] = ref[s, "pool"][:, :4].copy()
    tiny_write("shape.qtr", "quantized.bc", sh)

    one = {k: v for k, v in ref.items() if k[1] != "relu1"}
    for s in SAMPLES:
        one[s, "aux_head"] = rng.standard_normal((1, 4)).astype(np.float32)
    layers = [(n, o) for n, o, _ in TINY if n != "relu1"] + [("aux_head", "linear")]
    tiny_write("onesided.qtr", "quantized.bc", one, layers)

    ren = {k: v for k, v in ref.items() if k[1] not in ("conv1", "relu1")}
    for s in SAMPLES:
        ren[s, "conv1_relu1"] = ref[s, "relu1"]
    layers = [("input", "identity"), ("conv1_relu1", "conv2d")] + \
        [(n, o) for n, o, _ in TINY[3:]]
    tiny_write("renamed.qtr", "quantized.bc", ren, layers,
               rename=lambda n: n if n == "conv1_relu1" else "model." + n)
    with open(os.path.join(HERE, "renamed.map"), "w") as f:
        f.write("# rename rules aligning renamed.qtr (B) with ref.qtr (A)\n"
                "^model\\.(.*)$ => \\1\n"
                "conv1+relu1 = conv1_relu1\n")


# ---- int8 --------------------------------------------------------------------
def int8_all():
    layers = [("pc", "conv2d"), ("pt", "add"), ("sat", "relu"), ("fa", "linear")]
    scale, zp = np.array([0.1, 0.5]), np.array([0, 3])
    qa = np.array([[[[1, -2], [5, 7]], [[3, 4], [10, -6]]]], dtype=np.int8)
    qb = qa.copy()
    qb[0, 0, 1, 0] += 3      # channel 0: +3 steps of 0.1 -> 0.3
    qb[0, 1, 0, 1] -= 1      # channel 1: -1 step of 0.5 -> 0.5
    pt_q = np.arange(-8, 8, dtype=np.int8).reshape(4, 4)
    sat_b = np.array([-128, 127, -128, 127, 1, 2, 3, 4], dtype=np.int8)
    sat_a = np.array([-100, 100, -90, 90, 1, 2, 3, 4], dtype=np.int8)
    fa_q = np.array([[0, 10, 20, -10, 5, 6]], dtype=np.int8)
    fa_f = (fa_q.astype(np.float32) * np.float32(0.05))
    fa_f[0, 1] += np.float32(0.15)   # 3 steps of the candidate's scale

    recs_a, recs_b = [], []
    for s in (0, 1):
        recs_a += [(s, "pc", tensor(qa, scale, zp, 1)), (s, "pt", tensor(pt_q, 0.25, -2)),
                   (s, "sat", tensor(sat_a, 0.1, 0)), (s, "fa", tensor(fa_f))]
        recs_b += [(s, "pc", tensor(qb, scale, zp, 1)), (s, "pt", tensor(pt_q, 0.25, -2)),
                   (s, "sat", tensor(sat_b, 0.1, 0)), (s, "fa", tensor(fa_q, 0.05, 0))]
    write("int8_a.qtr", "qat.bc", layers, recs_a, model="int8")
    write("int8_b.qtr", "quantized.bc", layers, recs_b, model="int8")


# ---- demo: a small convnet, float+fake-quant vs integer ----------------------
def demo_all():
    rng = np.random.default_rng(7)
    n_samples = 8
    ids = ["frame_%04d" % i for i in range(n_samples)]
    C = 16

    def conv1x1(x, w, b):               # x: (1,C,H,W), w: (O,C)
        return np.einsum("oc,nchw->nohw", w, x) + b[None, :, None, None]

    def shift_mix(x):                    # cheap spatial context: add neighbours
        return 0.5 * x + 0.25 * np.roll(x, 1, axis=2) + 0.25 * np.roll(x, 1, axis=3)

    weights = {}
    cin = 3
    for i in range(4):
        w = rng.standard_normal((C, cin)) / np.sqrt(cin)
        w[3] *= 6.0 if i == 2 else 1.0      # one channel with large weights in layer3
        weights[i] = (w, 0.1 * rng.standard_normal(C))
        cin = C
    fc_w = rng.standard_normal((10, C)) / np.sqrt(C)
    fc_b = 0.1 * rng.standard_normal(10)

    def fq(x, s, zp=0, lo=-128, hi=127):
        return (np.clip(np.round(x / s) + zp, lo, hi) - zp) * s

    def wq(w, clip=None):                # per-output-channel symmetric int8 weights
        m = np.abs(w).max(axis=1)
        if clip is not None:
            m = np.minimum(m, clip)      # the export bug: a clipped calibration range
        s = m / 127.0
        return fq(w, s[:, None]), s

    def forward(x, integer, calib=None):
        outs = []

        def requant(name, h):            # integer requantization rounds differently now and then
            if not integer:
                return h
            sc = calib[name] / 127.0
            r = np.round(h / sc) + (rng.random(h.shape) < 0.03) * rng.choice([-1, 1], h.shape)
            return np.clip(r, -128, 127) * sc

        h = x
        outs.append(("input", "identity", h))
        for i in range(4):
            w, b = weights[i]
            clip = None
            if integer and i == 2:       # clip the outlier channel's range to the others'
                clip = np.sort(np.abs(w).max(axis=1))[-2]
            wq_, _ = wq(w, clip=clip)
            h = requant("layer%d.conv" % (i + 1), conv1x1(shift_mix(h), wq_, b))
            outs.append(("layer%d.conv" % (i + 1), "conv2d", h))
            h = np.maximum(h, 0)
            outs.append(("layer%d.relu" % (i + 1), "relu", h))
            if i == 1:
                h = h[:, :, ::2, ::2]
                outs.append(("pool1", "maxpool2d", h))
        h = h.mean(axis=(2, 3))
        outs.append(("gap", "global_avgpool", h))
        h = requant("fc", h @ fc_w.T + fc_b)
        outs.append(("fc", "linear", h))
        e = np.exp(h - h.max(axis=1, keepdims=True))
        outs.append(("softmax", "softmax", e / e.sum(axis=1, keepdims=True)))
        return outs

    # output scales calibrated on the float run (per tensor, zero point 0 / 128 for relu)
    inputs = [rng.standard_normal((1, 3, 8, 8)) for _ in ids]
    calib = {}
    for x in inputs:
        for name, _, h in forward(x, False):
            calib[name] = max(calib.get(name, 0), float(np.abs(h).max()))
    recs_q, recs_i, layers = [], [], None
    for sid, x in zip(ids, inputs):
        ref = forward(x, False)
        cand = forward(x, True, calib)
        layers = [(n, o) for n, o, _ in ref]
        for (name, _, a), (_, _, b) in zip(ref, cand):
            s = calib[name] / 127.0
            a_fq = fq(a, s).astype(np.float32)
            if name == "softmax":
                rec = tensor(b.astype(np.float32))
                a_fq = a.astype(np.float32)
            else:
                q = np.clip(np.round(b / s), -128, 127).astype(np.int8)
                rec = tensor(q, s, 0)
            recs_q.append((sid, name, tensor(a_fq)))
            recs_i.append((sid, name, rec))
    write("demo_qat.qtr", "qat.pt", layers, recs_q, model="democnn",
          producer="testdata/traces/make.py (numpy, fake quant)")
    write("demo_int.qtr", "quantized.bc", layers, recs_i, model="democnn",
          producer="testdata/traces/make.py (numpy, integer outputs)")


def misc_all():
    rng = np.random.default_rng(3)
    names = ["backbone.stage%d.block%d.%s" % (i, j, "conv_bn_relu_with_a_very_long_suffix" * (1 + (i + j) % 2))
             for i in range(2) for j in range(2)]
    recs = [(s, n, tensor(rng.standard_normal((1, 4)).astype(np.float32)))
            for s in (0, 1) for n in names]
    write("longnames.qtr", "float", [(n, "conv2d") for n in names], recs, model="long")

    path = os.path.join(HERE, "sample.qds")
    with open(path, "wb") as f:
        f.write(msgpack.packb({"format": "qdb.dataset", "version": 1, "name": "sample",
                               "inputs": [{"name": "image", "dtype": "f32", "shape": [1, 3, 4, 4]}],
                               "label": {"kind": "class", "classes": ["cat", "dog", "bird"]},
                               "count": 10}, use_bin_type=True))
        for i, c in enumerate([0, 1, 0, 2, 0, 1, 0, 2, 1, 0]):
            x = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
            f.write(msgpack.packb({"id": i, "inputs": {"image": tensor(x)}, "label": c},
                                  use_bin_type=True))

    a = np.array([[1.0, -2.0, 0.0], [np.nan, 4.0, 0.5]], dtype=np.float32)
    np.save(os.path.join(HERE, "sample.npy"), a)

    w = np.array([[1, -2, 3, -4], [5, 6, -7, 8], [-9, 10, 11, -12]], dtype=np.int8)
    graph = {
        "format": "qdb.graph", "version": 1, "name": "sample", "stage": "quantized",
        "producer": "testdata/traces/make.py",
        "profile": {"kind": "fixed", "rounding": "half_up"},
        "inputs": [{"name": "x", "dtype": "f32", "shape": [1, 4]}],
        "outputs": ["out"],
        "constants": {
            "fc.weight": tensor(w, [0.01, 0.02, 0.03], [0, 0, 0], 0),
            "fc.bias": tensor(np.array([100, -50, 0], dtype=np.int32)),
        },
        "qparams": {
            "xq": {"dtype": "i8", "scale": 0.05, "zero_point": 0},
            "y": {"dtype": "i8", "scale": 0.1, "zero_point": -3},
            "z": {"dtype": "i8", "scale": 0.1, "zero_point": -3},
        },
        "nodes": [
            {"name": "quant", "op": "quantize", "inputs": ["x"], "outputs": ["xq"],
             "attrs": {}, "device": "bpu"},
            {"name": "fc", "op": "linear", "inputs": ["xq", "fc.weight", "fc.bias"],
             "outputs": ["y"], "attrs": {}, "device": "bpu"},
            {"name": "act", "op": "relu", "inputs": ["y"], "outputs": ["z"], "attrs": {},
             "device": "cpu"},
            {"name": "dequant", "op": "dequantize", "inputs": ["z"], "outputs": ["out"],
             "attrs": {}, "device": "bpu"},
        ],
        "edits": [{"node": "act", "field": "device", "from": "bpu", "to": "cpu"}],
    }
    with open(os.path.join(HERE, "sample.qbc"), "wb") as f:
        f.write(msgpack.packb(graph, use_bin_type=True))


if __name__ == "__main__":
    misc_all()
    tiny_all()
    int8_all()
    demo_all()
