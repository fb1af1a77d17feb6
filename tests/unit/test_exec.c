/* test_exec.c - the executor: hooks that stop and resume, stepping, cone
 * re-runs equal to full runs, run copies, isolated node evaluation, inputs,
 * threads sharing one prepared executor, and the cpu/bpu boundary of
 * quantized graphs. */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "graph/exec.h"
#include "graph_util.h"
#include "ops/kernel.h"
#include "ops/ops.h"
#include "ops/quant.h"
#include "tap.h"

static const int64_t XS[] = {1, 3, 8, 8};

static float wbuf[4096];

static void fill(float *p, int n, unsigned seed, float amp)
{
	for (int i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = amp * (((seed >> 8) & 0xffff) / 32768.0f - 1.0f);
	}
}

/* x -> conv1 (a) -> relu (c) ---\
 *   \-> conv2 (b) -------------- add (s) -> gap (y)
 * A diamond: relu's cone is {relu, add, gap}. */
static struct qdb_graph *diamond(enum qdb_stage stage)
{
	static const int64_t ws[] = {4, 3, 3, 3}, bs[] = {4};
	struct qdb_graph *g = tg_new(stage);
	tg_in(g, "x", 4, XS);
	fill(wbuf, 108, 7, 0.5f);
	tg_const(g, "w1", 4, ws, wbuf);
	fill(wbuf, 108, 9, 0.5f);
	tg_const(g, "w2", 4, ws, wbuf);
	fill(wbuf, 4, 11, 0.1f);
	tg_const(g, "b1", 1, bs, wbuf);
	tg_node(g, "conv1", "conv2d", "x,w1,b1", "a");
	tg_ints(g, "conv1", "padding", 2, 1, 1, 0, 0);
	tg_node(g, "relu", "relu", "a", "c");
	tg_node(g, "conv2", "conv2d", "x,w2", "b");
	tg_ints(g, "conv2", "padding", 2, 1, 1, 0, 0);
	tg_node(g, "add", "add", "c,b", "s");
	tg_node(g, "gap", "global_avgpool", "s", "y");
	tg_out(g, "y");
	if (stage != QDB_STAGE_FLOAT) {
		static const double wsc[] = {0.01, 0.02, 0.015, 0.005};
		tg_q(g, "x", 0.02, 0, QDB_I8, INT64_MIN, INT64_MAX);
		tg_qc(g, "w1", 4, 0, wsc, QDB_I8, -127, 127);
		tg_qc(g, "w2", 4, 0, wsc, QDB_I8, -127, 127);
		tg_q(g, "a", 0.05, -3, QDB_I8, INT64_MIN, INT64_MAX);
		tg_q(g, "c", 0.05, -128, QDB_I8, INT64_MIN, INT64_MAX);
		tg_q(g, "b", 0.04, 2, QDB_I8, INT64_MIN, INT64_MAX);
		tg_q(g, "s", 0.08, 0, QDB_I8, INT64_MIN, INT64_MAX);
		tg_q(g, "y", 0.01, 0, QDB_I8, INT64_MIN, INT64_MAX);
	}
	return g;
}

static float xin[192];

static int set_x(struct qdb_run *r, const float *x, struct qdb_err *e)
{
	struct qdb_tensor t;
	qdb_tensor_init(&t);
	int rc = qdb_tensor_view(&t, QDB_F32, 4, XS, x, sizeof(float) * 192, e);
	if (!rc)
		rc = qdb_run_set_input(r, 0, &t, e);
	qdb_tensor_done(&t);
	return rc;
}

static int same_tensor(const struct qdb_tensor *a, const struct qdb_tensor *b)
{
	return a && b && a->dtype == b->dtype && qdb_shape_equal(a, b) && a->nbytes == b->nbytes &&
	       !memcmp(a->data, b->data, a->nbytes);
}

struct counter {
	int n, stop_at;
	int order[16];
};

static int count_hook(void *ctx, struct qdb_run *r, int node, const struct qdb_tensor *const *out,
		      int n_out)
{
	struct counter *c = ctx;
	(void)r;
	if (c->n < 16)
		c->order[c->n] = node;
	c->n++;
	if (n_out != 1 || !out[0])
		return 1;
	return node == c->stop_at;
}

