/* test_ops_float.c - every op's float kernel against hand-computed values,
 * and the same graphs under fake quant (qat) and on cpu in a quantized graph
 * (output quantized at the boundary): both must equal the fake-quantized
 * float result exactly. Plus fake-quant arithmetic: ties (half to even),
 * saturation, zero points, non-finite inputs, per-channel weights. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "graph/exec.h"
#include "graph_util.h"
#include "ops/gemm.h"
#include "ops/quant.h"
#include "tap.h"

#define MAXN 4096

static const int64_t S1[] = {1}, S2[] = {2}, S3[] = {3}, S6[] = {6};

/* Runs g (stage float) in float and checks against want; then as qat with
 * qparams on the output (scale 1/16, zp 0, i16) and as a quantized graph
 * with every node on cpu: both must give fq(float result) exactly. */
static void check(struct qdb_graph *g, const float *const *in, const float *want, int64_t n,
		  double tol, const char *what)
{
	static float got[MAXN], fq[MAXN], got2[MAXN];
	struct qdb_err e;
	qdb_err_clear(&e);
	int64_t m = tg_run(g, QDB_SEM_NATIVE, in, got, MAXN, &e);
	if (!ok(m == n, "%s: float run gives %lld values", what, (long long)n)) {
		tap_diag("  got %lld: %s", (long long)m, e.msg);
		qdb_graph_delete(g);
		return;
	}
	double worst = 0;
	int64_t at = 0;
	for (int64_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - want[i]);
		if (!(d <= worst)) {
			worst = d;
			at = i;
		}
	}
	if (!ok(worst <= tol, "%s: float values", what))
		tap_diag("  [%lld] got %.9g want %.9g", (long long)at, got[at], want[at]);

	for (int64_t i = 0; i < n; i++)
		fq[i] = qdb_fake_quant1(got[i], 0.0625f, 16.0f, 0, INT16_MIN, INT16_MAX);
	struct qdb_graph *q = qdb_graph_clone(g, &e);
	if (!q)
		tg_die("clone", &e);
	q->stage = QDB_STAGE_QAT;
	tg_q(q, q->values[q->outputs[0]].name, 0.0625, 0, QDB_I16, INT64_MIN, INT64_MAX);
	m = tg_run(q, QDB_SEM_NATIVE, in, got2, MAXN, &e);
	int same = m == n;
	for (int64_t i = 0; same && i < n; i++)
		same = got2[i] == fq[i];
	if (!ok(same, "%s: qat output = fake_quant(float output)", what))
		tap_diag("  %s", m < 0 ? e.msg : "values differ");

	q->stage = QDB_STAGE_QUANTIZED;
	for (int i = 0; i < q->n_nodes; i++)
		q->nodes[i].device = QDB_DEV_CPU;
	m = tg_run(q, QDB_SEM_NATIVE, in, got2, MAXN, &e);
	same = m == n;
	for (int64_t i = 0; same && i < n; i++)
		same = got2[i] == fq[i];
	if (!ok(same, "%s: quantized graph on cpu = quantize(float output)", what))
		tap_diag("  %s", m < 0 ? e.msg : "values differ");
	qdb_graph_delete(q);
	qdb_graph_delete(g);
}

static float seq[64];

