/* test_session.c - analysis/session (two stages over samples, cell cache,
 * aggregates, modes, device edits) and analysis/inspect (error in LSB,
 * per-channel comparison), on the committed traces and graphs.
 *
 *   testdata/traces/demo_qat.qtr vs demo_int.qtr: 13 layers x 8 samples,
 *     layer3.conv's channel 3 drifts (49 LSB at frame_0000)
 *   testdata/run/tiny_qat_pt.qtr vs tiny.qbc (+ tiny.qds): torch's QAT
 *     model against qdb running the exported graph, bit-exact
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/inspect.h"
#include "analysis/session.h"
#include "base/alloc.h"
#include "graph/graph.h"
#include "io/qbc.h"
#include "io/trace.h"
#include "tap.h"

static char path_buf[4][1024];

static const char *data(int k, const char *rel)
{
	const char *src = getenv("QDB_SRCDIR") ? getenv("QDB_SRCDIR") : ".";
	snprintf(path_buf[k], sizeof path_buf[k], "%s/testdata/%s", src, rel);
	return path_buf[k];
}

static int stop_at(void *user, int64_t done, int64_t total)
{
	(void)total;
	return done >= *(int *)user;
}

static void test_traces(void)
{
	struct qdb_session_opts o;
	struct qdb_session *s;
	struct qdb_err err;
	const struct qdb_compare_cell *c;

	qdb_session_opts_init(&o);
	o.a_path = data(0, "traces/demo_qat.qtr");
	o.b_path = data(1, "traces/demo_int.qtr");
	ok(qdb_session_open(&o, &s, &err) == QDB_OK, "trace pair opens: %s", err.msg);
	ok(qdb_session_kind(s, 0) == QDB_SOURCE_TRACE && qdb_session_kind(s, 1) == QDB_SOURCE_TRACE,
	   "both sides are traces");
	ok_int(qdb_session_n_rows(s), 13, "13 aligned layers");
	ok_int(qdb_session_n_samples(s), 8, "8 shared samples");
	ok(!strcmp(qdb_session_sample_name(s, 0), "frame_0000"), "sample ids as written");
	ok_int(qdb_session_find_sample(s, "frame_0003"), 3, "find a sample by id");
	ok_int(qdb_session_find_row(s, "layer3.conv"), 6, "find a row by name");
	ok_int(qdb_session_output_row(s), 12, "the output row is the last layer");
	ok(!strcmp(qdb_session_stage(s, 1), "quantized.bc"), "stage of B");
	ok(qdb_session_cached(s, 0, 6) == NULL, "nothing cached before asking");

	ok(qdb_session_cell(s, 0, 6, &c, &err) == QDB_OK && c && c->state == QDB_CELL_OK,
	   "a cell computes");
	ok(qdb_session_cached(s, 0, 6) == c, "and is cached");

	/* The same metrics straight from the tensors. */
	struct qdb_tensor a, b;
	struct qdb_metrics m;
	qdb_tensor_init(&a);
	qdb_tensor_init(&b);
	ok(qdb_session_tensors(s, 0, 6, &a, &b, &err) == QDB_OK, "tensors of a cell");
	qdb_metrics_compute(&a, &b, 1e-5, 0, &m, &err);
	ok_near(c->m.cosine, m.cosine, 1e-15, "cell cosine = metrics on its tensors");
	ok_near(c->m.max_steps, 49, 1e-4, "layer3.conv is 49 LSB off at frame_0000");
	ok(qdb_session_divergent(s, c, NULL), "and divergent by cosine<0.99");
	ok_int(qdb_session_grade(s, c, QDB_M_COSINE), 2, "graded 'crossed' on cosine");

	/* inspect: the channel that drifts */
	struct qdb_channel_cmp *ch;
	int64_t nch;
	int axis = qdb_inspect_channel_axis(&a, &b);
	ok_int(axis, 1, "channel axis of NCHW is 1");
	ok(qdb_inspect_channels(&a, &b, axis, 1e-5, &ch, &nch, &err) == QDB_OK, "channels");
	ok_int(nch, 16, "16 channels");
	ok_int(ch[0].channel, 3, "worst channel first: 3");
	ok(ch[0].cosine <= ch[1].cosine && ch[nch - 2].cosine <= ch[nch - 1].cosine,
	   "sorted by cosine, worst first");
	ok_near(ch[0].max_steps, 49, 1e-4, "channel 3 holds the 49 LSB");
	qdb_free(ch);
	int64_t bins[16], sum = 0, nf;
	double range;
	int lsb;
	ok(qdb_inspect_error_hist(&a, &b, bins, 16, &range, &lsb, &nf, &err) == QDB_OK,
	   "error histogram");
	for (int i = 0; i < 16; i++)
		sum += bins[i];
	ok(lsb && sum == qdb_tensor_numel(&a) && nf == 0, "in LSB, every element counted");
	ok_near(range, 49, 1e-4, "range is the largest error (49 LSB)");
	int64_t ha[8], hb[8], sa = 0, sb = 0;
	qdb_inspect_hist_pair(&a, &b, -1, 2, ha, hb, 8);
	for (int i = 0; i < 8; i++)
		sa += ha[i], sb += hb[i];
	ok(sa == qdb_tensor_numel(&a) && sb == qdb_tensor_numel(&b), "value histograms count all");
	qdb_tensor_done(&a);
	qdb_tensor_done(&b);

	int r = qdb_session_find_divergent(s, 0, 0, 1, NULL, &err);
	ok_int(r, 6, "first divergent layer: layer3.conv");
	ok_int(qdb_session_find_divergent(s, 0, 5, -1, NULL, &err), -1, "none above it");
	struct qdb_threshold th;
	qdb_threshold_parse("max_steps>50", &th, &err);
	ok_int(qdb_session_find_divergent(s, 0, 0, 1, &th, &err), -1,
	       "max_steps>50 never at frame_0000");
	ok(qdb_session_find_divergent(s, 1, 0, 1, &th, &err) >= 6, "but at frame_0001 (56 LSB)");

	/* breakpoint search across samples */
	int bs = 0, br = 0;
	ok_int(qdb_session_find_next(s, &bs, &br, &th, NULL, NULL, &err), 1, "find_next max_steps>50");
	ok(bs == 1 && br == 6, "first hit: layer3.conv at frame_0001 (got %d, %d)", bs, br);
	br++;
	int hits = 1;
	while (qdb_session_find_next(s, &bs, &br, &th, NULL, NULL, &err) == 1) {
		qdb_session_cell(s, bs, br, &c, &err);
		if (!(c->m.max_steps > 50))
			hits = -100;
		hits++;
		br++;
	}
	ok(hits > 1, "every later hit crosses the condition (%d hits)", hits);
	int zero = 0;
	bs = 0, br = 0;
	ok_int(qdb_session_find_next(s, &bs, &br, &th, stop_at, &zero, &err), -QDB_ESTOPPED,
	       "find_next can be cancelled");

	/* aggregate, cancelled then complete */
	int stop = 3;
	ok(qdb_session_aggregate(s, stop_at, &stop, &err) == QDB_ESTOPPED, "aggregate can be cancelled");
	ok(qdb_session_agg(s, 0) == NULL, "no aggregate after a cancel");
	stop = 1 << 30;
	ok(qdb_session_aggregate(s, stop_at, &stop, &err) == QDB_OK, "aggregate completes");
	const struct qdb_compare_row *ag = qdb_session_agg(s, 6);
	double worst = 2;
	int ws = -1;
	for (int i = 0; i < 8; i++) {
		qdb_session_cell(s, i, 6, &c, &err);
		if (c->m.cosine < worst)
			worst = c->m.cosine, ws = i;
	}
	ok(ag && ag->agg[QDB_M_COSINE].worst == worst && ag->agg[QDB_M_COSINE].worst_sample == ws,
	   "worst cosine and its sample");
	ok(ag && ag->n_diverged == 8, "layer3.conv diverges on all 8 samples");

	ok(qdb_session_set_mode(s, QDB_MODE_ISOLATED, &err) == QDB_EUNSUPPORTED,
	   "isolated mode needs a graph B");
	ok(!qdb_session_editable(s) && qdb_session_device(s, 0) == -1, "traces are not editable");
	ok(qdb_session_toggle_cpu(s, 6, 0, &err) == QDB_EUNSUPPORTED, "no cpu toggle on traces");
	ok(qdb_session_undo(s, 0, &err) == QDB_ENOTFOUND, "nothing to undo");
	qdb_session_close(s);

	/* Errors: a missing file; a graph without a dataset. */
	o.b_path = data(1, "traces/no-such.qtr");
	ok(qdb_session_open(&o, &s, &err) != QDB_OK && strstr(err.msg, "no-such.qtr"),
	   "a missing file fails with its name: %s", err.msg);
	o.b_path = data(1, "run/tiny.qbc");
	ok(qdb_session_open(&o, &s, &err) == QDB_EINVAL && strstr(err.msg, "--data"),
	   "a graph without --data is refused: %s", err.msg);
}

