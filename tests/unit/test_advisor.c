/* test_advisor.c - each advisor rule fires on a small graph/trace made to
 * show its problem, and stays quiet on the healthy counterpart. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/advisor.h"
#include "graph_util.h"
#include "io/trace.h"
#include "ops/kernel_int.h"
#include "ops/ops.h"
#include "tap.h"

static char tmpdir[256];

/* Findings of rule `id` (and the first one in *first). */
static int count_rule(const struct qdb_advice *a, const char *id, const struct qdb_finding **first)
{
	int r = qdb_advisor_find_rule(id), n = 0;
	if (first)
		*first = NULL;
	for (int i = 0; i < a->n; i++)
		if (a->findings[i].rule == r) {
			if (first && !n)
				*first = &a->findings[i];
			n++;
		}
	return n;
}

static int advise(const struct qdb_graph *g, const struct qdb_trace *t,
		  const struct qdb_advisor_opts *o, struct qdb_advice *a)
{
	struct qdb_err e;
	qdb_advice_init(a);
	int rc = qdb_advise(g, t, o, a, &e);
	if (rc)
		tap_diag("qdb_advise: %s", e.msg);
	return rc;
}

/* A one-node quantized graph: x -> NODE(op) -> y, y the output. */
static struct qdb_graph *one_node(const char *op, enum qdb_stage stage)
{
	struct qdb_graph *g = tg_new(stage);
	int64_t shape[2] = {1, 16};
	tg_in(g, "x", 2, shape);
	tg_node(g, "y", op, "x", "y");
	tg_out(g, "y");
	return g;
}

/* Writes a trace of layer "y" (and "x"), n samples of `per` floats each from
 * gen(sample, i), with an optional qstate for y. */
static struct qdb_trace *make_trace(const char *name, int n, int per,
				    double (*gen)(int s, int i),
				    const struct qdb_trace_layer *qstate_y)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s.qtr", tmpdir, name);
	const char *names[2] = {"x", "y"};
	struct qdb_trace_layer qs[2];
	memset(qs, 0, sizeof qs);
	if (qstate_y)
		qs[1] = *qstate_y;
	struct qdb_trace_header h = {"qat", "test", "test_advisor", 2, names, NULL,
				     qstate_y ? qs : NULL};
	struct qdb_trace_writer *w;
	struct qdb_err e;
	if (qdb_trace_writer_open(path, &h, 0, &w, &e))
		tg_die("trace writer", &e);
	struct qdb_tensor t;
	qdb_tensor_init(&t);
	int64_t shape[2] = {per / 4 ? per / 4 : 1, per / 4 ? 4 : per};
	if (qdb_tensor_alloc(&t, QDB_F32, 2, shape, &e))
		tg_die("alloc", &e);
	for (int s = 0; s < n; s++) {
		struct qdb_sample_id id = {0, s, NULL};
		float *p = t.data;
		for (int i = 0; i < per; i++)
			p[i] = (float)gen(s, i);
		if (qdb_trace_writer_add(w, &id, "y", &t, &e))
			tg_die("trace add", &e);
	}
	qdb_tensor_done(&t);
	if (qdb_trace_writer_commit(w, &e))
		tg_die("trace commit", &e);
	struct qdb_trace *tr;
	if (qdb_trace_open(path, &tr, &e))
		tg_die("trace open", &e);
	return tr;
}