static void test_conv_basic(void)
{
	static const int64_t xs[] = {1, 1, 3, 3}, ws[] = {1, 1, 2, 2};
	static const float w[] = {1, 2, 3, 4}, b[] = {0.5f};
	const float *in[] = {seq};
	struct qdb_graph *g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 4, xs);
	tg_const(g, "w", 4, ws, w);
	tg_const(g, "b", 1, S1, b);
	tg_node(g, "conv", "conv2d", "x,w,b", "y");
	tg_out(g, "y");
	static const float want[] = {37.5f, 47.5f, 67.5f, 77.5f};
	check(g, in, want, 4, 1e-6, "conv2d 2x2 + bias");

	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 4, xs);
	tg_const(g, "w", 4, ws, w);
	tg_const(g, "b", 1, S1, b);
	tg_node(g, "conv", "conv2d", "x,w,b", "y");
	tg_str(g, "conv", "act", "clamp");
	tg_float(g, "conv", "act_min", 40);
	tg_float(g, "conv", "act_max", 70);
	tg_out(g, "y");
	static const float want_c[] = {40, 47.5f, 67.5f, 70};
	check(g, in, want_c, 4, 1e-6, "conv2d fused clamp");

	/* pad 1, stride 2, 3x3 ones */
	static const int64_t w3s[] = {1, 1, 3, 3};
	static const float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 4, xs);
	tg_const(g, "w", 4, w3s, ones);
	tg_node(g, "conv", "conv2d", "x,w", "y");
	tg_ints(g, "conv", "stride", 2, 2, 2, 0, 0);
	tg_ints(g, "conv", "padding", 2, 1, 1, 0, 0);
	tg_out(g, "y");
	static const float want_p[] = {12, 16, 24, 28};
	check(g, in, want_p, 4, 1e-6, "conv2d padding 1 stride 2");

	/* dilation 2 */
	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 4, xs);
	tg_const(g, "w", 4, ws, w);
	tg_node(g, "conv", "conv2d", "x,w", "y");
	tg_ints(g, "conv", "dilation", 2, 2, 2, 0, 0);
	tg_out(g, "y");
	static const float want_d[] = {64};
	check(g, in, want_d, 1, 1e-6, "conv2d dilation 2");

	/* asymmetric padding top,left,bottom,right = 0,1,1,0 with 2x2 ones */
	static const float ones4[] = {1, 1, 1, 1};
	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 4, xs);
	tg_const(g, "w", 4, ws, ones4);
	tg_node(g, "conv", "conv2d", "x,w", "y");
	tg_ints(g, "conv", "padding", 4, 0, 1, 1, 0);
	tg_out(g, "y");
	/* rows r..r+1 (row 3 is padding), cols c-1..c (col -1 is padding) */
	static const float want_a[] = {5, 12, 16, 11, 24, 28, 7, 15, 17};
	check(g, in, want_a, 9, 1e-6, "conv2d asymmetric padding");
}

static void test_conv_groups(void)
{
	static const int64_t xs[] = {1, 4, 1, 1}, ws[] = {2, 2, 1, 1};
	static const float x[] = {1, 2, 3, 4}, w[] = {1, 1, 1, -1};
	const float *in[] = {x};
	struct qdb_graph *g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 4, xs);
	tg_const(g, "w", 4, ws, w);
	tg_node(g, "conv", "conv2d", "x,w", "y");
	tg_int(g, "conv", "groups", 2);
	tg_out(g, "y");
	static const float want[] = {3, -1};
	check(g, in, want, 2, 1e-6, "conv2d groups 2");

	/* depthwise 3x3 pad 1: channel 0 all-ones kernel on ones, channel 1 identity */
	static const int64_t dxs[] = {1, 2, 3, 3}, dws[] = {2, 1, 3, 3};
	float dx[18], dw[18] = {0};
	for (int i = 0; i < 9; i++) {
		dx[i] = 1;
		dx[9 + i] = (float)(i + 1);
		dw[i] = 1;
	}
	dw[9 + 4] = 1;
	const float *din[] = {dx};
	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 4, dxs);
	tg_const(g, "w", 4, dws, dw);
	tg_node(g, "dw", "conv2d", "x,w", "y");
	tg_int(g, "dw", "groups", 2);
	tg_ints(g, "dw", "padding", 1, 1, 0, 0, 0);
	tg_out(g, "y");
	static const float dwant[] = {4, 6, 4, 6, 9, 6, 4, 6, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	check(g, din, dwant, 18, 1e-6, "conv2d depthwise 3x3 pad 1");

	/* channel multiplier 2 */
	static const int64_t mxs[] = {1, 1, 2, 2}, mws[] = {2, 1, 1, 1};
	static const float mx[] = {1, 2, 3, 4}, mw[] = {2, -1};
	const float *min_[] = {mx};
	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 4, mxs);
	tg_const(g, "w", 4, mws, mw);
	tg_node(g, "dw", "conv2d", "x,w", "y");
	tg_out(g, "y");
	static const float mwant[] = {2, 4, 6, 8, -1, -2, -3, -4};
	check(g, min_, mwant, 8, 1e-6, "conv2d depthwise multiplier 2");
}

