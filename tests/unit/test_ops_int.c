/* test_ops_int.c - the integer kernels (src/ops/conv_int.c and siblings).
 *
 * 1. Hand-computed cases: small graphs whose integer results were worked
 *    out on paper (comments show the arithmetic), for each profile and
 *    rounding where they differ: zero points, padding with the zero point,
 *    per-channel scales, ties, saturation, int16 and uint8 activations.
 * 2. Random single-op graphs: a qat graph (fake quant) is converted
 *    (qdb_convert) with each profile and rounding, both run on the same
 *    random input, and the integer result must be within 1 LSB of the
 *    fake-quant one (3 LSB for int16-input lookup tables, which the fixed
 *    profile interpolates), for int8, uint8 and int16 activations.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph/convert.h"
#include "graph/exec.h"
#include "graph_util.h"
#include "ops/ops.h"
#include "tap.h"

#define MAXN 65536

static const enum qdb_rounding AWAY = QDB_ROUND_HALF_AWAY, UP = QDB_ROUND_HALF_UP,
			       EVEN = QDB_ROUND_HALF_EVEN;

/* ---- building quantized graphs by hand ---- */

static struct qdb_graph *qgraph(enum qdb_profile_kind p, enum qdb_rounding r)
{
	struct qdb_graph *g = tg_new(QDB_STAGE_QUANTIZED);
	g->profile = p;
	g->rounding = r;
	return g;
}

/* Float input `name` quantized into value "<name>.q". */
static void qin(struct qdb_graph *g, const char *name, int rank, const int64_t *shape, double s,
		int64_t zp, enum qdb_dtype dt)
{
	char qn[64], nn[64];
	snprintf(qn, sizeof qn, "%s.q", name);
	snprintf(nn, sizeof nn, "%s.quantize", name);
	tg_in(g, name, rank, shape);
	tg_node(g, nn, "quantize", name, qn);
	tg_q(g, qn, s, zp, dt, 1, 0);
}

/* Integer constant with per-channel (n > 1, axis 0) or per-tensor qparams. */
static void qconst(struct qdb_graph *g, const char *name, enum qdb_dtype dt, int rank,
		   const int64_t *shape, const int32_t *vals, int n, const double *scales)
{
	struct qdb_err e;
	struct qdb_tensor t;
	qdb_tensor_init(&t);
	if (qdb_tensor_alloc(&t, dt, rank, shape, &e))
		tg_die(name, &e);
	for (int64_t i = 0; i < qdb_tensor_numel(&t); i++) {
		if (dt == QDB_I8)
			((int8_t *)t.data)[i] = (int8_t)vals[i];
		else
			((uint8_t *)t.data)[i] = (uint8_t)vals[i];
	}
	if (qdb_quant_set_channels(&t.q, n, n > 1 ? 0 : -1, scales, NULL, 1, 0, &e))
		tg_die(name, &e);
	int v = qdb_graph_add_constant(g, name, &t, &e);
	if (v < 0)
		tg_die(name, &e);
	qdb_quant_copy(&g->values[v].q, &t.q, &e);
	g->values[v].qdtype = dt;
	qdb_tensor_done(&t);
}

/* Runs g (native semantics) on float inputs; raw output 0 into out. */
static int64_t run_raw(struct qdb_graph *g, const float *const *inputs, double *out, int64_t max,
		       struct qdb_err *e)
{
	struct qdb_exec *x = NULL;
	struct qdb_run *r = NULL;
	int64_t n = -1;
	if (qdb_graph_validate(g, e) || qdb_exec_new(g, QDB_SEM_NATIVE, &x, e) ||
	    qdb_run_new(x, &r, e))
		goto done;
	for (int i = 0; i < g->n_inputs; i++) {
		const struct qdb_value *v = &g->values[g->inputs[i]];
		struct qdb_tensor t;
		qdb_tensor_init(&t);
		int rc = qdb_tensor_view(&t, QDB_F32, v->rank, v->shape, inputs[i],
					 (size_t)qdb_shape_numel(v->rank, v->shape) * sizeof(float), e);
		if (!rc)
			rc = qdb_run_set_input(r, i, &t, e);
		qdb_tensor_done(&t);
		if (rc)
			goto done;
	}
	if (qdb_run_forward(r, NULL, NULL, e))
		goto done;
	const struct qdb_tensor *y = qdb_run_output(r, 0);
	n = qdb_tensor_numel(y);
	if (n > max)
		n = max;
	for (int64_t i = 0; i < n; i++)
		out[i] = qdb_tensor_get(y, i);
done:
	qdb_run_delete(r);
	qdb_exec_delete(x);
	return n;
}

/* Dequantized floats of integers q (what quantize maps back to q). */
static void deq(const int32_t *q, int n, double s, int64_t zp, float *out)
{
	for (int i = 0; i < n; i++)
		out[i] = (float)((q[i] - zp) * s);
}

static int check_ints(struct qdb_graph *g, const float *const *in, const double *want, int n,
		      const char *what)
{
	double got[64];
	struct qdb_err e;
	int64_t m = run_raw(g, in, got, 64, &e);
	int good = m == n;
	for (int i = 0; good && i < n; i++)
		good = got[i] == want[i];
	if (!ok(good, "%s", what)) {
		if (m < 0)
			tap_diag("  error: %s", e.msg);
		for (int i = 0; i < n && i < m; i++)
			tap_diag("  [%d] got %g want %g", i, got[i], want[i]);
	}
	qdb_graph_delete(g);
	return good;
}

static const char *prof_name(enum qdb_profile_kind p, enum qdb_rounding r)
{
	static char buf[4][32];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", qdb_profile_name(p),
		 p == QDB_PROFILE_TORCH ? "even" : qdb_rounding_name(r));
	return buf[k];
}