static void test_graph(void)
{
	struct qdb_session_opts o;
	struct qdb_session *s;
	struct qdb_err err;
	const struct qdb_compare_cell *c;

	qdb_session_opts_init(&o);
	o.a_path = data(0, "run/tiny_qat_pt.qtr");
	o.b_path = data(1, "run/tiny.qbc");
	o.data_path = data(2, "run/tiny.qds");
	ok(qdb_session_open(&o, &s, &err) == QDB_OK, "trace vs graph with a dataset: %s", err.msg);
	ok(qdb_session_kind(s, 1) == QDB_SOURCE_GRAPH, "B runs as a graph");
	ok(qdb_session_n_rows(s) > 0 && qdb_session_n_samples(s) > 0, "rows and samples");
	int bad = 0;
	for (int i = 0; i < qdb_session_n_samples(s); i++)
		for (int r = 0; r < qdb_session_n_rows(s); r++) {
			if (qdb_session_cell(s, i, r, &c, &err) || c->state != QDB_CELL_OK ||
			    c->m.max_abs != 0)
				bad++;
		}
	ok_int(bad, 0, "qdb's run of the QAT graph equals torch's trace, every cell");
	int out = qdb_session_output_row(s);
	qdb_session_cell(s, 0, out, &c, &err);
	ok(c->m.top1 == 1, "top1 compared on the output row");
	ok(qdb_session_set_mode(s, QDB_MODE_ISOLATED, &err) == QDB_OK, "isolated mode");
	bad = 0;
	for (int r = 0; r < qdb_session_n_rows(s); r++)
		if (qdb_session_cell(s, 0, r, &c, &err) || c->state != QDB_CELL_OK || c->m.max_abs != 0)
			bad++;
	ok_int(bad, 0, "isolated: every node on torch's inputs gives torch's output");
	struct qdb_tensor a, b;
	qdb_tensor_init(&a);
	qdb_tensor_init(&b);
	ok(qdb_session_tensors(s, 0, out, &a, &b, &err) == QDB_OK && b.owns_data,
	   "isolated tensors: B is the node's own evaluation");
	qdb_tensor_done(&a);
	qdb_tensor_done(&b);
	ok(!qdb_session_editable(s), "a qat graph is not editable (no integer kernels)");

	/* a small cache keeps working, dropping whole samples */
	qdb_session_set_mode(s, QDB_MODE_CUMULATIVE, &err);
	qdb_session_set_cache_limit(s, qdb_session_n_rows(s));
	ok(qdb_session_cell(s, 0, 0, &c, &err) == QDB_OK && qdb_session_cell(s, 1, 0, &c, &err) == QDB_OK,
	   "two samples through a one-sample cache");
	ok(qdb_session_cached(s, 0, 0) == NULL && qdb_session_cached(s, 1, 0) != NULL,
	   "the older sample was dropped");
	int stop = 1 << 30;
	ok(qdb_session_aggregate(s, stop_at, &stop, &err) == QDB_OK &&
	   qdb_session_agg(s, 0)->n_ok == qdb_session_n_samples(s),
	   "aggregate over every sample through the small cache");
	qdb_session_close(s);

	/* graph against itself */
	o.a_path = data(0, "run/tiny.qbc");
	o.max_samples = 3;
	ok(qdb_session_open(&o, &s, &err) == QDB_OK && qdb_session_n_samples(s) == 3,
	   "graph vs graph, --samples 3");
	ok(qdb_session_cell(s, 2, 0, &c, &err) == QDB_OK && c->m.cosine == 1, "identical runs");
	qdb_session_close(s);
}