static void test_hooks(void)
{
	struct qdb_err e;
	struct qdb_graph *g = diamond(QDB_STAGE_QAT);
	struct qdb_exec *x = NULL;
	struct qdb_run *r = NULL, *full = NULL;
	fill(xin, 192, 3, 1.0f);
	int rc = qdb_graph_validate(g, &e) || qdb_exec_new(g, QDB_SEM_NATIVE, &x, &e) ||
		 qdb_run_new(x, &r, &e) || qdb_run_new(x, &full, &e);
	if (!ok(!rc, "diamond graph prepares")) {
		tap_diag("  %s", e.msg);
		return;
	}
	ok(qdb_exec_semantics(x) == QDB_SEM_FAKEQUANT, "qat graph runs with fake quant natively");
	set_x(full, xin, &e);
	ok(qdb_run_forward(full, NULL, NULL, &e) == QDB_OK, "full run");

	struct counter c = {0, 1, {0}};
	set_x(r, xin, &e);
	rc = qdb_run_forward(r, count_hook, &c, &e);
	ok(rc == QDB_ESTOPPED && c.n == 2, "hook stops the run after node 1");
	ok(strstr(e.msg, "relu") != NULL, "stop message names the node (%s)", e.msg);
	ok(qdb_run_next(r) == 2, "next node is 2");
	ok(qdb_run_value(r, qdb_graph_find_value(g, "s")) == NULL, "later values not computed");
	ok(qdb_run_value(r, qdb_graph_find_value(g, "c")) != NULL, "earlier values available");
	c.stop_at = -1;
	rc = qdb_run_forward(r, count_hook, &c, &e);
	ok(rc == QDB_OK && c.n == 5, "resume runs the remaining 3 nodes");
	ok(qdb_run_next(r) == -1, "nothing left to run");
	ok(same_tensor(qdb_run_output(r, 0), qdb_run_output(full, 0)),
	   "stopped + resumed run equals the full run");

	/* cone re-run */
	c.n = 0;
	qdb_run_invalidate(r, qdb_graph_find_node(g, "relu"));
	ok(qdb_run_value(r, qdb_graph_find_value(g, "b")) != NULL,
	   "invalidating relu keeps conv2's output");
	ok(qdb_run_value(r, qdb_graph_find_value(g, "s")) == NULL, "and drops add's");
	rc = qdb_run_forward(r, count_hook, &c, &e);
	ok(rc == QDB_OK && c.n == 3 && c.order[0] == 1 && c.order[1] == 3 && c.order[2] == 4,
	   "cone re-run runs relu, add, gap only");
	ok(same_tensor(qdb_run_output(r, 0), qdb_run_output(full, 0)), "cone re-run equals full run");

	/* a new input re-runs everything */
	c.n = 0;
	set_x(r, xin, &e);
	qdb_run_forward(r, count_hook, &c, &e);
	ok(c.n == 5, "set_input makes every consumer's cone stale");

	/* stepping */
	c.n = 0;
	set_x(r, xin, &e);
	int steps = 0;
	while (qdb_run_next(r) >= 0 && steps < 10) {
		if (qdb_run_step(r, count_hook, &c, &e))
			break;
		steps++;
	}
	ok(steps == 5 && c.n == 5, "qdb_run_step runs one node at a time");
	ok(same_tensor(qdb_run_output(r, 0), qdb_run_output(full, 0)), "stepped run equals full run");

	/* devices do not matter outside integer semantics */
	ok(qdb_run_set_device(r, 0, QDB_DEV_CPU, &e) == QDB_OK && qdb_run_next(r) == -1,
	   "set_device in a qat run changes nothing");

	/* copies */
	struct qdb_run *cp = NULL;
	qdb_run_new(x, &cp, &e);
	ok(qdb_run_copy(cp, full, &e) == QDB_OK && qdb_run_next(cp) == -1, "run copy is complete");
	c.n = 0;
	qdb_run_invalidate(cp, qdb_graph_find_node(g, "conv2"));
	qdb_run_forward(cp, count_hook, &c, &e);
	ok(c.n == 3 && same_tensor(qdb_run_output(cp, 0), qdb_run_output(full, 0)),
	   "copy re-runs only conv2's cone and matches");
	qdb_run_delete(cp);

	/* isolated evaluation reproduces each node from the run's own inputs */
	int all = 1;
	for (int n = 0; n < g->n_nodes; n++) {
		const struct qdb_node *nd = &g->nodes[n];
		const struct qdb_tensor *in[4];
		for (int k = 0; k < nd->n_inputs; k++)
			in[k] = qdb_run_value(full, nd->inputs[k]);
		struct qdb_tensor out;
		qdb_tensor_init(&out);
		struct qdb_tensor *outp[] = {&out};
		rc = qdb_run_eval_node(full, n, in, outp, &e);
		if (rc || !same_tensor(&out, qdb_run_value(full, nd->outputs[0]))) {
			tap_diag("  node %s: %s", nd->name, rc ? e.msg : "differs");
			all = 0;
		}
		qdb_tensor_done(&out);
	}
	ok(all, "eval_node on the run's inputs reproduces every node");

	/* eval_node fake-quantizes float inputs into the qat domain */
	{
		int n = qdb_graph_find_node(g, "relu");
		float raw[256];
		fill(raw, 256, 5, 3.0f);
		static const int64_t as[] = {1, 4, 8, 8};
		struct qdb_tensor t, out;
		qdb_tensor_init(&t);
		qdb_tensor_init(&out);
		qdb_tensor_view(&t, QDB_F32, 4, as, raw, sizeof raw, &e);
		const struct qdb_tensor *in[] = {&t};
		struct qdb_tensor *outp[] = {&out};
		rc = qdb_run_eval_node(full, n, in, outp, &e);
		int good = !rc;
		for (int i = 0; good && i < 256; i++) {
			float a = qdb_fake_quant1(raw[i], 0.05f, 1.0f / 0.05f, -3, -128, 127);
			float want = qdb_fake_quant1(a < 0 ? 0 : a, 0.05f, 1.0f / 0.05f, -128, -128, 127);
			good = ((float *)out.data)[i] == want;
		}
		ok(good, "eval_node fake-quantizes a float input with the value's qparams");
		qdb_tensor_done(&t);
		qdb_tensor_done(&out);
	}

	/* input errors */
	{
		struct qdb_run *r2 = NULL;
		qdb_run_new(x, &r2, &e);
		rc = qdb_run_forward(r2, NULL, NULL, &e);
		ok(rc != QDB_OK && strstr(e.msg, "'x'"), "running without input fails naming it (%s)",
		   e.msg);
		static const int64_t bad[] = {1, 3, 8, 7};
		struct qdb_tensor t;
		qdb_tensor_init(&t);
		qdb_tensor_view(&t, QDB_F32, 4, bad, xin, sizeof(float) * 168, &e);
		rc = qdb_run_set_input(r2, 0, &t, &e);
		ok(rc == QDB_ESHAPE && strstr(e.msg, "1x3x8x7") && strstr(e.msg, "1x3x8x8"),
		   "wrong input shape is refused (%s)", e.msg);
		qdb_tensor_done(&t);
		qdb_run_delete(r2);
	}

	qdb_run_delete(r);
	qdb_run_delete(full);
	qdb_exec_delete(x);
	qdb_graph_delete(g);
}

