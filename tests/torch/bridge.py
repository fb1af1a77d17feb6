#!/usr/bin/python3
"""bridge.py - scripts/qdb_torch.py on small models built here: the export
(names, folding, qparams, unmappable ops), traces of float / QAT / int8
models, datasets, pin_qparams, the command line, and that qdb itself reads
every file it writes. The exported graph is also checked against torch with
the numpy reference tests/torch/qdbref.py, so an export fault shows here
independently of qdb's executor. TAP; skips without torch outside CI."""

import copy
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import cosine, qt  # noqa: E402

import numpy as np  # noqa: E402


BUILD_PY = """
import os, sys, torch
sys.path.insert(0, os.path.join(os.environ["QDB_SRCDIR"], "tests", "torch"))
sys.path.insert(0, os.path.join(os.environ["QDB_SRCDIR"], "scripts"))
import bridge, qdb_torch
from torch.ao.quantization import get_default_qat_qconfig_mapping
from torch.ao.quantization.quantize_fx import prepare_qat_fx, convert_fx
qdb_torch.set_engine("onednn")

def _prep(cls):
    return prepare_qat_fx(cls().train(), get_default_qat_qconfig_mapping("fbgemm"),
                          (torch.zeros(1, 1, 8, 8),))

def prepared():
    p = _prep(bridge.build_models()[0])
    p.load_state_dict(torch.load(os.path.join(os.path.dirname(__file__), "p_state.pt")))
    p.apply(torch.ao.quantization.disable_observer)
    p.eval()
    qdb_torch.pin_qparams(p)
    return p, torch.zeros(1, 1, 8, 8)

def int8():
    return convert_fx(prepared()[0])

def sliced():
    return _prep(bridge.build_models()[1]).eval(), torch.zeros(1, 1, 8, 8)
"""


def build_models():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(8)
            self.relu1 = nn.ReLU()
            self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8),
                                       nn.BatchNorm2d(8))
            self.hs = nn.Hardswish()
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(8 * 4 * 4, 10)

        def forward(self, x):
            y = self.relu1(self.bn1(self.conv1(x)))
            z = self.hs(self.block(y))
            z = F.relu(z + y)
            z = self.pool(torch.sigmoid(z))
            z = torch.flatten(z, 1)
            return self.fc(z)

    class Sliced(Net):
        def forward(self, x):
            y = self.relu1(self.bn1(self.conv1(x)))
            return y[:, :4]

    return Net, Sliced


def train_qat(net, x):
    import torch
    from torch.ao.quantization import get_default_qat_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_qat_fx
    torch.manual_seed(0)
    p = prepare_qat_fx(net.train(), get_default_qat_qconfig_mapping("fbgemm"),
                       (torch.from_numpy(x[:1]),))
    opt = torch.optim.SGD(p.parameters(), lr=0.01)
    xt = torch.from_numpy(x)
    for i in range(20):
        out = p(xt[(i * 16) % 256:(i * 16) % 256 + 16])
        loss = out.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    p.apply(torch.ao.quantization.disable_observer)
    p.apply(torch.nn.intrinsic.qat.freeze_bn_stats)
    p.eval()
    return p


