#!/usr/bin/python3
"""qdb_torch.py - the PyTorch bridge of qdb (module and command line).

Turns PyTorch models into the files qdb reads (formats: man/qdb-formats.5,
shared/DESIGN.md section 2):

  export(prepared, example_inputs, "qat.qbc")
      A model prepared with torch.ao.quantization.quantize_fx.prepare_qat_fx
      becomes a .qbc graph with stage "qat". Fused conv-bn(-relu) is folded
      with torch's own fuse_conv_bn_weights (the folding convert_fx uses, so
      the integer weights qdb derives are the ones torch derives);
      FakeQuantize scale / zero point / quant range / per-channel axis become
      qparams. Node names are the FX module targets ("layer1.0.conv1") or, for
      functions and methods, the FX node names ("add", "flatten_1"). Ops that
      only move or select values (flatten, reshape, permute, max pooling,
      relu, nearest upsampling, identity) inherit their input's qparams when
      torch puts no fake quant after them, so the converted graph stays
      integer. Anything that cannot be mapped is reported (node, module name,
      type, reason) and nothing is written.

  dump_trace(model, samples, "X.qtr", stage=...)
      Every layer's output for every sample, named as in the export. `model`
      is a float nn.Module (fused in eval mode first, so conv+bn+relu is one
      layer as in the export), a prepared QAT GraphModule (header `qstate`:
      per layer whether fake quant and the observer are enabled, and the
      scale / zero point at the end of the run), or a convert_fx int8 model
      (integer values with their scale and zero point; pass reference= the
      prepared model or the exported .qbc so that functional ops renamed by
      convert_fx - "add" becomes "add_2" - keep their export names).
      The model is deep-copied: observers that are still enabled update the
      copy (the trace shows the drift), never the caller's model.

  write_dataset("X.qds", inputs, labels=...)
      A .qds dataset from tensors or numpy arrays (each record keeps a batch
      dimension of 1, as the exported graph's inputs do).

  read_trace / read_dataset / read_graph: small readers used by the tests.

All files are written to a temporary file beside the target, fsynced and
renamed over it. Only /usr/bin/python3 with python3-torch (1.13), numpy and
msgpack is supported. Quantized engine: "onednn" by default (set_engine).

Command line:
  qdb_torch.py export MODEL -o OUT.qbc [--input-shape 1,1,8,8] [--name N]
  qdb_torch.py trace MODEL DATA.qds -o OUT.qtr [--stage S] [--count N]
                     [--reference QAT.qbc|FILE.py:FUNC] [--name N]
  qdb_torch.py dataset INPUTS.npy [--labels LABELS.npy] -o OUT.qds
                     [--name N] [--input-name x] [--classes a,b,...]
MODEL is FILE.py:FUNC, a function returning the model or (model,
example_inputs) - the way for prepared QAT models, which torch 1.13 cannot
pickle - or a whole model saved with torch.save(model, "MODEL.pt").
Exit status: 0 done, 2 bad input or a model that cannot be exported.
"""

import argparse
import copy
import math
import operator
import os
import sys
import tempfile

import msgpack
import numpy as np

try:
    import torch
    import torch.fx
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # write_dataset and the readers work without torch
    torch = None

PRODUCER = "qdb_torch.py"
VERSION = 1

_NP_DTYPE = {
    "f32": np.float32, "f64": np.float64, "i8": np.int8, "u8": np.uint8,
    "i16": np.int16, "i32": np.int32, "i64": np.int64,
}
_DTYPE_NAME = {np.dtype(v): k for k, v in _NP_DTYPE.items()}


class ExportError(Exception):
    """Raised when a model cannot be exported; .problems lists every node."""

    def __init__(self, problems):
        self.problems = list(problems)
        lines = ["cannot export: %d node(s) cannot be mapped to qdb ops:"
                 % len(self.problems)]
        for p in self.problems:
            lines.append("  node %s (%s, type %s): %s" % p)
        super().__init__("\n".join(lines))


def _need_torch():
    if torch is None:
        raise RuntimeError("qdb_torch: this needs PyTorch (python3-torch) "
                           "for /usr/bin/python3")


def set_engine(name="onednn"):
    """Selects the quantized engine convert_fx models run on."""
    _need_torch()
    if name not in torch.backends.quantized.supported_engines:
        raise RuntimeError("quantized engine %r not available (have %s)"
                           % (name, torch.backends.quantized.supported_engines))
    torch.backends.quantized.engine = name


# ---------------------------------------------------------------------------
# Writing MessagePack files atomically

