/* test_sensitivity.c - the sensitivity engine and eval in the core library
 * (no Lua): on the digits demo, the engine equals the naive re-runs
 * exactly, does not depend on the thread count, and finds the broken
 * hardswish; eval agrees with itself across thread counts; bad cases. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/eval.h"
#include "analysis/sensitivity.h"
#include "base/alloc.h"
#include "graph/exec.h"
#include "io/dataset.h"
#include "io/qbc.h"
#include "tap.h"

static char *path_of(const char *rel)
{
	const char *src = getenv("QDB_SRCDIR");
	static char buf[8][1024];
	static int k;
	char *p = buf[k++ % 8];
	snprintf(p, 1024, "%s/%s", src ? src : ".", rel);
	return p;
}

static int same(const struct qdb_sens_result *a, const struct qdb_sens_result *b)
{
	if (a->n_units != b->n_units || a->baseline != b->baseline)
		return 0;
	for (int i = 0; i < a->n_units; i++) {
		const struct qdb_sens_unit *x = &a->units[i], *y = &b->units[i];
		if (strcmp(x->name, y->name) || x->score != y->score)
			return 0;
		if (!(isnan(x->score_except) && isnan(y->score_except)) &&
		    x->score_except != y->score_except)
			return 0;
	}
	return 1;
}

int main(void)
{
	struct qdb_err err;
	struct qdb_graph *qat = NULL, *bad = NULL;
	struct qdb_dataset *ds = NULL;
	if (qdb_graph_load_checked(path_of("testdata/digits/qat.qbc"), &qat, &err) ||
	    qdb_graph_load_checked(path_of("testdata/digits/quantized-bad.qbc"), &bad, &err) ||
	    qdb_dataset_open(path_of("testdata/digits/digits.qds"), &ds, &err)) {
		tap_diag("%s", err.msg);
		tap_skip(1, "the digits demo is missing");
		return tap_done();
	}
	struct qdb_exec *xq, *xb, *xf;
	ok(qdb_exec_new(qat, QDB_SEM_FAKEQUANT, &xq, &err) == QDB_OK, "qat executor");
	ok(qdb_exec_new(bad, QDB_SEM_INTEGER, &xb, &err) == QDB_OK, "integer executor");
	ok(qdb_exec_new(qat, QDB_SEM_FLOAT, &xf, &err) == QDB_OK, "float executor");

	int64_t recs[40];
	for (int i = 0; i < 40; i++)
		recs[i] = i * 37;

	/* revert: engine == naive, threads do not matter, act3 first */
	struct qdb_sens_opts o;
	qdb_sens_opts_init(&o);
	o.mode = QDB_SENS_REVERT;
	o.metric = QDB_SENS_COSINE;
	o.ref_x = xq;
	o.records = recs;
	o.n_records = 40;
	struct qdb_sens_result r1, r2, rn;
	o.threads = 1;
	ok(qdb_sens_run(xb, ds, &o, &r1, &err) == QDB_OK, "revert, 1 thread");
	o.threads = 3;
	ok(qdb_sens_run(xb, ds, &o, &r2, &err) == QDB_OK, "revert, 3 threads");
	o.threads = 1;
	o.naive = 1;
	ok(qdb_sens_run(xb, ds, &o, &rn, &err) == QDB_OK, "revert, naive");
	ok(same(&r1, &r2), "revert: the thread count does not change a number");
	ok(same(&r1, &rn), "revert: engine and naive agree exactly");
	ok(r1.n_units > 0 && !strcmp(r1.units[0].name, "act3"), "revert ranks act3 first");
	ok(r1.units[0].effect > 0.1, "with a large gain (%g)", r1.units[0].effect);
	ok(r1.computed < rn.computed, "the engine evaluates fewer nodes (%lld < %lld)",
	   (long long)r1.computed, (long long)rn.computed);
	ok_int(rn.computed, rn.full, "naive evaluates every node of every unit");
	qdb_sens_result_done(&r1);
	qdb_sens_result_done(&r2);
	qdb_sens_result_done(&rn);

	/* quantize: engine == naive; by value too; top1 against labels */
	qdb_sens_opts_init(&o);
	o.mode = QDB_SENS_QUANTIZE;
	o.metric = QDB_SENS_SQNR;
	o.records = recs;
	o.n_records = 40;
	o.threads = 2;
	ok(qdb_sens_run(xq, ds, &o, &r1, &err) == QDB_OK, "quantize");
	o.naive = 1;
	o.threads = 1;
	ok(qdb_sens_run(xq, ds, &o, &rn, &err) == QDB_OK, "quantize, naive");
	ok(same(&r1, &rn), "quantize: engine and naive agree exactly (only and except)");
	ok(isinf(r1.float_score), "the float run against itself has infinite sqnr");
	qdb_sens_result_done(&r1);
	qdb_sens_result_done(&rn);
	o.naive = 0;
	o.by_value = 1;
	o.metric = QDB_SENS_TOP1;
	ok(qdb_sens_run(xq, ds, &o, &r1, &err) == QDB_OK, "quantize by value, top1");
	int weights = 0;
	for (int i = 0; i < r1.n_units; i++)
		weights += !strcmp(r1.units[i].op, "weight");
	ok(weights == 5, "by value: five weight units (%d)", weights);
	qdb_sens_result_done(&r1);

	/* misuse */
	qdb_sens_opts_init(&o);
	o.mode = QDB_SENS_REVERT;
	ok(qdb_sens_run(xq, ds, &o, &r1, &err) == QDB_EINVAL, "revert on a qat executor: EINVAL");
	o.metric = QDB_SENS_COSINE;
	ok(qdb_sens_run(xb, ds, &o, &r1, &err) == QDB_EINVAL && strstr(err.msg, "reference"),
	   "cosine without a reference: EINVAL naming it");
	o.mode = QDB_SENS_QUANTIZE;
	ok(qdb_sens_run(xf, ds, &o, &r1, &err) == QDB_EINVAL, "quantize on a float executor: EINVAL");

	/* eval: thread counts agree; bad cases */
	struct qdb_eval_src sa, sb;
	qdb_eval_src_init(&sa);
	qdb_eval_src_init(&sb);
	sa.x = xq;
	sb.x = xb;
	struct qdb_eval_opts eo;
	qdb_eval_opts_init(&eo);
	eo.records = recs;
	eo.n_records = 40;
	struct qdb_eval ea, eb, eb3;
	eo.threads = 1;
	ok(qdb_eval_run(&sa, ds, &eo, &ea, &err) == QDB_OK, "eval qat");
	ok(qdb_eval_run(&sb, ds, &eo, &eb, &err) == QDB_OK, "eval quantized-bad");
	eo.threads = 3;
	ok(qdb_eval_run(&sb, ds, &eo, &eb3, &err) == QDB_OK, "eval, 3 threads");
	int agree = eb.n == eb3.n;
	for (int64_t i = 0; agree && i < eb.n; i++)
		agree = eb.pred[i] == eb3.pred[i] && !memcmp(eb.out[i].data, eb3.out[i].data,
							     eb.out[i].nbytes);
	ok(agree, "eval outputs do not depend on the thread count");
	ok(ea.accuracy > eb.accuracy, "qat is more accurate than quantized-bad (%g > %g)",
	   ea.accuracy, eb.accuracy);
	struct qdb_badcase *bc;
	int64_t nbc;
	ok(qdb_eval_badcases(&ea, &eb, 1, -3, &bc, &nbc, &err) == QDB_OK, "badcases");
	int64_t manual = 0;
	for (int64_t i = 0; i < ea.n; i++)
		manual += ea.pred[i] != eb.pred[i];
	ok_int(nbc, manual, "bad cases are the disagreements");
	qdb_free(bc);
	qdb_eval_done(&ea);
	qdb_eval_done(&eb);
	qdb_eval_done(&eb3);

	qdb_exec_delete(xq);
	qdb_exec_delete(xb);
	qdb_exec_delete(xf);
	qdb_graph_delete(qat);
	qdb_graph_delete(bad);
	qdb_dataset_close(ds);
	return tap_done();
}
