/* test_convert.c - qdb_convert (qat -> quantized) and qdb_graph_edit_devices:
 * converted weights and biases exact, report counts, naming and devices,
 * both profiles; round trips of converted and edited graphs through files;
 * a quantized graph with every node on cpu agrees with the qat graph. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/convert.h"
#include "graph/edit.h"
#include "graph_util.h"
#include "io/qbc.h"
#include "ops/ops.h"
#include "ops/quant.h"
#include "ops/requant.h"
#include "tap.h"

#define C_IN 2
#define C_OUT 4
#define HW 4

static float w1[C_OUT * C_IN * 9], b1[C_OUT], wfc[3 * C_OUT * HW * HW], bfc[3];
static double s1[C_OUT], sfc[3];
static const double SX = 0.05, SY = 0.04;

/* x -> c1 (conv, qparams) -> r (relu, none: inherits) -> fl (flatten,
 * none: inherits) -> fc (linear, qparams) ; r -> sg (sigmoid, qparams only
 * when sig_q) ; outputs fc, sg. c1's channel 0 has two weights far beyond
 * its range; its bias 3 overflows int32 at s_x * s_w. fc_scale sets fc's
 * output scale (tiny: multipliers overflow). */
static struct qdb_graph *qat_graph(int sig_q, double fc_scale)
{
	struct qdb_graph *g = tg_new(QDB_STAGE_QAT);
	int64_t xs[4] = {1, C_IN, HW, HW}, ws[4] = {C_OUT, C_IN, 3, 3}, bs[1] = {C_OUT};
	int64_t fs[2] = {3, C_OUT * HW * HW}, fbs[1] = {3};
	tg_in(g, "x", 4, xs);
	tg_q(g, "x", SX, 128, QDB_U8, 1, 0);
	tg_const(g, "c1.w", 4, ws, w1);
	tg_qc(g, "c1.w", C_OUT, 0, s1, QDB_I8, -128, 127);
	tg_const(g, "c1.b", 1, bs, b1);
	tg_node(g, "c1", "conv2d", "x,c1.w,c1.b", "c1");
	tg_ints(g, "c1", "padding", 2, 1, 1, 0, 0);
	tg_q(g, "c1", SY, 128, QDB_U8, 1, 0);
	tg_node(g, "r", "relu", "c1", "r");
	tg_node(g, "fl", "flatten", "r", "fl");
	tg_const(g, "fc.w", 2, fs, wfc);
	tg_qc(g, "fc.w", 3, 0, sfc, QDB_I8, -128, 127);
	tg_const(g, "fc.b", 1, fbs, bfc);
	tg_node(g, "fc", "linear", "fl,fc.w,fc.b", "fc");
	tg_q(g, "fc", fc_scale, 0, QDB_I8, 1, 0);
	tg_node(g, "sg", "sigmoid", "r", "sg");
	if (sig_q)
		tg_q(g, "sg", 1.0 / 256, 0, QDB_U8, 1, 0);
	tg_out(g, "fc");
	tg_out(g, "sg");
	struct qdb_err e;
	if (qdb_graph_validate(g, &e))
		tg_die("validate qat", &e);
	return g;
}

static void make_weights(void)
{
	srand(3);
	for (int i = 0; i < C_OUT * C_IN * 9; i++)
		w1[i] = (float)((double)rand() / RAND_MAX - 0.5);
	for (int c = 0; c < C_OUT; c++)
		s1[c] = (double)(float)(0.5 / 127.5 * (1 + 0.1 * c));
	w1[0] = (float)(10 * 127 * s1[0]);  /* clipped */
	w1[5] = (float)(-10 * 127 * s1[0]); /* clipped */
	for (int c = 0; c < C_OUT; c++)
		b1[c] = (float)(0.1 * c - 0.15);
	b1[3] = 1e9f; /* int32 overflow at s_x * s_w */
	for (int i = 0; i < 3 * C_OUT * HW * HW; i++)
		wfc[i] = (float)(((double)rand() / RAND_MAX - 0.5) * 0.2);
	for (int c = 0; c < 3; c++) {
		sfc[c] = (double)(float)(0.1 / 127.5);
		bfc[c] = (float)(0.01 * c);
	}
}

static const struct qdb_node *node(const struct qdb_graph *g, const char *name)
{
	int n = qdb_graph_find_node(g, name);
	return n >= 0 ? &g->nodes[n] : NULL;
}

static const struct qdb_tensor *cst(const struct qdb_graph *g, const char *name)
{
	int v = qdb_graph_find_value(g, name);
	return v >= 0 && g->values[v].constant >= 0 ? &g->constants[g->values[v].constant].t : NULL;
}

