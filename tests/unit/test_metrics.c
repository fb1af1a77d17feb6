/* test_metrics.c - comparison metrics against hand-computed values, and the
 * blocked/vectorised path against a naive per-element reference. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/metrics.h"
#include "tap.h"

static struct qdb_err e;

static void view(struct qdb_tensor *t, enum qdb_dtype d, int rank, const int64_t *shape,
		 const void *data)
{
	qdb_tensor_done(t);
	int64_t n = qdb_shape_numel(rank, shape);
	if (qdb_tensor_view(t, d, rank, shape, data, (size_t)n * qdb_dtype_size(d), &e))
		tap_diag("view: %s", e.msg);
}

static void test_hand_values(void)
{
	struct qdb_tensor a, b;
	struct qdb_metrics m;
	qdb_tensor_init(&a);
	qdb_tensor_init(&b);
	int64_t s4[1] = {4};
	float fa[4] = {1, 2, 3, 4}, fb[4] = {2, 2, 3, 2};
	view(&a, QDB_F32, 1, s4, fa);
	view(&b, QDB_F32, 1, s4, fb);
	ok(qdb_metrics_compute(&a, &b, 0.5, 0, &m, &e) == QDB_OK, "compute f32/f32");
	/* sum a^2 = 30, sum b^2 = 21, sum ab = 23, d = {-1, 0, 0, 2} */
	ok_near(m.cosine, 23 / sqrt(30.0 * 21.0), 1e-15, "cosine = 23 / sqrt(630)");
	ok_near(m.max_abs, 2, 0, "max_abs");
	ok_int(m.argmax_worst, 3, "argmax_worst");
	ok_near(m.mean_abs, 0.75, 1e-15, "mean_abs");
	ok_near(m.mse, 1.25, 1e-15, "mse");
	ok_near(m.sqnr_db, 10 * log10(6.0), 1e-12, "sqnr_db = 10 log10(30/5)");
	ok_near(m.rel_l2, sqrt(5.0 / 30.0), 1e-15, "rel_l2");
	ok(isnan(m.max_steps) && !m.b_quantized, "max_steps NaN for unquantized b");
	ok_near(m.mismatch, 0.5, 0, "mismatch with atol 0.5");
	ok_int(m.count, 4, "count");
	ok(m.top1 == -1, "top1 not asked");
	ok(qdb_metrics_compute(&a, &b, 1.0, 0, &m, &e) == QDB_OK && m.mismatch == 0.25,
	   "|d| == atol is not a mismatch");
	ok(qdb_metrics_compute(&a, &b, -1, 0, &m, &e) == QDB_EINVAL, "negative atol refused");

	/* atol exactness just above the threshold */
	double da[2] = {0, 0}, db[2] = {0.5, 0.5000000001};
	int64_t s2[1] = {2};
	view(&a, QDB_F64, 1, s2, da);
	view(&b, QDB_F64, 1, s2, db);
	qdb_metrics_compute(&a, &b, 0.5, 0, &m, &e);
	ok(m.mismatch == 0.5, "atol test is exact");

	/* equal tensors */
	view(&a, QDB_F32, 1, s4, fa);
	view(&b, QDB_F32, 1, s4, fa);
	qdb_metrics_compute(&a, &b, 0, 0, &m, &e);
	ok(m.cosine == 1 && m.max_abs == 0 && m.mse == 0 && m.rel_l2 == 0 && m.mismatch == 0,
	   "equal: cosine 1, errors 0");
	ok(isinf(m.sqnr_db) && m.sqnr_db > 0, "equal: sqnr_db = +inf");
	ok_int(m.argmax_worst, 0, "equal: worst is the first element");

	/* both zero, one zero */
	float z[4] = {0, 0, 0, 0}, nz[4] = {0, 3, 0, -4};
	view(&a, QDB_F32, 1, s4, z);
	view(&b, QDB_F32, 1, s4, z);
	qdb_metrics_compute(&a, &b, 0, 0, &m, &e);
	ok(m.cosine == 1 && isinf(m.sqnr_db) && m.rel_l2 == 0, "both zero: cosine 1, sqnr inf");
	view(&b, QDB_F32, 1, s4, nz);
	qdb_metrics_compute(&a, &b, 0, 0, &m, &e);
	ok(m.cosine == 0, "reference zero: cosine 0");
	ok(isinf(m.sqnr_db) && m.sqnr_db < 0 && isinf(m.rel_l2), "reference zero: sqnr -inf, rel_l2 inf");
	ok_near(m.max_abs, 4, 0, "reference zero: max_abs");
	view(&a, QDB_F32, 1, s4, nz);
	view(&b, QDB_F32, 1, s4, z);
	qdb_metrics_compute(&a, &b, 0, 0, &m, &e);
	ok(m.cosine == 0 && m.sqnr_db == 0 && m.rel_l2 == 1, "candidate zero: cosine 0, 0 dB, rel_l2 1");
	float neg[4] = {0, -3, 0, 4};
	view(&b, QDB_F32, 1, s4, neg);
	qdb_metrics_compute(&a, &b, 0, 0, &m, &e);
	ok(m.cosine == -1, "opposite: cosine -1");

	/* empty */
	int64_t s0[1] = {0};
	view(&a, QDB_F32, 1, s0, NULL);
	view(&b, QDB_F32, 1, s0, NULL);
	ok(qdb_metrics_compute(&a, &b, 0, 1, &m, &e) == QDB_OK, "empty tensors");
	ok(m.count == 0 && m.cosine == 1 && isinf(m.sqnr_db) && m.max_abs == 0 &&
	   m.argmax_worst == -1 && m.top1 == -1, "empty reads as equal");

	/* shape mismatch */
	int64_t s3[1] = {3};
	view(&a, QDB_F32, 1, s4, fa);
	view(&b, QDB_F32, 1, s3, fb);
	ok(qdb_metrics_compute(&a, &b, 0, 0, &m, &e) == QDB_ESHAPE, "numel mismatch refused");
	ok(strcmp(e.msg, "metrics: shapes 4 and 3 differ") == 0, "shape message");
	int64_t s22[2] = {2, 2};
	view(&b, QDB_F32, 2, s22, fb);
	ok(qdb_metrics_compute(&a, &b, 0, 0, &m, &e) == QDB_OK, "same numel, other shape accepted");
	qdb_tensor_done(&a);
	qdb_tensor_done(&b);
}