class _AtomicFile:
    """A file written beside its target and renamed over it on commit."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        d = os.path.dirname(self.path)
        fd, self.tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp.",
                                        dir=d)
        try:
            mode = os.stat(self.path).st_mode & 0o7777
        except OSError:
            mask = os.umask(0)
            os.umask(mask)
            mode = 0o666 & ~mask
        os.fchmod(fd, mode)
        self.f = os.fdopen(fd, "wb")

    def commit(self):
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.replace(self.tmp, self.path)
        try:
            dfd = os.open(os.path.dirname(self.path), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass

    def abort(self):
        try:
            self.f.close()
        finally:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False


def _packer():
    return msgpack.Packer(use_bin_type=True)


def _to_numpy(x):
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def tensor_obj(arr, scale=None, zero_point=None, axis=None):
    """A qdb tensor object (dict) from an array; optional quantization."""
    a = np.ascontiguousarray(_to_numpy(arr))
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    if a.dtype not in _DTYPE_NAME:
        raise ValueError("dtype %s has no qdb equivalent" % a.dtype)
    name = _DTYPE_NAME[a.dtype]
    a = a.astype(a.dtype.newbyteorder("<"), copy=False)
    t = {"dtype": name, "shape": [int(s) for s in a.shape], "data": a.tobytes()}
    if scale is not None:
        t["scale"] = scale
        t["zero_point"] = zero_point if zero_point is not None else 0
        if axis is not None:
            t["axis"] = int(axis)
    return t


def tensor_from_obj(t):
    """numpy array from a qdb tensor object (copy); quantization ignored."""
    dt = np.dtype(_NP_DTYPE[t["dtype"]]).newbyteorder("<")
    a = np.frombuffer(t["data"], dtype=dt).reshape(t["shape"])
    return a.astype(a.dtype.newbyteorder("="))


def tensor_real(t):
    """Dequantized float64 array of a tensor object. Float tensors are taken
    as they are, even with a scale (qdb records the qparams a fake-quantized
    float value was snapped to); only integer tensors are dequantized."""
    a = tensor_from_obj(t).astype(np.float64)
    if "scale" not in t or t["dtype"] in ("f32", "f64"):
        return a
    s, z = t["scale"], t["zero_point"]
    if isinstance(s, list):
        shape = [1] * a.ndim
        shape[t.get("axis", 0)] = -1
        s = np.asarray(s, np.float64).reshape(shape)
        z = np.asarray(z, np.float64).reshape(shape)
    return (a - z) * s


# ---------------------------------------------------------------------------
# Readers (streams of MessagePack objects)

def _unpack_all(path):
    with open(path, "rb") as f:
        u = msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 31,
                             strict_map_key=False)
        for obj in u:
            yield obj


def read_graph(path):
    """The .qbc file as a dict."""
    with open(path, "rb") as f:
        return msgpack.unpackb(f.read(), raw=False, strict_map_key=False)


def read_trace(path):
    """(header, records) where records maps (sample, layer) -> tensor object."""
    it = _unpack_all(path)
    header = next(it)
    if not isinstance(header, dict) or header.get("format") != "qdb.trace":
        raise ValueError("%s: not a qdb trace" % path)
    recs = {}
    for r in it:
        recs[(r["sample"], r["layer"])] = r["tensor"]
    return header, recs


def read_dataset(path):
    """(header, ids, {input: array [N, ...]}, labels) of a .qds file.

    Each record's batch dimension of 1 is dropped when stacking, so an input
    declared [1,1,8,8] comes back as an [N,1,8,8] array. Class labels come
    back as an int64 array, tensor labels as a list of arrays, no labels as
    None."""
    it = _unpack_all(path)
    header = next(it)
    if not isinstance(header, dict) or header.get("format") != "qdb.dataset":
        raise ValueError("%s: not a qdb dataset" % path)
    ids, cols, labels = [], {}, []
    for r in it:
        ids.append(r["id"])
        for k, t in r["inputs"].items():
            a = tensor_from_obj(t)
            if a.ndim and a.shape[0] == 1:
                a = a[0]
            cols.setdefault(k, []).append(a)
        labels.append(r.get("label"))
    inputs = {k: np.stack(v) for k, v in cols.items()}
    kind = header.get("label", {}).get("kind", "none")
    if kind == "class":
        labels = np.asarray(labels, np.int64)
    elif kind == "tensor":
        labels = [tensor_from_obj(t) for t in labels]
    else:
        labels = None
    return header, ids, inputs, labels


# ---------------------------------------------------------------------------
# Dataset

def write_dataset(path, inputs, labels=None, name=None, input_name="x",
                  classes=None, ids=None):
    """Writes a .qds dataset.

    inputs: array-like [N, ...] (one input named `input_name`) or a dict
    name -> [N, ...]; every record stores sample i as shape [1, ...] f32
    (integer arrays keep their dtype). labels: None, an int array [N]
    (class labels; `classes` optionally names them), or a float array
    [N, ...] (tensor labels). ids: N ints or strings (default 0..N-1).
    Returns the number of records."""
    if not isinstance(inputs, dict):
        inputs = {input_name: inputs}
    cols = {}
    n = None
    for k, v in inputs.items():
        a = _to_numpy(v)
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        if a.ndim < 1:
            raise ValueError("input %r: need an array [N, ...]" % k)
        if n is not None and a.shape[0] != n:
            raise ValueError("inputs have different sample counts")
        n = a.shape[0]
        cols[k] = a
    kind = "none"
    if labels is not None:
        lab = _to_numpy(labels)
        if lab.shape[0] != n:
            raise ValueError("labels: %d entries for %d samples" % (lab.shape[0], n))
        kind = "class" if np.issubdtype(lab.dtype, np.integer) and lab.ndim == 1 else "tensor"
        if kind == "tensor" and lab.dtype == np.float64:
            lab = lab.astype(np.float32)
    if ids is None:
        ids = list(range(n))
    if len(ids) != n:
        raise ValueError("ids: %d entries for %d samples" % (len(ids), n))
    header = {
        "format": "qdb.dataset", "version": VERSION,
        "name": name or os.path.splitext(os.path.basename(path))[0],
        "inputs": [{"name": k, "dtype": _DTYPE_NAME[a.dtype],
                    "shape": [1] + [int(s) for s in a.shape[1:]]}
                   for k, a in cols.items()],
        "label": {"kind": kind},
        "count": n,
    }
    if kind == "class" and classes is not None:
        header["label"]["classes"] = [str(c) for c in classes]
    pk = _packer()
    with _AtomicFile(path) as af:
        af.f.write(pk.pack(header))
        for i in range(n):
            rec = {"id": ids[i] if isinstance(ids[i], str) else int(ids[i]),
                   "inputs": {k: tensor_obj(a[i:i + 1]) for k, a in cols.items()}}
            if kind == "class":
                rec["label"] = int(lab[i])
            elif kind == "tensor":
                rec["label"] = tensor_obj(lab[i])
            af.f.write(pk.pack(rec))
    return n


# ---------------------------------------------------------------------------
# Lowering FX graphs to qdb layers

_ALIAS_METHODS = {"contiguous", "detach", "clone"}
# Ops whose output is exactly representable on the input's quantization
# grid: they may inherit the input's qparams.
_GRID_OPS = {"maxpool2d", "flatten", "reshape", "permute", "upsample_nearest",
             "identity", "relu", "relu6", "clamp"}
_ACT_FUSABLE = {"conv2d", "linear", "add", "mul"}


def _pair(v, n=2):
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            return [int(v[0])] * n
        return [int(x) for x in v]
    return [int(v)] * n


class _Layer:
    __slots__ = ("name", "op", "inputs", "attrs", "root", "out_node", "act_node")

    def __init__(self, name, op, inputs, attrs, root):
        self.name = name
        self.op = op
        self.inputs = inputs      # value names
        self.attrs = attrs
        self.root = root          # FX node the layer comes from
        self.out_node = root      # FX node whose value is the layer's output in torch
        self.act_node = None      # relu folded into the layer (act attr)


class _Lowered:
    """An FX graph mapped to qdb layers (shared by export and trace)."""

    def __init__(self):
        self.layers = []          # _Layer in graph order
        self.inputs = []          # (name, fx node)
        self.outputs = []         # value names
        self.constants = {}       # name -> tensor object
        self.qparams = {}         # value name -> qparams dict
        self.fq = {}              # value name -> fake quant module at it
        self.wfq = {}             # weight constant name -> its fake quant module
        self.producer = {}        # value name -> _Layer
        self.problems = []        # (node, target, type, why)
        self.warnings = []


def _is_fq(mod):
    from torch.ao.quantization.fake_quantize import FakeQuantizeBase
    from torch.ao.quantization.observer import ObserverBase
    return isinstance(mod, (FakeQuantizeBase, ObserverBase))


_QDTYPE = None


def _qdtype_name(dt):
    global _QDTYPE
    if _QDTYPE is None:
        _QDTYPE = {torch.quint8: "u8", torch.qint8: "i8", torch.qint32: "i32",
                   torch.uint8: "u8", torch.int8: "i8", torch.int32: "i32"}
    return _QDTYPE.get(dt)


def _is_fused_fq(mod):
    """A FusedMovingAvgObsFakeQuantize still running its fused C++ forward."""
    from torch.ao.quantization.fake_quantize import FakeQuantize, FusedMovingAvgObsFakeQuantize
    return isinstance(mod, FusedMovingAvgObsFakeQuantize) and \
        getattr(mod.__dict__.get("forward"), "__func__", None) is not FakeQuantize.forward


def _forward_qparams(mod):
    """(scale, zero_point) tensors the module's forward quantizes with.

    FusedMovingAvgObsFakeQuantize (the default of torch 1.13's QAT qconfig
    mappings) recomputes its qparams from the running min/max on every
    forward, in C++ (ChooseQuantizationParams), and only then writes them to
    its buffers; convert_fx instead calls the Python calculate_qparams().
    They disagree: in the last bits for affine activations, by up to 0.4%
    for symmetric per-channel weights (max(-min/128, max/127) against
    max(-min, max)/127.5), and for a weight channel whose values all have
    one sign the forward even uses an asymmetric range (zero point != 0)
    where convert_fx uses a symmetric one. The forward's values are what
    the QAT model computes with, so the export records them; they are
    obtained by running the fused op itself on a dummy input with the
    observer off, on copies of the state."""
    from torch.ao.quantization.fake_quantize import FakeQuantizeBase
    if _is_fused_fq(mod):
        o = mod.activation_post_process
        n = o.min_val.numel()
        if not torch.isfinite(o.min_val).all() or not torch.isfinite(o.max_val).all():
            return mod.scale.detach().clone(), mod.zero_point.detach().clone()
        x = torch.zeros((n, 1) if mod.is_per_channel else (1,))
        s = torch.ones(max(n, 1), dtype=torch.float32)
        z = torch.zeros(max(n, 1), dtype=torch.int32)
        on = torch.ones(1, dtype=torch.long)
        off = torch.zeros(1, dtype=torch.long)
        torch.fused_moving_avg_obs_fake_quant(
            x, off, on, o.min_val.detach().clone(), o.max_val.detach().clone(), s, z,
            o.averaging_constant, o.quant_min, o.quant_max, mod.ch_axis,
            mod.is_per_channel, mod.is_symmetric_quant)
        return s, z
    if isinstance(mod, FakeQuantizeBase):
        return mod.scale.detach().clone(), mod.zero_point.detach().clone()
    sc, zp = mod.calculate_qparams()
    return sc.detach().clone(), zp.detach().clone()


def pin_qparams(model):
    """Makes the QAT model compute with the qparams convert_fx will use.

    In torch 1.13 the fused fake-quant modules of the default QAT qconfig
    mappings quantize with other qparams than the ones convert_fx takes
    (see _forward_qparams), so the int8 model silently deviates from the
    QAT model it came from, and no integer reproduction of the QAT model can
    match both. This switches every FusedMovingAvgObsFakeQuantize in `model`
    to the unfused FakeQuantize forward (the same module, same state; the
    observer still works when enabled) with its scale and zero point set to
    calculate_qparams(), i.e. to exactly what convert_fx will use. Call it
    after training, after torch.ao.quantization.disable_observer, before
    exporting, tracing and convert_fx. Returns [(module name, max relative
    scale change, max zero-point change)] for the modules that changed."""
    _need_torch()
    import types
    from torch.ao.quantization.fake_quantize import FakeQuantize
    changed = []
    with torch.no_grad():
        for name, mod in model.named_modules():
            if not _is_fused_fq(mod):
                continue
            fs, fz = _forward_qparams(mod)
            mod.forward = types.MethodType(FakeQuantize.forward, mod)
            o = mod.activation_post_process
            if not torch.isfinite(o.min_val).all() or not torch.isfinite(o.max_val).all():
                continue  # never observed: nothing to pin
            cs, cz = mod.calculate_qparams()
            cs = cs.reshape(mod.scale.shape).to(mod.scale.dtype) if cs.numel() == mod.scale.numel() \
                else cs.to(mod.scale.dtype)
            cz = cz.reshape(-1).to(mod.zero_point.dtype)
            if mod.scale.shape != cs.shape:
                mod.scale.resize_(cs.shape)
                mod.zero_point.resize_(cz.shape)
            mod.scale.copy_(cs)
            mod.zero_point.copy_(cz.reshape(mod.zero_point.shape))
            fs, fz = fs.reshape(-1), fz.reshape(-1).to(torch.int64)
            cs, cz = cs.reshape(-1), cz.reshape(-1).to(torch.int64)
            if fs.shape == cs.shape and (not torch.equal(fs, cs) or not torch.equal(fz, cz)):
                changed.append((name, float(((cs - fs).abs() / fs).max()),
                                int((cz - fz).abs().max())))
    return changed


def _convert_mismatch(mod):
    """(max relative scale difference, max zero-point difference) between
    what the QAT forward and convert_fx use for a fake-quant module."""
    if not _is_fused_fq(mod):
        return 0.0, 0
    fs, fz = _forward_qparams(mod)
    cs, cz = mod.calculate_qparams()
    cs, cz = cs.reshape(-1).float(), cz.reshape(-1).to(torch.int64)
    fs, fz = fs.reshape(-1), fz.reshape(-1).to(torch.int64)
    if cs.shape != fs.shape:
        return 0.0, 0
    return float(((cs - fs).abs() / fs).max()), int((cz - fz).abs().max())


def _fq_qparams(mod):
    """qparams dict of a FakeQuantize (or observer) module, or (None, why)."""
    dt = _qdtype_name(getattr(mod, "dtype", None))
    if dt is None:
        return None, "quantization dtype %s is not an integer type qdb knows" % getattr(mod, "dtype", None)
    if not hasattr(mod, "calculate_qparams") and not hasattr(mod, "scale"):
        return None, "observer without qparams"
    scale, zp = _forward_qparams(mod)
    qmin = int(getattr(mod, "quant_min"))
    qmax = int(getattr(mod, "quant_max"))
    per_channel = scale.numel() > 1 or mod.qscheme in (
        torch.per_channel_affine, torch.per_channel_symmetric,
        torch.per_channel_affine_float_qparams)
    s = [float(v) for v in scale.reshape(-1).tolist()]
    z = [int(round(float(v))) for v in zp.reshape(-1).tolist()]
    if any(not math.isfinite(v) or v <= 0 for v in s):
        return None, "scale %s is not finite and positive (observer never ran?)" % s[:4]
    q = {"dtype": dt, "qmin": qmin, "qmax": qmax}
    if per_channel:
        q["scale"], q["zero_point"], q["axis"] = s, z, int(mod.ch_axis)
    else:
        q["scale"], q["zero_point"] = s[0], z[0]
    return q, None


def _fq_state(mod):
    """qstate entry {fake_quant, observer, scale, zero_point} of a module."""
    from torch.ao.quantization.fake_quantize import FakeQuantizeBase
    st = {"fake_quant": True, "observer": False}
    if isinstance(mod, FakeQuantizeBase):
        st["fake_quant"] = bool(int(mod.fake_quant_enabled[0]))
        st["observer"] = bool(int(mod.observer_enabled[0]))
    else:  # a plain observer always observes and never quantizes
        st["fake_quant"] = False
        st["observer"] = True
    sc, zp = _forward_qparams(mod)
    s = [float(v) for v in sc.reshape(-1).tolist()]
    z = [int(v) for v in zp.reshape(-1).tolist()]
    st["scale"] = s[0] if len(s) == 1 else s
    st["zero_point"] = z[0] if len(z) == 1 else z
    return st


def _args(node, names, defaults):
    """Positional + keyword arguments of an FX call as a dict."""
    out = dict(defaults)
    for i, a in enumerate(node.args):
        if i < len(names):
            out[names[i]] = a
    for k, v in node.kwargs.items():
        out[k] = v
    return out


def _conv_padding(mod):
    p = mod.padding
    if isinstance(p, str):
        if p == "valid":
            return [0, 0, 0, 0]
        # "same": torch puts the odd extra pixel at the bottom / right
        tot = [d * (k - 1) for d, k in zip(mod.dilation, mod.kernel_size)]
        return [tot[0] // 2, tot[1] // 2, tot[0] - tot[0] // 2, tot[1] - tot[1] // 2]
    ph, pw = _pair(p)
    return [ph, pw, ph, pw]


def _module_kind(mod):
    """(kind, info) for a module: kind is a qdb op name or a special tag."""
    import torch.nn.intrinsic as nni
    if _is_fq(mod):
        return "fq", None
    relu = False
    bn = None
    core = mod
    if isinstance(mod, nni._FusedModule) and not isinstance(mod, (nn.Conv2d, nn.Linear)):
        # float fused modules are Sequentials: conv/linear [bn] [relu]
        parts = list(mod.children())
        core = parts[0]
        for p in parts[1:]:
            if isinstance(p, nn.ReLU):
                relu = True
            elif isinstance(p, (nn.BatchNorm2d, nn.BatchNorm1d)):
                bn = p
            else:
                return None, "fused part %s" % type(p).__name__
    else:
        tn = type(mod).__name__
        relu = tn.endswith("ReLU2d") or tn.endswith("ReLU1d") or tn == "LinearReLU"
        bn = getattr(mod, "bn", None)
    if isinstance(core, nn.Conv2d):
        return "conv2d", (core, bn, relu)
    if isinstance(core, nn.Linear):
        return "linear", (core, bn, relu)
    simple = [
        (nn.ReLU, "relu"), (nn.ReLU6, "relu6"), (nn.Sigmoid, "sigmoid"),
        (nn.Tanh, "tanh"), (nn.Hardswish, "hardswish"), (nn.SiLU, "silu"),
        (nn.GELU, "gelu"), (nn.Softmax, "softmax"), (nn.MaxPool2d, "maxpool2d"),
        (nn.AvgPool2d, "avgpool2d"), (nn.AdaptiveAvgPool2d, "adaptive_avgpool"),
        (nn.Flatten, "flatten"), (nn.Upsample, "upsample"),
        (nn.Identity, "identity"), (nn.Dropout, "identity"),
        (nn.Dropout2d, "identity"), (nn.Hardtanh, "hardtanh"),
    ]
    for cls, kind in simple:
        if isinstance(mod, cls):
            return kind, mod
    return None, "no qdb op for module type %s" % type(mod).__name__


def _fn_kind(target):
    table = {
        operator.add: "add", torch.add: "add", operator.mul: "mul", torch.mul: "mul",
        operator.matmul: "matmul", torch.matmul: "matmul",
        torch.cat: "concat", torch.concat: "concat",
        F.relu: "relu", torch.relu: "relu", F.relu6: "relu6",
        torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", torch.tanh: "tanh",
        F.tanh: "tanh", F.hardswish: "hardswish", F.silu: "silu", F.gelu: "gelu",
        F.softmax: "softmax", torch.softmax: "softmax",
        F.max_pool2d: "maxpool2d", F.avg_pool2d: "avgpool2d",
        F.adaptive_avg_pool2d: "adaptive_avgpool",
        torch.flatten: "flatten", torch.reshape: "reshape", torch.permute: "permute",
        F.interpolate: "upsample", F.hardtanh: "hardtanh", torch.clamp: "clamp",
        F.dropout: "identity",
    }
    try:
        return table.get(target)
    except TypeError:
        return None


_METHOD_KIND = {
    "add": "add", "mul": "mul", "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh",
    "flatten": "flatten", "reshape": "reshape", "view": "reshape",
    "permute": "permute", "softmax": "softmax", "mean": "mean", "clamp": "clamp",
    "matmul": "matmul",
}


def _node_target(node):
    if node.op == "call_module":
        return str(node.target)
    if node.op == "call_method":
        return "." + str(node.target)
    return getattr(node.target, "__name__", str(node.target))


def _lower(gm):
    """Maps a GraphModule (float fused or prepared QAT) to qdb layers."""
    low = _Lowered()
    mods = dict(gm.named_modules(remove_duplicate=False))
    val = {}                 # fx node -> value name, or ("const", python value)
    used_names = set()
    failed = set()           # nodes not mapped; their users are not reported again

    def uniq(name, fallback):
        for cand in (name, fallback):
            if cand not in used_names:
                used_names.add(cand)
                return cand
        i = 1
        while "%s_%d" % (fallback, i) in used_names:
            i += 1
        used_names.add("%s_%d" % (fallback, i))
        return "%s_%d" % (fallback, i)

    def problem(node, why, typ=None):
        if typ is None:
            if node.op == "call_module":
                typ = type(mods[node.target]).__name__
            else:
                typ = node.op
        failed.add(node)
        low.problems.append((node.name, _node_target(node), typ, why))

    def tensor_in(node, a):
        if isinstance(a, torch.fx.Node):
            v = val.get(a)
            if isinstance(v, str):
                return v
            problem(node, "input %s is not a tensor qdb can follow" % a.name)
            return None
        problem(node, "operand %r is a constant (qdb ops take tensors)" % (a,))
        return None

    def add_layer(node, op, inputs, attrs, name=None):
        if any(i is None for i in inputs):
            return None
        if name is None:
            name = str(node.target) if node.op == "call_module" else node.name
        name = uniq(name, node.name)
        L = _Layer(name, op, inputs, attrs, node)
        low.layers.append(L)
        low.producer[name] = L
        val[node] = name
        return L

    def add_const(name, arr):
        low.constants[name] = tensor_obj(np.asarray(arr, dtype=np.float32))
        used_names.add(name)
        return name

    def try_fuse_act(node, act, attrs_extra=None):
        """relu-like node after conv/linear/add/mul: becomes its act attr."""
        src = node.args[0] if node.args else None
        if not isinstance(src, torch.fx.Node) or len(src.users) != 1:
            return False
        v = val.get(src)
        L = low.producer.get(v) if isinstance(v, str) else None
        if L is None or L.op not in _ACT_FUSABLE or L.out_node is not src:
            return False
        if "act" in L.attrs or v in low.qparams:
            return False
        L.attrs["act"] = act
        if attrs_extra:
            L.attrs.update(attrs_extra)
        L.act_node = node
        L.out_node = node
        val[node] = v
        return True

    def weighted(node, kind, info):
        core, bn, relu = info
        name = uniq(str(node.target), node.name)
        used_names.discard(name)  # add_layer re-reserves it
        w = core.weight.detach().float()
        b = core.bias.detach().float() if core.bias is not None else None
        if bn is not None:
            from torch.nn.utils.fusion import fuse_conv_bn_weights, fuse_linear_bn_weights
            if kind == "conv2d":
                w, b = fuse_conv_bn_weights(w, b, bn.running_mean, bn.running_var,
                                            bn.eps, bn.weight, bn.bias)
            else:
                w, b = fuse_linear_bn_weights(w, b, bn.running_mean, bn.running_var,
                                              bn.eps, bn.weight, bn.bias)
            w, b = w.detach(), b.detach()
        attrs = {}
        if kind == "conv2d":
            if core.padding_mode != "zeros":
                problem(node, "padding_mode %r (only zeros)" % core.padding_mode)
                return
            if len(core.kernel_size) != 2:
                problem(node, "only 2-d convolution")
                return
            attrs = {"stride": _pair(core.stride), "padding": _conv_padding(core),
                     "dilation": _pair(core.dilation), "groups": int(core.groups)}
        if relu:
            attrs["act"] = "relu"
        x = tensor_in(node, node.args[0])
        wn = add_const(name + ".weight", w.numpy())
        ins = [x, wn]
        if b is not None:
            ins.append(add_const(name + ".bias", b.numpy()))
        wfq = getattr(core, "weight_fake_quant", None)
        if wfq is not None:
            q, why = _fq_qparams(wfq)
            if q is None:
                problem(node, "weight fake quant: " + why)
            else:
                low.qparams[wn] = q
                low.wfq[wn] = wfq
                if not bool(int(wfq.fake_quant_enabled[0])):
                    low.warnings.append("%s: weight fake quant is disabled" % name)
        add_layer(node, kind, ins, attrs, name=name)

    for node in gm.graph.nodes:
        if any(i in failed for i in node.all_input_nodes):
            failed.add(node)
            continue
        if node.op == "placeholder":
            name = uniq(node.name, node.name)
            val[node] = name
            low.inputs.append((name, node))
            continue
        if node.op == "get_attr":
            try:
                obj = gm
                for part in str(node.target).split("."):
                    obj = getattr(obj, part)
            except AttributeError:
                problem(node, "attribute not found", "get_attr")
                continue
            if isinstance(obj, torch.Tensor):
                val[node] = add_const(uniq(node.name, node.name),
                                      obj.detach().float().numpy())
            else:
                val[node] = ("const", obj)
            continue
        if node.op == "output":
            outs = node.args[0]
            if isinstance(outs, torch.fx.Node):
                outs = [outs]
            if not isinstance(outs, (list, tuple)):
                problem(node, "output structure %s (a tensor, tuple or list)" % type(outs).__name__, "output")
                continue
            for o in outs:
                v = val.get(o) if isinstance(o, torch.fx.Node) else None
                if not isinstance(v, str):
                    problem(node, "output %r is not a tensor value" % (o,), "output")
                else:
                    low.outputs.append(v)
            continue

        # call_module / call_function / call_method
        kind, info = None, None
        if node.op == "call_module":
            mod = mods[node.target]
            kind, info = _module_kind(mod)
            if kind is None:
                problem(node, info)
                continue
        elif node.op == "call_function":
            kind = _fn_kind(node.target)
            if kind is None and node.target is operator.getitem:
                problem(node, "indexing / slicing (no qdb op)")
                continue
            if kind is None and node.target is getattr:
                val[node] = ("shape", node.args[0]) if node.args[1] == "shape" else None
                continue
        else:  # call_method
            t = str(node.target)
            if t in _ALIAS_METHODS:
                val[node] = val.get(node.args[0])
                continue
            if t == "size":
                val[node] = ("size", node.args[0], node.args[1] if len(node.args) > 1 else None)
                continue
            kind = _METHOD_KIND.get(t)
        if kind is None:
            problem(node, "no qdb op for %s" % _node_target(node))
            continue

        if kind == "fq":
            src = node.args[0]
            v = val.get(src)
            if not isinstance(v, str):
                problem(node, "fake quant on a non-tensor")
                continue
            mod = mods[node.target]
            q, why = _fq_qparams(mod)
            if q is None:
                problem(node, why)
                continue
            if v in low.constants:
                problem(node, "fake quant on a constant")
                continue
            old = low.qparams.get(v)
            if old is not None and old != q:
                # a second, different quantization of the same value: make it
                # explicit as an identity layer carrying the new qparams
                L = add_layer(node, "identity", [v], {}, name=node.name)
                v = L.name
            low.qparams[v] = q
            low.fq[v] = mod
            if not bool(int(getattr(mod, "fake_quant_enabled", torch.ones(1))[0])):
                low.warnings.append("%s: fake quant is disabled" % v)
            val[node] = v
            L = low.producer.get(v)
            if L is not None:
                L.out_node = node
            continue

        if kind in ("conv2d", "linear"):
            weighted(node, kind, info)
            continue

        if kind in ("relu", "relu6", "hardtanh", "clamp"):
            act, extra = kind, {}
            lo, hi = None, None
            if kind == "hardtanh":
                if node.op == "call_module":
                    lo, hi = float(info.min_val), float(info.max_val)
                else:
                    a = _args(node, ["input", "min_val", "max_val"], {"min_val": -1.0, "max_val": 1.0})
                    lo, hi = float(a["min_val"]), float(a["max_val"])
            elif kind == "clamp":
                a = _args(node, ["input", "min", "max"], {"min": None, "max": None})
                if a["min"] is None or a["max"] is None or isinstance(a["min"], torch.fx.Node) or isinstance(a["max"], torch.fx.Node):
                    problem(node, "clamp needs constant min and max")
                    continue
                lo, hi = float(a["min"]), float(a["max"])
            if lo is not None:
                if (lo, hi) == (0.0, 6.0):
                    act = "relu6"
                else:
                    act, extra = "clamp", {"act_min": lo, "act_max": hi}
            if try_fuse_act(node, act, extra):
                continue
            x = tensor_in(node, node.args[0])
            if act == "clamp":
                add_layer(node, "clamp", [x], {"min": lo, "max": hi})
            else:
                add_layer(node, act, [x], {})
            continue

        if kind in ("sigmoid", "tanh", "hardswish", "silu", "identity"):
            add_layer(node, kind, [tensor_in(node, node.args[0])], {})
            continue

        if kind == "gelu":
            if node.op == "call_module":
                appr = info.approximate
            else:
                appr = _args(node, ["input", "approximate"], {"approximate": "none"})["approximate"]
            add_layer(node, "gelu", [tensor_in(node, node.args[0])], {"approximate": str(appr)})
            continue

        if kind == "softmax":
            if node.op == "call_module":
                dim = info.dim
            else:
                dim = _args(node, ["input", "dim"], {"dim": None})["dim"]
            if dim is None:
                problem(node, "softmax without dim")
                continue
            add_layer(node, "softmax", [tensor_in(node, node.args[0])], {"axis": int(dim)})
            continue

        if kind in ("add", "mul", "matmul"):
            if node.op == "call_module":
                problem(node, "binary module")
                continue
            a = _args(node, ["input", "other", "alpha"], {"alpha": 1})
            if a.get("alpha", 1) != 1:
                problem(node, "add with alpha != 1")
                continue
            ins = [tensor_in(node, a["input"]), tensor_in(node, a["other"])]
            add_layer(node, kind, ins, {})
            continue

        if kind == "concat":
            a = _args(node, ["tensors", "dim"], {"dim": 0})
            ts = a["tensors"]
            if not isinstance(ts, (list, tuple)):
                problem(node, "cat of a non-list")
                continue
            add_layer(node, "concat", [tensor_in(node, t) for t in ts], {"axis": int(a["dim"])})
            continue

        if kind in ("maxpool2d", "avgpool2d"):
            if node.op == "call_module":
                m = info
                k = _pair(m.kernel_size)
                s = _pair(m.stride) if m.stride is not None else k
                p = _pair(m.padding)
                attrs = {"kernel": k, "stride": s, "padding": p, "ceil_mode": int(bool(m.ceil_mode))}
                if kind == "maxpool2d":
                    if m.return_indices:
                        problem(node, "max pooling with return_indices")
                        continue
                    attrs["dilation"] = _pair(m.dilation)
                else:
                    if m.divisor_override is not None:
                        problem(node, "avg pooling with divisor_override")
                        continue
                    attrs["count_include_pad"] = int(bool(m.count_include_pad))
            else:
                if kind == "maxpool2d":
                    a = _args(node, ["input", "kernel_size", "stride", "padding", "dilation",
                                     "ceil_mode", "return_indices"],
                              {"stride": None, "padding": 0, "dilation": 1,
                               "ceil_mode": False, "return_indices": False})
                    if a["return_indices"]:
                        problem(node, "max pooling with return_indices")
                        continue
                else:
                    a = _args(node, ["input", "kernel_size", "stride", "padding", "ceil_mode",
                                     "count_include_pad", "divisor_override"],
                              {"stride": None, "padding": 0, "ceil_mode": False,
                               "count_include_pad": True, "divisor_override": None})
                    if a["divisor_override"] is not None:
                        problem(node, "avg pooling with divisor_override")
                        continue
                k = _pair(a["kernel_size"])
                s = _pair(a["stride"]) if a["stride"] not in (None, [], ()) else k
                attrs = {"kernel": k, "stride": s, "padding": _pair(a["padding"]),
                         "ceil_mode": int(bool(a["ceil_mode"]))}
                if kind == "maxpool2d":
                    attrs["dilation"] = _pair(a["dilation"])
                else:
                    attrs["count_include_pad"] = int(bool(a["count_include_pad"]))
            add_layer(node, kind, [tensor_in(node, node.args[0])], attrs)
            continue

        if kind == "adaptive_avgpool":
            size = info.output_size if node.op == "call_module" else \
                _args(node, ["input", "output_size"], {})["output_size"]
            if _pair(size) != [1, 1]:
                problem(node, "adaptive average pooling to %s (only 1x1)" % (size,))
                continue
            add_layer(node, "global_avgpool", [tensor_in(node, node.args[0])], {})
            continue

        if kind == "mean":
            a = _args(node, ["input", "dim", "keepdim"], {"dim": None, "keepdim": False})
            dim = a["dim"]
            if isinstance(dim, int):
                dim = [dim]
            if dim is None or sorted(int(d) % 4 for d in dim) != [2, 3] or not a["keepdim"]:
                problem(node, "mean over %s keepdim=%s (only (2,3) with keepdim=True)"
                        % (dim, a["keepdim"]))
                continue
            add_layer(node, "global_avgpool", [tensor_in(node, node.args[0])], {})
            continue

        if kind == "flatten":
            if node.op == "call_module":
                sd, ed = info.start_dim, info.end_dim
            elif node.op == "call_method":
                a = _args(node, ["input", "start_dim", "end_dim"], {"start_dim": 0, "end_dim": -1})
                sd, ed = a["start_dim"], a["end_dim"]
            else:
                a = _args(node, ["input", "start_dim", "end_dim"], {"start_dim": 0, "end_dim": -1})
                sd, ed = a["start_dim"], a["end_dim"]
            add_layer(node, "flatten", [tensor_in(node, node.args[0])],
                      {"start_dim": int(sd), "end_dim": int(ed)})
            continue

        if kind in ("reshape", "permute"):
            rest = list(node.args[1:]) if node.op == "call_method" else \
                list(node.args[1:2]) if len(node.args) > 1 else [node.kwargs.get("shape", node.kwargs.get("dims"))]
            if node.op == "call_method" and len(rest) == 1 and isinstance(rest[0], (list, tuple)):
                rest = list(rest[0])
            elif node.op == "call_function" and len(rest) == 1 and isinstance(rest[0], (list, tuple)):
                rest = list(rest[0])
            dims, bad = [], None
            for d in rest:
                if isinstance(d, int):
                    dims.append(d)
                    continue
                dv = val.get(d) if isinstance(d, torch.fx.Node) else None
                if kind == "permute":
                    bad = d
                    break
                if isinstance(d, torch.fx.Node) and d.op == "call_function" and \
                        d.target is operator.getitem and isinstance(val.get(d.args[0]), tuple) \
                        and val[d.args[0]][0] == "shape" and d.args[1] == 0:
                    dims.append(0)
                elif isinstance(dv, tuple) and dv[0] == "size" and dv[2] == 0:
                    dims.append(0)   # the batch size: kept
                else:
                    bad = d
                    break
            if bad is not None:
                problem(node, "%s with a computed size %r" % (kind, bad))
                continue
            key = "shape" if kind == "reshape" else "perm"
            add_layer(node, kind, [tensor_in(node, node.args[0])], {key: dims})
            continue

        if kind == "upsample":
            if node.op == "call_module":
                mode, sf, size = info.mode, info.scale_factor, info.size
            else:
                a = _args(node, ["input", "size", "scale_factor", "mode"],
                          {"size": None, "scale_factor": None, "mode": "nearest"})
                mode, sf, size = a["mode"], a["scale_factor"], a["size"]
            if mode != "nearest":
                problem(node, "upsampling mode %r (only nearest)" % mode)
                continue
            if sf is not None:
                sfs = [float(v) for v in (sf if isinstance(sf, (list, tuple)) else [sf, sf])]
                if any(v != int(v) for v in sfs):
                    problem(node, "non-integer scale factor %s" % (sf,))
                    continue
                attrs = {"scale": [int(v) for v in sfs]}
            elif size is not None:
                attrs = {"size": _pair(size)}
            else:
                problem(node, "upsampling without size or scale_factor")
                continue
            add_layer(node, "upsample_nearest", [tensor_in(node, node.args[0])], attrs)
            continue

        problem(node, "unhandled op kind %s" % kind)

    # Grid-preserving ops without their own fake quant inherit the input's
    # qparams (torch's int8 ops keep the input's qparams there too).
    for L in low.layers:
        if L.name in low.qparams or L.op not in _GRID_OPS and L.op != "concat":
            continue
        qs = [low.qparams.get(i) for i in L.inputs if i not in low.constants]
        if qs and qs[0] is not None and all(q == qs[0] for q in qs):
            if any(low.qparams.get(i) is not None for i in L.inputs):
                low.qparams[L.name] = dict(qs[0])
    return low


# ---------------------------------------------------------------------------
# Export

def _model_kind(model):
    """'qat', 'int8' or 'float'."""
    has_fq = has_q = False
    for m in model.modules():
        if _is_fq(m):
            has_fq = True
        if type(m).__module__.startswith(("torch.ao.nn.quantized", "torch.nn.quantized",
                                          "torch.ao.nn.intrinsic.quantized",
                                          "torch.nn.intrinsic.quantized")) \
                and not type(m).__module__.startswith(("torch.ao.nn.quantized.dynamic",)):
            has_q = True
    if isinstance(model, torch.fx.GraphModule):
        for n in model.graph.nodes:
            if n.op == "call_function" and n.target in (torch.quantize_per_tensor,
                                                         torch.quantize_per_channel):
                has_q = True
    if has_q:
        return "int8"
    if has_fq:
        return "qat"
    return "float"


def _graph_dict(low, name, stage, example_inputs, producer):
    nodes = []
    for L in low.layers:
        nodes.append({"name": L.name, "op": L.op, "inputs": list(L.inputs),
                      "outputs": [L.name], "attrs": L.attrs, "device": "bpu"})
    inputs = []
    for (iname, _), ex in zip(low.inputs, example_inputs):
        shape = [1] + [int(s) for s in ex.shape[1:]] if ex.dim() >= 1 else []
        inputs.append({"name": iname, "dtype": "f32", "shape": shape})
    return {
        "format": "qdb.graph", "version": VERSION, "name": name, "stage": stage,
        "producer": producer, "inputs": inputs, "outputs": list(low.outputs),
        "constants": low.constants, "qparams": low.qparams, "nodes": nodes,
    }


def _default_name(model, path):
    """The model's class name, or the file's stem for FX's generic classes."""
    n = type(model).__name__
    if n.endswith("GraphModule"):
        n = os.path.splitext(os.path.basename(path))[0]
    return n