/* The same with i8 records carrying qparams (scale, zero point 0). */
static struct qdb_trace *make_int_trace(const char *name, int n, double scale,
					int (*gen)(int s, int i))
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s.qtr", tmpdir, name);
	const char *names[1] = {"y"};
	struct qdb_trace_header h = {"quantized", "test", "test_advisor", 1, names, NULL, NULL};
	struct qdb_trace_writer *w;
	struct qdb_err e;
	if (qdb_trace_writer_open(path, &h, 0, &w, &e))
		tg_die("trace writer", &e);
	struct qdb_tensor t;
	qdb_tensor_init(&t);
	int64_t shape[2] = {4, 16};
	if (qdb_tensor_alloc(&t, QDB_I8, 2, shape, &e) ||
	    qdb_quant_set(&t.q, scale, 0, 1, 0, &e))
		tg_die("alloc", &e);
	for (int s = 0; s < n; s++) {
		struct qdb_sample_id id = {0, s, NULL};
		int8_t *p = t.data;
		for (int i = 0; i < 64; i++)
			p[i] = (int8_t)gen(s, i);
		if (qdb_trace_writer_add(w, &id, "y", &t, &e))
			tg_die("trace add", &e);
	}
	qdb_tensor_done(&t);
	if (qdb_trace_writer_commit(w, &e))
		tg_die("trace commit", &e);
	struct qdb_trace *tr;
	if (qdb_trace_open(path, &tr, &e))
		tg_die("trace open", &e);
	return tr;
}

static int igen_half_max(int s, int i) { return i % 2 ? 127 : (i * 5 + s) % 100 - 50; }
static int igen_half_min(int s, int i) { return i % 2 ? -128 : (i * 5 + s) % 100 - 50; }
static double gen_at_edge(int s, int i) { return i % 2 ? 12.7 : ((i * 7 + s) % 100 - 50) * 0.1; }

static double gen_within(int s, int i) { return ((i * 7 + s * 3) % 200 - 100) * 0.1; }
static double gen_wide(int s, int i) { return ((i * 7 + s * 3) % 200 - 100) * 0.3; }
static double gen_outlier(int s, int i) { return i == 5 ? 100.0 : ((i % 9) - 4) * 0.01 + 0.005; }
static double gen_positive(int s, int i) { return ((i * 13 + s) % 100) * 0.05; }
static double gen_nan(int s, int i) { return s == 2 && i == 3 ? NAN : 1.0; }
static double gen_margin_wide(int s, int i) { return i % 4 == (s % 4) ? 5.0 : -5.0; }
static double gen_margin_tight(int s, int i) { return i % 4 == 0 ? 1.0 : i % 4 == 1 ? 1.0 : -2.0; }

static void test_table(void)
{
	ok(qdb_advisor_n_rules() >= 8, "the seven rules of the issue and lut-table");
	const char *ids[] = {"range-int8", "scale-coverage", "asymmetric", "scale-pow2",
			     "lut-coarse", "output-precision", "nonfinite", "lut-table"};
	int all = 1;
	for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
		int r = qdb_advisor_find_rule(ids[i]);
		const struct qdb_advisor_rule *d = qdb_advisor_rule(r);
		if (r < 0 || !d || !d->measures[0] || !d->suggestion[0])
			all = 0;
	}
	ok(all, "every rule has an id, what it measures and a suggestion");
	ok(qdb_advisor_find_rule("no-such-rule") < 0, "unknown id is not found");

	struct qdb_advisor_opts o;
	struct qdb_err e;
	qdb_advisor_opts_init(&o);
	ok(qdb_advisor_select(&o, "nonfinite", NULL, &e) == QDB_OK &&
		   o.skip == ~((uint64_t)1 << qdb_advisor_find_rule("nonfinite")),
	   "--only keeps one rule");
	qdb_advisor_opts_init(&o);
	ok(qdb_advisor_select(&o, NULL, "lut-coarse,asymmetric", &e) == QDB_OK &&
		   (o.skip >> qdb_advisor_find_rule("asymmetric") & 1),
	   "--skip drops rules");
	ok(qdb_advisor_select(&o, "bogus", NULL, &e) == QDB_EINVAL && strstr(e.msg, "bogus"),
	   "unknown rule id is refused: %s", e.msg);
}

