/* test_compare.c - the comparison engine (src/analysis/compare.c) on traces
 * written here: alignment of layers and samples, the cell cache, threaded
 * fill against serial cells, aggregation (mean, worst, worst sample), the
 * divergence rules, and page release giving the same numbers. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/compare.h"
#include "io/trace.h"
#include "tap.h"

static char dir[] = "/tmp/qdb-test-compare.XXXXXX";

/* Layer i of sample s in A: a deterministic pattern. */
static float val(int layer, int s, int k)
{
	return (float)sin(0.37 * k + 1.3 * layer + 0.71 * s) + 0.25f * (float)layer;
}

struct spec {
	const char *name;
	int n;                  /* elements */
	double perturb[4];      /* relative noise per sample (B only) */
	int nan_sample;         /* B: sample with a NaN at element 1, or -1 */
	int numel_sample;       /* B: sample with one element fewer, or -1 */
	int missing_sample;     /* B: sample without this record, or -1 */
	int quant;              /* B: int8 with scale 0.05 */
};

static int write_trace(const char *path, const char *stage, const struct spec *sp, int n_layers,
		       const int *samples, int n_samples, int is_b)
{
	const char *names[16], *ops[16];
	struct qdb_trace_header h = {stage, "unit", "test_compare", n_layers, names, ops, NULL};
	struct qdb_trace_writer *w;
	struct qdb_err err;
	for (int i = 0; i < n_layers; i++) {
		names[i] = sp[i].name;
		ops[i] = "op";
	}
	if (qdb_trace_writer_open(path, &h, 0, &w, &err)) {
		tap_diag("%s", err.msg);
		return -1;
	}
	for (int si = 0; si < n_samples; si++) {
		int s = samples[si];
		struct qdb_sample_id id = {0, s, NULL};
		for (int l = 0; l < n_layers; l++) {
			const struct spec *p = &sp[l];
			if (is_b && p->missing_sample == s)
				continue;
			int n = p->n - (is_b && p->numel_sample == s);
			float f[64];
			int8_t q[64];
			for (int k = 0; k < n; k++) {
				f[k] = val(l, s, k);
				if (is_b && s < 4)
					f[k] += (float)(p->perturb[s] * cos(3.1 * k + s));
			}
			if (is_b && p->nan_sample == s)
				f[1] = NAN;
			struct qdb_tensor t;
			int64_t shape[1] = {n};
			qdb_tensor_init(&t);
			int rc;
			if (is_b && p->quant) {
				for (int k = 0; k < n; k++)
					q[k] = (int8_t)lrint(f[k] / 0.05);
				rc = qdb_tensor_view(&t, QDB_I8, 1, shape, q, (size_t)n, &err) ||
				     qdb_quant_set(&t.q, 0.05, 0, 1, 0, &err);
			} else {
				rc = qdb_tensor_view(&t, QDB_F32, 1, shape, f, (size_t)n * 4, &err);
			}
			if (!rc)
				rc = qdb_trace_writer_add(w, &id, p->name, &t, &err);
			qdb_tensor_done(&t);
			if (rc) {
				tap_diag("%s", err.msg);
				qdb_trace_writer_abort(w);
				return -1;
			}
		}
	}
	return qdb_trace_writer_commit(w, &err) ? -1 : 0;
}

static int open2(const char *pa, const char *pb, struct qdb_trace **a, struct qdb_trace **b)
{
	struct qdb_err err;
	if (qdb_trace_open(pa, a, &err) || qdb_trace_open(pb, b, &err)) {
		tap_diag("%s", err.msg);
		return -1;
	}
	return 0;
}