/* Random conv against a double-precision reference. */
static double frand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return ((*s >> 8) & 0xffff) / 32768.0 - 1.0;
}

static void conv_random(int N, int C, int H, int W, int O, int KH, int KW, int groups, int sh,
			int sw, int pt, int pl, int pb, int pr, int dh, int dw, const char *what)
{
	static float x[65536], w[65536], b[512], want[MAXN];
	unsigned s = 12345u + (unsigned)(C * 7 + O);
	int cg = C / groups, og = O / groups;
	int64_t xs[] = {N, C, H, W}, ws[] = {O, cg, KH, KW}, bs[] = {O};
	for (int i = 0; i < N * C * H * W; i++)
		x[i] = (float)frand(&s);
	for (int i = 0; i < O * cg * KH * KW; i++)
		w[i] = (float)frand(&s);
	for (int i = 0; i < O; i++)
		b[i] = (float)frand(&s);
	int OH = (H + pt + pb - dh * (KH - 1) - 1) / sh + 1;
	int OW = (W + pl + pr - dw * (KW - 1) - 1) / sw + 1;
	int64_t n = (int64_t)N * O * OH * OW;
	if (n > MAXN) {
		ok(0, "%s: test too large", what);
		return;
	}
	double maxmag = 0;
	for (int nn = 0; nn < N; nn++)
		for (int o = 0; o < O; o++)
			for (int oh = 0; oh < OH; oh++)
				for (int ow = 0; ow < OW; ow++) {
					int grp = o / og;
					double acc = b[o];
					for (int c = 0; c < cg; c++)
						for (int ky = 0; ky < KH; ky++)
							for (int kx = 0; kx < KW; kx++) {
								int ih = oh * sh - pt + ky * dh, iw = ow * sw - pl + kx * dw;
								if (ih < 0 || ih >= H || iw < 0 || iw >= W)
									continue;
								acc += (double)x[((nn * C + grp * cg + c) * H + ih) * W + iw] *
								       w[((o * cg + c) * KH + ky) * KW + kx];
							}
					want[((nn * O + o) * OH + oh) * OW + ow] = (float)acc;
					if (fabs(acc) > maxmag)
						maxmag = fabs(acc);
				}
	struct qdb_graph *g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 4, xs);
	tg_const(g, "w", 4, ws, w);
	tg_const(g, "b", 1, bs, b);
	tg_node(g, "conv", "conv2d", "x,w,b", "y");
	tg_int(g, "conv", "groups", groups);
	tg_ints(g, "conv", "stride", 2, sh, sw, 0, 0);
	tg_ints(g, "conv", "padding", 4, pt, pl, pb, pr);
	tg_ints(g, "conv", "dilation", 2, dh, dw, 0, 0);
	tg_out(g, "y");
	const float *in[] = {x};
	check(g, in, want, n, 2e-6 * (cg * KH * KW) + 1e-6 * maxmag, what);
}

/* The generic, AVX2 and AVX-512 GEMM paths give the same bits. */
static void test_isa_paths(void)
{
	static float x[2 * 24 * 15 * 17], w[40 * 24 * 9], out[3][2 * 40 * 15 * 17];
	static const int64_t xs[] = {2, 24, 15, 17}, ws[] = {40, 24, 3, 3};
	unsigned s = 99;
	for (size_t i = 0; i < sizeof x / sizeof *x; i++)
		x[i] = (float)frand(&s);
	for (size_t i = 0; i < sizeof w / sizeof *w; i++)
		w[i] = (float)frand(&s);
	int good = 1;
	for (int isa = 0; isa < 3; isa++) {
		struct qdb_graph *g = tg_new(QDB_STAGE_FLOAT);
		struct qdb_err e;
		tg_in(g, "x", 4, xs);
		tg_const(g, "w", 4, ws, w);
		tg_node(g, "conv", "conv2d", "x,w", "y");
		tg_ints(g, "conv", "padding", 2, 1, 1, 0, 0);
		tg_out(g, "y");
		qdb_gemm_set_isa(isa);
		const float *in[] = {x};
		static float tmp[2 * 40 * 15 * 17];
		good &= tg_run(g, QDB_SEM_NATIVE, in, tmp, 2 * 40 * 15 * 17, &e) == 2 * 40 * 15 * 17;
		memcpy(out[isa], tmp, sizeof out[isa]);
		qdb_graph_delete(g);
	}
	qdb_gemm_set_isa(2);
	ok(good && !memcmp(out[0], out[1], sizeof out[0]) && !memcmp(out[0], out[2], sizeof out[0]),
	   "conv2d: generic, AVX2 and AVX-512 GEMM give identical bits");
}

