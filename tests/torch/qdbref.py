"""qdbref.py - a small numpy model of qdb's numeric semantics, for diagnosis.

The torch agreement tests compare qdb with PyTorch. When they disagree, this
reference tells which side moved: it runs a `qat` .qbc (as a dict from
qdb_torch.read_graph) in three ways, written straight from
shared/DESIGN.md section 3 and independent of qdb's C code:

  run(g, x, "float")  float64 compute, fake quant off
  run(g, x, "qat")    fake quant at every value with qparams (float32
                      rounding as torch does it: x * (1/scale), half to even)
  run(g, x, "torch")  the integer semantics of profile `torch`, derived from
                      the qat graph the way convert_fx derives its int8
                      model: weights quantized per channel, int64 accumulate,
                      real = acc * s_x * s_w[c] + bias computed in double,
                      q = nearbyint(real / s_y) + zp clamped to the dtype's
                      range (torch clamps there, not to a reduced quant range)

Returns {layer: array}; "torch" mode returns (int array, scale, zero_point)
per layer (per-tensor activations only). Only the ops the bridge tests use
are modelled; others raise NotImplementedError.
"""

import numpy as np

import qdb_torch as qt

_RANGE = {"u8": (0, 255), "i8": (-128, 127), "i16": (-32768, 32767),
          "i32": (-(1 << 31), (1 << 31) - 1)}


def _qp(q, ndim):
    s, z = q["scale"], q["zero_point"]
    if isinstance(s, list):
        shape = [1] * ndim
        shape[q.get("axis", 0)] = -1
        return (np.asarray(s, np.float64).reshape(shape),
                np.asarray(z, np.float64).reshape(shape))
    return np.float64(s), np.float64(z)


def fake_quant(x, q):
    """torch's fake_quantize_per_{tensor,channel}_affine, in float32."""
    x = np.asarray(x, np.float32)
    s, z = _qp(q, x.ndim)
    s32 = np.asarray(s, np.float32)
    inv = np.float32(1.0) / s32
    r = np.clip(np.rint(x * inv) + z.astype(np.float32), q["qmin"], q["qmax"])
    return ((r - z.astype(np.float32)) * s32).astype(np.float32)


def _pads(attrs):
    p = attrs.get("padding", [0, 0, 0, 0])
    if len(p) == 2:
        p = [p[0], p[1], p[0], p[1]]
    return p


def conv2d(x, w, b, attrs):
    """NCHW x OIHW, float64 (or int64 for integer inputs) accumulation."""
    sh, sw = attrs.get("stride", [1, 1])
    dh, dw = attrs.get("dilation", [1, 1])
    t, l, bo, r = _pads(attrs)
    g = attrs.get("groups", 1)
    n, c, hh, ww = x.shape
    o, cg, kh, kw = w.shape
    xp = np.zeros((n, c, hh + t + bo, ww + l + r), x.dtype)
    xp[:, :, t:t + hh, l:l + ww] = x
    oh = (hh + t + bo - dh * (kh - 1) - 1) // sh + 1
    ow = (ww + l + r - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, oh, ow), x.dtype)
    og = o // g
    for gi in range(g):
        xs = xp[:, gi * cg:(gi + 1) * cg]
        ws = w[gi * og:(gi + 1) * og]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                           j * dw:j * dw + sw * (ow - 1) + 1:sw]
                out[:, gi * og:(gi + 1) * og] += np.einsum("nchw,oc->nohw", patch, ws[:, :, i, j])
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return out


def _avg_f32(win):
    """torch's float avg pooling: float32 sum in window order, then divide."""
    acc = win[0].astype(np.float32)
    for w in win[1:]:
        acc = acc + w.astype(np.float32)
    return acc / np.float32(len(win))


def _pool(x, attrs, fn):
    kh, kw = attrs["kernel"]
    sh, sw = attrs.get("stride", attrs["kernel"])
    ph, pw = attrs.get("padding", [0, 0])[:2]
    if attrs.get("ceil_mode", 0) or ph or pw:
        raise NotImplementedError("pooling with padding / ceil_mode")
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    win = np.stack([x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
                    for i in range(kh) for j in range(kw)])
    return fn(win)