static void test_nonfinite(void)
{
	struct qdb_tensor a, b;
	struct qdb_metrics m;
	struct qdb_threshold th = {QDB_M_COSINE, 1, 0.5};
	qdb_tensor_init(&a);
	qdb_tensor_init(&b);
	float fa[5] = {1, NAN, 3, INFINITY, 5}, fb[5] = {1, NAN, INFINITY, INFINITY, 6};
	int64_t s5[1] = {5};
	view(&a, QDB_F32, 1, s5, fa);
	view(&b, QDB_F32, 1, s5, fb);
	ok(qdb_metrics_compute(&a, &b, 0, 0, &m, &e) == QDB_OK, "compute with NaN/Inf");
	ok(m.nan_a == 1 && m.inf_a == 1 && m.nan_b == 1 && m.inf_b == 2, "NaN/Inf counted per side");
	ok_int(m.nonfinite_diff, 1, "one pair differs in finiteness");
	ok_int(m.count, 2, "only finite pairs compared");
	ok(m.max_abs == 1 && m.argmax_worst == 4 && m.mse == 0.5, "metrics over finite pairs");
	ok(qdb_threshold_crossed(&th, &m), "non-finite difference crosses any threshold");

	float fc[5] = {1, NAN, 3, -INFINITY, 5}, fd[5] = {1, NAN, 3, -INFINITY, 5};
	view(&a, QDB_F32, 1, s5, fc);
	view(&b, QDB_F32, 1, s5, fd);
	qdb_metrics_compute(&a, &b, 0, 0, &m, &e);
	ok(m.nonfinite_diff == 0 && m.nan_a == 1 && m.inf_b == 1 && m.count == 3 && m.cosine == 1,
	   "same NaN/Inf on both sides: counted, not a difference");
	ok(!qdb_threshold_crossed(&th, &m), "same non-finite values do not cross");
	fd[3] = INFINITY;
	qdb_metrics_compute(&a, &b, 0, 0, &m, &e);
	ok_int(m.nonfinite_diff, 1, "-inf vs +inf differs");

	/* NaN in the second block of a long tensor: the clean blocks keep the fast path. */
	enum { N = 3000 };
	static float la[N], lb[N];
	double saa = 0, sdd = 0;
	for (int i = 0; i < N; i++) {
		la[i] = (float)(i % 17) - 8;
		lb[i] = la[i] + (i % 5 == 0 ? 0.5f : 0);
		if (i != 2500) {
			saa += (double)la[i] * la[i];
			sdd += (double)(la[i] - lb[i]) * (la[i] - lb[i]);
		}
	}
	lb[2500] = NAN;
	int64_t sn[1] = {N};
	view(&a, QDB_F32, 1, sn, la);
	view(&b, QDB_F32, 1, sn, lb);
	qdb_metrics_compute(&a, &b, 0, 0, &m, &e);
	ok(m.count == N - 1 && m.nan_b == 1 && m.nonfinite_diff == 1, "NaN in a later block");
	ok_near(m.sqnr_db, 10 * log10(saa / sdd), 1e-9, "sqnr over the other elements");
	ok_int(m.argmax_worst, 0, "first worst element");
	qdb_tensor_done(&a);
	qdb_tensor_done(&b);
}