static void test_linear(void)
{
	static const int64_t xs[] = {2, 1, 3}, ws[] = {2, 3};
	static const float x[] = {1, 2, 3, 4, 5, 6}, w[] = {1, 0, -1, 0.5f, 0.5f, 0.5f},
			   b[] = {1, -1};
	const float *in[] = {x};
	struct qdb_graph *g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 3, xs);
	tg_const(g, "w", 2, ws, w);
	tg_const(g, "b", 1, S2, b);
	tg_node(g, "fc", "linear", "x,w,b", "y");
	tg_str(g, "fc", "act", "relu");
	tg_out(g, "y");
	static const float want[] = {0, 2, 0, 6.5f};
	check(g, in, want, 4, 1e-6, "linear rank 3 + bias + relu");
}

static void test_matmul(void)
{
	static const int64_t as[] = {2, 2, 3}, bs[] = {3, 2};
	static const float a[] = {1, 2, 3, 4, 5, 6, 2, 4, 6, 8, 10, 12}, b[] = {1, 0, 0, 1, 1, 1};
	const float *in[] = {a, b};
	struct qdb_graph *g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "a", 3, as);
	tg_in(g, "b", 2, bs);
	tg_node(g, "mm", "matmul", "a,b", "y");
	tg_out(g, "y");
	static const float want[] = {4, 5, 10, 11, 8, 10, 20, 22};
	check(g, in, want, 8, 1e-6, "matmul batched, broadcast b");

	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "a", 1, S3);
	tg_in(g, "b", 2, bs);
	tg_node(g, "mm", "matmul", "a,b", "y");
	tg_out(g, "y");
	static const float want1[] = {4, 5};
	check(g, in, want1, 2, 1e-6, "matmul 1-d @ 2-d");
}

static void test_eltwise(void)
{
	static const int64_t as[] = {2, 3};
	static const float a[] = {1, 2, 3, 4, 5, 6}, b[] = {10, 20, 30};
	const float *in[] = {a, b};
	struct qdb_graph *g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "a", 2, as);
	tg_in(g, "b", 1, S3);
	tg_node(g, "add", "add", "a,b", "y");
	tg_out(g, "y");
	static const float want[] = {11, 22, 33, 14, 25, 36};
	check(g, in, want, 6, 0, "add broadcast [2,3] + [3]");

	static const int64_t ms[] = {2, 1, 3}, ns[] = {1, 2, 1};
	static const float m2[] = {10, 100};
	const float *in2[] = {a, m2};
	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "a", 3, ms);
	tg_in(g, "b", 3, ns);
	tg_node(g, "mul", "mul", "a,b", "y");
	tg_out(g, "y");
	static const float want2[] = {10, 20, 30, 100, 200, 300, 40, 50, 60, 400, 500, 600};
	check(g, in2, want2, 12, 0, "mul broadcast [2,1,3] * [1,2,1]");

	static const float c[] = {-10, 0, 10};
	const float *in3[] = {a, c};
	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "a", 2, as);
	tg_in(g, "b", 1, S3);
	tg_node(g, "add", "add", "a,b", "y");
	tg_str(g, "add", "act", "relu6");
	tg_out(g, "y");
	static const float want3[] = {0, 2, 6, 0, 5, 6};
	check(g, in3, want3, 6, 0, "add + fused relu6");
}

static const float ax[] = {-4, -1, 0, 0.5f, 3, 7};

static void act_case(const char *op, const float *want, double tol)
{
	const float *in[] = {ax};
	struct qdb_graph *g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 1, S6);
	tg_node(g, "act", op, "x", "y");
	tg_out(g, "y");
	check(g, in, want, 6, tol, op);
}