/* ---- 1. hand-computed ---- */

/* x (u8, s 0.5, zp 3): ch0 [3,5,7,1] -> [0,2,4,-2], ch1 [4,3,2,10] -> [1,0,-1,7]
 * w (i8, per channel s [0.25, 0.5]): oc0 [2,-1], oc1 [1,3]; bias [1.0, -0.5]
 * acc oc0 = [-1,4,9,-11], oc1 = [3,2,1,19]
 * y (u8, s 0.25, zp 5):
 *  oc0 (acc + 8) * 0.5 + 5 = [8.5, 11, 13.5, 3.5]: torch rounds after the
 *    zero point, to even: [8, 11, 14, 4]; fixed rounds (acc+8)*0.5 =
 *    [3.5, 6, 8.5, -1.5] then adds 5: away (TFLite: a negative tie of the
 *    high multiply goes toward zero) [9, 11, 14, 4], up the same, even
 *    [9, 11, 13, 3]
 *  oc1 (acc - 2) * 1 + 5 = [6, 5, 4, 22] everywhere. */
static void hand_conv(void)
{
	const enum qdb_profile_kind P[4] = {QDB_PROFILE_TORCH, QDB_PROFILE_FIXED, QDB_PROFILE_FIXED,
					    QDB_PROFILE_FIXED};
	const enum qdb_rounding R[4] = {EVEN, AWAY, UP, EVEN};
	const double want[4][8] = {{8, 11, 14, 4, 6, 5, 4, 22},
				   {9, 11, 14, 4, 6, 5, 4, 22},
				   {9, 11, 14, 4, 6, 5, 4, 22},
				   {9, 11, 13, 3, 6, 5, 4, 22}};
	const int32_t xq[8] = {3, 5, 7, 1, 4, 3, 2, 10}, wq[4] = {2, -1, 1, 3};
	const double ws[2] = {0.25, 0.5};
	const float bias[2] = {1.0f, -0.5f};
	float x[8];
	const float *in[1] = {x};
	deq(xq, 8, 0.5, 3, x);
	for (int k = 0; k < 4; k++) {
		for (int relu = 0; relu < 2; relu++) {
			struct qdb_graph *g = qgraph(P[k], R[k]);
			int64_t xs[4] = {1, 2, 2, 2}, wsh[4] = {2, 2, 1, 1}, bs[1] = {2};
			qin(g, "x", 4, xs, 0.5, 3, QDB_U8);
			qconst(g, "w", QDB_I8, 4, wsh, wq, 2, ws);
			tg_const(g, "b", 1, bs, bias);
			tg_node(g, "conv", "conv2d", "x.q,w,b", "y");
			if (relu)
				tg_str(g, "conv", "act", "relu");
			tg_q(g, "y", 0.25, 5, QDB_U8, 1, 0);
			tg_out(g, "y");
			double w[8];
			for (int i = 0; i < 8; i++)
				w[i] = relu && want[k][i] < 5 ? 5 : want[k][i];
			char what[96];
			snprintf(what, sizeof what, "conv2d 1x1 by hand, %s%s", prof_name(P[k], R[k]),
				 relu ? ", relu" : "");
			check_ints(g, in, w, 8, what);
		}
	}
}

/* Padding contributes the input's zero point (x - zp = 0): a 3x3 input at
 * zp 10 with 13 in the centre, 3x3 ones kernel, pad 1 -> every window sums
 * to 3. Also depthwise (2 channels) and the int16 paths. */
static void hand_conv_padding(void)
{
	for (int p = 0; p < 2; p++) {
		enum qdb_profile_kind prof = p ? QDB_PROFILE_FIXED : QDB_PROFILE_TORCH;
		for (int dw = 0; dw < 2; dw++) {
			struct qdb_graph *g = qgraph(prof, p ? AWAY : EVEN);
			int c = dw ? 2 : 1;
			int64_t xs[4] = {1, c, 3, 3}, wsh[4] = {c, 1, 3, 3};
			int32_t xq[18], wq[18];
			double ws[2] = {1, 1};
			for (int i = 0; i < 9 * c; i++) {
				xq[i] = i % 9 == 4 ? 13 : 10;
				wq[i] = 1;
			}
			float x[18];
			const float *in[1] = {x};
			deq(xq, 9 * c, 1.0, 10, x);
			qin(g, "x", 4, xs, 1.0, 10, QDB_U8);
			qconst(g, "w", QDB_I8, 4, wsh, wq, c, ws);
			tg_node(g, "conv", "conv2d", "x.q,w", "y");
			tg_ints(g, "conv", "padding", 2, 1, 1, 0, 0);
			tg_int(g, "conv", "groups", c);
			tg_q(g, "y", 1.0, 0, QDB_U8, 1, 0);
			tg_out(g, "y");
			double want[18];
			for (int i = 0; i < 9 * c; i++)
				want[i] = 3;
			check_ints(g, in, want, 9 * c, dw ? "depthwise: padding is the zero point"
							  : "conv2d: padding is the zero point");
		}
		/* Saturation: u8 output clamps at 255; the fixed profile also at
		 * a declared qmax (100), torch only at the dtype. */
		struct qdb_graph *g = qgraph(prof, p ? AWAY : EVEN);
		int64_t xs[4] = {1, 1, 1, 2}, wsh[4] = {1, 1, 1, 1};
		int32_t xq[2] = {200, 120}, wq[1] = {100};
		double ws[1] = {1};
		float x[2];
		const float *in[1] = {x};
		deq(xq, 2, 1.0, 0, x);
		qin(g, "x", 4, xs, 1.0, 0, QDB_U8);
		qconst(g, "w", QDB_I8, 4, wsh, wq, 1, ws);
		tg_node(g, "conv", "conv2d", "x.q,w", "y");
		tg_q(g, "y", 100.0, 0, QDB_U8, 0, 100);
		tg_out(g, "y");
		double want[2] = {p ? 100 : 200, p ? 100 : 120};
		check_ints(g, in, want, 2, p ? "fixed: saturates at qmax" : "torch: saturates at the dtype, not qmax");
		/* int16 activations: y = 2x/2 exactly; and a zero point so far that
		 * x - zp does not fit int16 (the exact int64 path). */
		for (int far = 0; far < 2; far++) {
			g = qgraph(prof, p ? AWAY : EVEN);
			int64_t s3[4] = {1, 1, 1, 3};
			int32_t xi[3] = {30000, -30000, 12345}, w2[1] = {2};
			if (far) {
				xi[0] = -32768;
				xi[1] = 32767;
				xi[2] = 20001;
			}
			int64_t zp = far ? 20000 : 0;
			float xf[3];
			const float *in2[1] = {xf};
			deq(xi, 3, 1.0, zp, xf);
			qin(g, "x", 4, s3, 1.0, zp, QDB_I16);
			qconst(g, "w", QDB_I8, 4, wsh, w2, 1, ws);
			tg_node(g, "conv", "conv2d", "x.q,w", "y");
			tg_q(g, "y", far ? 8.0 : 2.0, 0, QDB_I16, 1, 0);
			tg_out(g, "y");
			/* far: 2(x - zp)/8 = [-13192, 3191.75 -> 3192, 0.25 -> 0] */
			double w16[3] = {30000, -30000, 12345}, wfar[3] = {-13192, 3192, 0};
			check_ints(g, in2, far ? wfar : w16, 3,
				   far ? "int16 input, far zero point (int64 path)" : "int16 activations");
		}
	}
}

