/* interp_time.c - per-node latency of one graph on one sample (a helper of
 * scripts/bench/interp; not installed).
 *
 *   interp-time MODEL.qbc DS.qds [float|qat|native] [RUNS]
 *
 * Runs record 0 RUNS times (after one warm-up run) through the executor
 * with a hook that timestamps every node, and prints JSON: the median total
 * in ms and, per node, its median time and its multiply-accumulates (conv2d,
 * linear, matmul). Times are wall clock ("ms") and this thread's CPU time
 * ("cpu_ms": what the run cost when other processes compete for the CPUs).
 * A benchmark, not a test.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "graph/exec.h"
#include "graph/graph.h"
#include "io/dataset.h"
#include "io/qbc.h"
#include "ops/ops.h"

static double clk(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now(void) { return clk(CLOCK_MONOTONIC); }
static double cpu(void) { return clk(CLOCK_THREAD_CPUTIME_ID); }

struct timing {
	double last, last_cpu;
	double *t, *c; /* per node, this run: wall, cpu */
};

static int hook(void *ctx, struct qdb_run *r, int node, const struct qdb_tensor *const *out,
		int n_out)
{
	struct timing *tm = ctx;
	double t = now(), c = cpu();
	tm->t[node] = t - tm->last;
	tm->c[node] = c - tm->last_cpu;
	tm->last = t;
	tm->last_cpu = c;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double macs(const struct qdb_graph *g, int n)
{
	const struct qdb_node *nd = &g->nodes[n];
	const struct qdb_value *y = &g->values[nd->outputs[0]];
	double out = (double)qdb_shape_numel(y->rank, y->shape);
	if (nd->op == QDB_OP_CONV2D) {
		const struct qdb_value *w = &g->values[nd->inputs[1]];
		return out * (double)(w->shape[1] * w->shape[2] * w->shape[3]);
	}
	if (nd->op == QDB_OP_LINEAR)
		return out * (double)g->values[nd->inputs[1]].shape[1];
	if (nd->op == QDB_OP_MATMUL) {
		const struct qdb_value *a = &g->values[nd->inputs[0]];
		return out * (double)a->shape[a->rank - 1];
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: interp-time MODEL.qbc DS.qds [float|qat|native] [RUNS]\n");
		return 2;
	}
	enum qdb_exec_sem sem = QDB_SEM_NATIVE;
	if (argc > 3 && qdb_exec_sem_parse(argv[3], &sem)) {
		fprintf(stderr, "interp-time: bad mode %s\n", argv[3]);
		return 2;
	}
	int runs = argc > 4 ? atoi(argv[4]) : 5;
	if (runs < 1)
		runs = 1;
	struct qdb_err e;
	struct qdb_graph *g = NULL;
	struct qdb_dataset *ds = NULL;
	struct qdb_exec *x = NULL;
	struct qdb_run *r = NULL;
	if (qdb_graph_load_checked(argv[1], &g, &e) || qdb_dataset_open(argv[2], &ds, &e) ||
	    qdb_exec_new(g, sem, &x, &e) || qdb_run_new(x, &r, &e)) {
		fprintf(stderr, "interp-time: %s\n", e.msg);
		return 2;
	}
	for (int i = 0; i < g->n_inputs; i++) {
		struct qdb_tensor t;
		qdb_tensor_init(&t);
		int k = qdb_dataset_find_input(ds, g->values[g->inputs[i]].name);
		if (qdb_dataset_input(ds, 0, k < 0 ? i : k, &t, &e) || qdb_run_set_input(r, i, &t, &e)) {
			fprintf(stderr, "interp-time: %s\n", e.msg);
			return 2;
		}
		qdb_tensor_done(&t);
	}
	int nn = g->n_nodes;
	double *all = calloc((size_t)nn * (size_t)runs, sizeof(double));
	double *allc = calloc((size_t)nn * (size_t)runs, sizeof(double));
	double *tot = calloc((size_t)runs, sizeof(double));
	double *totc = calloc((size_t)runs, sizeof(double));
	double *tmp = calloc((size_t)runs, sizeof(double));
	struct timing tm = {0, 0, calloc((size_t)nn, sizeof(double)), calloc((size_t)nn, sizeof(double))};
	if (!all || !allc || !tot || !totc || !tmp || !tm.t || !tm.c)
		return 3;
	for (int it = -1; it < runs; it++) {
		for (int n = 0; n < nn; n++)
			qdb_run_invalidate(r, n);
		double t0 = now(), c0 = cpu();
		tm.last = t0;
		tm.last_cpu = c0;
		if (qdb_run_forward(r, hook, &tm, &e)) {
			fprintf(stderr, "interp-time: %s\n", e.msg);
			return 2;
		}
		if (it < 0)
			continue;
		tot[it] = now() - t0;
		totc[it] = cpu() - c0;
		for (int n = 0; n < nn; n++) {
			all[(size_t)n * (size_t)runs + (size_t)it] = tm.t[n];
			allc[(size_t)n * (size_t)runs + (size_t)it] = tm.c[n];
		}
	}
	qsort(tot, (size_t)runs, sizeof(double), cmp_double);
	qsort(totc, (size_t)runs, sizeof(double), cmp_double);
	printf("{\"model\": \"%s\", \"semantics\": \"%s\", \"runs\": %d, \"total_ms\": %.4f, "
	       "\"total_cpu_ms\": %.4f, \"nodes\": [",
	       g->name, qdb_exec_sem_name(qdb_exec_semantics(x)), runs, tot[runs / 2] * 1e3,
	       totc[runs / 2] * 1e3);
	for (int n = 0; n < nn; n++) {
		memcpy(tmp, all + (size_t)n * (size_t)runs, sizeof(double) * (size_t)runs);
		qsort(tmp, (size_t)runs, sizeof(double), cmp_double);
		double ms = tmp[runs / 2] * 1e3;
		memcpy(tmp, allc + (size_t)n * (size_t)runs, sizeof(double) * (size_t)runs);
		qsort(tmp, (size_t)runs, sizeof(double), cmp_double);
		printf("%s\n {\"name\": \"%s\", \"op\": \"%s\", \"ms\": %.5f, \"cpu_ms\": %.5f, "
		       "\"macs\": %.0f}",
		       n ? "," : "", g->nodes[n].name, g->nodes[n].op_name, ms, tmp[runs / 2] * 1e3,
		       macs(g, n));
	}
	printf("]}\n");
	free(all);
	free(allc);
	free(totc);
	free(tot);
	free(tmp);
	free(tm.t);
	free(tm.c);
	qdb_run_delete(r);
	qdb_exec_delete(x);
	qdb_dataset_close(ds);
	qdb_graph_delete(g);
	return 0;
}