static void test_act(void)
{
	static const float relu[] = {0, 0, 0, 0.5f, 3, 7}, relu6[] = {0, 0, 0, 0.5f, 3, 6};
	act_case("relu", relu, 0);
	act_case("relu6", relu6, 0);
	float sig[6], th[6], hs[6], si[6], ge[6];
	for (int i = 0; i < 6; i++) {
		double v = ax[i];
		sig[i] = (float)(1 / (1 + exp(-v)));
		th[i] = (float)tanh(v);
		si[i] = (float)(v / (1 + exp(-v)));
		ge[i] = (float)(0.5 * v * (1 + erf(v / sqrt(2.0))));
	}
	static const float hsw[] = {0, -1.0f / 3, 0, 0.5f * 3.5f / 6, 3, 7};
	for (int i = 0; i < 6; i++)
		hs[i] = hsw[i];
	act_case("sigmoid", sig, 2e-7);
	act_case("tanh", th, 2e-7);
	act_case("hardswish", hs, 1e-7);
	act_case("silu", si, 1e-6);
	act_case("gelu", ge, 1e-6);

	const float *in[] = {ax};
	struct qdb_graph *g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 1, S6);
	tg_node(g, "c", "clamp", "x", "y");
	tg_float(g, "c", "min", -2);
	tg_float(g, "c", "max", 1);
	tg_out(g, "y");
	static const float cl[] = {-2, -1, 0, 0.5f, 1, 1};
	check(g, in, cl, 6, 0, "clamp -2..1");

	float gt[6];
	for (int i = 0; i < 6; i++) {
		double v = ax[i];
		gt[i] = (float)(0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))));
	}
	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 1, S6);
	tg_node(g, "g", "gelu", "x", "y");
	tg_str(g, "g", "approximate", "tanh");
	tg_out(g, "y");
	check(g, in, gt, 6, 1e-6, "gelu tanh approximation");

	static const float sm_x[] = {1, 2, 3};
	static const float sm_w[] = {0.09003057f, 0.24472847f, 0.66524096f};
	const float *in_sm[] = {sm_x};
	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 1, S3);
	tg_node(g, "sm", "softmax", "x", "y");
	tg_out(g, "y");
	check(g, in_sm, sm_w, 3, 1e-7, "softmax");

	static const int64_t s22[] = {2, 2};
	static const float sm2[] = {1, 2, 3, 4};
	static const float sm2w[] = {0.11920292f, 0.11920292f, 0.88079708f, 0.88079708f};
	const float *in_sm2[] = {sm2};
	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 2, s22);
	tg_node(g, "sm", "softmax", "x", "y");
	tg_int(g, "sm", "axis", 0);
	tg_out(g, "y");
	check(g, in_sm2, sm2w, 4, 1e-7, "softmax axis 0");
}

static void pool_case(const char *op, int64_t hw, int k, int s, int pad, int dil, int ceil,
		      int incl, const float *want, int64_t n, const char *what)
{
	int64_t xs[] = {1, 1, hw, hw};
	const float *in[] = {seq};
	struct qdb_graph *g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 4, xs);
	tg_node(g, "p", op, "x", "y");
	tg_ints(g, "p", "kernel", 2, k, k, 0, 0);
	tg_ints(g, "p", "stride", 2, s, s, 0, 0);
	tg_ints(g, "p", "padding", 2, pad, pad, 0, 0);
	if (dil != 1)
		tg_ints(g, "p", "dilation", 2, dil, dil, 0, 0);
	tg_int(g, "p", "ceil_mode", ceil);
	if (!incl)
		tg_int(g, "p", "count_include_pad", 0);
	tg_out(g, "y");
	check(g, in, want, n, 1e-6, what);
}