static const struct qdb_convert_node *rep_node(const struct qdb_convert_report *r, const char *n)
{
	for (int i = 0; i < r->n_nodes; i++)
		if (!strcmp(r->nodes[i].node, n))
			return &r->nodes[i];
	return NULL;
}

static void test_torch_profile(void)
{
	struct qdb_graph *g = qat_graph(0, 0.05), *q = NULL;
	struct qdb_convert_opts o = {QDB_PROFILE_TORCH, QDB_ROUND_HALF_EVEN};
	struct qdb_convert_report rep;
	struct qdb_err e;
	int rc = qdb_convert(g, &o, &q, &rep, &e);
	if (!ok(rc == QDB_OK, "convert --profile torch")) {
		tap_diag("%s", e.msg);
		qdb_graph_delete(g);
		return;
	}
	ok(q->stage == QDB_STAGE_QUANTIZED && q->profile == QDB_PROFILE_TORCH &&
		   q->rounding == QDB_ROUND_HALF_EVEN,
	   "stage quantized, profile and rounding recorded");
	ok(!strcmp(q->nodes[0].name, "x.quantize") && q->nodes[0].op == qdb_op_lookup("quantize"),
	   "a quantize node first, after the float input");
	int xv = qdb_graph_find_value(q, "x"), xq = qdb_graph_find_value(q, "x.q");
	ok(xv >= 0 && q->values[xv].q.n == 0 && q->values[xv].input == 0, "input x stays float");
	ok(xq >= 0 && q->values[xq].q.n == 1 && q->values[xq].q.scale[0] == SX &&
		   q->values[xq].qdtype == QDB_U8,
	   "x.q carries the input's qparams");
	ok(node(q, "c1") && node(q, "r") && node(q, "fl") && node(q, "fc") && node(q, "sg"),
	   "original nodes keep their names");
	ok(node(q, "c1") && q->nodes[qdb_graph_find_node(q, "c1")].inputs[0] == xq,
	   "c1 reads the quantized input");
	const struct qdb_node *dq = node(q, "fc.dequantize");
	ok(dq && q->n_outputs == 2 && !strcmp(q->values[q->outputs[0]].name, "fc") &&
		   q->values[q->outputs[0]].producer == qdb_graph_find_node(q, "fc.dequantize") &&
		   !strcmp(q->values[node(q, "fc")->outputs[0]].name, "fc.q"),
	   "integer output fc: node fc -> fc.q -> fc.dequantize -> float output fc");
	ok(!strcmp(q->values[q->outputs[1]].name, "sg") && q->values[q->outputs[1]].q.n == 0,
	   "float output sg stays as it was");
	ok(node(q, "sg")->device == QDB_DEV_CPU && node(q, "c1")->device == QDB_DEV_BPU &&
		   node(q, "fc")->device == QDB_DEV_BPU,
	   "sigmoid without qparams goes to cpu, the rest stays on bpu");
	const struct qdb_convert_node *rs = rep_node(&rep, "sg"), *rr = rep_node(&rep, "r"),
				      *rc1 = rep_node(&rep, "c1");
	ok(rs && rs->note && strstr(rs->note, "no qparams"), "cpu node has a note (%s)",
	   rs && rs->note ? rs->note : "none");
	ok(rr && rr->note && strstr(rr->note, "inherits"), "relu's output inherits (%s)",
	   rr && rr->note ? rr->note : "none");
	ok_int(rep.inherited, 2, "two values inherited qparams (r, fl)");
	int rv = qdb_graph_find_value(q, "r");
	ok(rv >= 0 && q->values[rv].q.n == 1 && q->values[rv].q.scale[0] == SY, "r has c1's qparams");
	/* Weights: exactly torch's fake-quant integers. */
	const struct qdb_tensor *wt = cst(q, "c1.w");
	int exact = wt && wt->dtype == QDB_I8, at_limit = 0;
	for (int i = 0; exact && i < C_OUT * C_IN * 9; i++) {
		int c = i / (C_IN * 9);
		int64_t want = qdb_quant_step(w1[i], 1.0f / (float)s1[c], 0, -128, 127);
		exact = ((int8_t *)wt->data)[i] == want;
		at_limit += want == -128 || want == 127;
	}
	ok(exact, "c1 weights are the fake-quant integers");
	ok(rc1 && rc1->weights == C_OUT * C_IN * 9 && rc1->weights_at_limit == at_limit,
	   "report: %d of %d weights at the limits", at_limit, C_OUT * C_IN * 9);
	ok(rc1 && rc1->weights_clipped == 2, "report: 2 weights clipped (%lld)",
	   rc1 ? (long long)rc1->weights_clipped : -1LL);
	const struct qdb_tensor *bt = cst(q, "c1.b");
	ok(bt && bt->dtype == QDB_F32 && ((float *)bt->data)[1] == b1[1], "torch: bias stays f32");
	ok(rep.n_bpu == 4 && rep.n_cpu == 1, "report: 4 nodes on bpu, 1 on cpu");
	/* Round trip through a file. */
	char path[] = "/tmp/qdb-convert-XXXXXX";
	int fd = mkstemp(path);
	struct qdb_graph *back = NULL;
	if (fd >= 0)
		close(fd);
	rc = fd >= 0 ? qdb_graph_save(q, path, &e) : QDB_EIO;
	if (!rc)
		rc = qdb_graph_load_checked(path, &back, &e);
	ok(!rc && back && qdb_graph_equal(q, back), "converted graph round-trips through a file");
	if (rc)
		tap_diag("%s", e.msg);
	/* Edit: c1 to cpu, kept in the history, through files. */
	char *cpu[1] = {"c1"}, *bad[1] = {"c2"}, *bpu[1] = {"sg"};
	int changed = -1;
	rc = back ? qdb_graph_edit_devices(back, cpu, 1, NULL, 0, &changed, &e) : QDB_EINVAL;
	ok(!rc && changed == 1, "edit --cpu c1");
	struct qdb_graph *ed = NULL;
	if (!rc)
		rc = qdb_graph_save(back, path, &e);
	if (!rc)
		rc = qdb_graph_load_checked(path, &ed, &e);
	ok(!rc && ed && node(ed, "c1")->device == QDB_DEV_CPU && ed->n_edits == 1 &&
		   !strcmp(ed->edits[0].node, "c1") && !strcmp(ed->edits[0].field, "device") &&
		   !strcmp(ed->edits[0].from, "bpu") && !strcmp(ed->edits[0].to, "cpu"),
	   "edited device and its history survive a round trip");
	if (ed) {
		rc = qdb_graph_edit_devices(ed, cpu, 1, NULL, 0, &changed, &e);
		ok(!rc && changed == 0 && ed->n_edits == 1, "editing to the same device records nothing");
		rc = qdb_graph_edit_devices(ed, bad, 1, NULL, 0, &changed, &e);
		ok(rc == QDB_ENOTFOUND && strstr(e.msg, "'c2'") && strstr(e.msg, "c1"),
		   "unknown node: error lists close names (%s)", e.msg);
		rc = qdb_graph_edit_devices(ed, NULL, 0, bpu, 1, &changed, &e);
		ok(rc == QDB_EINVAL && strstr(e.msg, "sg"), "bpu needs a working integer kernel (%s)",
		   e.msg);
		rc = qdb_graph_edit_devices(ed, cpu, 1, cpu, 1, &changed, &e);
		ok(rc == QDB_EINVAL, "a node for both devices is refused");
		ok(ed->n_edits == 1 && node(ed, "c1")->device == QDB_DEV_CPU,
		   "failed edits change nothing");
	}
	ok(qdb_graph_edit_devices(g, cpu, 1, NULL, 0, &changed, &e) == QDB_EINVAL,
	   "edit refuses a qat graph");
	unlink(path);
	qdb_graph_delete(ed);
	qdb_graph_delete(back);
	qdb_convert_report_done(&rep);
	qdb_graph_delete(q);
	qdb_graph_delete(g);
}