/* linear: x [3, 4] (u8 s 1), w per channel s [1, 0.5] = [[1,1],[2,-2]],
 * bias [0.5, 0.25]; acc [7, -2]; y u8 s 0.5 zp 10.
 * torch: ch0 (7 + 0.5) * 2 + 10 = 25; ch1 (-2 + 0.5) * 1 + 10 = 8.5 -> 8.
 * fixed: the int bias is rounded first: 0.5 / 1 and 0.25 / 0.5 are ties:
 * away/up -> 1: ch0 (7+1)*2+10 = 26, ch1 (-2+1)+10 = 9; even -> 0: 24, 8. */
static void hand_linear(void)
{
	const enum qdb_profile_kind P[4] = {QDB_PROFILE_TORCH, QDB_PROFILE_FIXED, QDB_PROFILE_FIXED,
					    QDB_PROFILE_FIXED};
	const enum qdb_rounding R[4] = {EVEN, AWAY, UP, EVEN};
	const double want[4][2] = {{25, 8}, {26, 9}, {26, 9}, {24, 8}};
	int32_t xq[2] = {3, 4}, wq[4] = {1, 1, 2, -2};
	double ws[2] = {1, 0.5};
	float bias[2] = {0.5f, 0.25f}, x[2];
	const float *in[1] = {x};
	deq(xq, 2, 1.0, 0, x);
	for (int k = 0; k < 4; k++) {
		struct qdb_graph *g = qgraph(P[k], R[k]);
		int64_t xs[2] = {1, 2}, wsh[2] = {2, 2}, bs[1] = {2};
		qin(g, "x", 2, xs, 1.0, 0, QDB_U8);
		qconst(g, "w", QDB_I8, 2, wsh, wq, 2, ws);
		tg_const(g, "b", 1, bs, bias);
		tg_node(g, "fc", "linear", "x.q,w,b", "y");
		tg_q(g, "y", 0.5, 10, QDB_U8, 1, 0);
		tg_out(g, "y");
		char what[64];
		snprintf(what, sizeof what, "linear by hand, %s", prof_name(P[k], R[k]));
		check_ints(g, in, want[k], 2, what);
	}
}

/* Binary ops and the rest, one graph per case: op, inputs, qparams, and
 * the expected integers per (torch, away, up, even). */