static int pair_of(struct qdb_compare *c, struct qdb_trace *a, const char *name)
{
	const struct qdb_align *al = qdb_compare_align(c);
	for (int i = 0; i < al->n_pairs; i++)
		if (!strcmp(qdb_trace_layer(a, al->pairs[i].a)->name, name))
			return i;
	return -1;
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char pa[256], pb[256], pc[256];
	snprintf(pa, sizeof pa, "%s/a.qtr", dir);
	snprintf(pb, sizeof pb, "%s/b.qtr", dir);
	snprintf(pc, sizeof pc, "%s/c.qtr", dir);

	/* A: input, conv, act, head, only_a. B: the same minus only_a, plus
	 * only_b; samples A 0..3, B 0..3 and 9. */
	const struct spec sa[] = {
		{"input", 16, {0}, -1, -1, -1, 0},
		{"conv", 32, {0}, -1, -1, -1, 0},
		{"act", 32, {0}, -1, -1, -1, 0},
		{"head", 8, {0}, -1, -1, -1, 0},
		{"only_a", 4, {0}, -1, -1, -1, 0},
	};
	const struct spec sb[] = {
		{"input", 16, {0}, -1, -1, -1, 0},
		{"conv", 32, {0.001, 0.001, 0.8, 0.001}, -1, -1, -1, 0},
		{"act", 32, {0.02, 0.02, 0.02, 0.02}, -1, 3, 1, 1},
		{"head", 8, {0}, 2, -1, -1, 0},
		{"only_b", 4, {0}, -1, -1, -1, 0},
	};
	const int samp_a[] = {0, 1, 2, 3}, samp_b[] = {0, 1, 2, 3, 9};
	ok(!write_trace(pa, "qat.pt", sa, 5, samp_a, 4, 0), "write A");
	ok(!write_trace(pb, "quantized.bc", sb, 5, samp_b, 5, 1), "write B");

	struct qdb_trace *ta = NULL, *tb = NULL;
	struct qdb_compare *c = NULL, *c1 = NULL, *c2 = NULL;
	struct qdb_err err;
	if (open2(pa, pb, &ta, &tb))
		return tap_done() | 1;

	struct qdb_compare_opts o;
	qdb_compare_opts_init(&o);
	ok(o.threshold.metric == QDB_M_COSINE && o.threshold.less && o.threshold.value == 0.99,
	   "default threshold cosine<0.99");
	ok(!qdb_compare_new(ta, tb, &o, &c, &err), "compare_new");
	ok_int(qdb_compare_n_pairs(c), 4, "four aligned layers");
	ok_int(qdb_compare_align(c)->n_only_a, 1, "one layer only in A");
	ok_int(qdb_compare_align(c)->n_only_b, 1, "one layer only in B");
	ok_int(qdb_compare_n_samples(c), 4, "four shared samples (9 is B's only)");
	ok_int(qdb_compare_find_sample(c, "2"), 2, "find sample '2'");
	ok_int(qdb_compare_find_sample(c, "9"), -1, "sample 9 is not shared");
	int p_in = pair_of(c, ta, "input"), p_conv = pair_of(c, ta, "conv");
	int p_act = pair_of(c, ta, "act"), p_head = pair_of(c, ta, "head");
	ok(p_in == 0 && p_conv == 1 && p_act == 2 && p_head == 3, "pairs in A's order");

	/* cache */
	const struct qdb_compare_cell *cell, *again;
	ok(qdb_compare_peek(c, p_conv, 2) == NULL, "peek before computing: NULL");
	ok(!qdb_compare_cell(c, p_conv, 2, &cell, &err) && cell && cell->state == QDB_CELL_OK,
	   "cell conv/2 computed");
	ok(cell->diverged && cell->m.cosine < 0.99, "conv/2 diverges (cosine %.4f)", cell->m.cosine);
	ok(qdb_compare_peek(c, p_conv, 2) == cell, "peek after: the cached cell");
	ok(!qdb_compare_cell(c, p_conv, 2, &again, &err) && again == cell, "second request: same cell");
	ok(qdb_compare_cell(c, 99, 0, &again, &err) == QDB_EINVAL, "bad pair index: EINVAL");
	ok(qdb_compare_cell(c, 0, 4, &again, &err) == QDB_EINVAL, "bad sample index: EINVAL");

	/* identical layer */
	ok(!qdb_compare_cell(c, p_in, 0, &cell, &err), "cell input/0");
	ok(cell->state == QDB_CELL_OK && !cell->diverged && cell->m.max_abs == 0 &&
	   isinf(cell->m.sqnr_db) && (cell->flags & QDB_CF_BFLOAT), "identical float layer");
	ok(!qdb_compare_metric_applies(cell->flags, &cell->m, QDB_M_MAX_STEPS),
	   "max_steps does not apply to a float B");

	/* quantized B, missing record, element counts */
	ok(!qdb_compare_cell(c, p_act, 0, &cell, &err) && cell->state == QDB_CELL_OK &&
	   cell->m.b_quantized && !(cell->flags & QDB_CF_BFLOAT), "act/0: B int8");
	ok(qdb_compare_metric_applies(cell->flags, &cell->m, QDB_M_MAX_STEPS) &&
	   cell->m.max_steps > 0 && cell->m.max_steps < 2, "act/0: max_steps %.3f applies",
	   cell->m.max_steps);
	ok(!qdb_compare_cell(c, p_act, 1, &cell, &err) && cell->state == QDB_CELL_MISSING &&
	   (cell->flags & QDB_CF_MISSING) && !cell->diverged, "act/1: missing, flagged, not judged");
	ok(!qdb_compare_cell(c, p_act, 3, &cell, &err) && cell->state == QDB_CELL_NUMEL &&
	   (cell->flags & QDB_CF_NUMEL) && cell->diverged, "act/3: element counts differ, divergent");

	/* NaN on one side */
	ok(!qdb_compare_cell(c, p_head, 2, &cell, &err) && cell->state == QDB_CELL_OK &&
	   (cell->flags & QDB_CF_NAN) && cell->diverged && cell->m.nan_b == 1,
	   "head/2: NaN in B flagged and divergent");
	ok(!qdb_compare_cell(c, p_head, 1, &cell, &err) && !cell->diverged &&
	   !(cell->flags & QDB_CF_NAN), "head/1: clean");

	/* aggregation */
	struct qdb_compare_row r;
	ok(!qdb_compare_row(c, p_conv, NULL, -1, &r, &err), "row conv");
	ok_int(r.n_samples, 4, "row conv: 4 samples");
	ok_int(r.n_ok, 4, "row conv: 4 cells with metrics");
	ok_int(r.n_diverged, 1, "row conv: one divergent sample");
	ok_int(r.first_diverged_sample, 2, "row conv: first divergent sample 2");
	ok_int(r.agg[QDB_M_COSINE].worst_sample, 2, "row conv: worst cosine at sample 2");
	ok_int(r.agg[QDB_M_MAX_ABS].worst_sample, 2, "row conv: worst max_abs at sample 2");
	double sum = 0, worst = 2;
	for (int s = 0; s < 4; s++) {
		qdb_compare_cell(c, p_conv, s, &cell, &err);
		sum += cell->m.cosine;
		worst = fmin(worst, cell->m.cosine);
	}
	ok_near(r.agg[QDB_M_COSINE].mean, sum / 4, 1e-15, "row conv: mean cosine");
	ok_near(r.agg[QDB_M_COSINE].worst, worst, 0, "row conv: worst cosine is the minimum");
	ok_int(r.agg[QDB_M_MAX_STEPS].n, 0, "row conv: max_steps n/a on float B");
	ok(r.flags & QDB_CF_BFLOAT, "row conv: BFLOAT when every cell is float");
	ok_int(r.agg[QDB_M_TOP1].n, 0, "row conv: top1 not computed (not the last layer)");

	int one = 1;
	ok(!qdb_compare_row(c, p_conv, &one, 1, &r, &err) && r.n_diverged == 0 &&
	   r.agg[QDB_M_COSINE].worst_sample == 1, "row conv over sample 1 only: holds");

	ok(!qdb_compare_row(c, p_act, NULL, -1, &r, &err), "row act");
	ok(r.n_missing == 1 && r.n_numel == 1 && r.n_ok == 2 && r.n_diverged == 1 &&
	   (r.flags & (QDB_CF_MISSING | QDB_CF_NUMEL)) == (QDB_CF_MISSING | QDB_CF_NUMEL),
	   "row act: missing and numel counted and flagged");
	ok(!qdb_compare_row(c, p_head, NULL, -1, &r, &err) && r.nan_b == 1 && r.n_diverged == 1 &&
	   (r.flags & QDB_CF_NAN), "row head: NaN total and divergence");

	ok_int(qdb_compare_first_divergent(c, NULL, -1, &err), p_conv, "first divergent: conv");
	int s0 = 0, s3 = 3;
	ok_int(qdb_compare_first_divergent(c, &s0, 1, &err), -1, "sample 0: every layer holds");
	ok_int(qdb_compare_first_divergent(c, &s3, 1, &err), p_act,
	       "sample 3: act first (element counts differ)");
	char fb[64];
	ok(!strcmp(qdb_compare_flags_str(QDB_CF_SHAPE | QDB_CF_NAN | QDB_CF_SAT, fb, sizeof fb),
		   "shape,nan,sat"), "flags_str");
	ok(!strcmp(qdb_compare_flags_str(QDB_CF_BFLOAT, fb, sizeof fb), ""), "flags_str: BFLOAT silent");

	/* threaded fill == serial cells, also with page release */
	for (int variant = 0; variant < 2; variant++) {
		struct qdb_compare_opts o2 = o;
		o2.release_pages = variant;
		ok(!qdb_compare_new(ta, tb, &o2, &c1, &err) && !qdb_compare_new(ta, tb, &o2, &c2, &err),
		   "two more comparisons (release_pages %d)", variant);
		ok(!qdb_compare_fill(c1, NULL, -1, 1, &err), "fill on 1 thread");
		ok(!qdb_compare_fill(c2, NULL, -1, 4, &err), "fill on 4 threads");
		int same = 1;
		for (int p = 0; p < qdb_compare_n_pairs(c); p++)
			for (int s = 0; s < 4; s++) {
				const struct qdb_compare_cell *x, *y, *z;
				qdb_compare_cell(c, p, s, &x, &err);
				y = qdb_compare_peek(c1, p, s);
				z = qdb_compare_peek(c2, p, s);
				same &= y && z && !memcmp(x, y, sizeof *x) && !memcmp(x, z, sizeof *x);
			}
		ok(same, "every filled cell equals the serial one (release_pages %d)", variant);
		qdb_compare_delete(c1);
		qdb_compare_delete(c2);
		c1 = c2 = NULL;
	}
	ok(qdb_compare_fill(c, &(int){7}, 1, 2, &err) == QDB_EINVAL, "fill with a bad sample: EINVAL");

	/* thresholds */
	struct qdb_compare_opts o3 = o;
	o3.threshold.metric = QDB_M_MAX_STEPS;
	o3.threshold.less = 0;
	o3.threshold.value = 0;
	ok(!qdb_compare_new(ta, tb, &o3, &c1, &err), "compare with max_steps>0");
	ok(!qdb_compare_cell(c1, p_conv, 2, &cell, &err) && !cell->diverged,
	   "max_steps threshold never crosses on a float B");
	ok(!qdb_compare_cell(c1, p_act, 0, &cell, &err) && cell->diverged,
	   "max_steps>0 crosses on the int8 layer");
	qdb_compare_delete(c1);
	c1 = NULL;

	qdb_compare_delete(c);
	qdb_trace_close(tb);

	/* no sample in common */
	const int samp_c[] = {5, 6};
	ok(!write_trace(pc, "float", sa, 2, samp_c, 2, 0), "write C (samples 5, 6)");
	struct qdb_trace *tc = NULL;
	ok(!qdb_trace_open(pc, &tc, &err), "open C");
	ok(qdb_compare_new(ta, tc, NULL, &c, &err) == QDB_EINVAL && c == NULL &&
	   strstr(err.msg, "no sample id in common"), "no shared sample: EINVAL (%s)", err.msg);
	qdb_trace_close(tc);
	qdb_trace_close(ta);

	unlink(pa);
	unlink(pb);
	unlink(pc);
	rmdir(dir);
	return tap_done();
}