static void test_quantized(void)
{
	struct qdb_tensor a, b;
	struct qdb_metrics m;
	qdb_tensor_init(&a);
	qdb_tensor_init(&b);

	/* Per-channel b along axis 1 of NCHW [2,2,1,2]: channel of i = (i/2) % 2,
	 * scales 0.5 (c0) and 0.1 (c1); b is all zero, so |d| = |a|. */
	int64_t nchw[4] = {2, 2, 1, 2};
	double fa[8] = {0.5, -1.0, 0.25, 0, 0, 0, 0.3, -0.05};
	int8_t qb[8] = {0};
	double sc[2] = {0.5, 0.1};
	int64_t zp[2] = {0, 0};
	view(&a, QDB_F64, 4, nchw, fa);
	view(&b, QDB_I8, 4, nchw, qb);
	qdb_quant_set_channels(&b.q, 2, 1, sc, zp, 0, -1, &e);
	ok(qdb_metrics_compute(&a, &b, 0, 0, &m, &e) == QDB_OK, "per-channel candidate");
	/* c0: |d| = 0.5, 1.0, 0, 0 -> 2 steps; c1: 0.25, 0, 0.3, 0.05 -> 3 steps */
	ok_near(m.max_steps, 3, 1e-12, "max_steps per channel: 0.3 / 0.1");
	ok_near(m.max_abs, 1.0, 0, "max_abs is 1.0 in channel 0");
	ok_int(m.argmax_worst, 1, "worst element");
	/* > 1 LSB: 1.0 (c0), 0.25 and 0.3 (c1); 0.5 in c0 is exactly 1 LSB */
	ok_near(m.mismatch, 3.0 / 8, 0, "mismatch per channel");
	ok(m.b_quantized, "b quantized");

	/* u8 with zero points: a = (q - 128) * 0.5, b = (q - 120) * 0.5 */
	uint8_t ua[3] = {128, 130, 0}, ub[3] = {120, 123, 0};
	int64_t s3[1] = {3};
	view(&a, QDB_U8, 1, s3, ua);
	view(&b, QDB_U8, 1, s3, ub);
	qdb_quant_set(&a.q, 0.5, 128, 0, -1, &e);
	qdb_quant_set(&b.q, 0.5, 120, 0, -1, &e);
	ok(qdb_metrics_compute(&a, &b, 0, 0, &m, &e) == QDB_OK, "u8/u8 with zero points");
	/* reals a = {0, 1, -64}, b = {0, 1.5, -60}: d = {0, -0.5, -4} */
	ok_near(m.max_abs, 4, 0, "u8 max_abs");
	ok_near(m.max_steps, 8, 0, "u8 max_steps = 4 / 0.5");
	ok_near(m.mismatch, 1.0 / 3, 1e-15, "u8 mismatch: 0.5 is 1 LSB, 4 is not");
	ok_near(m.mean_abs, 4.5 / 3, 1e-15, "u8 mean_abs");
	ok_near(m.sat_a, 1.0 / 3, 1e-15, "u8 saturation of a (q = 0)");
	ok_near(m.sat_b, 1.0 / 3, 1e-15, "u8 saturation of b");

	/* Mismatch exactness with a scale that is not a binary fraction:
	 * (11 - 10) * 0.1 computed in double is 0.10000000000000009 > 0.1. */
	int8_t qa[4] = {10, 20, -5, 100}, qc[4] = {11, 18, -5, 99};
	int64_t s4[1] = {4};
	view(&a, QDB_I8, 1, s4, qa);
	view(&b, QDB_I8, 1, s4, qc);
	qdb_quant_set(&a.q, 0.1, 0, 0, -1, &e);
	qdb_quant_set(&b.q, 0.1, 0, 0, -1, &e);
	qdb_metrics_compute(&a, &b, 0, 0, &m, &e);
	ok(m.mismatch == 0.25, "one step apart is not a mismatch, two steps are");
	ok_near(m.max_steps, 2, 1e-12, "max_steps of i8/i8");
	double justover[1] = {0.1 + 1e-9};
	int8_t zero1[1] = {0};
	int64_t s1[1] = {1};
	view(&a, QDB_F64, 1, s1, justover);
	view(&b, QDB_I8, 1, s1, zero1);
	qdb_quant_set(&b.q, 0.1, 0, 0, -1, &e);
	qdb_metrics_compute(&a, &b, 0, 0, &m, &e);
	ok(m.mismatch == 1, "1e-8 LSB above one step is a mismatch");

	/* f32 with params: LSB from its scale, values not dequantized */
	float ff[2] = {0.75f, 1.0f}, fg[2] = {0.5f, 1.0f};
	int64_t s2[1] = {2};
	view(&a, QDB_F32, 1, s2, ff);
	view(&b, QDB_F32, 1, s2, fg);
	qdb_quant_set(&b.q, 0.125, 0, 0, -1, &e);
	qdb_metrics_compute(&a, &b, 0, 0, &m, &e);
	ok_near(m.max_steps, 2, 0, "fake-quant float candidate: steps from its scale");
	ok(m.sat_b == 0, "floats never saturate");

	/* invalid params are refused */
	view(&a, QDB_I8, 4, nchw, qb);
	view(&b, QDB_I8, 4, nchw, qb);
	qdb_quant_set_channels(&b.q, 2, 1, sc, zp, 0, -1, &e);
	b.q.axis = 5;
	ok(qdb_metrics_compute(&a, &b, 0, 0, &m, &e) == QDB_EFORMAT, "axis out of range refused");
	ok(strcmp(e.msg, "candidate: axis 5 out of range for rank 4") == 0, "axis message");
	b.q.axis = 2; /* dimension 1 */
	ok(qdb_metrics_compute(&a, &b, 0, 0, &m, &e) == QDB_EFORMAT, "n != dim refused");
	qdb_quant_set(&a.q, NAN, 0, 0, -1, &e);
	ok(qdb_metrics_compute(&a, &b, 0, 0, &m, &e) == QDB_EFORMAT && strncmp(e.msg, "reference:", 10) == 0,
	   "NaN scale of the reference refused");
	qdb_tensor_done(&a);
	qdb_tensor_done(&b);
}