static void hand_binary(void)
{
	const enum qdb_profile_kind P[4] = {QDB_PROFILE_TORCH, QDB_PROFILE_FIXED, QDB_PROFILE_FIXED,
					    QDB_PROFILE_FIXED};
	const enum qdb_rounding R[4] = {EVEN, AWAY, UP, EVEN};
	/* add: a (u8 s .5 zp 10) [12,10,9] -> [1,0,-.5], b (u8 s .25) [2,3,1]
	 * -> [.5,.75,.25]; sum [1.5,.75,-.25] / .5 = [3,1.5,-.5] + 3.
	 * torch: rint(1.5) = 2, rint(-.5) = 0 -> [6,5,3]. fixed (TFLite,
	 * shifts 20): 3 * 2^18 * 2^-19 = 1.5 -> 2; -2^18 * 2^-19: the high
	 * multiply is exact, the shift rounds -.5 away -> -1: [6,5,2]; up and
	 * even round -.5 to 0: [6,5,3]. */
	const double add_want[4][3] = {{6, 5, 3}, {6, 5, 2}, {6, 5, 3}, {6, 5, 3}};
	/* mul: a (i8 s .5) [3,-3], b (i8 s .5) [1,1], y (i8 s .5): 1.5, -1.5.
	 * torch rint: [2,-2]; fixed M = .5 rounds in the high multiply only:
	 * away/up (gemmlowp: -1.5 -> -1) [2,-1], even [2,-2]. */
	const double mul_want[4][2] = {{2, -2}, {2, -1}, {2, -1}, {2, -2}};
	for (int k = 0; k < 4; k++) {
		struct qdb_graph *g = qgraph(P[k], R[k]);
		int64_t s3[1] = {3}, s2[1] = {2};
		int32_t aq[3] = {12, 10, 9}, bq[3] = {2, 3, 1};
		float a[3], b[3];
		const float *in[2] = {a, b};
		deq(aq, 3, 0.5, 10, a);
		deq(bq, 3, 0.25, 0, b);
		qin(g, "a", 1, s3, 0.5, 10, QDB_U8);
		qin(g, "b", 1, s3, 0.25, 0, QDB_U8);
		tg_node(g, "add", "add", "a.q,b.q", "y");
		tg_q(g, "y", 0.5, 3, QDB_U8, 1, 0);
		tg_out(g, "y");
		char what[64];
		snprintf(what, sizeof what, "add by hand, %s", prof_name(P[k], R[k]));
		check_ints(g, in, add_want[k], 3, what);

		g = qgraph(P[k], R[k]);
		int32_t mq[2] = {3, -3}, nq[2] = {1, 1};
		float ma[2], mb[2];
		const float *in2[2] = {ma, mb};
		deq(mq, 2, 0.5, 0, ma);
		deq(nq, 2, 0.5, 0, mb);
		qin(g, "a", 1, s2, 0.5, 0, QDB_I8);
		qin(g, "b", 1, s2, 0.5, 0, QDB_I8);
		tg_node(g, "mul", "mul", "a.q,b.q", "y");
		tg_q(g, "y", 0.5, 0, QDB_I8, 1, 0);
		tg_out(g, "y");
		snprintf(what, sizeof what, "mul by hand, %s", prof_name(P[k], R[k]));
		check_ints(g, in2, mul_want[k], 2, what);

		/* broadcast add: a [2,3] + b [3] with equal qparams, y = a + b. */
		g = qgraph(P[k], R[k]);
		int64_t s23[2] = {2, 3};
		int32_t a6[6] = {1, 2, 3, 4, 5, 6}, b3[3] = {10, 20, 30};
		float fa[6], fb[3];
		const float *in3[2] = {fa, fb};
		deq(a6, 6, 1, 0, fa);
		deq(b3, 3, 1, 0, fb);
		qin(g, "a", 2, s23, 1, 0, QDB_I16);
		qin(g, "b", 1, s3, 1, 0, QDB_I16);
		tg_node(g, "add", "add", "a.q,b.q", "y");
		tg_q(g, "y", 1, 0, QDB_I16, 1, 0);
		tg_out(g, "y");
		double bw[6] = {11, 22, 33, 14, 25, 36};
		snprintf(what, sizeof what, "add broadcast, int16, %s", prof_name(P[k], R[k]));
		check_ints(g, in3, bw, 6, what);

		/* concat requantizes: b (s .25) [5] -> 1.25 / .5 = 2.5: torch and
		 * even 2, away/up 3 (fixed: the high multiply rounds up). */
		g = qgraph(P[k], R[k]);
		int32_t c1[2] = {1, 2}, c2[1] = {5};
		float f1[2], f2[1];
		const float *in4[2] = {f1, f2};
		int64_t s1[1] = {1};
		deq(c1, 2, 0.5, 0, f1);
		deq(c2, 1, 0.25, 0, f2);
		qin(g, "a", 1, s2, 0.5, 0, QDB_I8);
		qin(g, "b", 1, s1, 0.25, 0, QDB_I8);
		tg_node(g, "cat", "concat", "a.q,b.q", "y");
		tg_int(g, "cat", "axis", 0);
		tg_q(g, "y", 0.5, 0, QDB_I8, 1, 0);
		tg_out(g, "y");
		double cw[3] = {1, 2, k == 0 || k == 3 ? 2 : 3};
		snprintf(what, sizeof what, "concat with requantization, %s", prof_name(P[k], R[k]));
		check_ints(g, in4, cw, 3, what);

		/* quantize: [.25, -.25, .75] * (1/.5) = [.5, -.5, 1.5]. */
		g = qgraph(P[k], R[k]);
		float qx[3] = {0.25f, -0.25f, 0.75f};
		const float *in5[1] = {qx};
		tg_in(g, "x", 1, s3);
		tg_node(g, "q", "quantize", "x", "y");
		tg_q(g, "y", 0.5, 0, QDB_I8, 1, 0);
		tg_out(g, "y");
		/* float input is quantized as torch does in every profile */
		const double qw[4][3] = {{0, 0, 2}, {0, 0, 2}, {0, 0, 2}, {0, 0, 2}};
		snprintf(what, sizeof what, "quantize ties (to even, any profile), %s",
			 prof_name(P[k], R[k]));
		check_ints(g, in5, qw[k], 3, what);
	}
}