static void test_nonfinite_constant(void)
{
	struct qdb_graph *g = tg_new(QDB_STAGE_QAT);
	int64_t shape[2] = {1, 4}, ws[2] = {4, 4};
	float w[16];
	for (int i = 0; i < 16; i++)
		w[i] = 0.1f * (float)i;
	tg_in(g, "x", 2, shape);
	tg_const(g, "w_ok", 2, ws, w);
	w[3] = NAN;
	w[7] = INFINITY;
	tg_const(g, "w_bad", 2, ws, w);
	tg_node(g, "fc1", "linear", "x,w_ok", "h");
	tg_node(g, "fc2", "linear", "h,w_bad", "y");
	tg_out(g, "y");
	struct qdb_advice a;
	const struct qdb_finding *f = NULL;
	int n;
	advise(g, NULL, NULL, &a);
	n = count_rule(&a, "nonfinite", &f);
	ok(n == 1 && !strcmp(f->where, "w_bad") &&
		   f->severity == QDB_SEV_ERROR && strstr(f->evidence, "1 NaN and 1 Inf"),
	   "nonfinite: the constant with NaN/Inf, as an error (%s)", f ? f->evidence : "-");
	ok(qdb_advice_count(&a, QDB_SEV_WARNING) == 1, "nothing else on a float-only graph");
	qdb_advice_done(&a);
	qdb_graph_delete(g);
}

static void test_nonfinite_trace(void)
{
	struct qdb_graph *g = one_node("relu", QDB_STAGE_QAT);
	struct qdb_trace *t = make_trace("nan", 4, 16, gen_nan, NULL);
	struct qdb_advice a;
	const struct qdb_finding *f = NULL;
	int n;
	advise(g, t, NULL, &a);
	n = count_rule(&a, "nonfinite", &f);
	ok(n == 1 && strstr(f->evidence, "1 NaN") &&
		   strstr(f->evidence, "sample 2") && strstr(f->evidence, "1 of 4"),
	   "nonfinite: NaN in a traced layer, with its first sample (%s)",
	   f ? f->evidence : "-");
	ok(a.layers_scanned == 1 && a.samples == 4 && a.values_read == 64,
	   "scan counts: %d layers, %d samples, %lld values", a.layers_scanned, a.samples,
	   (long long)a.values_read);
	qdb_advice_done(&a);
	struct qdb_advisor_opts o;
	qdb_advisor_opts_init(&o);
	o.max_samples = 2;
	advise(g, t, &o, &a);
	ok(count_rule(&a, "nonfinite", NULL) == 0 && a.samples == 2,
	   "--samples 2 reads only samples 0 and 1 (the NaN is in sample 2)");
	qdb_advice_done(&a);
	qdb_trace_close(t);
	qdb_graph_delete(g);
}

static void test_coverage(void)
{
	struct qdb_graph *g = one_node("identity", QDB_STAGE_QAT);
	tg_q(g, "y", 0.1, 0, QDB_I8, -128, 127); /* covers [-12.8, 12.7] */
	struct qdb_trace *tin = make_trace("within", 4, 64, gen_within, NULL);
	struct qdb_trace *twide = make_trace("wide", 4, 64, gen_wide, NULL);
	struct qdb_advice a;
	const struct qdb_finding *f = NULL;
	int n;
	advise(g, tin, NULL, &a);
	ok(count_rule(&a, "scale-coverage", NULL) == 0, "scale-coverage: quiet when the data fit");
	qdb_advice_done(&a);
	advise(g, twide, NULL, &a);
	n = count_rule(&a, "scale-coverage", &f);
	ok(n == 1 && f->severity == QDB_SEV_ERROR &&
		   f->measure > 0.5 && strstr(f->evidence, "beyond the int8 range"),
	   "scale-coverage: most values beyond [-12.8, 12.7] is an error (%s)",
	   f ? f->evidence : "-");
	ok(f && strstr(f->suggestion, "recalibrate y"), "with a suggestion for y: %s",
	   f ? f->suggestion : "-");
	qdb_advice_done(&a);
	qdb_trace_close(tin);
	qdb_trace_close(twide);
	qdb_graph_delete(g);

	/* ReLU6 output on [0, 6]: values at 6 are the clamp, not saturation */
	g = one_node("relu6", QDB_STAGE_QAT);
	tg_q(g, "y", 6.0 / 255, 0, QDB_U8, 0, 255);
	struct qdb_trace *t6 = make_trace("relu6", 2, 64, gen_positive, NULL);
	advise(g, t6, NULL, &a);
	n = count_rule(&a, "scale-coverage", &f);
	ok(n == 0, "scale-coverage: relu6's clamp at 6 is not saturation%s%s",
	   f ? ": " : "", f ? f->evidence : "");
	qdb_advice_done(&a);
	qdb_trace_close(t6);
	qdb_graph_delete(g);
}

