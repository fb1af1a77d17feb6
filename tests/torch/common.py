"""common.py - shared helpers of the torch bridge tests (TAP output, running
qdb, comparing traces). Imported by the tests/torch/*.py scripts."""

import importlib.machinery
import importlib.util
import os
import subprocess
import sys

import numpy as np

SRCDIR = os.environ.get("QDB_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "scripts"))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "torch"))

import qdb_torch as qt  # noqa: E402

QDB = os.environ.get("QDB", "qdb")


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        print("%sok %d - %s" % ("" if cond else "not ", self.n, desc))
        if not cond:
            self.failed += 1
            for line in (diag or "").splitlines():
                print("#   " + line)
        sys.stdout.flush()
        return cond

    def note(self, text):
        for line in str(text).splitlines():
            print("# " + line)
        sys.stdout.flush()

    def done(self):
        print("1..%d" % self.n)
        return 1 if self.failed else 0


def need_torch(tap_name):
    """Returns None when torch (and sklearn) import; else prints the TAP
    plan for a skip (outside CI) or a failure (CI=true) and returns the exit
    status the test must end with."""
    missing = []
    for mod in ("torch", "sklearn"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if not missing:
        return None
    why = "%s: python3 module(s) %s missing (python3-torch, python3-sklearn)" % (
        tap_name, ", ".join(missing))
    if os.environ.get("CI") == "true":
        print("not ok 1 - %s; CI must run the torch tests" % why)
        print("1..1")
        return 1
    print("1..0 # SKIP %s" % why)
    return 0


def load_make_demo():
    path = os.path.join(SRCDIR, "scripts", "make-demo")
    loader = importlib.machinery.SourceFileLoader("make_demo", path)
    spec = importlib.util.spec_from_loader("make_demo", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def run_qdb(*args):
    """(exit status, stdout, stderr) of qdb with args."""
    r = subprocess.run([QDB] + [str(a) for a in args], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def layer_arrays(path, layers=None, raw=False):
    """{layer: array [N, ...]} over the trace's samples sorted by id (record
    order is not sample order when qdb runs several jobs); raw=True keeps
    integer values and returns their (scale, zero_point) per layer too."""
    h, recs = qt.read_trace(path)
    samples = sorted({s for (s, _l) in recs}, key=lambda v: (isinstance(v, str), v))
    out, qp = {}, {}
    for l in h["layers"]:
        name = l["name"]
        if layers is not None and name not in layers:
            continue
        if not all((s, name) in recs for s in samples):
            continue
        ts = [recs[(s, name)] for s in samples]
        if raw:
            out[name] = np.concatenate([qt.tensor_from_obj(t) for t in ts])
            qp[name] = (ts[0].get("scale"), ts[0].get("zero_point"))
        else:
            out[name] = np.concatenate([qt.tensor_real(t) for t in ts])
    return (out, qp, samples) if raw else (out, samples)


def cosine(a, b):
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    na, nb = np.sqrt((a * a).sum()), np.sqrt((b * b).sum())
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return float((a * b).sum() / (na * nb))