static void hand_unary(void)
{
	for (int p = 0; p < 2; p++) {
		enum qdb_profile_kind prof = p ? QDB_PROFILE_FIXED : QDB_PROFILE_TORCH;
		enum qdb_rounding rnd = p ? AWAY : EVEN;
		const char *pn = qdb_profile_name(prof);
		char what[96];
		/* relu6 / clamp on u8 s .5 zp 10: relu6 keeps [10, 22], clamp(-1, 2)
		 * keeps [8, 14]. */
		int64_t s6[1] = {6};
		int32_t xq[6] = {0, 10, 15, 22, 23, 255};
		float x[6];
		const float *in[1] = {x};
		deq(xq, 6, 0.5, 10, x);
		const char *ops[3] = {"relu", "relu6", "clamp"};
		const double want[3][6] = {{10, 10, 15, 22, 23, 255}, {10, 10, 15, 22, 22, 22},
					   {8, 10, 14, 14, 14, 14}};
		for (int o = 0; o < 3; o++) {
			struct qdb_graph *g = qgraph(prof, rnd);
			qin(g, "x", 1, s6, 0.5, 10, QDB_U8);
			tg_node(g, "a", ops[o], "x.q", "y");
			if (o == 2) {
				tg_float(g, "a", "min", -1);
				tg_float(g, "a", "max", 2);
			}
			tg_q(g, "y", 0.5, 10, QDB_U8, 1, 0);
			tg_out(g, "y");
			snprintf(what, sizeof what, "%s in the integer domain, %s", ops[o], pn);
			check_ints(g, in, want[o], 6, what);
		}
		/* sigmoid: i8 s 1/16 -> u8 s 1/256: 0 -> 128, -128 -> 0, 127 -> 255
		 * (clamped from 255.9), 16 (x = 1) -> 0.731 * 256 = 187.2 -> 187. */
		struct qdb_graph *g = qgraph(prof, rnd);
		int64_t s4[1] = {4};
		int32_t sq[4] = {0, -128, 127, 16};
		float sx[4];
		const float *in2[1] = {sx};
		deq(sq, 4, 1.0 / 16, 0, sx);
		qin(g, "x", 1, s4, 1.0 / 16, 0, QDB_I8);
		tg_node(g, "sig", "sigmoid", "x.q", "y");
		tg_q(g, "y", 1.0 / 256, 0, QDB_U8, 1, 0);
		tg_out(g, "y");
		double sw[4] = {128, 0, 255, 187};
		snprintf(what, sizeof what, "sigmoid table, %s", pn);
		check_ints(g, in2, sw, 4, what);
		/* avgpool / global_avgpool of [1,2,3,4] at zp 1 (C = 2, NCHW): acc
		 * = 10 - 4 = 6, 6/4 = 1.5. torch NCHW avgpool: rint(1.5 + 1) = 2;
		 * torch NCHW adaptive pool: rint(10 * 0.25) = 2; fixed (away):
		 * 2 + 1 = 3. */
		for (int gl = 0; gl < 2; gl++) {
			g = qgraph(prof, rnd);
			int64_t ps[4] = {1, 2, 2, 2};
			int32_t pq[8] = {1, 2, 3, 4, 1, 2, 3, 4};
			float px[8];
			const float *in3[1] = {px};
			deq(pq, 8, 1, 1, px);
			qin(g, "x", 4, ps, 1, 1, QDB_U8);
			tg_node(g, "pool", gl ? "global_avgpool" : "avgpool2d", "x.q", "y");
			if (!gl)
				tg_ints(g, "pool", "kernel", 2, 2, 2, 0, 0);
			tg_q(g, "y", 1, 1, QDB_U8, 1, 0);
			tg_out(g, "y");
			double pw[2] = {p ? 3 : 2, p ? 3 : 2};
			snprintf(what, sizeof what, "%s tie, %s", gl ? "global_avgpool" : "avgpool2d", pn);
			check_ints(g, in3, pw, 2, what);
		}
		/* maxpool 2x2 stride 2 with padding never wins, i8 with zp 5. */
		g = qgraph(prof, rnd);
		int64_t ms[4] = {1, 1, 2, 4};
		int32_t mq[8] = {-128, -100, 7, 9, -120, -90, 8, 100};
		float mx[8];
		const float *in4[1] = {mx};
		deq(mq, 8, 0.1, 5, mx);
		qin(g, "x", 4, ms, 0.1, 5, QDB_I8);
		tg_node(g, "mp", "maxpool2d", "x.q", "y");
		tg_ints(g, "mp", "kernel", 2, 2, 2, 0, 0);
		tg_q(g, "y", 0.1, 5, QDB_I8, 1, 0);
		tg_out(g, "y");
		double mw[2] = {-90, 100};
		snprintf(what, sizeof what, "maxpool2d, %s", pn);
		check_ints(g, in4, mw, 2, what);
		/* softmax of four equal values -> 1/4 -> 64 at s 1/256. */
		g = qgraph(prof, rnd);
		int32_t zq[4] = {7, 7, 7, 7};
		float zx[4];
		const float *in5[1] = {zx};
		deq(zq, 4, 0.1, 0, zx);
		qin(g, "x", 1, s4, 0.1, 0, QDB_U8);
		tg_node(g, "sm", "softmax", "x.q", "y");
		tg_q(g, "y", 1.0 / 256, 0, QDB_U8, 1, 0);
		tg_out(g, "y");
		double smw[4] = {64, 64, 64, 64};
		snprintf(what, sizeof what, "softmax, %s", pn);
		check_ints(g, in5, smw, 4, what);
		/* matmul: a (u8 s .5 zp 1) [[3,1],[1,2]] = [[1,0],[0,.5]] times b
		 * (s .5) [[2],[4]] = [[1],[2]] -> [[1],[1]] -> 4 at s .25. */
		g = qgraph(prof, rnd);
		int64_t as[2] = {2, 2}, bs[2] = {2, 1};
		int32_t aq[4] = {3, 1, 1, 2}, bq[2] = {2, 4};
		float fa[4], fb[2];
		const float *in6[2] = {fa, fb};
		deq(aq, 4, 0.5, 1, fa);
		deq(bq, 2, 0.5, 0, fb);
		qin(g, "a", 2, as, 0.5, 1, QDB_U8);
		qin(g, "b", 2, bs, 0.5, 0, QDB_U8);
		tg_node(g, "mm", "matmul", "a.q,b.q", "y");
		tg_q(g, "y", 0.25, 0, QDB_U8, 1, 0);
		tg_out(g, "y");
		double mmw[2] = {4, 4};
		snprintf(what, sizeof what, "matmul, %s", pn);
		check_ints(g, in6, mmw, 2, what);
		/* dequantize: i8 [-3, 5] at s .5 zp 1 -> [-2, 2]. */
		g = qgraph(prof, rnd);
		int64_t d2[1] = {2};
		int32_t dq[2] = {-3, 5};
		float dx[2];
		const float *in7[1] = {dx};
		deq(dq, 2, 0.5, 1, dx);
		qin(g, "x", 1, d2, 0.5, 1, QDB_I8);
		tg_node(g, "dq", "dequantize", "x.q", "y");
		tg_out(g, "y");
		double dw[2] = {-2, 2};
		snprintf(what, sizeof what, "dequantize, %s", pn);
		check_ints(g, in7, dw, 2, what);
		/* shape ops pass integers through; permute [2,3] -> [3,2]. */
		g = qgraph(prof, rnd);
		int64_t p23[2] = {2, 3};
		int32_t pq[6] = {1, 2, 3, 4, 5, 6};
		float px[6];
		const float *in8[1] = {px};
		deq(pq, 6, 1, 0, px);
		qin(g, "x", 2, p23, 1, 0, QDB_I16);
		tg_node(g, "perm", "permute", "x.q", "y");
		tg_ints(g, "perm", "perm", 2, 1, 0, 0, 0);
		tg_q(g, "y", 1, 0, QDB_I16, 1, 0);
		tg_out(g, "y");
		double pw[6] = {1, 4, 2, 5, 3, 6};
		snprintf(what, sizeof what, "permute, %s", pn);
		check_ints(g, in8, pw, 6, what);
	}
}