static void test_saturation(void)
{
	struct qdb_graph *g = one_node("identity", QDB_STAGE_QUANTIZED);
	tg_q(g, "y", 0.1, 0, QDB_I8, -128, 127);
	struct qdb_advisor_opts o;
	qdb_advisor_opts_init(&o);
	qdb_advisor_select(&o, "scale-coverage", NULL, NULL);
	struct qdb_advice a;
	const struct qdb_finding *f = NULL;
	int n;
	struct qdb_trace *t = make_int_trace("sat_int", 2, 0.1, igen_half_max);
	advise(g, t, &o, &a);
	n = count_rule(&a, "scale-coverage", &f);
	ok(n == 1 && f->severity == QDB_SEV_ERROR && fabs(f->measure - 0.5) < 1e-9 &&
		   strstr(f->evidence, "50% at qmin/qmax"),
	   "scale-coverage: half the integers at qmax (%s)", f ? f->evidence : "-");
	qdb_advice_done(&a);
	qdb_trace_close(t);
	struct qdb_trace *tf = make_trace("edge_float", 2, 64, gen_at_edge, NULL);
	advise(g, tf, &o, &a);
	ok(count_rule(&a, "scale-coverage", NULL) == 0,
	   "scale-coverage: float values at the edge are not saturation");
	qdb_advice_done(&a);
	qdb_trace_close(tf);
	qdb_graph_delete(g);

	/* tanh output on int8, scale 1/128: qmin is tanh's -1 */
	g = one_node("tanh", QDB_STAGE_QUANTIZED);
	tg_q(g, "y", 1.0 / 128, 0, QDB_I8, -128, 127);
	t = make_int_trace("sat_tanh", 2, 1.0 / 128, igen_half_min);
	advise(g, t, &o, &a);
	ok(count_rule(&a, "scale-coverage", NULL) == 0,
	   "scale-coverage: tanh's lower bound -1 at qmin is not saturation");
	qdb_advice_done(&a);
	qdb_trace_close(t);
	qdb_graph_delete(g);
}

static void test_lut_table(void)
{
	struct qdb_graph *g = one_node("hardswish", QDB_STAGE_QUANTIZED);
	g->profile = QDB_PROFILE_FIXED;
	tg_q(g, "x", 0.05, 0, QDB_I8, -128, 127);
	tg_q(g, "y", 0.04, -100, QDB_I8, -128, 127);
	struct qdb_qp in = {0.05, 0, -128, 127, QDB_I8}, out = {0.04, -100, -128, 127, QDB_I8};
	int32_t table[256];
	struct qdb_err e;
	ok(qdb_lut_build(QDB_OP_HARDSWISH, 0, &in, &out, g->rounding, table, &e) == QDB_OK,
	   "reference table built");
	struct qdb_tensor t;
	qdb_tensor_init(&t);
	int64_t shape[1] = {256};
	if (qdb_tensor_alloc(&t, QDB_I32, 1, shape, &e))
		tg_die("alloc", &e);
	memcpy(t.data, table, sizeof table);
	if (qdb_graph_add_constant(g, "y.lut", &t, &e) < 0)
		tg_die("lut", &e);
	tg_str(g, "y", "lut", "y.lut");
	struct qdb_advisor_opts o;
	qdb_advisor_opts_init(&o);
	qdb_advisor_select(&o, "lut-table", NULL, NULL);
	struct qdb_advice a;
	const struct qdb_finding *f = NULL;
	int n;
	advise(g, NULL, &o, &a);
	ok(count_rule(&a, "lut-table", NULL) == 0, "lut-table: the right table passes");
	qdb_advice_done(&a);
	/* the copy-paste bug of the demo: built from the output scale */
	struct qdb_qp wrong = in;
	wrong.s = out.s;
	qdb_lut_build(QDB_OP_HARDSWISH, 0, &wrong, &out, g->rounding, table, &e);
	int cv = qdb_graph_find_value(g, "y.lut");
	memcpy(g->constants[g->values[cv].constant].t.data, table, sizeof table);
	advise(g, NULL, &o, &a);
	n = count_rule(&a, "lut-table", &f);
	ok(n == 1 && f->severity == QDB_SEV_ERROR && !strcmp(f->where, "y") && f->measure > 1,
	   "lut-table: a table built from the wrong scale is an error (%s)", f ? f->evidence : "-");
	qdb_advice_done(&a);
	g->nodes[0].device = QDB_DEV_CPU;
	advise(g, NULL, &o, &a);
	ok(count_rule(&a, "lut-table", NULL) == 0, "lut-table: a node on CPU does not use it");
	qdb_advice_done(&a);
	qdb_tensor_done(&t);
	qdb_graph_delete(g);
}