static void test_pool(void)
{
	/* seq is 0, 1, 2, ... for these (row-major planes) */
	static float z[64];
	for (int i = 0; i < 64; i++)
		z[i] = (float)i;
	memcpy(seq, z, sizeof z);
	static const float m1[] = {5, 7, 13, 15};
	pool_case("maxpool2d", 4, 2, 2, 0, 1, 0, 1, m1, 4, "maxpool 2x2/2");
	static const float m2[] = {6, 8, 9, 16, 18, 19, 21, 23, 24};
	pool_case("maxpool2d", 5, 2, 2, 0, 1, 1, 1, m2, 9, "maxpool ceil_mode");
	static const float m3[] = {5, 7, 13, 15};
	pool_case("maxpool2d", 4, 3, 2, 1, 1, 0, 1, m3, 4, "maxpool 3x3/2 pad 1");
	static const float m4[] = {10, 11, 14, 15};
	pool_case("maxpool2d", 4, 2, 1, 0, 2, 0, 1, m4, 4, "maxpool dilation 2");
	static const float a1[] = {3, 5, 6.5f, 13, 15, 16.5f, 20.5f, 22.5f, 24};
	pool_case("avgpool2d", 5, 2, 2, 0, 1, 1, 1, a1, 9, "avgpool ceil_mode");
	static const float a2[] = {10.0f / 9, 24.0f / 9, 15.0f / 9, 51.0f / 9, 10,
				   33.0f / 6, 37.5f / 9, 7, 3.75f};
	pool_case("avgpool2d", 4, 3, 2, 1, 1, 1, 1, a2, 9, "avgpool ceil_mode pad 1 count_include_pad");
	static const float a3[] = {2.5f, 4, 5, 8.5f, 10, 11, 12.5f, 14, 15};
	pool_case("avgpool2d", 4, 3, 2, 1, 1, 1, 0, a3, 9, "avgpool ceil_mode pad 1 exclude pad");

	for (int i = 0; i < 9; i++)
		seq[i] = (float)(i + 1);
	static const float a4[] = {12.0f / 9, 21.0f / 9, 16.0f / 9, 27.0f / 9, 5,
				   33.0f / 9, 24.0f / 9, 39.0f / 9, 28.0f / 9};
	pool_case("avgpool2d", 3, 3, 1, 1, 1, 0, 1, a4, 9, "avgpool 3x3 pad 1 include pad");

	static const int64_t gs[] = {1, 2, 2, 2};
	static const float gx[] = {1, 2, 3, 4, 5, 6, 7, 8};
	const float *in[] = {gx};
	struct qdb_graph *g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 4, gs);
	tg_node(g, "gap", "global_avgpool", "x", "y");
	tg_out(g, "y");
	static const float gw[] = {2.5f, 6.5f};
	check(g, in, gw, 2, 0, "global_avgpool");
}

static void test_shape_ops(void)
{
	static const float a[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	static const int64_t s121[] = {1, 2, 1}, s111[] = {1, 1, 1};
	static const float c2[] = {9};
	const float *in[] = {a, c2};
	struct qdb_graph *g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "a", 3, s121);
	tg_in(g, "b", 3, s111);
	tg_node(g, "cat", "concat", "a,b", "y");
	tg_out(g, "y");
	static const float w1[] = {1, 2, 9};
	check(g, in, w1, 3, 0, "concat axis 1");

	static const int64_t s232[] = {2, 3, 2};
	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "a", 3, s232);
	tg_node(g, "r", "reshape", "a", "r");
	tg_ints(g, "r", "shape", 2, 0, -1, 0, 0);
	tg_node(g, "p", "permute", "r", "y");
	tg_ints(g, "p", "perm", 2, 1, 0, 0, 0);
	tg_out(g, "y");
	static const float w2[] = {1, 7, 2, 8, 3, 9, 4, 10, 5, 11, 6, 12};
	check(g, in, w2, 12, 0, "reshape [0,-1] + permute [1,0]");

	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "a", 3, s232);
	tg_node(g, "p", "permute", "a", "p");
	tg_ints(g, "p", "perm", 3, 2, 0, 1, 0);
	tg_node(g, "f", "flatten", "p", "f");
	tg_node(g, "i", "identity", "f", "y");
	tg_out(g, "y");
	static const float w3[] = {1, 3, 5, 7, 9, 11, 2, 4, 6, 8, 10, 12};
	check(g, in, w3, 12, 0, "permute [2,0,1] + flatten + identity");

	static const int64_t s22[] = {1, 1, 2, 2};
	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "a", 4, s22);
	tg_node(g, "up", "upsample_nearest", "a", "y");
	tg_ints(g, "up", "scale", 2, 2, 2, 0, 0);
	tg_out(g, "y");
	static const float w4[] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
	check(g, in, w4, 16, 0, "upsample_nearest scale 2");

	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "a", 4, s22);
	tg_node(g, "up", "upsample_nearest", "a", "y");
	tg_ints(g, "up", "size", 2, 3, 3, 0, 0);
	tg_out(g, "y");
	static const float w5[] = {1, 1, 2, 1, 1, 2, 3, 3, 4};
	check(g, in, w5, 9, 0, "upsample_nearest size 3x3 from 2x2");

	static const int64_t s15[] = {1, 1, 1, 5};
	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "a", 4, s15);
	tg_node(g, "up", "upsample_nearest", "a", "y");
	tg_ints(g, "up", "size", 2, 1, 3, 0, 0);
	tg_out(g, "y");
	static const float w6[] = {1, 2, 4};
	check(g, in, w6, 3, 0, "upsample_nearest size 3 from 5 (torch index rule)");
}