def _act(y, attrs):
    a = attrs.get("act", "none")
    if a == "relu":
        return np.maximum(y, 0)
    if a == "relu6":
        return np.clip(y, 0, 6)
    if a == "clamp":
        return np.clip(y, attrs["act_min"], attrs["act_max"])
    return y


def _hardswish(x):
    return x * np.clip(x + 3, 0, 6) / 6


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


_UNARY = {"sigmoid": _sigmoid, "tanh": np.tanh, "hardswish": _hardswish,
          "silu": lambda x: x * _sigmoid(x), "relu": lambda x: np.maximum(x, 0),
          "relu6": lambda x: np.clip(x, 0, 6), "identity": lambda x: x}


def _float_op(n, ins):
    op, a = n["op"], n.get("attrs", {})
    if op == "conv2d":
        return _act(conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a), a)
    if op == "linear":
        y = ins[0] @ ins[1].T
        if len(ins) > 2:
            y = y + ins[2]
        return _act(y, a)
    if op == "add":
        return _act(ins[0] + ins[1], a)
    if op == "mul":
        return _act(ins[0] * ins[1], a)
    if op in _UNARY:
        return _UNARY[op](ins[0])
    if op == "clamp":
        return np.clip(ins[0], a["min"], a["max"])
    if op == "maxpool2d":
        return _pool(ins[0], a, lambda w: w.max(0))
    if op == "avgpool2d":
        return _pool(ins[0], a, _avg_f32 if ins[0].dtype == np.float32 else lambda w: w.mean(0))
    if op == "global_avgpool":
        return ins[0].mean(axis=(2, 3), keepdims=True)
    if op == "flatten":
        x = ins[0]
        sd, ed = a.get("start_dim", 1), a.get("end_dim", -1) % x.ndim
        return x.reshape(x.shape[:sd] + (-1,) + x.shape[ed + 1:])
    if op == "reshape":
        shape = [ins[0].shape[i] if d == 0 else d for i, d in enumerate(a["shape"])]
        return ins[0].reshape(shape)
    if op == "permute":
        return ins[0].transpose(a["perm"])
    if op == "concat":
        return np.concatenate(ins, axis=a.get("axis", 1))
    if op == "upsample_nearest":
        sh, sw = a["scale"]
        return ins[0].repeat(sh, axis=2).repeat(sw, axis=3)
    raise NotImplementedError(op)


def run(g, x, mode, clamp="dtype"):
    """Runs graph dict g on input batch x ([N, ...] float) in `mode`.
    clamp (torch mode): "dtype" clamps integer results to the dtype's range
    as torch's int8 ops do; "qrange" to the values' qmin/qmax (the QAT
    fake-quant range), for telling the two apart in a diagnosis."""
    if mode == "torch":
        return _run_torch_int(g, x, clamp)
    qp = g.get("qparams", {}) if mode == "qat" else {}
    env = {}
    for c, t in g["constants"].items():
        v = qt.tensor_from_obj(t).astype(np.float32)
        if c in qp:
            v = fake_quant(v, qp[c])
        env[c] = v.astype(np.float64)
    name = g["inputs"][0]["name"]
    v = np.asarray(x, np.float32)
    env[name] = (fake_quant(v, qp[name]) if name in qp else v).astype(np.float64)
    out = {}
    for n in g["nodes"]:
        ins = [env[i] for i in n["inputs"]]
        if n["op"] == "avgpool2d":   # ties: torch's float32 order decides them
            ins = [ins[0].astype(np.float32)]
        y = _float_op(n, ins)
        o = n["outputs"][0]
        if o in qp:
            y = fake_quant(y.astype(np.float32), qp[o]).astype(np.float64)
        env[o] = y
        out[n["name"]] = y
    return out


def _quantize(real, s, z, dt, lim=None):
    lo, hi = lim or _RANGE[dt]
    return np.clip(np.rint(real / s) + z, lo, hi).astype(np.int64)