static void test_fixed_profile(void)
{
	struct qdb_graph *g = qat_graph(1, 0.05), *q = NULL;
	struct qdb_convert_opts o = {QDB_PROFILE_FIXED, QDB_ROUND_HALF_AWAY};
	struct qdb_convert_report rep;
	struct qdb_err e;
	int rc = qdb_convert(g, &o, &q, &rep, &e);
	if (!ok(rc == QDB_OK, "convert --profile fixed")) {
		tap_diag("%s", e.msg);
		qdb_graph_delete(g);
		return;
	}
	const struct qdb_node *c1 = node(q, "c1");
	const struct qdb_tensor *bt = c1 ? &q->constants[q->values[c1->inputs[2]].constant].t : NULL;
	int good = bt && bt->dtype == QDB_I32 && bt->q.n == C_OUT;
	for (int c = 0; good && c < C_OUT; c++) {
		double s = SX * s1[c];
		double want = c == 3 ? INT32_MAX : round(b1[c] / s);
		good = ((int32_t *)bt->data)[c] == (int32_t)want && fabs(bt->q.scale[c] - s) < 1e-18;
	}
	ok(good, "fixed: int32 bias at s_x * s_w[c], rounded half away, saturated");
	ok(rep_node(&rep, "c1")->bias_overflow == 1 && rep.bias_overflow == 1,
	   "report: one int32 bias overflow");
	int64_t mult[8], shift[8];
	int nm = c1 ? qdb_node_attr_ints(c1, "rq_mult", mult, 8) : -1;
	int ns = c1 ? qdb_node_attr_ints(c1, "rq_shift", shift, 8) : -1;
	good = nm == C_OUT && ns == C_OUT;
	for (int c = 0; good && c < C_OUT; c++) {
		struct qdb_rq m;
		qdb_rq_from_double(SX * s1[c] / SY, &m);
		good = mult[c] == m.mult && shift[c] == m.shift;
	}
	ok(good, "fixed: per-channel Q31 multipliers as node attrs");
	const struct qdb_node *sg = node(q, "sg");
	const char *lut = sg ? qdb_node_attr_str(sg, "lut", NULL) : NULL;
	const struct qdb_tensor *lt = lut ? cst(q, lut) : NULL;
	ok(sg && sg->device == QDB_DEV_BPU && lt && lt->dtype == QDB_I32 && qdb_tensor_numel(lt) == 256,
	   "fixed: sigmoid on bpu with a 256-entry LUT constant (%s)", lut ? lut : "none");
	/* LUT entry for the input's zero point (x = 0): sigmoid 0.5 -> 128. */
	ok(lt && ((int32_t *)lt->data)[128] == 128, "LUT: input zp -> 0.5 -> 128");
	ok_int(rep.mult_overflow + rep.mult_underflow, 0, "no multiplier out of range");
	qdb_convert_report_done(&rep);
	qdb_graph_delete(q);
	qdb_graph_delete(g);

	/* fc's output scale so small that s_x * s_w / s_y >= 2^30. */
	g = qat_graph(1, 1e-15);
	rc = qdb_convert(g, &o, &q, &rep, &e);
	ok(!rc && rep_node(&rep, "fc")->mult_overflow == 3, "report: multipliers out of range (%d)",
	   rc ? -1 : rep_node(&rep, "fc")->mult_overflow);
	qdb_convert_report_done(&rep);
	qdb_graph_delete(q);
	/* Refusals. */
	struct qdb_convert_opts bad = {QDB_PROFILE_TORCH, QDB_ROUND_HALF_AWAY};
	ok(qdb_convert(g, &bad, &q, NULL, &e) == QDB_EINVAL, "torch profile refuses other roundings");
	g->stage = QDB_STAGE_QUANTIZED;
	ok(qdb_convert(g, &o, &q, NULL, &e) == QDB_EINVAL && strstr(e.msg, "qat"),
	   "convert refuses a graph that is not qat");
	qdb_graph_delete(g);
}