/* ---- 2. random single ops: fake quant vs integer ---- */

static double urand(void) { return (double)rand() / RAND_MAX; }

struct act_q {
	enum qdb_dtype dt;
	double s;
	int64_t zp;
};

/* Random activation qparams of a dtype covering about [-r, r] (u8 and
 * asymmetric ranges shifted). */
static struct act_q rand_q(enum qdb_dtype dt, double r)
{
	struct act_q q;
	q.dt = dt;
	int64_t lo = qdb_dtype_min(dt), hi = qdb_dtype_max(dt);
	q.s = 2 * r / (double)(hi - lo) * (0.7 + 0.6 * urand());
	q.s = (double)(float)q.s;
	q.zp = dt == QDB_I16 ? (rand() % 2 ? 0 : (int64_t)(urand() * 2000) - 1000)
			     : lo + (hi - lo) / 4 + (int64_t)(urand() * (double)(hi - lo) / 2);
	return q;
}

static void set_q(struct qdb_graph *g, const char *v, struct act_q q)
{
	tg_q(g, v, q.s, q.zp, q.dt, 1, 0);
}

/* Float constant with per-channel qparams (axis 0, symmetric int8). */
static void wconst(struct qdb_graph *g, const char *name, int rank, const int64_t *shape)
{
	int64_t n = qdb_shape_numel(rank, shape), o = shape[0], per = n / o;
	float *w = malloc((size_t)n * sizeof *w);
	double *sc = malloc((size_t)o * sizeof *sc);
	for (int64_t c = 0; c < o; c++) {
		double m = 0;
		for (int64_t i = 0; i < per; i++) {
			w[c * per + i] = (float)((urand() - 0.5) * (0.5 + c % 3));
			m = fabs(w[c * per + i]) > m ? fabs(w[c * per + i]) : m;
		}
		sc[c] = (double)(float)(m / 127.0 * (0.8 + 0.3 * urand())); /* a few saturate */
	}
	tg_const(g, name, rank, shape, w);
	tg_qc(g, name, (int)o, 0, sc, QDB_I8, -128, 127);
	free(w);
	free(sc);
}

struct rcase {
	const char *what;
	struct qdb_graph *g;
	float *in[2];
	double tol;       /* LSB */
	double tol_fixed; /* the fixed profile's int32 bias adds up to half an
			     accumulator step (matters when s_y < s_x * s_w) */
};

/* QDB_DTYPE_COUNT as a dtype: pick one per value (mixed precision). */
static enum qdb_dtype pick(enum qdb_dtype dt)
{
	static const enum qdb_dtype all[3] = {QDB_U8, QDB_I8, QDB_I16};
	return dt == QDB_DTYPE_COUNT ? all[rand() % 3] : dt;
}