static void test_range(void)
{
	struct qdb_graph *g = one_node("identity", QDB_STAGE_QAT);
	tg_q(g, "y", 100.0 / 127, 0, QDB_I8, -128, 127);
	struct qdb_trace *t = make_trace("outlier", 4, 64, gen_outlier, NULL);
	struct qdb_advice a;
	const struct qdb_finding *f = NULL;
	int n;
	advise(g, t, NULL, &a);
	n = count_rule(&a, "range-int8", &f);
	ok(n == 1 && f->measure > 1000 &&
		   strstr(f->suggestion, "int16"),
	   "range-int8: one outlier 100 over values ~0.03 suggests int16 (%s)",
	   f ? f->evidence : "-");
	qdb_advice_done(&a);
	/* the same data on an int16 quantizer: not an int8 problem */
	tg_q(g, "y", 100.0 / 32767, 0, QDB_I16, -32768, 32767);
	advise(g, t, NULL, &a);
	ok(count_rule(&a, "range-int8", NULL) == 0, "range-int8: quiet on int16");
	qdb_advice_done(&a);
	qdb_trace_close(t);
	struct qdb_trace *tin = make_trace("within2", 4, 64, gen_within, NULL);
	tg_q(g, "y", 0.1, 0, QDB_I8, -128, 127);
	advise(g, tin, NULL, &a);
	ok(count_rule(&a, "range-int8", NULL) == 0, "range-int8: quiet on an even spread");
	qdb_advice_done(&a);
	qdb_trace_close(tin);
	qdb_graph_delete(g);
}

static void test_asym(void)
{
	struct qdb_graph *g = one_node("relu", QDB_STAGE_QAT);
	tg_q(g, "y", 5.0 / 127, 0, QDB_I8, -128, 127);
	struct qdb_trace *t = make_trace("positive", 4, 64, gen_positive, NULL);
	struct qdb_advice a;
	const struct qdb_finding *f = NULL;
	int n;
	advise(g, t, NULL, &a);
	n = count_rule(&a, "asymmetric", &f);
	ok(n == 1 && f->measure > 0.9,
	   "asymmetric: one-sided data on a symmetric int8 quantizer (%s)",
	   f ? f->evidence : "-");
	qdb_advice_done(&a);
	tg_q(g, "y", 5.0 / 255, -128, QDB_I8, -128, 127);
	advise(g, t, NULL, &a);
	ok(count_rule(&a, "asymmetric", NULL) == 0, "asymmetric: quiet on an affine quantizer");
	qdb_advice_done(&a);
	qdb_trace_close(t);
	qdb_graph_delete(g);
}