static void test_top1(void)
{
	struct qdb_tensor a, b;
	struct qdb_metrics m;
	qdb_tensor_init(&a);
	qdb_tensor_init(&b);
	int64_t nc[2] = {3, 4};
	float fa[12] = {0, 1, 5, 2, 9, 1, 1, 1, -3, -2, -4, -1};
	float fb[12] = {1, 2, 7, 3, 4, 0, 1, 2, -9, -8, -7, -6};
	view(&a, QDB_F32, 2, nc, fa);
	view(&b, QDB_F32, 2, nc, fb);
	qdb_metrics_compute(&a, &b, 0, 1, &m, &e);
	ok_int(m.top1, 1, "top1 agrees on [3,4] (argmax 2, 0, 3)");
	fb[1] = 8;
	qdb_metrics_compute(&a, &b, 0, 1, &m, &e);
	ok_int(m.top1, 0, "top1 disagrees in row 0");
	fb[1] = 2;
	fb[4] = 2; /* row 1 of b: {2, 0, 1, 2}: the first maximum (0) wins */
	qdb_metrics_compute(&a, &b, 0, 1, &m, &e);
	ok_int(m.top1, 1, "ties: first maximum");
	qdb_metrics_compute(&a, &b, 0, 0, &m, &e);
	ok_int(m.top1, -1, "top1 only when asked");
	int64_t other[2] = {2, 6};
	view(&b, QDB_F32, 2, other, fb);
	qdb_metrics_compute(&a, &b, 0, 1, &m, &e);
	ok_int(m.top1, -1, "top1 not computed when the last axes differ");

	/* Rows longer than a block: [2, 1500] */
	enum { C = 1500 };
	static int8_t qa[2 * C], qb[2 * C];
	for (int i = 0; i < 2 * C; i++) {
		qa[i] = (int8_t)(i % 50);
		qb[i] = (int8_t)(i % 60);
	}
	qa[1200] = 100; /* row 0 argmax in the second block */
	qb[1200] = 90;
	qa[C + 10] = 120;
	qb[C + 10] = 110;
	int64_t s2[2] = {2, C};
	view(&a, QDB_I8, 2, s2, qa);
	view(&b, QDB_I8, 2, s2, qb);
	qdb_quant_set(&a.q, 0.5, 0, 0, -1, &e);
	qdb_quant_set(&b.q, 0.25, -3, 0, -1, &e);
	qdb_metrics_compute(&a, &b, 0, 1, &m, &e);
	ok_int(m.top1, 1, "top1 with rows spanning blocks");
	qb[C + 11] = 111;
	qdb_metrics_compute(&a, &b, 0, 1, &m, &e);
	ok_int(m.top1, 0, "top1 disagreement in the second row");
	qdb_tensor_done(&a);
	qdb_tensor_done(&b);
}