def _producer():
    tv = torch.__version__ if torch is not None else "none"
    return "%s (torch %s)" % (PRODUCER, tv)


def export(prepared, example_inputs, path, name=None, stage=None, quiet=False):
    """Writes the .qbc of a prepare_qat_fx model (or a float model: stage
    "float"). Raises ExportError listing every unmappable node (nothing is
    written then). Returns the graph dict that was written."""
    _need_torch()
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    kind = _model_kind(prepared)
    if kind == "int8":
        raise ExportError([("-", "-", type(prepared).__name__,
                            "export takes the prepared QAT model, not the convert_fx result")])
    gm = prepared
    if kind == "float":
        gm = _fused_float(prepared)
    elif not isinstance(gm, torch.fx.GraphModule):
        raise ExportError([("-", "-", type(prepared).__name__,
                            "not an FX GraphModule from prepare_qat_fx")])
    low = _lower(gm)
    if len(low.inputs) != len(example_inputs):
        low.problems.append(("-", "-", "inputs", "%d example inputs for %d graph inputs"
                             % (len(example_inputs), len(low.inputs))))
    if low.problems:
        raise ExportError(low.problems)
    if getattr(prepared, "training", False) and not quiet:
        print("qdb_torch: note: the model is in training mode; the export uses "
              "running statistics and the stored fake-quant scales (eval semantics)",
              file=sys.stderr)
    on = sorted(v for v, m in low.fq.items() if _fq_state(m)["observer"])
    if on and not quiet:
        print("qdb_torch: warning: observers still enabled at %s: torch will keep "
              "changing these scales; call torch.ao.quantization.disable_observer "
              "before export and evaluation" % ", ".join(on[:5]), file=sys.stderr)
    mism = []
    for v, m in list(low.fq.items()) + list(low.wfq.items()):
        rel, dz = _convert_mismatch(m)
        if rel > 0 or dz > 0:
            mism.append((rel, dz, v))
    if mism and not quiet:
        mism.sort(reverse=True)
        print("qdb_torch: warning: convert_fx would quantize %d value(s) with other qparams "
              "than the QAT forward uses (largest: %s, scale %.3g%% off, zero point %d off); "
              "the export records the forward's; qdb_torch.pin_qparams(model) makes "
              "torch's QAT and int8 models agree"
              % (len(mism), mism[0][2], 100 * mism[0][0], mism[0][1]), file=sys.stderr)
    for w in low.warnings:
        if not quiet:
            print("qdb_torch: warning: " + w, file=sys.stderr)
    stage = stage or ("qat" if kind == "qat" else "float")
    if stage == "float":
        low.qparams = {}
    g = _graph_dict(low, name or _default_name(prepared, path), stage, example_inputs, _producer())
    with _AtomicFile(path) as af:
        af.f.write(msgpack.packb(g, use_bin_type=True))
    return g