/* Fake quant arithmetic: a qat graph x -> identity -> y with qparams. */
static void test_fake_quant(void)
{
	static const int64_t s[] = {10};
	static const float x[] = {0.25f, 0.75f, -0.25f, 1.25f, -0.75f, 100, -100, INFINITY, NAN, -INFINITY};
	/* zp 3: q = clamp(3 + nearbyint(2x), -128, 127); y = (q - 3) / 2 */
	static const float want[] = {0, 1, 0, 1, -1, 62, -65.5f, -65.5f, -65.5f, -65.5f};
	float got[16];
	struct qdb_err e;
	const float *in[] = {x};
	struct qdb_graph *g = tg_new(QDB_STAGE_QAT);
	tg_in(g, "x", 1, s);
	tg_node(g, "id", "identity", "x", "y");
	tg_q(g, "y", 0.5, 3, QDB_I8, INT64_MIN, INT64_MAX);
	tg_out(g, "y");
	int64_t n = tg_run(g, QDB_SEM_NATIVE, in, got, 16, &e);
	ok(n == 10, "fake quant graph runs");
	for (int i = 0; i < 10 && n == 10; i++) {
		char d[96];
		snprintf(d, sizeof d, "fake quant x=%g (ties to even, zp 3, saturation, non-finite)", x[i]);
		ok_near(got[i], want[i], 0, d);
	}
	/* force float: no fake quant */
	n = tg_run(g, QDB_SEM_FLOAT, in, got, 16, &e);
	ok(n == 10 && got[0] == 0.25f && got[5] == 100, "--stage-mode float skips fake quant");
	qdb_graph_delete(g);

	/* narrow range and uint8 */
	g = tg_new(QDB_STAGE_QAT);
	tg_in(g, "x", 1, s);
	tg_node(g, "id", "identity", "x", "y");
	tg_q(g, "y", 0.5, 0, QDB_I8, -127, 127);
	tg_out(g, "y");
	n = tg_run(g, QDB_SEM_NATIVE, in, got, 16, &e);
	ok(n == 10 && got[6] == -63.5f && got[5] == 63.5f, "qmin -127 narrow range saturates at -63.5");
	qdb_graph_delete(g);
	g = tg_new(QDB_STAGE_QAT);
	tg_in(g, "x", 1, s);
	tg_node(g, "id", "identity", "x", "y");
	tg_q(g, "y", 0.5, 128, QDB_U8, INT64_MIN, INT64_MAX);
	tg_out(g, "y");
	n = tg_run(g, QDB_SEM_NATIVE, in, got, 16, &e);
	ok(n == 10 && got[6] == -64 && got[5] == 63.5f && got[3] == 1,
	   "uint8 zp 128: range -64..63.5, 2.5 -> 2");
	qdb_graph_delete(g);

	/* reciprocal multiply: 0.3 * (1/0.1f) in float is 3.0000000 (rounds to 3);
	 * division would give 2.9999998 and the same; check a case where they
	 * differ: x = 0.35, scale 0.1 -> 3.5 exactly in float -> 4 (even) */
	static const float x2[] = {0.35f, 0.45f, 0.25f};
	static const int64_t s3[] = {3};
	const float *in2[] = {x2};
	g = tg_new(QDB_STAGE_QAT);
	tg_in(g, "x", 1, s3);
	tg_node(g, "id", "identity", "x", "y");
	tg_q(g, "y", 0.1, 0, QDB_I8, INT64_MIN, INT64_MAX);
	tg_out(g, "y");
	n = tg_run(g, QDB_SEM_NATIVE, in2, got, 16, &e);
	/* torch 1.13: fake_quantize_per_tensor_affine([0.35,0.45,0.25], 0.1, 0,
	 * -128, 127) = [0.4, 0.4, 0.2] */
	ok(n == 3 && got[0] == 0.4f && got[1] == 0.4f && got[2] == 0.2f,
	   "scale 0.1 matches torch (0.35 -> 0.4, 0.45 -> 0.4, 0.25 -> 0.2)");
	qdb_graph_delete(g);
}