/* Naive per-element reference of the sums, straight from DESIGN.md. */
static void reference(const struct qdb_tensor *a, const struct qdb_tensor *b, double atol,
		      struct qdb_metrics *r)
{
	int64_t n = qdb_tensor_numel(a);
	double saa = 0, sbb = 0, sab = 0, sdd = 0, sad = 0, dmax = 0, smax = 0;
	int64_t mism = 0, worst = -1;
	for (int64_t i = 0; i < n; i++) {
		double x = qdb_tensor_get_real(a, i), y = qdb_tensor_get_real(b, i), d = fabs(x - y);
		double lsb = b->q.n ? b->q.scale[qdb_tensor_channel_of(b, i)] : atol;
		saa += x * x;
		sbb += y * y;
		sab += x * y;
		sdd += d * d;
		sad += d;
		if (worst < 0 || d > dmax) {
			dmax = d;
			worst = i;
		}
		if (b->q.n && d / lsb > smax)
			smax = d / lsb;
		mism += d > lsb * (1 + 1e-12);
	}
	r->cosine = sab / sqrt(saa * sbb);
	r->max_abs = dmax;
	r->mean_abs = sad / n;
	r->mse = sdd / n;
	r->sqnr_db = 10 * log10(saa / sdd);
	r->rel_l2 = sqrt(sdd / saa);
	r->max_steps = b->q.n ? smax : NAN;
	r->mismatch = (double)mism / n;
	r->argmax_worst = worst;
}

static void fill(struct qdb_tensor *t, enum qdb_dtype d, unsigned seed)
{
	size_t sz = qdb_dtype_size(d);
	int64_t n = qdb_tensor_numel(t);
	unsigned char *p = t->data;
	for (int64_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		int v = (int)((seed >> 16) % 255) - 127;
		float f = (float)v / 16;
		double g = f;
		switch (d) {
		case QDB_F32: memcpy(p + i * sz, &f, 4); break;
		case QDB_F64: memcpy(p + i * sz, &g, 8); break;
		case QDB_I8: p[i] = (unsigned char)(int8_t)v; break;
		case QDB_U8: p[i] = (unsigned char)(v + 127); break;
		default: { int16_t h = (int16_t)(v * 200); memcpy(p + i * sz, &h, 2); }
		}
	}
}