static void test_pow2(void)
{
	struct qdb_graph *g = one_node("relu", QDB_STAGE_QUANTIZED);
	tg_q(g, "x", 0.125, 0, QDB_I8, -128, 127);
	tg_q(g, "y", 0.1, 0, QDB_I8, -128, 127);
	struct qdb_advisor_opts o;
	qdb_advisor_opts_init(&o);
	struct qdb_advice a;
	const struct qdb_finding *f = NULL;
	int n;
	advise(g, NULL, &o, &a);
	ok(count_rule(&a, "scale-pow2", NULL) == 0, "scale-pow2: off unless asked");
	qdb_advice_done(&a);
	o.pow2 = 1;
	advise(g, NULL, &o, &a);
	n = count_rule(&a, "scale-pow2", &f);
	ok(n == 1 && !strcmp(f->where, "y") &&
		   strstr(f->evidence, "2^-3"),
	   "scale-pow2: 0.1 is flagged, 0.125 is not (%s)", f ? f->evidence : "-");
	qdb_advice_done(&a);
	qdb_graph_delete(g);
}

static void test_lut(void)
{
	struct qdb_graph *g = one_node("sigmoid", QDB_STAGE_QUANTIZED);
	g->profile = QDB_PROFILE_FIXED;
	tg_q(g, "x", 0.5, 0, QDB_I8, -128, 127);
	tg_q(g, "y", 1.0 / 256, -128, QDB_I8, -128, 127);
	struct qdb_advisor_opts o;
	qdb_advisor_opts_init(&o);
	qdb_advisor_select(&o, "lut-coarse", NULL, NULL);
	struct qdb_advice a;
	const struct qdb_finding *f = NULL;
	int n;
	advise(g, NULL, &o, &a);
	/* sigmoid(0.5) - sigmoid(0) = 0.1225 = 31.35 output LSB of 1/256 */
	n = count_rule(&a, "lut-coarse", &f);
	ok(n == 1 && fabs(f->measure - 31.35) < 0.01,
	   "lut-coarse: input scale 0.5 into sigmoid jumps 31.35 output LSB (%g)",
	   f ? f->measure : -1);
	qdb_advice_done(&a);
	tg_q(g, "x", 0.01, 0, QDB_I8, -128, 127);
	advise(g, NULL, &o, &a);
	ok(count_rule(&a, "lut-coarse", NULL) == 0, "lut-coarse: quiet on a fine input scale");
	qdb_advice_done(&a);
	g->profile = QDB_PROFILE_TORCH;
	tg_q(g, "x", 0.5, 0, QDB_I8, -128, 127);
	advise(g, NULL, &o, &a);
	ok(count_rule(&a, "lut-coarse", NULL) == 0, "lut-coarse: only the fixed profile uses tables");
	qdb_advice_done(&a);
	g->profile = QDB_PROFILE_FIXED;
	g->nodes[0].device = QDB_DEV_CPU;
	advise(g, NULL, &o, &a);
	ok(count_rule(&a, "lut-coarse", NULL) == 0, "lut-coarse: quiet for a node on CPU");
	qdb_advice_done(&a);
	qdb_graph_delete(g);
}

static void test_output(void)
{
	struct qdb_graph *g = one_node("identity", QDB_STAGE_QUANTIZED);
	struct qdb_advisor_opts o;
	qdb_advisor_opts_init(&o);
	qdb_advisor_select(&o, "output-precision", NULL, NULL);
	struct qdb_advice a;
	const struct qdb_finding *f = NULL;
	int n;
	advise(g, NULL, &o, &a);
	ok(count_rule(&a, "output-precision", NULL) == 0, "output-precision: float output is fine");
	qdb_advice_done(&a);
	tg_q(g, "y", 0.1, 0, QDB_I8, -128, 127);
	advise(g, NULL, &o, &a);
	n = count_rule(&a, "output-precision", &f);
	ok(n == 1 && f->severity == QDB_SEV_WARNING &&
		   strstr(f->evidence, "int8"),
	   "output-precision: int8 output without data is a warning (%s)", f ? f->evidence : "-");
	qdb_advice_done(&a);
	struct qdb_trace *tw = make_trace("margin_wide", 3, 16, gen_margin_wide, NULL);
	advise(g, tw, &o, &a);
	n = count_rule(&a, "output-precision", &f);
	ok(n == 1 && f->severity == QDB_SEV_INFO &&
		   f->measure == 0,
	   "output-precision: wide top-2 margins make it info (%s)", f ? f->evidence : "-");
	qdb_advice_done(&a);
	struct qdb_trace *tt = make_trace("margin_tight", 3, 16, gen_margin_tight, NULL);
	advise(g, tt, &o, &a);
	n = count_rule(&a, "output-precision", &f);
	ok(n == 1 && f->severity == QDB_SEV_WARNING &&
		   f->measure == 1.0 && strstr(f->evidence, "12 of 12 rows"),
	   "output-precision: tied top-2 in every row is a warning (%s)", f ? f->evidence : "-");
	qdb_advice_done(&a);
	qdb_trace_close(tw);
	qdb_trace_close(tt);
	qdb_graph_delete(g);
}