/* Fake quant happens at every value with qparams: the qat output equals a
 * float run whose intermediate values are fake-quantized by hand. */
static void test_qat_vs_float(void)
{
	struct qdb_err e;
	struct qdb_graph *g = diamond(QDB_STAGE_QAT);
	struct qdb_exec *xq = NULL, *xf = NULL;
	struct qdb_run *rq = NULL, *rf = NULL;
	fill(xin, 192, 17, 2.0f);
	int rc = qdb_graph_validate(g, &e) || qdb_exec_new(g, QDB_SEM_NATIVE, &xq, &e) ||
		 qdb_exec_new(g, QDB_SEM_FLOAT, &xf, &e) || qdb_run_new(xq, &rq, &e) ||
		 qdb_run_new(xf, &rf, &e) || set_x(rq, xin, &e) || set_x(rf, xin, &e) ||
		 qdb_run_forward(rq, NULL, NULL, &e) || qdb_run_forward(rf, NULL, NULL, &e);
	ok(!rc, "qat and float executors run");
	const struct qdb_tensor *a = qdb_run_value(rq, qdb_graph_find_value(g, "a"));
	int on_grid = a != NULL && a->q.n == 1;
	for (int64_t i = 0; on_grid && i < qdb_tensor_numel(a); i++) {
		double q = ((float *)a->data)[i] / 0.05 - 3;
		on_grid = fabs(q - nearbyint(q)) < 1e-3 && nearbyint(q) >= -128 && nearbyint(q) <= 127;
	}
	ok(on_grid, "qat intermediate values sit on their quantization grid");
	const struct qdb_tensor *af = qdb_run_value(rf, qdb_graph_find_value(g, "a"));
	ok(af && af->q.n == 0 && !same_tensor(a, af), "float mode leaves values unquantized");
	qdb_run_delete(rq);
	qdb_run_delete(rf);
	qdb_exec_delete(xq);
	qdb_exec_delete(xf);
	qdb_graph_delete(g);
}