/* One random single-op qat graph of `kind`, values of dtype dt (or mixed). */
static int make_case(int kind, enum qdb_dtype dt, struct rcase *rc)
{
	struct qdb_graph *g = tg_new(QDB_STAGE_QAT);
	int64_t s4[4] = {1 + rand() % 2, 2 + rand() % 6, 3 + rand() % 7, 3 + rand() % 7};
	int n_in = 1;
	int64_t sh2[4];
	memcpy(sh2, s4, sizeof sh2);
	struct act_q xq = rand_q(pick(dt), 2.0), yq = rand_q(pick(dt), 2.0);
	rc->tol = 1.0;
	tg_in(g, "x", 4, s4);
	set_q(g, "x", xq);
	switch (kind) {
	case 0: case 1: case 2: case 3: { /* conv2d: plain, depthwise, strided+dilated, grouped */
		int64_t c = s4[1], groups = kind == 1 ? c : kind == 3 && c % 2 == 0 ? 2 : 1;
		int64_t o = kind == 1 ? c : 1 + rand() % 8;
		if (kind == 3 && groups == 2)
			o = 2 * (1 + rand() % 3);
		int64_t k = 1 + 2 * (rand() % 2), ws[4] = {o, c / groups, k, k}, bs[1] = {o};
		wconst(g, "w", 4, ws);
		float b[16];
		for (int i = 0; i < 16; i++)
			b[i] = (float)(urand() - 0.5);
		tg_const(g, "b", 1, bs, b);
		tg_node(g, "op", "conv2d", "x,w,b", "y");
		tg_int(g, "op", "groups", groups);
		tg_ints(g, "op", "padding", 2, k / 2, k / 2, 0, 0);
		if (kind == 2) {
			tg_ints(g, "op", "stride", 2, 2, 2, 0, 0);
			tg_ints(g, "op", "dilation", 2, 2, 1, 0, 0);
			tg_ints(g, "op", "padding", 4, k / 2, 0, k, k / 2);
		}
		const char *acts[4] = {"none", "relu", "relu6", "clamp"};
		tg_str(g, "op", "act", acts[rand() % 4]);
		tg_float(g, "op", "act_min", -0.5);
		tg_float(g, "op", "act_max", 1.0);
		yq = rand_q(pick(dt), 3.0);
		rc->what = kind == 0 ? "conv2d" : kind == 1 ? "depthwise conv2d" : kind == 2 ? "conv2d stride/dilation/asym pad" : "grouped conv2d";
		break;
	}
	case 4: { /* linear on [N, C, H, W] flattened last dim */
		int64_t in = s4[3], o = 1 + rand() % 9, ws[2] = {o, in}, bs[1] = {o};
		wconst(g, "w", 2, ws);
		float b[16];
		for (int i = 0; i < 16; i++)
			b[i] = (float)(urand() - 0.5);
		tg_const(g, "b", 1, bs, b);
		tg_node(g, "op", "linear", "x,w,b", "y");
		if (rand() % 2)
			tg_str(g, "op", "act", "relu");
		yq = rand_q(pick(dt), 4.0);
		rc->what = "linear";
		break;
	}
	case 5: case 6: { /* add / mul with broadcasting over H */
		sh2[2] = 1;
		if (rand() % 2)
			sh2[0] = 1;
		tg_in(g, "x2", 4, sh2);
		set_q(g, "x2", rand_q(pick(dt), 1.5));
		n_in = 2;
		tg_node(g, "op", kind == 5 ? "add" : "mul", "x,x2", "y");
		if (rand() % 3 == 0)
			tg_str(g, "op", "act", "relu");
		yq = rand_q(pick(dt), kind == 5 ? 3.5 : 3.0);
		rc->what = kind == 5 ? "add (broadcast)" : "mul (broadcast)";
		break;
	}
	case 7: { /* matmul [N, C, H, W] x [N, C, W, K] */
		sh2[2] = s4[3];
		sh2[3] = 1 + rand() % 5;
		tg_in(g, "x2", 4, sh2);
		set_q(g, "x2", rand_q(pick(dt), 1.0));
		n_in = 2;
		tg_node(g, "op", "matmul", "x,x2", "y");
		yq = rand_q(pick(dt), 6.0);
		rc->what = "matmul";
		break;
	}
	case 8: { /* concat of differently quantized inputs */
		sh2[1] = 1 + rand() % 4;
		tg_in(g, "x2", 4, sh2);
		set_q(g, "x2", rand_q(pick(dt), 1.0));
		n_in = 2;
		tg_node(g, "op", "concat", "x,x2", "y");
		rc->what = "concat (requantizing)";
		break;
	}
	case 9: case 10: case 11: case 12: case 13: case 14: case 15: case 16: case 17: {
		const char *ops[] = {"relu", "relu6", "clamp", "sigmoid", "tanh", "hardswish", "silu", "gelu",
				     "softmax"};
		const char *op = ops[kind - 9];
		tg_node(g, "op", op, "x", "y");
		if (kind == 11) {
			tg_float(g, "op", "min", -0.75);
			tg_float(g, "op", "max", 1.25);
		}
		if (kind == 16 && rand() % 2)
			tg_str(g, "op", "approximate", "tanh");
		if (kind == 17) {
			tg_int(g, "op", "axis", 1 + rand() % 3);
			yq.dt = pick(dt);
			yq.s = (double)(float)(1.0 / (qdb_dtype_max(yq.dt) - qdb_dtype_min(yq.dt)));
			yq.zp = qdb_dtype_min(yq.dt);
		} else if (kind == 12) {
			yq.dt = pick(dt);
			yq.s = (double)(float)(2.0 / (qdb_dtype_max(yq.dt) - qdb_dtype_min(yq.dt)));
			yq.zp = (qdb_dtype_max(yq.dt) + qdb_dtype_min(yq.dt) + 1) / 2;
		} else if (kind <= 11) {
			/* relu requantizes sometimes; relu6 and clamp keep the input's */
			yq = kind == 9 && rand() % 2 ? rand_q(pick(dt), 2.0) : xq;
		} else {
			yq = rand_q(pick(dt), 2.5);
		}
		if (xq.dt == QDB_I16 && kind >= 12 && kind <= 17)
			rc->tol = 3.0; /* interpolated 16-bit tables (fixed), softmax too */
		rc->what = op;
		break;
	}
	case 18: case 19: case 20: { /* pools */
		const char *ops[] = {"maxpool2d", "avgpool2d", "global_avgpool"};
		tg_node(g, "op", ops[kind - 18], "x", "y");
		if (kind != 20) {
			int64_t k = 2 + rand() % 2;
			tg_ints(g, "op", "kernel", 2, k, k, 0, 0);
			tg_ints(g, "op", "stride", 2, 1 + rand() % 2, 1 + rand() % 2, 0, 0);
			tg_ints(g, "op", "padding", 2, rand() % 2, rand() % 2, 0, 0);
			tg_int(g, "op", "ceil_mode", rand() % 2);
			tg_int(g, "op", "count_include_pad", rand() % 2);
		}
		yq = rand() % 2 ? xq : rand_q(pick(dt), 2.0);
		rc->what = ops[kind - 18];
		break;
	}
	default: { /* shape ops */
		const char *ops[] = {"flatten", "reshape", "permute", "upsample_nearest", "identity"};
		const char *op = ops[(kind - 21) % 5];
		tg_node(g, "op", op, "x", "y");
		if (kind == 22)
			tg_ints(g, "op", "shape", 2, s4[0], -1, 0, 0);
		if (kind == 23)
			tg_ints(g, "op", "perm", 4, 0, 2, 3, 1);
		if (kind == 24)
			tg_ints(g, "op", "scale", 2, 2, 1 + rand() % 2, 0, 0);
		yq = rand() % 2 ? xq : rand_q(pick(dt), 2.0);
		rc->what = op;
		break;
	}
	}
	set_q(g, "y", yq);
	tg_out(g, "y");
	rc->tol_fixed = rc->tol;
	if (kind <= 4) {
		const struct qdb_value *w = &g->values[qdb_graph_find_value(g, "w")];
		double smax = 0;
		for (int c = 0; c < w->q.n; c++)
			smax = w->q.scale[c] > smax ? w->q.scale[c] : smax;
		rc->tol_fixed += 0.5 * xq.s * smax / yq.s;
	}
	struct qdb_err e;
	if (qdb_graph_validate(g, &e)) {
		tap_diag("case %s: %s", rc->what, e.msg);
		qdb_graph_delete(g);
		return -1;
	}
	for (int i = 0; i < 2; i++)
		rc->in[i] = NULL;
	for (int i = 0; i < n_in; i++) {
		const struct qdb_value *v = &g->values[g->inputs[i]];
		int64_t n = qdb_shape_numel(v->rank, v->shape);
		rc->in[i] = malloc((size_t)n * sizeof(float));
		for (int64_t j = 0; j < n; j++)
			rc->in[i][j] = (float)((urand() * 2 - 1) * 2.2);
	}
	rc->g = g;
	return 0;
}