static void test_qstate(void)
{
	struct qdb_graph *g = one_node("relu", QDB_STAGE_QAT);
	tg_q(g, "y", 0.05, 0, QDB_U8, 0, 255);
	struct qdb_trace_layer qs;
	memset(&qs, 0, sizeof qs);
	qs.has_qstate = 1;
	qs.fake_quant = 1;
	qs.observer = 0;
	qs.qs_scale = 0.05;
	qs.qs_nscale = 1;
	struct qdb_trace *t = make_trace("qs_ok", 1, 16, gen_within, &qs);
	struct qdb_advisor_opts o;
	qdb_advisor_opts_init(&o);
	qdb_advisor_select(&o, "qstate-observer,qstate-fake-quant,qstate-scale", NULL, NULL);
	struct qdb_advice a;
	const struct qdb_finding *f = NULL;
	int n;
	advise(g, t, &o, &a);
	ok(a.n == 0, "qstate: frozen observer, fake quant on, same scale: nothing");
	qdb_advice_done(&a);
	qdb_trace_close(t);

	qs.observer = 1;
	qs.fake_quant = 0;
	qs.qs_scale = 0.06;
	t = make_trace("qs_bad", 1, 16, gen_within, &qs);
	advise(g, t, &o, &a);
	n = count_rule(&a, "qstate-observer", &f);
	ok(n == 1 && f->severity == QDB_SEV_ERROR &&
		   !strcmp(f->where, "y"),
	   "qstate-observer: observer still enabled is an error");
	n = count_rule(&a, "qstate-fake-quant", &f);
	ok(n == 1, "qstate-fake-quant: disabled fake quant");
	n = count_rule(&a, "qstate-scale", &f);
	ok(n == 1 && fabs(f->measure - 0.2) < 1e-9,
	   "qstate-scale: 0.06 vs 0.05 is 20%% apart (%s)", f ? f->evidence : "-");
	ok(a.findings[0].severity == QDB_SEV_ERROR && a.findings[a.n - 1].severity == QDB_SEV_WARNING,
	   "findings sorted worst first");
	qdb_advice_done(&a);
	qdb_trace_close(t);
	qdb_graph_delete(g);
}

static int stop_at_first(void *user, int64_t done, int64_t total)
{
	(void)total;
	*(int64_t *)user = done;
	return 1;
}

static void test_progress(void)
{
	struct qdb_graph *g = one_node("relu", QDB_STAGE_QAT);
	struct qdb_trace *t = make_trace("progress", 1, 16, gen_within, NULL);
	struct qdb_advisor_opts o;
	qdb_advisor_opts_init(&o);
	int64_t seen = 0;
	o.progress = stop_at_first;
	o.user = &seen;
	struct qdb_advice a;
	struct qdb_err e;
	qdb_advice_init(&a);
	ok(qdb_advise(g, t, &o, &a, &e) == QDB_ESTOPPED && seen == 1,
	   "progress callback can stop the scan");
	qdb_advice_done(&a);
	qdb_trace_close(t);
	qdb_graph_delete(g);
}

int main(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(tmpdir, sizeof tmpdir, "%s/test_advisor.XXXXXX", base);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 99;
	}
	test_table();
	test_nonfinite_constant();
	test_nonfinite_trace();
	test_coverage();
	test_saturation();
	test_lut_table();
	test_range();
	test_asym();
	test_pow2();
	test_lut();
	test_output();
	test_qstate();
	test_progress();
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", tmpdir);
	return tap_done();
}