static void test_per_channel_weights(void)
{
	static const int64_t xs[] = {1, 2, 1, 1}, ws[] = {2, 2, 1, 1};
	static const float x[] = {1, 2};
	static const float w[] = {0.25f, 0.75f, 0.375f, -0.625f};
	static const double sc[] = {0.5, 0.25};
	float got[4];
	struct qdb_err e;
	const float *in[] = {x};
	struct qdb_graph *g = tg_new(QDB_STAGE_QAT);
	tg_in(g, "x", 4, xs);
	tg_const(g, "w", 4, ws, w);
	tg_qc(g, "w", 2, 0, sc, QDB_I8, -127, 127);
	tg_node(g, "conv", "conv2d", "x,w", "y");
	tg_out(g, "y");
	int64_t n = tg_run(g, QDB_SEM_NATIVE, in, got, 4, &e);
	/* ch0 (scale 0.5): 0.25 -> 0, 0.75 -> 1.0; ch1 (0.25): 0.375 -> 0.5,
	 * -0.625 -> -0.5 (ties to even) */
	ok(n == 2 && got[0] == 2.0f && got[1] == -0.5f, "per-channel weight fake quant (ties)");
	if (n == 2)
		tap_diag("  got %g %g", got[0], got[1]);
	n = tg_run(g, QDB_SEM_FLOAT, in, got, 4, &e);
	ok(n == 2 && got[0] == 1.75f && got[1] == -0.875f, "float mode keeps raw weights");

	/* saturation of a weight beyond 127 steps */
	static const float w2[] = {100, 0, 0, 0};
	memcpy(g->constants[0].t.data, w2, sizeof w2);
	n = tg_run(g, QDB_SEM_NATIVE, in, got, 4, &e);
	ok(n == 2 && got[0] == 63.5f, "weight saturates at 127 * scale");
	qdb_graph_delete(g);
}

int main(void)
{
	for (int i = 0; i < 64; i++)
		seq[i] = (float)(i + 1);
	test_conv_basic();
	test_conv_groups();
	conv_random(2, 64, 13, 13, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		    "conv2d random 64ch 3x3 (K > 256, several column chunks)");
	conv_random(1, 6, 9, 11, 9, 3, 3, 3, 2, 2, 1, 0, 2, 1, 2, 2,
		    "conv2d random groups 3, stride 2, asym pad, dilation 2");
	conv_random(1, 20, 10, 10, 7, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, "conv2d random 1x1");
	conv_random(1, 8, 21, 19, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		    "conv2d random 3x3 over two im2col chunks");
	conv_random(1, 4, 41, 40, 3, 3, 3, 1, 2, 2, 0, 1, 2, 0, 1, 1,
		    "conv2d random stride 2 over two chunks, asymmetric padding");
	conv_random(1, 30, 20, 18, 5, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1,
		    "conv2d random 1x1 on 360 pixels (in-place B, edge panel)");
	conv_random(2, 5, 12, 9, 5, 3, 3, 5, 2, 1, 1, 1, 1, 1, 1, 2,
		    "conv2d random depthwise stride 2x1 dilation 1x2");
	conv_random(1, 3, 17, 15, 13, 7, 7, 1, 2, 2, 3, 3, 3, 3, 1, 1, "conv2d random 7x7/2 stem");
	test_isa_paths();
	test_linear();
	test_matmul();
	test_eltwise();
	test_act();
	test_pool();
	test_shape_ops();
	test_fake_quant();
	test_per_channel_weights();
	return tap_done();
}