def _run_torch_int(g, x, clamp="dtype"):
    qp = g["qparams"]
    env = {}   # value -> (int array, scale, zp, dtype) or float array
    name = g["inputs"][0]["name"]
    q = qp[name]
    # torch.quantize_per_tensor: x * (1/scale) in float32
    xf = np.asarray(x, np.float32)
    inv = np.float32(1.0) / np.float32(q["scale"])
    lo, hi = _RANGE[q["dtype"]] if clamp == "dtype" else (q.get("qmin", 0), q.get("qmax", 255))
    env[name] = (np.clip(np.rint(xf * inv) + q["zero_point"], lo, hi).astype(np.int64),
                 q["scale"], q["zero_point"], q["dtype"])
    out = {}

    def real(v):
        qv, s, z, _ = v
        return (qv - z) * s

    for n in g["nodes"]:
        op, a = n["op"], n.get("attrs", {})
        o = n["outputs"][0]
        oq = qp.get(o)
        if oq is None:
            raise NotImplementedError("value %s has no qparams" % o)
        s_y, z_y, dt = oq["scale"], oq["zero_point"], oq["dtype"]
        lim = (oq.get("qmin", _RANGE[dt][0]), oq.get("qmax", _RANGE[dt][1])) \
            if clamp == "qrange" else None
        ins = n["inputs"]
        if op in ("conv2d", "linear"):
            xv = env[ins[0]]
            wt = qt.tensor_from_obj(g["constants"][ins[1]]).astype(np.float32)
            wq = qp[ins[1]]
            ws, wz = _qp(wq, wt.ndim)
            inv = np.float32(1.0) / np.asarray(ws, np.float32)
            wi = np.clip(np.rint(wt * inv) + wz, wq["qmin"], wq["qmax"]).astype(np.int64)
            xi = xv[0] - xv[2]
            wi = wi - wz.astype(np.int64)
            if op == "conv2d":
                acc = conv2d(xi, wi, None, a)
                cs = np.asarray(ws, np.float64).reshape(1, -1, 1, 1)
                bshape = (1, -1, 1, 1)
            else:
                acc = xi @ wi.T
                cs = np.asarray(ws, np.float64).reshape(1, -1)
                bshape = (1, -1)
            r = acc * (xv[1] * cs)
            if len(ins) > 2:
                r = r + qt.tensor_from_obj(g["constants"][ins[2]]).astype(np.float32).astype(np.float64).reshape(bshape)
            qv = _quantize(r, s_y, z_y, dt, lim)
            if a.get("act") == "relu":
                qv = np.maximum(qv, z_y)
            elif a.get("act") not in (None, "none"):
                raise NotImplementedError("act " + a["act"])
        elif op in ("add", "mul"):
            ra, rb = real(env[ins[0]]), real(env[ins[1]])
            qv = _quantize(_act(ra + rb if op == "add" else ra * rb, a), s_y, z_y, dt, lim)
        elif op in ("sigmoid", "tanh", "hardswish", "silu"):
            qv = _quantize(_UNARY[op](real(env[ins[0]])), s_y, z_y, dt, lim)
        elif op in ("avgpool2d", "global_avgpool"):
            qv = _quantize(_float_op(n, [real(env[ins[0]])]), s_y, z_y, dt, lim)
        elif op in ("maxpool2d", "flatten", "reshape", "permute", "identity",
                    "upsample_nearest", "relu", "relu6"):
            xv = env[ins[0]]
            if (xv[1], xv[2]) != (s_y, z_y):
                qv = _quantize(_float_op(n, [real(xv)]), s_y, z_y, dt, lim)
            elif op == "relu":
                qv = np.maximum(xv[0], z_y)
            elif op == "relu6":
                qv = np.clip(xv[0], z_y, z_y + int(round(6 / s_y)))
            else:
                qv = _float_op(n, [xv[0]]).astype(np.int64)
        elif op == "concat":
            qv = _quantize(np.concatenate([real(env[i]) for i in ins], axis=a.get("axis", 1)),
                           s_y, z_y, dt, lim)
        else:
            raise NotImplementedError(op)
        env[o] = (qv, s_y, z_y, dt)
        out[n["name"]] = env[o]
    return out