static const char *dt_name(enum qdb_dtype d)
{
	return d == QDB_DTYPE_COUNT ? "mixed i8/u8/i16" : qdb_dtype_name(d);
}

static void random_ops(void)
{
	static double fq[MAXN], iq[MAXN];
	const enum qdb_dtype dts[4] = {QDB_U8, QDB_I8, QDB_I16, QDB_DTYPE_COUNT};
	const enum qdb_profile_kind P[4] = {QDB_PROFILE_TORCH, QDB_PROFILE_FIXED, QDB_PROFILE_FIXED,
					    QDB_PROFILE_FIXED};
	const enum qdb_rounding R[4] = {EVEN, AWAY, UP, EVEN};
	/* QDB_OPS_INT_TRIALS raises the number of random graphs per case. */
	const char *env = getenv("QDB_OPS_INT_TRIALS");
	int trials = env && atoi(env) > 0 ? atoi(env) : 6;
	srand(20240517);
	for (int kind = 0; kind < 26; kind++) {
		for (int d = 0; d < 4; d++) {
			double worst[4] = {0, 0, 0, 0};
			int failed = 0, runs = 0;
			const char *what = "?";
			double tol = 1, tol_fixed = 1;
			for (int trial = 0; trial < trials && !failed; trial++) {
				struct rcase rc;
				struct qdb_err e;
				if (make_case(kind, dts[d], &rc)) {
					failed = 1;
					break;
				}
				what = rc.what;
				tol = rc.tol > tol ? rc.tol : tol;
				tol_fixed = rc.tol_fixed > tol_fixed ? rc.tol_fixed : tol_fixed;
				const float *in[2] = {rc.in[0], rc.in[1]};
				int64_t n = run_raw(rc.g, in, fq, MAXN, &e); /* qat: fake-quantized floats */
				const struct qdb_value *y = &rc.g->values[rc.g->outputs[0]];
				double sy = y->q.scale[0];
				if (n < 0) {
					tap_diag("%s %s qat: %s", what, dt_name(dts[d]), e.msg);
					failed = 1;
				}
				for (int k = 0; k < 4 && !failed; k++) {
					struct qdb_convert_opts o = {P[k], R[k]};
					struct qdb_graph *q = NULL;
					if (qdb_convert(rc.g, &o, &q, NULL, &e)) {
						tap_diag("%s %s convert: %s", what, dt_name(dts[d]), e.msg);
						failed = 1;
						break;
					}
					int64_t m = run_raw(q, in, iq, MAXN, &e); /* dequantized outputs */
					qdb_graph_delete(q);
					if (m != n) {
						tap_diag("%s %s %s: %s", what, dt_name(dts[d]), prof_name(P[k], R[k]),
							 m < 0 ? e.msg : "output size differs");
						failed = 1;
						break;
					}
					for (int64_t i = 0; i < n; i++) {
						double steps = fabs(fq[i] - iq[i]) / sy;
						worst[k] = steps > worst[k] ? steps : worst[k];
					}
					runs++;
				}
				qdb_graph_delete(rc.g);
				free(rc.in[0]);
				free(rc.in[1]);
			}
			double wf = worst[1];
			for (int k = 2; k < 4; k++)
				wf = worst[k] > wf ? worst[k] : wf;
			/* outputs are compared as float32 reals: allow their rounding */
			if (!ok(!failed && runs > 0 && worst[0] <= tol + 0.01 && wf <= tol_fixed + 0.01,
				"random %s, %s: integer within %g LSB of fake quant (%.3g fixed) (torch %.4g, away %.4g, up %.4g, even %.4g)",
				what, dt_name(dts[d]), tol, tol_fixed, worst[0], worst[1], worst[2], worst[3]))
				tap_diag("  failed=%d runs=%d", failed, runs);
		}
	}
}

int main(void)
{
	hand_conv();
	hand_conv_padding();
	hand_linear();
	hand_binary();
	hand_unary();
	random_ops();
	return tap_done();
}