def _fused_float(model):
    """Eval-mode fused copy of a float model (conv+bn(+relu) as one module)."""
    from torch.ao.quantization.quantize_fx import fuse_fx
    m = copy.deepcopy(model).eval()
    return fuse_fx(m)


# ---------------------------------------------------------------------------
# Traces

_INT8_MODULE_KIND = [
    ("Conv2d", "conv2d"), ("ConvReLU2d", "conv2d"), ("ConvAdd2d", "conv2d"),
    ("ConvAddReLU2d", "conv2d"), ("Linear", "linear"), ("LinearReLU", "linear"),
    ("Hardswish", "hardswish"), ("ReLU6", "relu6"), ("Sigmoid", "sigmoid"),
    ("ELU", None), ("LeakyReLU", None), ("Softmax", "softmax"),
]


def _int8_kind(gm, mods, node):
    """qdb op kind of a convert_fx graph node, "skip" for plumbing, None if
    it is not a layer."""
    if node.op in ("placeholder", "output", "get_attr"):
        return "skip"
    if node.op == "call_function":
        if node.target in (torch.quantize_per_tensor, torch.quantize_per_channel):
            return "skip"
        if node.target is operator.getitem or node.target is getattr:
            return "skip"
        qn = getattr(node.target, "_qualified_op_name", None)
        if qn is not None and qn.startswith("quantized::"):
            base = qn.split("::", 1)[1]
            for suf in ("_relu", "_scalar", "_out"):
                if base.endswith(suf):
                    base = base[: -len(suf)]
            return {"add": "add", "mul": "mul", "cat": "concat", "hardswish": "hardswish",
                    "matmul": "matmul", "sigmoid": "sigmoid", "conv2d": "conv2d",
                    "linear": "linear"}.get(base, base)
        k = _fn_kind(node.target)
        return {"adaptive_avgpool": "global_avgpool", "upsample": "upsample_nearest",
                "hardtanh": "clamp"}.get(k, k)
    if node.op == "call_method":
        t = str(node.target)
        if t in ("dequantize", "size") or t in _ALIAS_METHODS:
            return "skip"
        k = _METHOD_KIND.get(t)
        return "global_avgpool" if k == "mean" else k
    mod = mods[node.target]
    mname = type(mod).__module__
    if "quantized" in mname:
        for cls, kind in _INT8_MODULE_KIND:
            if type(mod).__name__ == cls:
                return kind
        return type(mod).__name__.lower()
    k, _ = _module_kind(mod)
    return {"adaptive_avgpool": "global_avgpool", "upsample": "upsample_nearest",
            "hardtanh": "clamp"}.get(k, k)


