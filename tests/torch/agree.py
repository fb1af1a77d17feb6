#!/usr/bin/python3
"""agree.py MODEL - qdb agrees with PyTorch on MODEL (digits or resnetish).

Retrains MODEL with scripts/make-demo's recipe in a temporary directory
(seconds; fixed seeds), exports it with scripts/qdb_torch.py, and checks on
all 1797 digits:
  - qat:   `qdb run qat.qbc` against the torch QAT forward: every layer's
           cosine (over all samples) >= 0.99999, final output within 1 LSB
           (required for digits; printed for resnetish)
  - torch: `qdb run` of `qdb convert --profile torch` against torch's
           convert_fx int8 model: final output bit-exact on >= 99.9% of its
           elements and within 1 LSB elsewhere
  - fixed: `qdb convert --profile fixed` accuracy close to torch's int8
and prints the accuracy of float, qat and quantized (both profiles). When an
integer layer disagrees, the diagnosis names the first such layer, its op,
and whether tests/torch/qdbref.py (DESIGN.md's torch-profile arithmetic in
numpy) agrees with torch there, i.e. whether the fault is in qdb's kernel.
TAP output; skips without torch outside CI (CI=true: fails)."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import cosine, qt  # noqa: E402

import numpy as np  # noqa: E402

COS_MIN = 0.99999
EXACT_MIN = 0.999


def torch_arrays(trace_path):
    arrs, _ = common.layer_arrays(trace_path)
    return arrs


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "digits"
    st = common.need_torch("agree %s" % name)
    if st is not None:
        return st
    import torch
    import qdbref
    tap = common.Tap()
    demo = common.load_make_demo()
    fm, p, c, x, y, tr = demo.train(name)
    tap.note("%s: trained (float, QAT, convert_fx int8)" % name)
    n = len(y)
    acc = {"float (torch)": demo.accuracy(fm, x, y), "qat (torch)": demo.accuracy(p, x, y),
           "int8 (torch convert_fx)": demo.accuracy(c, x, y)}
    with tempfile.TemporaryDirectory(prefix="qdb-agree-") as td:
        qbc = os.path.join(td, "qat.qbc")
        g = qt.export(p, (torch.from_numpy(x[:1]),), qbc, name=name, quiet=True)
        ds = os.path.join(td, "digits.qds")
        qt.write_dataset(ds, x, y, name="digits")
        xt = torch.from_numpy(x)
        t_qat = os.path.join(td, "torch-qat.qtr")
        t_int = os.path.join(td, "torch-int8.qtr")
        qt.dump_trace(p, xt, t_qat, batch_size=128)
        qt.dump_trace(c, xt, t_int, reference=p, batch_size=128)
        out_name = g["outputs"][0]
        out_layer = next(nd["name"] for nd in g["nodes"] if out_name in nd["outputs"])

        # --- qat.qbc against the torch QAT forward ---------------------------------
        q_qat = os.path.join(td, "qdb-qat.qtr")
        rc, so, se = common.run_qdb("run", qbc, "--data", ds, "--trace", q_qat)
        if tap.ok(rc == 0, "%s: qdb run qat.qbc on %d samples" % (name, n), se):
            A = torch_arrays(t_qat)
            B = torch_arrays(q_qat)
            worst, bad = 1.0, []
            for nd in g["nodes"]:
                L = nd["name"]
                if L not in A or L not in B:
                    bad.append("%s: missing in %s" % (L, "torch" if L not in A else "qdb"))
                    continue
                cs = cosine(A[L], B[L])
                s = g["qparams"].get(L, {}).get("scale")
                steps = np.abs(A[L] - B[L]).max() / s if s else float("nan")
                tap.note("  qat %-14s %-14s cosine %.8f  max %.3g LSB" % (L, nd["op"], cs, steps))
                worst = min(worst, cs)
                if cs < COS_MIN:
                    bad.append("%s (%s): cosine %.8f" % (L, nd["op"], cs))
            required = name == "digits"
            msg = "%s: qat.qbc per-layer cosine >= %g against torch QAT (worst %.8f)" % (
                name, COS_MIN, worst)
            if required:
                tap.ok(not bad, msg, "\n".join(bad))
            else:
                tap.note(("ok: " if not bad else "NOT MET (not required here): ") + msg)
                for b in bad:
                    tap.note("  " + b)
            s = g["qparams"][out_name]["scale"]
            steps = np.abs(A[out_layer] - B[out_layer]).max() / s
            tap.ok(steps <= 1 + 1e-4, "%s: qat.qbc final output within 1 LSB of torch QAT "
                   "(max %.3g LSB)" % (name, steps))
            acc["qat.bc (qdb)"] = float((B[out_layer].reshape(n, -1).argmax(1) == y).mean())

        # --- torch profile against convert_fx --------------------------------------
        tq = os.path.join(td, "torch.qbc")
        rc, so, se = common.run_qdb("convert", qbc, "-o", tq, "--profile", "torch")
        if tap.ok(rc == 0, "%s: qdb convert --profile torch" % name, se):
            q_int = os.path.join(td, "qdb-torch.qtr")
            rc, so, se = common.run_qdb("run", tq, "--data", ds, "--trace", q_int)
            if tap.ok(rc == 0, "%s: qdb run on the torch-profile graph" % name, se):
                TA, TQ, _ = common.layer_arrays(t_int, raw=True)
                QA, QQ, _ = common.layer_arrays(q_int, raw=True)
                ref = qdbref.run(g, x, "torch")
                ref_q = None  # the profile with the QAT clamp, made when needed
                first_bad = None
                for nd in g["nodes"]:
                    L = nd["name"]
                    if L not in TA or L not in QA:
                        tap.note("  int %-14s missing in %s" % (L, "torch" if L not in TA else "qdb"))
                        continue
                    tv, qv = TA[L].astype(np.int64), QA[L]
                    if TQ[L] != QQ[L] and QQ[L][0] is not None:
                        tap.note("  int %-14s qparams differ: torch %s, qdb %s" % (L, TQ[L], QQ[L]))
                    if not np.issubdtype(qv.dtype, np.integer):  # dequantized by qdb
                        qv = np.rint(qv / TQ[L][0] + TQ[L][1])
                    qv = qv.astype(np.int64)
                    d = np.abs(tv - qv)
                    rexact = float((ref[L][0] == tv).mean()) if L in ref else float("nan")
                    tap.note("  int %-14s %-14s exact %.5f  max %d LSB  (numpy model vs torch: %.5f)"
                             % (L, nd["op"], (d == 0).mean(), d.max(), rexact))
                    if first_bad is None and ((d == 0).mean() < EXACT_MIN or d.max() > 1):
                        if ref_q is None:
                            ref_q = qdbref.run(g, x, "torch", clamp="qrange")
                        qexact = float((ref_q[L][0] == qv).mean()) if L in ref_q else float("nan")
                        qmax = g["qparams"].get(L, {}).get("qmax")
                        m = d > 0
                        clamped = float(((qv[m] == qmax) & (tv[m] > qmax)).mean()) if m.any() and \
                            qmax is not None else 0.0
                        first_bad = (L, nd["op"], (d == 0).mean(), int(d.max()), rexact, qexact,
                                     clamped, qmax)
                tv = TA[out_layer].astype(np.int64)
                qv = QA[out_layer]
                if not np.issubdtype(qv.dtype, np.integer):
                    qv = np.rint(qv / TQ[out_layer][0] + TQ[out_layer][1])
                d = np.abs(tv - qv.astype(np.int64))
                diag = ""
                if first_bad:
                    L, op, ex, mx, rex, qex, clamped, qmax = first_bad
                    diag = ("first layer that disagrees: %s (%s): %.3f%% exact, up to %d LSB. The "
                            "numpy model of the torch profile matches torch there on %.3f%%" % (
                                L, op, 100 * ex, mx, 100 * rex))
                    if clamped > 0.5:
                        diag += ("; %.0f%% of the differing elements are qdb results clamped at "
                                 "qmax=%d, the QAT fake-quant range (reduce_range), where torch's "
                                 "int8 %s clamps at the dtype's range; with that clamp the numpy "
                                 "model matches qdb on %.3f%%: qdb convert --profile torch keeps "
                                 "the QAT qmin/qmax, convert_fx does not"
                                 % (100 * clamped, qmax, op, 100 * qex))
                    elif rex >= EXACT_MIN:
                        diag += ", so qdb's integer %s deviates from the torch profile" % op
                    else:
                        diag += ", so torch itself deviates from the profile there"
                tap.ok((d == 0).mean() >= EXACT_MIN, "%s: torch profile bit-exact with convert_fx on "
                       "%.4f%% of output elements (>= %.1f%%)" % (name, 100 * (d == 0).mean(),
                                                                  100 * EXACT_MIN), diag)
                tap.ok(d.max() <= 1, "%s: torch profile within 1 LSB of convert_fx everywhere "
                       "(max %d)" % (name, d.max()), diag)
                if diag:
                    tap.note(diag)
                acc["quantized torch profile (qdb)"] = float(
                    (QA[out_layer].reshape(n, -1).argmax(1) == y).mean())

        # --- fixed profile ---------------------------------------------------------
        fq = os.path.join(td, "fixed.qbc")
        rc, so, se = common.run_qdb("convert", qbc, "-o", fq, "--profile", "fixed")
        if tap.ok(rc == 0, "%s: qdb convert --profile fixed" % name, se):
            q_fix = os.path.join(td, "qdb-fixed.qtr")
            rc, so, se = common.run_qdb("run", fq, "--data", ds, "--trace", q_fix)
            if tap.ok(rc == 0, "%s: qdb run on the fixed-profile graph" % name, se):
                FA, _ = common.layer_arrays(q_fix, [out_layer])
                a = float((FA[out_layer].reshape(n, -1).argmax(1) == y).mean())
                acc["quantized fixed profile (qdb)"] = a
                tap.ok(a >= acc["int8 (torch convert_fx)"] - 0.01,
                       "%s: fixed-profile accuracy %.4f within 1%% of torch int8 %.4f"
                       % (name, a, acc["int8 (torch convert_fx)"]))
    tap.note("accuracy on all %d digits (%s):" % (n, name))
    for k, v in acc.items():
        tap.note("  %-32s %.4f" % (k, v))
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