static void test_against_reference(void)
{
	static const struct {
		enum qdb_dtype a, b;
		int per_channel;
		const char *what;
	} cases[] = {
		{QDB_F32, QDB_F32, 0, "f32/f32"},  {QDB_I8, QDB_I8, 0, "i8/i8"},
		{QDB_U8, QDB_U8, 0, "u8/u8"},      {QDB_I16, QDB_I16, 0, "i16/i16"},
		{QDB_I8, QDB_F32, 0, "i8/f32"},    {QDB_F32, QDB_I8, 0, "f32/i8"},
		{QDB_F32, QDB_I8, 1, "f32/i8 per channel"},
		{QDB_I8, QDB_I8, 1, "i8/i8 per channel"},
		{QDB_F64, QDB_U8, 1, "f64/u8 per channel"},
	};
	/* [3, 5, 7, 41] = 4305 elements: several blocks and a ragged tail;
	 * data at odd addresses to exercise unaligned loads. */
	int64_t shape[4] = {3, 5, 7, 41};
	int64_t n = qdb_shape_numel(4, shape);
	unsigned char *ba = malloc((size_t)n * 8 + 1), *bb = malloc((size_t)n * 8 + 1);
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct qdb_tensor a, b, ta, tb;
		struct qdb_metrics m, r;
		qdb_tensor_init(&a);
		qdb_tensor_init(&b);
		qdb_tensor_init(&ta);
		qdb_tensor_init(&tb);
		qdb_tensor_alloc(&ta, cases[k].a, 4, shape, &e);
		qdb_tensor_alloc(&tb, cases[k].b, 4, shape, &e);
		fill(&ta, cases[k].a, 7);
		fill(&tb, cases[k].b, 8 + (unsigned)k);
		memcpy(ba + 1, ta.data, ta.nbytes);
		memcpy(bb + 1, tb.data, tb.nbytes);
		view(&a, cases[k].a, 4, shape, ba + 1);
		view(&b, cases[k].b, 4, shape, bb + 1);
		if (qdb_dtype_is_int(cases[k].a))
			qdb_quant_set(&a.q, 1.0 / 16, 2, 0, -1, &e);
		if (qdb_dtype_is_int(cases[k].b)) {
			if (cases[k].per_channel) {
				double sc[5] = {0.05, 1.0 / 16, 0.3, 0.01, 0.125};
				int64_t zp[5] = {0, 1, -2, 3, 0};
				if (cases[k].b == QDB_U8)
					for (int c = 0; c < 5; c++)
						zp[c] += 128;
				qdb_quant_set_channels(&b.q, 5, 1, sc, zp, 0, -1, &e);
			} else {
				qdb_quant_set(&b.q, 1.0 / 16, cases[k].b == QDB_U8 ? 127 : 0, 0, -1, &e);
			}
		}
		int rc = qdb_metrics_compute(&a, &b, 0.1, 0, &m, &e);
		reference(&a, &b, 0.1, &r);
		int good = rc == QDB_OK && m.count == n &&
			   fabs(m.cosine - r.cosine) < 1e-12 && m.max_abs == r.max_abs &&
			   fabs(m.mean_abs - r.mean_abs) <= 1e-12 * r.mean_abs &&
			   fabs(m.mse - r.mse) <= 1e-12 * r.mse &&
			   fabs(m.sqnr_db - r.sqnr_db) < 1e-9 &&
			   fabs(m.rel_l2 - r.rel_l2) <= 1e-12 * r.rel_l2 &&
			   ((isnan(m.max_steps) && isnan(r.max_steps)) || m.max_steps == r.max_steps) &&
			   m.mismatch == r.mismatch && m.argmax_worst == r.argmax_worst;
		ok(good, "%s matches the naive reference", cases[k].what);
		if (!good)
			tap_diag("rc %d cos %.17g/%.17g max %g/%g steps %g/%g mism %g/%g worst %lld/%lld",
				 rc, m.cosine, r.cosine, m.max_abs, r.max_abs, m.max_steps,
				 r.max_steps, m.mismatch, r.mismatch, (long long)m.argmax_worst,
				 (long long)r.argmax_worst);
		qdb_tensor_done(&a);
		qdb_tensor_done(&b);
		qdb_tensor_done(&ta);
		qdb_tensor_done(&tb);
	}
	free(ba);
	free(bb);
}