_KIND_EQUIV = {("relu", "relu"), ("relu6", "relu6"), ("clamp", "clamp"), ("relu6", "clamp")}


def _kinds_match(op, k):
    return op == k or (op, k) in _KIND_EQUIV or (k, op) in _KIND_EQUIV


def _reference_layers(reference):
    """[(name, op)] of the export, from a .qbc path, a graph dict or a model."""
    if reference is None:
        return None
    if isinstance(reference, str):
        reference = read_graph(reference)
    if isinstance(reference, dict):
        return [(n["name"], n["op"]) for n in reference["nodes"]]
    kind = _model_kind(reference)
    gm = reference if kind == "qat" else _fused_float(reference)
    low = _lower(gm)
    if low.problems:
        raise ExportError(low.problems)
    return [(L.name, L.op) for L in low.layers]


def _int8_layers(gm, reference):
    """[(name, op, fx node)] for a convert_fx model, aligned to reference."""
    mods = dict(gm.named_modules(remove_duplicate=False))
    cands = []
    for node in gm.graph.nodes:
        k = _int8_kind(gm, mods, node)
        if k == "skip":
            continue
        out = node
        # an op left in float between dequantize / quantize: the layer value
        # is the requantized one
        users = list(node.users)
        if len(users) == 1 and users[0].op == "call_function" and \
                users[0].target is torch.quantize_per_tensor:
            out = users[0]
        name = str(node.target) if node.op == "call_module" else node.name
        cands.append((name, k, out))
    if reference is None:
        return [(n, k or "", o) for n, k, o in cands]
    if len(cands) != len(reference):
        raise ValueError(
            "int8 model has %d layers, the reference %d; cannot align them:\n"
            "  int8: %s\n  reference: %s" % (
                len(cands), len(reference),
                " ".join("%s:%s" % (n, k) for n, k, _ in cands),
                " ".join("%s:%s" % (n, o) for n, o in reference)))
    out = []
    for (n, k, o), (rn, rop) in zip(cands, reference):
        if not _kinds_match(rop, k):
            raise ValueError("cannot align int8 layer %s (%s) with export layer %s (%s)"
                             % (n, k, rn, rop))
        out.append((rn, rop, o))
    return out