def main():
    st = common.need_torch("bridge")
    if st is not None:
        return st
    import torch
    from torch.ao.quantization.quantize_fx import convert_fx
    from torch.nn.utils.fusion import fuse_conv_bn_weights
    import qdbref
    tap = common.Tap()
    qt.set_engine("onednn")
    torch.set_num_threads(1)
    rng = np.random.RandomState(0)
    x = rng.rand(256, 1, 8, 8).astype(np.float32)
    Net, Sliced = build_models()
    torch.manual_seed(0)
    float_net = Net()
    p = train_qat(copy.deepcopy(float_net), x)
    td = tempfile.mkdtemp(prefix="qdb-bridge-")

    # --- export before pinning: the warning about convert_fx's qparams ---------
    qbc = os.path.join(td, "m.qbc")
    import io
    import contextlib
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        qt.export(p, (torch.from_numpy(x[:1]),), qbc, name="m")
    tap.ok("convert_fx would quantize" in err.getvalue() and "weight" in err.getvalue(),
           "export warns that convert_fx uses other weight qparams than the fused QAT forward",
           err.getvalue())
    changed = qt.pin_qparams(p)
    tap.ok(any(n.endswith("weight_fake_quant") for n, _, _ in changed),
           "pin_qparams reports the weight fake quants it changed (%d modules)" % len(changed))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        g = qt.export(p, (torch.from_numpy(x[:1]),), qbc, name="m")
    tap.ok("convert_fx" not in err.getvalue(), "no mismatch warning after pin_qparams",
           err.getvalue())
    tap.ok(oct(os.stat(qbc).st_mode & 0o777) != "0o600", "the export is not left with mode 0600")

    # --- graph structure --------------------------------------------------------
    names = [n["name"] for n in g["nodes"]]
    ops = [n["op"] for n in g["nodes"]]
    tap.ok(g["format"] == "qdb.graph" and g["version"] == 1 and g["stage"] == "qat",
           "header: qdb.graph version 1, stage qat")
    tap.ok(names == ["conv1", "block.0", "hs", "add", "sigmoid", "pool", "flatten", "fc"],
           "node names are module targets and FX node names: %s" % names)
    tap.ok(ops == ["conv2d", "conv2d", "hardswish", "add", "sigmoid", "maxpool2d", "flatten",
                   "linear"], "ops: %s" % ops)
    nd = {n["name"]: n for n in g["nodes"]}
    tap.ok(nd["conv1"]["attrs"].get("act") == "relu" and "act" not in nd["block.0"]["attrs"],
           "conv-bn-relu carries act relu, conv-bn none")
    tap.ok(nd["add"]["attrs"].get("act") == "relu" and nd["add"]["inputs"] == ["hs", "conv1"],
           "add + functional relu fused into one add node with act relu")
    tap.ok(nd["block.0"]["attrs"]["groups"] == 8 and nd["block.0"]["attrs"]["padding"] == [1, 1, 1, 1],
           "depthwise conv inside a Sequential: groups 8, padding [1,1,1,1]")
    same = torch.nn.Sequential(torch.nn.Conv2d(1, 2, (2, 3), padding="same"), torch.nn.ReLU())
    gs = qt.export(same, (torch.zeros(1, 1, 5, 5),), os.path.join(td, "same.qbc"), quiet=True)
    tap.ok(gs["stage"] == "float" and not gs["qparams"] and
           gs["nodes"][0]["attrs"]["padding"] == [0, 1, 1, 1] and gs["nodes"][0]["attrs"]["act"] == "relu",
           "float export: padding='same' with an even kernel puts the extra row at the bottom")
    class Resh(torch.nn.Module):
        def forward(self, v):
            v = torch.relu(v)
            return v.view(v.size(0), -1).permute(1, 0)
    gr = qt.export(Resh(), (torch.zeros(1, 2, 3, 3),), os.path.join(td, "resh.qbc"), quiet=True)
    tap.ok([(n["op"], n["attrs"]) for n in gr["nodes"]] ==
           [("relu", {}), ("reshape", {"shape": [0, -1]}), ("permute", {"perm": [1, 0]})],
           "x.view(x.size(0), -1) keeps the batch: shape [0, -1]; permute")
    mc = p.conv1
    w, b = fuse_conv_bn_weights(mc.weight.detach(), mc.bias.detach(), mc.bn.running_mean,
                                mc.bn.running_var, mc.bn.eps, mc.bn.weight, mc.bn.bias)
    tap.ok(np.array_equal(qt.tensor_from_obj(g["constants"]["conv1.weight"]), w.detach().numpy())
           and np.array_equal(qt.tensor_from_obj(g["constants"]["conv1.bias"]), b.detach().numpy()),
           "conv-bn folded exactly as torch's fuse_conv_bn_weights")
    wq = g["qparams"]["conv1.weight"]
    tap.ok(wq["dtype"] == "i8" and wq["axis"] == 0 and len(wq["scale"]) == 8 and
           wq["qmin"] == -128 and wq["qmax"] == 127 and set(wq["zero_point"]) == {0},
           "weight qparams: per-channel i8 along axis 0, [-128, 127]")
    xq = g["qparams"]["x"]
    tap.ok(xq["dtype"] == "u8" and xq["qmin"] == 0 and xq["qmax"] == 127 and
           isinstance(xq["scale"], float), "input qparams: u8 reduce-range [0, 127]")
    tap.ok(g["qparams"]["sigmoid"]["scale"] == 1 / 256 and g["qparams"]["sigmoid"]["qmax"] == 255,
           "sigmoid: torch's fixed qparams 1/256, [0, 255]")
    tap.ok(g["qparams"]["pool"] == g["qparams"]["sigmoid"] and
           g["qparams"]["flatten"] == g["qparams"]["sigmoid"],
           "shape ops carry their input's qparams")
    tap.ok(g["inputs"] == [{"name": "x", "dtype": "f32", "shape": [1, 1, 8, 8]}] and g["outputs"] == ["fc"],
           "inputs [1,1,8,8] f32, outputs [fc]")

    # --- the export against torch, through the numpy reference -------------------
    xs = torch.from_numpy(x[:128])
    tq = os.path.join(td, "qat.qtr")
    h = qt.dump_trace(p, xs, tq, model_name="m")
    A, _ = common.layer_arrays(tq)
    R = qdbref.run(g, x[:128], "qat")
    worst = min(cosine(A[n], R[n]) for n in names)
    tap.ok(worst >= 0.99999, "numpy reference of qat.qbc vs torch QAT: worst layer cosine %.8f" % worst)
    tap.ok([l["name"] for l in h["layers"]] == names, "QAT trace layers = export nodes")
    qs = h["qstate"]
    tap.ok(all(not v["observer"] and v["fake_quant"] for v in qs.values()) and
           all(qs[n]["scale"] == g["qparams"][n]["scale"] for n in qs),
           "QAT trace qstate: fake quant on, observers off, scales equal the export's")
    c = convert_fx(copy.deepcopy(p))
    ti = os.path.join(td, "int8.qtr")
    h = qt.dump_trace(c, xs, ti, reference=p)
    tap.ok([l["name"] for l in h["layers"]] == names,
           "int8 trace aligned to export names (convert_fx renamed add to add_relu)")
    TA, TQ, _ = common.layer_arrays(ti, raw=True)
    tap.ok(TA["conv1"].dtype == np.uint8 and TQ["conv1"][0] == g["qparams"]["conv1"]["scale"],
           "int8 trace: u8 values with the export's scale")
    RI = qdbref.run(g, x[:128], "torch")
    ex = min(float((RI[n][0] == TA[n]).mean()) for n in names)
    tap.ok(ex >= 0.999, "numpy torch-profile reference of the export vs convert_fx: worst layer "
           "%.4f%% exact" % (100 * ex))
    with torch.no_grad():
        ref_out = c(xs).numpy()
    TR, _ = common.layer_arrays(ti)
    tap.ok(np.allclose(TR["fc"], ref_out, atol=0), "int8 trace output equals the int8 model's output")
    tf = os.path.join(td, "float.qtr")
    h = qt.dump_trace(float_net, xs, tf)
    F_, _ = common.layer_arrays(tf)
    with torch.no_grad():
        fo = float_net.eval()(xs).numpy()
    tap.ok([l["name"] for l in h["layers"]] == names and "qstate" not in h and
           np.allclose(F_["fc"], fo, atol=1e-5),
           "float trace: fused eval model, export names, output equals the model's")

    # --- observers left on -----------------------------------------------------------
    drift = copy.deepcopy(p)
    drift.apply(torch.ao.quantization.enable_observer)
    h = qt.dump_trace(drift, xs[:32], os.path.join(td, "drift.qtr"))
    moved = [n for n in h["qstate"] if h["qstate"][n]["scale"] != g["qparams"][n]["scale"]]
    tap.ok(all(v["observer"] for v in h["qstate"].values()) and len(moved) >= 3,
           "observers on: qstate says so and %d layer scales drifted" % len(moved))
    tap.ok(float(p.conv1.weight_fake_quant.observer_enabled[0]) == 0,
           "dump_trace does not change the caller's model")

    # --- unmappable ---------------------------------------------------------------
    sp = train_qat(Sliced(), x)
    bad = os.path.join(td, "bad.qbc")
    try:
        qt.export(sp, (torch.from_numpy(x[:1]),), bad)
        tap.ok(False, "a slice is reported as unmappable")
    except qt.ExportError as e:
        tap.ok(len(e.problems) == 1 and e.problems[0][0] == "getitem" and
               "slicing" in e.problems[0][3], "a slice is reported once, by node and reason: %s"
               % e.problems)
    tap.ok(not os.path.exists(bad) and not [f for f in os.listdir(td) if ".tmp." in f],
           "nothing written for an unmappable model, no temporary left")

    # --- datasets -------------------------------------------------------------------
    ds = os.path.join(td, "d.qds")
    qt.write_dataset(ds, x[:10], np.arange(10) % 3, name="d", classes=["a", "b", "c"])
    hd, ids, inp, lab = qt.read_dataset(ds)
    tap.ok(ids == list(range(10)) and np.array_equal(inp["x"], x[:10]) and
           list(lab) == [i % 3 for i in range(10)] and hd["label"]["classes"] == ["a", "b", "c"]
           and hd["inputs"][0]["shape"] == [1, 1, 8, 8] and hd["count"] == 10,
           "dataset round trip: ids, inputs, class labels and names")
    ds2 = os.path.join(td, "d2.qds")
    qt.write_dataset(ds2, {"a": x[:3], "b": x[:3, 0]}, None, ids=["u", "v", "w"])
    hd, ids, inp, lab = qt.read_dataset(ds2)
    tap.ok(ids == ["u", "v", "w"] and lab is None and sorted(inp) == ["a", "b"],
           "dataset with two inputs, string ids, no labels")

    # --- qdb reads what the bridge writes ---------------------------------------------
    if os.access(common.QDB, os.X_OK) or "/" not in common.QDB:
        for path in (qbc, tq, ti, tf, ds, ds2):
            rc, so, se = common.run_qdb("info", path)
            tap.ok(rc == 0, "qdb info reads %s" % os.path.basename(path), se)

    # --- command line -------------------------------------------------------------------
    script = os.path.join(common.SRCDIR, "scripts", "qdb_torch.py")
    np.save(os.path.join(td, "in.npy"), x[:5])
    np.save(os.path.join(td, "lab.npy"), np.arange(5))
    r = subprocess.run([sys.executable, script, "dataset", os.path.join(td, "in.npy"),
                        "--labels", os.path.join(td, "lab.npy"), "-o", os.path.join(td, "c.qds")],
                       capture_output=True, text=True)
    tap.ok(r.returncode == 0 and qt.read_dataset(os.path.join(td, "c.qds"))[1] == list(range(5)),
           "qdb_torch.py dataset", r.stderr)
    torch.save(p.state_dict(), os.path.join(td, "p_state.pt"))
    with open(os.path.join(td, "build.py"), "w") as f:
        f.write(BUILD_PY)
    env = dict(os.environ, QDB_SRCDIR=common.SRCDIR)
    r = subprocess.run([sys.executable, script, "export", os.path.join(td, "build.py:prepared"),
                        "-o", os.path.join(td, "cli.qbc")], capture_output=True, text=True, env=env)
    ok = r.returncode == 0
    if ok:
        gc = qt.read_graph(os.path.join(td, "cli.qbc"))
        ok = [n["name"] for n in gc["nodes"]] == names and gc["qparams"] == g["qparams"]
    tap.ok(ok, "qdb_torch.py export FILE.py:FUNC (state_dict reloaded): same graph", r.stderr)
    r = subprocess.run([sys.executable, script, "trace", os.path.join(td, "build.py:int8"),
                        os.path.join(td, "c.qds"), "-o", os.path.join(td, "cli.qtr"),
                        "--reference", os.path.join(td, "cli.qbc")],
                       capture_output=True, text=True, env=env)
    ok = r.returncode == 0
    if ok:
        hh, rr = qt.read_trace(os.path.join(td, "cli.qtr"))
        ok = hh["stage"] == "quantized.pt" and len(rr) == 5 * len(names)
    tap.ok(ok, "qdb_torch.py trace of an int8 model on a dataset", r.stderr)
    r = subprocess.run([sys.executable, script, "export", os.path.join(td, "build.py:sliced"),
                        "-o", os.path.join(td, "x.qbc")], capture_output=True, text=True, env=env)
    tap.ok(r.returncode == 2 and "getitem" in r.stderr and not os.path.exists(os.path.join(td, "x.qbc")),
           "qdb_torch.py export of an unmappable model: exit 2, names the node", r.stderr)
    r = subprocess.run([sys.executable, script, "export", os.path.join(td, "p_state.pt"),
                        "-o", os.path.join(td, "x.qbc"), "--input-shape", "1,1,8,8"],
                       capture_output=True, text=True, env=env)
    tap.ok(r.returncode == 2 and "state_dict" in r.stderr, "a state_dict is refused with advice",
           r.stderr)
    import shutil
    shutil.rmtree(td)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