/* Editing on the digits demo: act3 (the faulty LUT) to the CPU. The edited
 * session must agree with a fresh session on the file it writes. */
static void test_edit(void)
{
	struct qdb_session_opts o;
	struct qdb_session *s, *s2;
	struct qdb_err err;
	const struct qdb_compare_cell *c, *c2;
	char out[256];

	qdb_session_opts_init(&o);
	o.a_path = data(0, "digits/qat.qbc");
	o.b_path = data(1, "digits/quantized-bad.qbc");
	o.data_path = data(2, "digits/digits.qds");
	o.max_samples = 8;
	if (access(o.b_path, R_OK) != 0) {
		tap_skip(14, "testdata/digits is not there");
		return;
	}
	ok(qdb_session_open(&o, &s, &err) == QDB_OK, "digits demo opens: %s", err.msg);
	ok(qdb_session_editable(s), "an integer B graph is editable");
	int act3 = qdb_session_find_row(s, "act3");
	int outr = qdb_session_output_row(s);
	ok(act3 >= 0 && qdb_session_device(s, act3) == QDB_DEV_BPU, "act3 starts on bpu");
	ok_int(qdb_session_find_divergent(s, 0, 0, 1, NULL, &err), act3, "act3 is the first divergent");
	qdb_session_cell(s, 0, outr, &c, &err);
	double out_before = c->m.cosine;
	ok(qdb_session_toggle_cpu(s, act3, 0, &err) == QDB_OK, "toggle act3 to cpu: %s", err.msg);
	ok(qdb_session_device(s, act3) == QDB_DEV_CPU && qdb_session_n_edits(s) == 1 &&
	   qdb_session_unsaved(s), "act3 on cpu, one unsaved edit");
	ok(qdb_session_before_sample(s) == 0 && qdb_session_before(s, outr) &&
	   qdb_session_before(s, outr)->m.cosine == out_before, "the before snapshot holds the old output");
	qdb_session_cell(s, 0, outr, &c, &err);
	ok(c->m.cosine > 0.9999 && out_before < 0.95, "the output recovers (%.6f -> %.6f)", out_before,
	   c->m.cosine);
	ok_int(qdb_session_find_divergent(s, 0, 0, 1, NULL, &err), -1, "nothing diverges any more");

	snprintf(out, sizeof out, "%s/qdb-session-%d.qbc",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	ok(qdb_session_save(s, out, &err) == QDB_OK && !qdb_session_unsaved(s), "save: %s", err.msg);
	o.b_path = out;
	ok(qdb_session_open(&o, &s2, &err) == QDB_OK && qdb_session_device(s2, act3) == QDB_DEV_CPU,
	   "the saved graph has act3 on cpu");
	int same = 1;
	for (int i = 0; i < 8; i++)
		for (int r = 0; r < qdb_session_n_rows(s); r++) {
			qdb_session_cell(s, i, r, &c, &err);
			qdb_session_cell(s2, i, r, &c2, &err);
			if (memcmp(&c->m, &c2->m, sizeof c->m))
				same = 0;
		}
	ok(same, "cone re-runs equal full runs of the saved graph, every cell of 8 samples");
	qdb_session_close(s2);
	unlink(out);

	ok(qdb_session_undo(s, 0, &err) == QDB_OK && qdb_session_device(s, act3) == QDB_DEV_BPU &&
	   qdb_session_n_edits(s) == 0 && qdb_session_unsaved(s), "undo: back on bpu, unsaved again");
	qdb_session_cell(s, 0, outr, &c, &err);
	ok_near(c->m.cosine, out_before, 0, "undo restores the output exactly");
	qdb_session_close(s);
}

int main(void)
{
	test_traces();
	test_graph();
	test_edit();
	return tap_done();
}