/* Every node on cpu: the quantized graph computes what the qat graph does
 * (without the huge test bias, which only the qat graph clamps at c1). */
static void test_all_cpu(void)
{
	b1[3] = 0.2f;
	for (int p = 0; p < 2; p++) {
		struct qdb_graph *g = qat_graph(1, 0.05), *q = NULL;
		struct qdb_convert_opts o = {p ? QDB_PROFILE_FIXED : QDB_PROFILE_TORCH,
					     p ? QDB_ROUND_HALF_AWAY : QDB_ROUND_HALF_EVEN};
		struct qdb_err e;
		float x[C_IN * HW * HW], a[64], b[64];
		const float *in[1] = {x};
		for (int i = 0; i < C_IN * HW * HW; i++)
			x[i] = (float)(sin(i * 0.7) * 3);
		if (qdb_convert(g, &o, &q, NULL, &e)) {
			ok(0, "convert: %s", e.msg);
			qdb_graph_delete(g);
			continue;
		}
		char *names[16];
		int n = 0;
		for (int i = 0; i < q->n_nodes && n < 16; i++)
			if (q->nodes[i].op != qdb_op_lookup("quantize") &&
			    q->nodes[i].op != qdb_op_lookup("dequantize"))
				names[n++] = q->nodes[i].name;
		int rc = qdb_graph_edit_devices(q, names, n, NULL, 0, NULL, &e);
		int64_t na = rc ? -1 : tg_run(g, QDB_SEM_FAKEQUANT, in, a, 64, &e);
		int64_t nb = na < 0 ? -1 : tg_run(q, QDB_SEM_INTEGER, in, b, 64, &e);
		double ab = 0, aa = 0, bb = 0;
		for (int64_t i = 0; i < nb && nb == na; i++) {
			ab += (double)a[i] * b[i];
			aa += (double)a[i] * a[i];
			bb += (double)b[i] * b[i];
		}
		double cosv = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
		ok(na > 0 && nb == na && cosv > 0.9999,
		   "%s: every node on cpu matches the qat graph (cosine %.6f)",
		   qdb_profile_name(o.profile), cosv);
		if (na < 0 || nb < 0)
			tap_diag("%s", e.msg);
		qdb_graph_delete(q);
		qdb_graph_delete(g);
	}
}

int main(void)
{
	make_weights();
	test_torch_profile();
	test_fixed_profile();
	test_all_cpu();
	return tap_done();
}