def _as_samples(samples, ids):
    """(tensor [N, ...] float, ids) from a tensor/array/list or a .qds path."""
    if isinstance(samples, str):
        header, dids, inputs, _ = read_dataset(samples)
        if len(inputs) != 1:
            raise ValueError("%s: datasets with several inputs are not supported here" % samples)
        arr = next(iter(inputs.values()))
        return torch.from_numpy(np.ascontiguousarray(arr)).float(), (ids or dids)
    if isinstance(samples, (list, tuple)):
        samples = torch.stack([torch.as_tensor(s) for s in samples])
    x = torch.as_tensor(samples).float()
    if ids is None:
        ids = list(range(x.shape[0]))
    if len(ids) != x.shape[0]:
        raise ValueError("%d ids for %d samples" % (len(ids), x.shape[0]))
    return x, ids


def _record_tensor(v, i):
    """Tensor object for sample i of a captured batch value."""
    if v.is_quantized:
        q = v[i:i + 1]
        if q.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            return tensor_obj(q.int_repr().numpy(), float(q.q_scale()), int(q.q_zero_point()))
        return tensor_obj(q.int_repr().numpy(),
                          [float(s) for s in q.q_per_channel_scales().tolist()],
                          [int(z) for z in q.q_per_channel_zero_points().tolist()],
                          int(q.q_per_channel_axis()))
    return tensor_obj(v[i:i + 1].detach().float().numpy())