static void test_names_thresholds(void)
{
	enum qdb_metric_id id;
	int names_ok = 1;
	for (int i = 0; i < QDB_M_COUNT; i++)
		names_ok &= qdb_metric_parse(qdb_metric_name((enum qdb_metric_id)i), &id) == 0 &&
			    id == (enum qdb_metric_id)i;
	ok(names_ok, "every metric name parses back");
	ok(strcmp(qdb_metric_name(QDB_M_SQNR_DB), "sqnr_db") == 0, "sqnr_db name");
	ok(qdb_metric_parse("cos", &id) == -1, "unknown metric name");
	ok(qdb_metric_name(QDB_M_COUNT) == NULL, "name out of range");
	ok(qdb_metric_higher_is_better(QDB_M_COSINE) && qdb_metric_higher_is_better(QDB_M_SQNR_DB) &&
	   qdb_metric_higher_is_better(QDB_M_TOP1) && !qdb_metric_higher_is_better(QDB_M_MSE) &&
	   !qdb_metric_higher_is_better(QDB_M_MAX_STEPS), "higher is better");

	struct qdb_threshold t;
	ok(qdb_threshold_parse("cosine<0.99", &t, &e) == QDB_OK && t.metric == QDB_M_COSINE &&
	   t.less && t.value == 0.99, "parse cosine<0.99");
	ok(qdb_threshold_parse("max_steps>2", &t, &e) == QDB_OK && t.metric == QDB_M_MAX_STEPS &&
	   !t.less && t.value == 2, "parse max_steps>2");
	ok(qdb_threshold_parse(" sqnr_db < 20 ", &t, &e) == QDB_OK && t.metric == QDB_M_SQNR_DB &&
	   t.less && t.value == 20, "parse sqnr_db < 20 with blanks");
	ok(qdb_threshold_parse("mismatch>1e-3", &t, &e) == QDB_OK && t.value == 1e-3, "exponent");
	ok(qdb_threshold_parse("cos<0.9", &t, &e) == QDB_EINVAL && strstr(e.msg, "unknown metric 'cos'"),
	   "unknown metric refused");
	ok(qdb_threshold_parse("cosine<=0.9", &t, &e) == QDB_EINVAL, "<= refused");
	ok(qdb_threshold_parse("cosine<0.9x", &t, &e) == QDB_EINVAL && strstr(e.msg, "bad number"),
	   "trailing junk refused");
	ok(qdb_threshold_parse("cosine<", &t, &e) == QDB_EINVAL, "missing number refused");
	ok(qdb_threshold_parse("cosine", &t, &e) == QDB_EINVAL, "missing operator refused");
	ok(qdb_threshold_parse("<0.5", &t, &e) == QDB_EINVAL, "missing metric refused");
	ok(qdb_threshold_parse("cosine<nan", &t, &e) == QDB_EINVAL, "NaN threshold refused");

	struct qdb_metrics m;
	memset(&m, 0, sizeof m);
	m.top1 = -1;
	m.cosine = 0.98;
	m.max_steps = NAN;
	qdb_threshold_parse("cosine<0.99", &t, &e);
	ok(qdb_threshold_crossed(&t, &m), "0.98 crosses cosine<0.99");
	m.cosine = 0.99;
	ok(!qdb_threshold_crossed(&t, &m), "0.99 does not cross cosine<0.99");
	m.cosine = NAN;
	ok(qdb_threshold_crossed(&t, &m), "NaN crosses");
	qdb_threshold_parse("max_steps>2", &t, &e);
	ok(!qdb_threshold_crossed(&t, &m), "max_steps of unquantized b never crosses");
	m.b_quantized = 1;
	m.max_steps = 2.5;
	ok(qdb_threshold_crossed(&t, &m), "2.5 crosses max_steps>2");
	qdb_threshold_parse("top1<1", &t, &e);
	ok(!qdb_threshold_crossed(&t, &m), "top1 not computed never crosses");
	m.top1 = 0;
	ok(qdb_threshold_crossed(&t, &m), "top1 0 crosses top1<1");
	ok(qdb_metric_value(&m, QDB_M_TOP1) == 0 && qdb_metric_value(&m, QDB_M_MAX_STEPS) == 2.5,
	   "metric_value");
}

int main(void)
{
	test_hand_values();
	test_nonfinite();
	test_quantized();
	test_top1();
	test_against_reference();
	test_names_thresholds();
	return tap_done();
}