struct job {
	const struct qdb_exec *x;
	float in[192];
	float out[4];
	int rc;
};

static void *worker(void *p)
{
	struct job *j = p;
	struct qdb_err e;
	struct qdb_run *r = NULL;
	j->rc = qdb_run_new(j->x, &r, &e);
	for (int it = 0; !j->rc && it < 20; it++) {
		j->rc = set_x(r, j->in, &e);
		if (!j->rc)
			j->rc = qdb_run_forward(r, NULL, NULL, &e);
	}
	if (!j->rc)
		qdb_tensor_to_f32(qdb_run_output(r, 0), j->out);
	qdb_run_delete(r);
	return NULL;
}

static void test_threads(void)
{
	struct qdb_err e;
	struct qdb_graph *g = diamond(QDB_STAGE_QAT);
	struct qdb_exec *x = NULL;
	if (qdb_graph_validate(g, &e) || qdb_exec_new(g, QDB_SEM_NATIVE, &x, &e)) {
		ok(0, "threads: prepare (%s)", e.msg);
		return;
	}
	enum { NT = 4 };
	static struct job jobs[NT], serial[NT];
	pthread_t th[NT];
	for (int i = 0; i < NT; i++) {
		jobs[i].x = serial[i].x = x;
		fill(jobs[i].in, 192, 100u + (unsigned)i, 1.5f);
		memcpy(serial[i].in, jobs[i].in, sizeof jobs[i].in);
		worker(&serial[i]);
	}
	for (int i = 0; i < NT; i++)
		pthread_create(&th[i], NULL, worker, &jobs[i]);
	for (int i = 0; i < NT; i++)
		pthread_join(th[i], NULL);
	int same = 1;
	for (int i = 0; i < NT; i++)
		same = same && !jobs[i].rc && !memcmp(jobs[i].out, serial[i].out, sizeof jobs[i].out);
	ok(same, "4 threads on one executor give the serial results");
	qdb_exec_delete(x);
	qdb_graph_delete(g);
}

/* A quantized graph with every node on cpu runs in float on dequantized
 * constants; values are quantized only where they leave the graph. */