def dump_trace(model, samples, path, stage=None, ids=None, model_name=None,
               reference=None, batch_size=1, append=False):
    """Runs model on samples and writes every layer's output to a .qtr.

    samples: tensor/array [N, ...] (one graph input), a list of per-sample
    tensors, or a .qds path (its ids are used). stage defaults to "float",
    "qat.pt" or "quantized.pt" by model kind. batch_size: samples per
    forward (observers that are still enabled update once per batch).
    Returns the header dict."""
    _need_torch()
    kind = _model_kind(model)
    stage = stage or {"float": "float", "qat": "qat.pt", "int8": "quantized.pt"}[kind]
    x, ids = _as_samples(samples, ids)
    if kind == "float":
        gm = _fused_float(model)
    else:
        if not isinstance(model, torch.fx.GraphModule):
            raise ValueError("dump_trace: QAT and int8 models must be FX GraphModules "
                             "(prepare_qat_fx / convert_fx)")
        gm = copy.deepcopy(model)
    gm.eval()
    qstate_mods = {}
    if kind == "int8":
        layers = _int8_layers(gm, _reference_layers(reference))
    else:
        low = _lower(gm)
        if low.problems:
            raise ExportError(low.problems)
        layers = [(L.name, L.op, L.out_node) for L in low.layers]
        for L in low.layers:
            if L.name in low.fq:
                qstate_mods[L.name] = low.fq[L.name]
    want = {}
    for name, op, node in layers:
        want.setdefault(node.name, []).append(name)

    class Capture(torch.fx.Interpreter):
        def __init__(self, m):
            super().__init__(m, garbage_collect_values=True)
            self.got = {}

        def run_node(self, n):
            r = super().run_node(n)
            if n.name in want:
                for nm in want[n.name]:
                    self.got[nm] = r
            return r

    pk = _packer()
    spool = tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(path)))
    try:
        with torch.no_grad():
            for b0 in range(0, x.shape[0], batch_size):
                cap = Capture(gm)
                cap.run(x[b0:b0 + batch_size])
                n = min(batch_size, x.shape[0] - b0)
                for i in range(n):
                    sid = ids[b0 + i]
                    sid = sid if isinstance(sid, str) else int(sid)
                    for name, op, node in layers:
                        v = cap.got.get(name)
                        if not isinstance(v, torch.Tensor):
                            raise RuntimeError("layer %s produced no tensor" % name)
                        spool.write(pk.pack({"sample": sid, "layer": name,
                                             "tensor": _record_tensor(v, i)}))
        header = {"format": "qdb.trace", "version": VERSION, "stage": stage,
                  "model": model_name or _default_name(model, path), "producer": _producer(),
                  "layers": [{"name": n, "op": op} for n, op, _ in layers]}
        if kind == "qat":
            header["qstate"] = {n: _fq_state(m) for n, m in qstate_mods.items()}
        with _AtomicFile(path) as af:
            if append and os.path.exists(path):
                with open(path, "rb") as old:
                    oh = next(msgpack.Unpacker(old, raw=False))
                    if [l["name"] for l in oh["layers"]] != [l["name"] for l in header["layers"]]:
                        raise ValueError("%s: cannot append: different layers" % path)
                    old.seek(0)
                    af.f.write(old.read())
            else:
                af.f.write(pk.pack(header))
            spool.seek(0)
            while True:
                chunk = spool.read(1 << 20)
                if not chunk:
                    break
                af.f.write(chunk)
    finally:
        spool.close()
    return header