static void test_quantized_cpu(void)
{
	struct qdb_err e;
	struct qdb_graph *gq = diamond(QDB_STAGE_QAT), *gc = diamond(QDB_STAGE_QAT);
	gc->stage = QDB_STAGE_QUANTIZED;
	for (int n = 0; n < gc->n_nodes; n++)
		gc->nodes[n].device = QDB_DEV_CPU;
	struct qdb_exec *xq = NULL, *xc = NULL;
	struct qdb_run *rq = NULL, *rc_ = NULL;
	fill(xin, 192, 23, 1.0f);
	int rc = qdb_graph_validate(gq, &e) || qdb_graph_validate(gc, &e) ||
		 qdb_exec_new(gq, QDB_SEM_NATIVE, &xq, &e) || qdb_exec_new(gc, QDB_SEM_NATIVE, &xc, &e) ||
		 qdb_run_new(xq, &rq, &e) || qdb_run_new(xc, &rc_, &e) || set_x(rq, xin, &e) ||
		 set_x(rc_, xin, &e) || qdb_run_forward(rq, NULL, NULL, &e) ||
		 qdb_run_forward(rc_, NULL, NULL, &e);
	if (!ok(!rc, "all-cpu quantized graph runs")) {
		tap_diag("  %s", e.msg);
		return;
	}
	const struct qdb_tensor *y = qdb_run_output(rc_, 0);
	ok(y && y->dtype == QDB_I8 && y->q.n == 1, "graph output is quantized to its qparams (i8)");
	const struct qdb_tensor *a = qdb_run_value(rc_, qdb_graph_find_value(gc, "a"));
	ok(a && a->dtype == QDB_F32, "a value between cpu nodes stays float");
	ok(qdb_run_device(rc_, 0) == QDB_DEV_CPU, "devices come from the graph");
	/* the cpu graph sees no intermediate quantization, so it differs from
	 * qat only by the activations' rounding; compare dequantized outputs */
	float yq[4], yc[4];
	qdb_tensor_to_f32(qdb_run_output(rq, 0), yq);
	qdb_tensor_to_f32(y, yc);
	double dot = 0, na = 0, nb = 0;
	for (int i = 0; i < 4; i++) {
		dot += (double)yq[i] * yc[i];
		na += (double)yq[i] * yq[i];
		nb += (double)yc[i] * yc[i];
	}
	double cosv = dot / (sqrt(na) * sqrt(nb));
	ok(cosv > 0.99, "all-cpu quantized output close to qat (cosine %.5f)", cosv);
	qdb_run_delete(rq);
	qdb_run_delete(rc_);
	qdb_exec_delete(xq);
	qdb_exec_delete(xc);
	qdb_graph_delete(gq);
	qdb_graph_delete(gc);
}

/* A hand-made quantized graph: quantize -> conv1 -> gelu (cpu) -> conv2 ->
 * dequantize. Checks the cpu/bpu boundary semantics against a computation
 * done here, cone re-runs after device toggles, and run copies. */
struct hook_log {
	int n, nodes[16];
};

static int log_hook(void *ctx, struct qdb_run *r, int node, const struct qdb_tensor *const *out,
		    int n_out)
{
	struct hook_log *l = ctx;
	(void)r;
	(void)out;
	(void)n_out;
	if (l->n < 16)
		l->nodes[l->n] = node;
	l->n++;
	return 0;
}

static struct qdb_graph *mixed_graph(void)
{
	static const int64_t xs[] = {1, 4, 6, 6}, w1s[] = {8, 4, 3, 3}, w2s[] = {4, 8, 1, 1};
	static const int64_t b1s[] = {8}, b2s[] = {4};
	struct qdb_err e;
	struct qdb_graph *g = tg_new(QDB_STAGE_QUANTIZED);
	g->profile = QDB_PROFILE_TORCH;
	g->rounding = QDB_ROUND_HALF_EVEN;
	tg_in(g, "x", 4, xs);
	struct qdb_tensor w;
	double sc[8];
	for (int pass = 0; pass < 2; pass++) {
		const int64_t *ws = pass ? w2s : w1s;
		int o = (int)ws[0];
		qdb_tensor_init(&w);
		qdb_tensor_alloc(&w, QDB_I8, 4, ws, &e);
		int64_t n = qdb_tensor_numel(&w);
		unsigned seed = 31u + (unsigned)pass;
		for (int64_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			((int8_t *)w.data)[i] = (int8_t)((int)((seed >> 8) % 255u) - 127);
		}
		for (int c = 0; c < o; c++)
			sc[c] = 0.002 + 0.0005 * c;
		qdb_quant_set_channels(&w.q, o, 0, sc, NULL, -127, 127, &e);
		tg_const_t(g, pass ? "w2" : "w1", &w);
		qdb_tensor_done(&w);
	}
	fill(wbuf, 8, 41, 0.2f);
	tg_const(g, "b1", 1, b1s, wbuf);
	fill(wbuf, 4, 43, 0.2f);
	tg_const(g, "b2", 1, b2s, wbuf);
	tg_node(g, "quant", "quantize", "x", "xq");
	tg_node(g, "conv1", "conv2d", "xq,w1,b1", "a");
	tg_ints(g, "conv1", "padding", 2, 1, 1, 0, 0);
	tg_node(g, "gelu", "gelu", "a", "ge");
	tg_node(g, "conv2", "conv2d", "ge,w2,b2", "c");
	tg_node(g, "deq", "dequantize", "c", "y");
	tg_out(g, "y");
	tg_q(g, "xq", 0.05, 0, QDB_I8, INT64_MIN, INT64_MAX);
	tg_q(g, "a", 0.04, -5, QDB_I8, INT64_MIN, INT64_MAX);
	tg_q(g, "ge", 0.03, -100, QDB_I8, INT64_MIN, INT64_MAX);
	tg_q(g, "c", 0.05, 3, QDB_I8, INT64_MIN, INT64_MAX);
	tg_n(g, "gelu")->device = QDB_DEV_CPU;
	return g;
}

static int set_x6(struct qdb_run *r, const float *x, struct qdb_err *e)
{
	static const int64_t xs[] = {1, 4, 6, 6};
	struct qdb_tensor t;
	qdb_tensor_init(&t);
	int rc = qdb_tensor_view(&t, QDB_F32, 4, xs, x, sizeof(float) * 144, e);
	if (!rc)
		rc = qdb_run_set_input(r, 0, &t, e);
	qdb_tensor_done(&t);
	return rc;
}

static void test_boundary(void)
{
	if (!ok(qdb_kernel_for(QDB_OP_CONV2D, QDB_EXEC_INT) &&
		qdb_kernel_for(QDB_OP_QUANTIZE, QDB_EXEC_INT) &&
		qdb_kernel_for(QDB_OP_DEQUANTIZE, QDB_EXEC_INT),
		"integer conv2d, quantize and dequantize kernels exist"))
		return;
	struct qdb_err e;
	struct qdb_graph *g = mixed_graph();
	struct qdb_exec *x = NULL, *xf = NULL;
	struct qdb_run *r = NULL, *cp = NULL, *rf = NULL;
	static float in[144];
	fill(in, 144, 77, 2.0f);
	int rc = qdb_graph_validate(g, &e) || qdb_exec_new(g, QDB_SEM_NATIVE, &x, &e) ||
		 qdb_run_new(x, &r, &e) || set_x6(r, in, &e) || qdb_run_forward(r, NULL, NULL, &e);
	if (!ok(!rc, "mixed quantized graph runs (gelu on cpu)")) {
		tap_diag("  %s", e.msg);
		qdb_graph_delete(g);
		return;
	}
	int va = qdb_graph_find_value(g, "a"), vg = qdb_graph_find_value(g, "ge");
	const struct qdb_tensor *a = qdb_run_value(r, va), *ge = qdb_run_value(r, vg);
	ok(a && a->dtype == QDB_I8 && ge && ge->dtype == QDB_I8,
	   "bpu output is i8; the cpu output feeding a bpu node is quantized (i8)");

	/* gelu on cpu: dequantize a, gelu in float, quantize with ge's qparams */
	int64_t n = qdb_tensor_numel(a);
	float *f = malloc(sizeof(float) * (size_t)n);
	int8_t *want = malloc((size_t)n);
	qdb_tensor_to_f32(a, f);
	for (int64_t i = 0; i < n; i++) {
		float v = f[i];
		f[i] = v * 0.5f * (1.0f + erff(v * (float)M_SQRT1_2));
	}
	qdb_quantize_buf(f, a->rank, a->shape, &g->values[vg].q, QDB_I8, want);
	ok(ge && !memcmp(ge->data, want, (size_t)n), "cpu gelu = quantize(gelu(dequantize(a)))");
	free(f);
	free(want);

	/* the quantize op on bpu agrees with the executor's boundary rounding */
	const struct qdb_tensor *xq = qdb_run_value(r, qdb_graph_find_value(g, "xq"));
	int8_t xw[144];
	qdb_quantize_buf(in, 4, xq->shape, &g->values[qdb_graph_find_value(g, "xq")].q, QDB_I8, xw);
	ok(!memcmp(xq->data, xw, sizeof xw), "integer quantize op = executor's quantize rounding");

	/* toggling conv2 to cpu re-runs conv2 and deq only; ge turns float */
	qdb_run_new(x, &cp, &e);
	qdb_run_copy(cp, r, &e);
	struct hook_log log = {0, {0}};
	int n_conv2 = qdb_graph_find_node(g, "conv2"), n_conv1 = qdb_graph_find_node(g, "conv1");
	rc = qdb_run_set_device(cp, n_conv2, QDB_DEV_CPU, &e);
	ok(!rc && qdb_run_value(cp, va) != NULL && qdb_run_value(cp, qdb_graph_find_value(g, "c")) == NULL,
	   "set_device(conv2, cpu) keeps upstream values, drops conv2's");
	ge = qdb_run_value(cp, vg);
	ok(ge && ge->dtype == QDB_F32, "gelu's output, now feeding only cpu, is float");
	rc = qdb_run_forward(cp, log_hook, &log, &e);
	ok(!rc && log.n == 2 && log.nodes[0] == n_conv2 && log.nodes[1] == n_conv2 + 1,
	   "only conv2 and deq re-run (%d nodes)", log.n);
	const struct qdb_tensor *c = qdb_run_value(cp, qdb_graph_find_value(g, "c"));
	ok(c && c->dtype == QDB_I8, "cpu conv2's output is quantized for the bpu dequantize");
	ok(qdb_run_device(r, n_conv2) == QDB_DEV_BPU && qdb_run_value(r, qdb_graph_find_value(g, "c")),
	   "the baseline run is untouched by its copy");

	log.n = 0;
	qdb_run_set_device(cp, n_conv1, QDB_DEV_CPU, &e);
	qdb_run_forward(cp, log_hook, &log, &e);
	ok(log.n == 4, "conv1 to cpu re-runs its cone of 4 nodes");

	/* everything on cpu == float semantics, bit for bit */
	for (int k = 0; k < g->n_nodes; k++)
		qdb_run_set_device(cp, k, QDB_DEV_CPU, &e);
	rc = qdb_run_forward(cp, NULL, NULL, &e) || qdb_exec_new(g, QDB_SEM_FLOAT, &xf, &e) ||
	     qdb_run_new(xf, &rf, &e) || set_x6(rf, in, &e) || qdb_run_forward(rf, NULL, NULL, &e);
	ok(!rc && same_tensor(qdb_run_output(cp, 0), qdb_run_output(rf, 0)),
	   "all nodes on cpu = --stage-mode float");

	/* back to bpu: equals the baseline */
	for (int k = 0; k < g->n_nodes; k++)
		qdb_run_set_device(cp, k, k == 2 ? QDB_DEV_CPU : QDB_DEV_BPU, &e);
	qdb_run_forward(cp, NULL, NULL, &e);
	ok(same_tensor(qdb_run_output(cp, 0), qdb_run_output(r, 0)),
	   "devices restored: output equals the baseline");

	/* isolated: conv2 on the float gelu of the reference, quantized into its domain */
	{
		const struct qdb_tensor *ref = qdb_run_value(rf, vg); /* float */
		struct qdb_tensor o;
		qdb_tensor_init(&o);
		const struct qdb_tensor *ins[] = {ref, NULL, NULL};
		struct qdb_tensor *outs[] = {&o};
		rc = qdb_run_eval_node(r, n_conv2, ins, outs, &e);
		ok(!rc && o.dtype == QDB_I8 && qdb_tensor_numel(&o) == 4 * 36,
		   "eval_node quantizes a float reference input for a bpu node");
		qdb_tensor_done(&o);
	}
	qdb_run_delete(r);
	qdb_run_delete(cp);
	qdb_run_delete(rf);
	qdb_exec_delete(x);
	qdb_exec_delete(xf);
	qdb_graph_delete(g);
}

int main(void)
{
	test_hooks();
	test_qat_vs_float();
	test_threads();
	test_quantized_cpu();
	test_boundary();
	return tap_done();
}