# ---------------------------------------------------------------------------
# Command line

def _load_model(spec):
    """(model, example_inputs or None) from "FILE.py:FUNC" (FUNC() returns a
    model or (model, example_inputs)) or from a torch.save'd whole model.
    Prepared QAT models of torch 1.13 do not pickle (their qconfig holds
    local functions), so FILE.py:FUNC is the way for those: FUNC builds the
    model, prepares it and loads its state_dict."""
    _need_torch()
    if ":" in spec and spec.rsplit(":", 1)[0].endswith(".py"):
        import importlib.util
        path, func = spec.rsplit(":", 1)
        mspec = importlib.util.spec_from_file_location("qdb_user_model", path)
        if mspec is None:
            raise ValueError("%s: cannot load" % path)
        mod = importlib.util.module_from_spec(mspec)
        sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
        mspec.loader.exec_module(mod)
        if not hasattr(mod, func):
            raise ValueError("%s: no function %s" % (path, func))
        r = getattr(mod, func)()
        if isinstance(r, tuple):
            m, ex = r
            return m, (ex if isinstance(ex, tuple) else (ex,))
        return r, None
    m = torch.load(spec, map_location="cpu")
    if isinstance(m, dict):
        raise ValueError("%s: a state_dict; pass FILE.py:FUNC that builds the model, or "
                         "save the whole model with torch.save(model, path)" % spec)
    return m, None


def _main(argv=None):
    ap = argparse.ArgumentParser(prog="qdb_torch.py",
                                 description="PyTorch bridge of qdb: export, trace, dataset")
    ap.add_argument("--engine", default="onednn", help="quantized engine (default onednn)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="prepared QAT model -> .qbc")
    e.add_argument("model", help="FILE.py:FUNC or a torch.save'd model")
    e.add_argument("-o", "--output", required=True)
    e.add_argument("--input-shape",
                   help="comma-separated, e.g. 1,1,8,8 (several inputs: separate with ';'); "
                   "needed unless FUNC returns (model, example_inputs)")
    e.add_argument("--name")
    t = sub.add_parser("trace", help="model + dataset -> .qtr")
    t.add_argument("model", help="FILE.py:FUNC or a torch.save'd model")
    t.add_argument("data", help=".qds dataset")
    t.add_argument("-o", "--output", required=True)
    t.add_argument("--stage")
    t.add_argument("--name")
    t.add_argument("--count", type=int, help="only the first N samples")
    t.add_argument("--reference", help="exported .qbc, or FILE.py:FUNC of the prepared "
                   "model (for int8 models)")
    d = sub.add_parser("dataset", help=".npy arrays -> .qds")
    d.add_argument("inputs", help=".npy array [N, ...]")
    d.add_argument("-o", "--output", required=True)
    d.add_argument("--labels", help=".npy int array [N] (classes) or float [N, ...]")
    d.add_argument("--name")
    d.add_argument("--input-name", default="x")
    d.add_argument("--classes", help="comma-separated class names")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "dataset":
            x = np.load(a.inputs)
            lab = np.load(a.labels) if a.labels else None
            n = write_dataset(a.output, x, lab, name=a.name, input_name=a.input_name,
                              classes=a.classes.split(",") if a.classes else None)
            print("%s: %d samples" % (a.output, n))
            return 0
        set_engine(a.engine)
        if a.cmd == "export":
            m, ex = _load_model(a.model)
            if a.input_shape:
                shapes = [[int(v) for v in s.split(",")] for s in a.input_shape.split(";")]
                ex = tuple(torch.zeros(s) for s in shapes)
            if ex is None:
                raise ValueError("export: --input-shape is needed (or FUNC returning "
                                 "(model, example_inputs))")
            g = export(m, ex, a.output, name=a.name)
            print("%s: %d nodes, %d constants, %d quantized values"
                  % (a.output, len(g["nodes"]), len(g["constants"]), len(g["qparams"])))
            return 0
        if a.cmd == "trace":
            m, _ = _load_model(a.model)
            header, ids, inputs, _ = read_dataset(a.data)
            arr = next(iter(inputs.values()))
            if a.count is not None:
                arr, ids = arr[:a.count], ids[:a.count]
            ref = a.reference
            if ref and not ref.endswith(".qbc"):
                ref = _load_model(ref)[0]
            h = dump_trace(m, torch.from_numpy(np.ascontiguousarray(arr)), a.output,
                           stage=a.stage, ids=ids, model_name=a.name, reference=ref)
            print("%s: stage %s, %d layers, %d samples"
                  % (a.output, h["stage"], len(h["layers"]), len(ids)))
            return 0
    except ExportError as ex:
        print("qdb_torch: %s" % ex, file=sys.stderr)
        return 2
    except (OSError, ValueError, RuntimeError) as ex:
        print("qdb_torch: %s" % ex, file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(_main())
