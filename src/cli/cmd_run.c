/* cmd_run.c - `qdb run MODEL.qbc --data DS.qds`: runs a graph over a
 * dataset, optionally records every layer as a trace, prints outputs or an
 * accuracy summary.
 *
 * Samples are spread over -j worker threads, each with its own struct
 * qdb_run on one shared prepared executor. Trace records are written in
 * sample order (a worker holding sample i waits until i-1 is written), so
 * the trace does not depend on -j; results are collected per sample and
 * printed at the end, in order.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/table.h"
#include "graph/exec.h"
#include "graph/graph.h"
#include "io/dataset.h"
#include "io/qbc.h"
#include "io/trace.h"

static const char usage_text[] =
	"usage: qdb run MODEL.qbc --data DS.qds [OPTIONS]\n"
	"Runs the graph on the dataset's samples with the numeric semantics of its\n"
	"stage (float, qat: fake quant, quantized: integer kernels on bpu nodes).\n"
	"  -d, --data DS.qds        the dataset (required)\n"
	"  -s, --samples A:B        record range, python-style (default: all); N = one\n"
	"  -t, --trace OUT.qtr      record every layer's output (integers stay integers)\n"
	"      --cpu a,b            run these nodes on cpu (quantized graphs)\n"
	"      --bpu a,b            run these nodes on bpu (quantized graphs)\n"
	"  -m, --stage-mode MODE    float (no fake quant, dequantized constants) or\n"
	"                           qat (fake quant; for a quantized graph: on its\n"
	"                           dequantized constants); default: the graph's stage\n"
	"  -k, --top K              classes listed per sample (default 5)\n"
	"  -j, --jobs N             worker threads over samples (default: online CPUs)\n"
	"  -f, --format FMT         table (default) or json\n"
	"  -w, --wide               do not fit tables to the terminal width\n"
	"  -h, --help               this text\n"
	"Output: with class labels, an accuracy summary; otherwise the top-K classes\n"
	"per sample when the output is a score vector, else per-output statistics.\n"
	"Exit status: 0 ran, 2 bad input or usage, 3 internal failure.\n";

#define MAX_TOP 20

struct run_args {
	const char *model, *data, *samples, *trace, *cpu, *bpu;
	enum qdb_exec_sem sem;
	int top, jobs, wide;
	enum qdb_format format;
};

struct out_stats {
	double min, max, mean;
	int64_t nan;
};

struct sample_res {
	int64_t label;           /* -1 when none */
	int ntop;
	int top_cls[MAX_TOP];
	double top_val[MAX_TOP];
	struct out_stats *outs;  /* per graph output (non-classification) */
};

struct runner {
	const struct qdb_graph *g;
	const struct qdb_exec *x;
	const struct qdb_dataset *ds;
	const int *input_map;           /* graph input -> dataset input */
	const enum qdb_device *dev;     /* per node */
	int classify;                   /* output 0 is a score vector */
	int top;
	int64_t first, count;
	struct qdb_trace_writer *tw;
	struct sample_res *res;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	int64_t next_sample, next_write;
	int failed;
	struct qdb_err err;
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "qdb run: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (qdb run --help)\n");
	return QDB_EXIT_USAGE;
}

static int exit_for(int status)
{
	return status == QDB_ENOMEM ? QDB_EXIT_INTERNAL : QDB_EXIT_BADINPUT;
}

/* "A:B", "A:", ":B", "N"; negative values count from the end. */
static int parse_range(const char *s, int64_t count, int64_t *first, int64_t *n)
{
	long a = 0, b = (long)count;
	const char *colon = strchr(s, ':');
	if (!colon) {
		if (qdb_parse_long(s, &a))
			return -1;
		if (a < 0)
			a += (long)count;
		if (a < 0 || a >= count)
			return -1;
		*first = a;
		*n = 1;
		return 0;
	}
	char *lo = qdb_strndup(s, (size_t)(colon - s));
	int bad = !lo || (*lo && qdb_parse_long(lo, &a)) || (colon[1] && qdb_parse_long(colon + 1, &b));
	qdb_free(lo);
	if (bad)
		return -1;
	if (a < 0)
		a += (long)count;
	if (b < 0)
		b += (long)count;
	if (a < 0)
		a = 0;
	if (b > count)
		b = (long)count;
	if (a >= b)
		return -1;
	*first = a;
	*n = b - a;
	return 0;
}

static int set_devices(const struct qdb_graph *g, const struct qdb_exec *x, const char *list,
		       enum qdb_device dev, enum qdb_device *devs, const char *opt)
{
	char **v = qdb_split(list, ',');
	if (!v) {
		fprintf(stderr, "qdb run: out of memory\n");
		return QDB_EXIT_INTERNAL;
	}
	int rc = 0;
	for (int i = 0; v[i] && !rc; i++) {
		if (!v[i][0])
			continue;
		int n = qdb_graph_find_node(g, v[i]);
		if (n < 0) {
			fprintf(stderr, "qdb run: %s: the graph has no node '%s'\n", opt, v[i]);
			rc = QDB_EXIT_USAGE;
		} else if (!qdb_exec_can_run_on(x, n, dev)) {
			fprintf(stderr, "qdb run: %s: node %s (%s) cannot run on %s\n", opt, v[i],
				g->nodes[n].op_name, dev == QDB_DEV_CPU ? "cpu" : "bpu");
			rc = QDB_EXIT_BADINPUT;
		} else {
			devs[n] = dev;
		}
	}
	qdb_strv_free(v);
	return rc;
}

/* Output 0 looks like class scores: K >= 2 values along the last axis,
 * every other dim 1. */
static int is_score_vector(const struct qdb_value *v)
{
	if (v->rank < 1 || v->shape[v->rank - 1] < 2)
		return 0;
	for (int i = 0; i < v->rank - 1; i++)
		if (v->shape[i] != 1)
			return 0;
	return 1;
}

static void collect(struct runner *rn, const struct qdb_run *r, struct sample_res *res,
		    float *buf)
{
	const struct qdb_graph *g = rn->g;
	if (rn->classify) {
		const struct qdb_tensor *y = qdb_run_output(r, 0);
		int64_t n = qdb_tensor_numel(y);
		qdb_tensor_to_f32(y, buf);
		int k = rn->top < n ? rn->top : (int)n;
		res->ntop = 0;
		for (int t = 0; t < k; t++) {
			int best = -1;
			for (int64_t i = 0; i < n; i++) {
				int used = 0;
				for (int u = 0; u < t; u++)
					used |= res->top_cls[u] == i;
				if (used || isnan(buf[i]))
					continue;
				if (best < 0 || buf[i] > buf[best])
					best = (int)i;
			}
			if (best < 0)
				break;
			res->top_cls[t] = best;
			res->top_val[t] = buf[best];
			res->ntop++;
		}
		return;
	}
	for (int o = 0; o < g->n_outputs; o++) {
		const struct qdb_tensor *y = qdb_run_output(r, o);
		int64_t n = qdb_tensor_numel(y);
		struct out_stats *s = &res->outs[o];
		double sum = 0;
		int64_t finite = 0;
		s->min = INFINITY;
		s->max = -INFINITY;
		s->nan = 0;
		for (int64_t i = 0; i < n; i++) {
			double v = qdb_tensor_get_real(y, i);
			if (isnan(v)) {
				s->nan++;
				continue;
			}
			s->min = v < s->min ? v : s->min;
			s->max = v > s->max ? v : s->max;
			sum += v;
			finite++;
		}
		s->mean = finite ? sum / (double)finite : NAN;
	}
}

static int write_trace(struct runner *rn, const struct qdb_run *r, int64_t rec,
		       struct qdb_err *err)
{
	const struct qdb_graph *g = rn->g;
	const struct qdb_sample_id *id = qdb_dataset_id(rn->ds, rec);
	for (int n = 0; n < g->n_nodes; n++) {
		const struct qdb_tensor *t = qdb_run_value(r, g->nodes[n].outputs[0]);
		int rc = qdb_trace_writer_add(rn->tw, id, g->nodes[n].name, t, err);
		if (rc)
			return rc;
	}
	return QDB_OK;
}

static void fail(struct runner *rn, const struct qdb_err *e)
{
	pthread_mutex_lock(&rn->mu);
	if (!rn->failed) {
		rn->failed = 1;
		rn->err = *e;
	}
	pthread_cond_broadcast(&rn->cv);
	pthread_mutex_unlock(&rn->mu);
}

static void *worker(void *p)
{
	struct runner *rn = p;
	struct qdb_run *r = NULL;
	struct qdb_err e;
	float *buf = NULL;
	qdb_err_clear(&e);
	int rc = qdb_run_new(rn->x, &r, &e);
	for (int n = 0; !rc && n < rn->g->n_nodes; n++)
		if (rn->dev[n] != qdb_run_device(r, n))
			rc = qdb_run_set_device(r, n, rn->dev[n], &e);
	if (!rc && rn->classify) {
		int64_t k = qdb_shape_numel(rn->g->values[rn->g->outputs[0]].rank,
					    rn->g->values[rn->g->outputs[0]].shape);
		if (!(buf = qdb_alloc_array((size_t)k, sizeof(float))))
			rc = qdb_err_set(&e, QDB_ENOMEM, "out of memory");
	}
	if (rc)
		fail(rn, &e);
	while (!rc) {
		pthread_mutex_lock(&rn->mu);
		int64_t i = rn->failed || rn->next_sample >= rn->count ? -1 : rn->next_sample++;
		pthread_mutex_unlock(&rn->mu);
		if (i < 0)
			break;
		int64_t rec = rn->first + i;
		for (int k = 0; !rc && k < rn->g->n_inputs; k++) {
			struct qdb_tensor t;
			qdb_tensor_init(&t);
			rc = qdb_dataset_input(rn->ds, rec, rn->input_map[k], &t, &e);
			if (!rc)
				rc = qdb_run_set_input(r, k, &t, &e);
			qdb_tensor_done(&t);
		}
		if (!rc)
			rc = qdb_run_forward(r, NULL, NULL, &e);
		if (rc) {
			char id[64];
			qdb_err_prefix(&e, "sample %s",
				       qdb_sample_id_str(qdb_dataset_id(rn->ds, rec), id, sizeof id));
			fail(rn, &e);
			break;
		}
		rn->res[i].label = qdb_dataset_label_class(rn->ds, rec);
		collect(rn, r, &rn->res[i], buf);
		if (rn->tw) {
			pthread_mutex_lock(&rn->mu);
			while (!rn->failed && rn->next_write != i)
				pthread_cond_wait(&rn->cv, &rn->mu);
			if (!rn->failed) {
				rc = write_trace(rn, r, rec, &e);
				rn->next_write++;
			}
			pthread_cond_broadcast(&rn->cv);
			pthread_mutex_unlock(&rn->mu);
			if (rc)
				fail(rn, &e);
		}
	}
	qdb_free(buf);
	qdb_run_delete(r);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *stage_label(const struct qdb_graph *g, enum qdb_exec_sem sem)
{
	switch (sem) {
	case QDB_SEM_FLOAT: return "float";
	case QDB_SEM_FAKEQUANT: return "qat";
	case QDB_SEM_INTEGER: return "quantized";
	case QDB_SEM_NATIVE: break;
	}
	return qdb_stage_name(g->stage);
}

/* Labelled samples, and of those the ones whose label is the top-1 class /
 * among the top-k classes (0 when the outputs are not classifications). */
static void count_correct(const struct runner *rn, int64_t *lab, int64_t *c1, int64_t *ck)
{
	*lab = *c1 = *ck = 0;
	for (int64_t i = 0; i < rn->count; i++) {
		const struct sample_res *s = &rn->res[i];
		if (s->label < 0 || !rn->classify)
			continue;
		++*lab;
		*c1 += s->ntop > 0 && s->top_cls[0] == s->label;
		for (int t = 0; t < s->ntop; t++)
			*ck += s->top_cls[t] == s->label;
	}
}

static void print_json(const struct runner *rn, const struct run_args *a, int n_cpu,
		       double secs, int jobs)
{
	const struct qdb_graph *g = rn->g;
	enum qdb_exec_sem sem = qdb_exec_semantics(rn->x);
	struct qdb_json j;
	char id[64];
	qdb_json_init(&j, stdout);
	qdb_json_begin_object(&j);
	qdb_json_key(&j, "model");
	qdb_json_string(&j, g->name);
	qdb_json_key(&j, "stage");
	qdb_json_string(&j, qdb_stage_name(g->stage));
	qdb_json_key(&j, "semantics");
	qdb_json_string(&j, qdb_exec_sem_name(sem));
	qdb_json_key(&j, "cpu_nodes");
	qdb_json_int(&j, n_cpu);
	qdb_json_key(&j, "samples");
	qdb_json_int(&j, rn->count);
	qdb_json_key(&j, "jobs");
	qdb_json_int(&j, jobs);
	qdb_json_key(&j, "seconds");
	qdb_json_number(&j, secs);
	int64_t lab, c1, ck;
	count_correct(rn, &lab, &c1, &ck);
	if (lab) {
		qdb_json_key(&j, "accuracy");
		qdb_json_begin_object(&j);
		qdb_json_key(&j, "labelled");
		qdb_json_int(&j, lab);
		qdb_json_key(&j, "top1");
		qdb_json_number(&j, (double)c1 / (double)lab);
		qdb_json_key(&j, "topk");
		qdb_json_number(&j, (double)ck / (double)lab);
		qdb_json_key(&j, "k");
		qdb_json_int(&j, a->top);
		qdb_json_end_object(&j);
	}
	qdb_json_key(&j, "results");
	qdb_json_begin_array(&j);
	for (int64_t i = 0; i < rn->count; i++) {
		const struct sample_res *s = &rn->res[i];
		qdb_json_begin_object(&j);
		qdb_json_key(&j, "sample");
		const struct qdb_sample_id *sid = qdb_dataset_id(rn->ds, rn->first + i);
		if (sid->is_str)
			qdb_json_string(&j, qdb_sample_id_str(sid, id, sizeof id));
		else
			qdb_json_int(&j, sid->num);
		if (s->label >= 0) {
			qdb_json_key(&j, "label");
			qdb_json_int(&j, s->label);
		}
		if (rn->classify) {
			qdb_json_key(&j, "top");
			qdb_json_begin_array(&j);
			for (int t = 0; t < s->ntop; t++) {
				qdb_json_begin_object(&j);
				qdb_json_key(&j, "class");
				qdb_json_int(&j, s->top_cls[t]);
				const char *cn = qdb_dataset_class_name(rn->ds, s->top_cls[t]);
				if (cn) {
					qdb_json_key(&j, "name");
					qdb_json_string(&j, cn);
				}
				qdb_json_key(&j, "score");
				qdb_json_number(&j, s->top_val[t]);
				qdb_json_end_object(&j);
			}
			qdb_json_end_array(&j);
		} else {
			qdb_json_key(&j, "outputs");
			qdb_json_begin_array(&j);
			for (int o = 0; o < g->n_outputs; o++) {
				qdb_json_begin_object(&j);
				qdb_json_key(&j, "name");
				qdb_json_string(&j, g->values[g->outputs[o]].name);
				qdb_json_key(&j, "min");
				qdb_json_number(&j, s->outs[o].min);
				qdb_json_key(&j, "max");
				qdb_json_number(&j, s->outs[o].max);
				qdb_json_key(&j, "mean");
				qdb_json_number(&j, s->outs[o].mean);
				qdb_json_key(&j, "nan");
				qdb_json_int(&j, s->outs[o].nan);
				qdb_json_end_object(&j);
			}
			qdb_json_end_array(&j);
		}
		qdb_json_end_object(&j);
	}
	qdb_json_end_array(&j);
	qdb_json_finish(&j);
}

static void print_table(const struct runner *rn, const struct run_args *a, int n_cpu,
			double secs, int jobs)
{
	const struct qdb_graph *g = rn->g;
	enum qdb_exec_sem sem = qdb_exec_semantics(rn->x);
	char id[64], num[64];
	struct qdb_table_opts o;
	qdb_table_opts_init(&o, stdout, a->wide);
	int64_t lab, c1, ck;
	count_correct(rn, &lab, &c1, &ck);
	printf("model %s (%s", g->name, qdb_stage_name(g->stage));
	if (sem == QDB_SEM_INTEGER)
		printf(", integer, %d node%s on cpu", n_cpu, n_cpu == 1 ? "" : "s");
	else
		printf(", %s semantics", sem == QDB_SEM_FAKEQUANT ? "fake-quant" : "float");
	printf("), %lld sample%s\n", (long long)rn->count, rn->count == 1 ? "" : "s");

	if (lab) {
		printf("top-1 accuracy  %.4f  (%lld/%lld)\n", (double)c1 / (double)lab, (long long)c1,
		       (long long)lab);
		printf("top-%d accuracy  %.4f  (%lld/%lld)\n", a->top, (double)ck / (double)lab,
		       (long long)ck, (long long)lab);
	} else if (rn->classify) {
		int any_label = 0;
		for (int64_t i = 0; i < rn->count; i++)
			any_label |= rn->res[i].label >= 0;
		struct qdb_table *t = qdb_table_new();
		int cs = qdb_table_add_col(t, "sample", QDB_COL_SHRINK, 8, 0);
		int cl = any_label ? qdb_table_add_col(t, "label", QDB_COL_RIGHT, 0, 3) : -1;
		int c1c = qdb_table_add_col(t, "top1", 0, 0, 0);
		int csc = qdb_table_add_col(t, "score", QDB_COL_RIGHT, 0, 1);
		int ct = qdb_table_add_col(t, "top", QDB_COL_SHRINK, 10, 2);
		for (int64_t i = 0; i < rn->count; i++) {
			const struct sample_res *s = &rn->res[i];
			int r = qdb_table_add_row(t);
			qdb_table_set(t, r, cs,
				      qdb_sample_id_str(qdb_dataset_id(rn->ds, rn->first + i), id, sizeof id),
				      QDB_STYLE_NONE);
			if (cl >= 0 && s->label >= 0)
				qdb_table_setf(t, r, cl, QDB_STYLE_NONE, "%lld", (long long)s->label);
			if (s->ntop > 0) {
				const char *cn = qdb_dataset_class_name(rn->ds, s->top_cls[0]);
				if (cn)
					qdb_table_setf(t, r, c1c, QDB_STYLE_NONE, "%d %s", s->top_cls[0], cn);
				else
					qdb_table_setf(t, r, c1c, QDB_STYLE_NONE, "%d", s->top_cls[0]);
				qdb_table_set(t, r, csc, qdb_fmt_double(num, sizeof num, s->top_val[0], 5),
					      QDB_STYLE_NONE);
			}
			struct qdb_buf b;
			qdb_buf_init(&b);
			for (int k = 0; k < s->ntop; k++)
				qdb_buf_printf(&b, "%s%d:%s", k ? " " : "", s->top_cls[k],
					       qdb_fmt_double(num, sizeof num, s->top_val[k], 4));
			qdb_table_set(t, r, ct, b.s, QDB_STYLE_NONE);
			qdb_buf_done(&b);
		}
		qdb_table_print(t, stdout, &o);
		qdb_table_delete(t);
	} else {
		struct qdb_table *t = qdb_table_new();
		int cs = qdb_table_add_col(t, "sample", QDB_COL_SHRINK, 8, 0);
		int co = qdb_table_add_col(t, "output", QDB_COL_SHRINK, 8, 0);
		int cmin = qdb_table_add_col(t, "min", QDB_COL_RIGHT, 0, 1);
		int cmax = qdb_table_add_col(t, "max", QDB_COL_RIGHT, 0, 1);
		int cmean = qdb_table_add_col(t, "mean", QDB_COL_RIGHT, 0, 0);
		int cnan = qdb_table_add_col(t, "nan", QDB_COL_RIGHT, 0, 2);
		for (int64_t i = 0; i < rn->count; i++)
			for (int k = 0; k < g->n_outputs; k++) {
				const struct out_stats *s = &rn->res[i].outs[k];
				int r = qdb_table_add_row(t);
				qdb_table_set(t, r, cs,
					      qdb_sample_id_str(qdb_dataset_id(rn->ds, rn->first + i), id,
								sizeof id),
					      QDB_STYLE_NONE);
				qdb_table_set(t, r, co, g->values[g->outputs[k]].name, QDB_STYLE_NONE);
				qdb_table_set(t, r, cmin, qdb_fmt_double(num, sizeof num, s->min, 5),
					      QDB_STYLE_NONE);
				qdb_table_set(t, r, cmax, qdb_fmt_double(num, sizeof num, s->max, 5),
					      QDB_STYLE_NONE);
				qdb_table_set(t, r, cmean, qdb_fmt_double(num, sizeof num, s->mean, 5),
					      QDB_STYLE_NONE);
				qdb_table_setf(t, r, cnan, s->nan ? QDB_STYLE_RED : QDB_STYLE_NONE, "%lld",
					       (long long)s->nan);
			}
		qdb_table_print(t, stdout, &o);
		qdb_table_delete(t);
	}
	printf("time %.2f ms/sample (%d job%s, %.3f s)\n",
	       rn->count ? secs * 1e3 / (double)rn->count : 0.0, jobs, jobs == 1 ? "" : "s", secs);
}

/* Graph input i reads dataset input map[i]: same name, else the only one. */
static int map_inputs(const struct qdb_graph *g, const struct qdb_dataset *ds, int *map,
		      const char *gpath, const char *dpath)
{
	for (int i = 0; i < g->n_inputs; i++) {
		const struct qdb_value *v = &g->values[g->inputs[i]];
		int k = qdb_dataset_find_input(ds, v->name);
		if (k < 0 && g->n_inputs == 1 && qdb_dataset_n_inputs(ds) == 1)
			k = 0;
		if (k < 0) {
			fprintf(stderr, "qdb run: %s: no input '%s' (the graph %s needs it)\n", dpath,
				v->name, gpath);
			return QDB_EXIT_BADINPUT;
		}
		const struct qdb_dataset_input *di = qdb_dataset_input_info(ds, k);
		if (di->rank != v->rank ||
		    memcmp(di->shape, v->shape, sizeof(int64_t) * (size_t)v->rank)) {
			char a[96], b[96];
			fprintf(stderr, "qdb run: %s: input '%s' has shape %s, the graph declares %s\n",
				dpath, di->name, qdb_shape_str(a, sizeof a, di->rank, di->shape),
				qdb_shape_str(b, sizeof b, v->rank, v->shape));
			return QDB_EXIT_BADINPUT;
		}
		map[i] = k;
	}
	return QDB_EXIT_OK;
}

int qdb_cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"data", required_argument, NULL, 'd'},
		{"samples", required_argument, NULL, 's'},
		{"trace", required_argument, NULL, 't'},
		{"cpu", required_argument, NULL, 'C'},
		{"bpu", required_argument, NULL, 'B'},
		{"stage-mode", required_argument, NULL, 'm'},
		{"top", required_argument, NULL, 'k'},
		{"jobs", required_argument, NULL, 'j'},
		{"format", required_argument, NULL, 'f'},
		{"wide", no_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct run_args a = {.sem = QDB_SEM_NATIVE, .top = 5, .jobs = 0, .format = QDB_FORMAT_TABLE};
	int c;
	long l;
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:s:t:m:k:j:f:wh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': a.data = optarg; break;
		case 's': a.samples = optarg; break;
		case 't': a.trace = optarg; break;
		case 'C': a.cpu = optarg; break;
		case 'B': a.bpu = optarg; break;
		case 'm':
			if (!strcmp(optarg, "float"))
				a.sem = QDB_SEM_FLOAT;
			else if (!strcmp(optarg, "qat"))
				a.sem = QDB_SEM_FAKEQUANT;
			else if (!strcmp(optarg, "native"))
				a.sem = QDB_SEM_NATIVE;
			else
				return usage_error("--stage-mode: '%s' is not float or qat", optarg);
			break;
		case 'k':
			if (qdb_parse_long(optarg, &l) || l < 1 || l > MAX_TOP)
				return usage_error("--top: '%s' is not 1..20", optarg);
			a.top = (int)l;
			break;
		case 'j':
			if (qdb_parse_long(optarg, &l) || l < 1 || l > 1024)
				return usage_error("--jobs: '%s' is not 1..1024", optarg);
			a.jobs = (int)l;
			break;
		case 'f':
			if (qdb_format_parse(optarg, &a.format) || a.format == QDB_FORMAT_CSV)
				return usage_error("--format: '%s' is not table or json", optarg);
			break;
		case 'w': a.wide = 1; break;
		case 'h': fputs(usage_text, stdout); return QDB_EXIT_OK;
		default: fputs(usage_text, stderr); return QDB_EXIT_USAGE;
		}
	}
	if (optind != argc - 1)
		return usage_error("%s", optind >= argc ? "MODEL.qbc missing" : "one MODEL.qbc expected");
	a.model = argv[optind];
	if (!a.data)
		return usage_error("%s", "--data DS.qds is required");

	struct qdb_err e;
	struct qdb_graph *g = NULL;
	struct qdb_dataset *ds = NULL;
	struct qdb_exec *x = NULL;
	struct runner rn;
	int *map = NULL;
	enum qdb_device *dev = NULL;
	int status = QDB_EXIT_OK, rc;
	memset(&rn, 0, sizeof rn);
	qdb_err_clear(&e);

	if ((rc = qdb_graph_load_checked(a.model, &g, &e)) || (rc = qdb_dataset_open(a.data, &ds, &e))) {
		fprintf(stderr, "qdb run: %s\n", e.msg);
		status = exit_for(rc);
		goto out;
	}
	if ((rc = qdb_exec_new(g, a.sem, &x, &e))) {
		fprintf(stderr, "qdb run: %s: %s\n", a.model, e.msg);
		status = exit_for(rc);
		goto out;
	}
	map = qdb_alloc_array((size_t)(g->n_inputs ? g->n_inputs : 1), sizeof *map);
	dev = qdb_alloc_array((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *dev);
	if (!map || !dev) {
		fprintf(stderr, "qdb run: out of memory\n");
		status = QDB_EXIT_INTERNAL;
		goto out;
	}
	if ((status = map_inputs(g, ds, map, a.model, a.data)))
		goto out;
	for (int n = 0; n < g->n_nodes; n++)
		dev[n] = g->nodes[n].device;
	if ((a.cpu && (status = set_devices(g, x, a.cpu, QDB_DEV_CPU, dev, "--cpu"))) ||
	    (a.bpu && (status = set_devices(g, x, a.bpu, QDB_DEV_BPU, dev, "--bpu"))))
		goto out;
	int n_cpu = 0;
	for (int n = 0; n < g->n_nodes; n++)
		n_cpu += dev[n] == QDB_DEV_CPU;

	int64_t total = qdb_dataset_count(ds), first = 0, count = total;
	if (a.samples && parse_range(a.samples, total, &first, &count)) {
		fprintf(stderr, "qdb run: --samples: '%s' selects nothing of %lld records\n", a.samples,
			(long long)total);
		status = QDB_EXIT_USAGE;
		goto out;
	}
	if (count == 0) {
		fprintf(stderr, "qdb run: %s: the dataset is empty\n", a.data);
		status = QDB_EXIT_BADINPUT;
		goto out;
	}

	rn.g = g;
	rn.x = x;
	rn.ds = ds;
	rn.input_map = map;
	rn.dev = dev;
	rn.top = a.top;
	rn.first = first;
	rn.count = count;
	rn.classify = g->n_outputs > 0 && is_score_vector(&g->values[g->outputs[0]]);
	rn.res = qdb_calloc((size_t)count, sizeof *rn.res);
	if (!rn.res) {
		fprintf(stderr, "qdb run: out of memory\n");
		status = QDB_EXIT_INTERNAL;
		goto out;
	}
	for (int64_t i = 0; i < count && !rn.classify; i++)
		if (!(rn.res[i].outs = qdb_calloc((size_t)(g->n_outputs ? g->n_outputs : 1),
						  sizeof *rn.res[i].outs))) {
			fprintf(stderr, "qdb run: out of memory\n");
			status = QDB_EXIT_INTERNAL;
			goto out;
		}

	if (a.trace) {
		const char **names = qdb_alloc_array((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *names);
		const char **ops = qdb_alloc_array((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *ops);
		char producer[64];
		snprintf(producer, sizeof producer, "qdb run %s", PACKAGE_VERSION);
		if (names && ops) {
			for (int n = 0; n < g->n_nodes; n++) {
				names[n] = g->nodes[n].name;
				ops[n] = g->nodes[n].op_name;
			}
			struct qdb_trace_header h = {
				.stage = stage_label(g, qdb_exec_semantics(x)),
				.model = g->name,
				.producer = producer,
				.n_layers = g->n_nodes,
				.layer_names = names,
				.layer_ops = ops,
			};
			rc = qdb_trace_writer_open(a.trace, &h, 0, &rn.tw, &e);
		} else {
			rc = qdb_err_set(&e, QDB_ENOMEM, "out of memory");
		}
		qdb_free(names);
		qdb_free(ops);
		if (rc) {
			fprintf(stderr, "qdb run: %s\n", e.msg);
			status = exit_for(rc);
			goto out;
		}
	}

	int jobs = a.jobs;
	if (jobs <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		jobs = cpus > 0 ? (int)cpus : 1;
	}
	if (jobs > count)
		jobs = (int)count;
	pthread_mutex_init(&rn.mu, NULL);
	pthread_cond_init(&rn.cv, NULL);
	double t0 = now_s();
	pthread_t *th = qdb_alloc_array((size_t)jobs, sizeof *th);
	int started = 0;
	for (int i = 0; th && i < jobs; i++) {
		if (jobs == 1)
			break;
		if (pthread_create(&th[i], NULL, worker, &rn))
			break;
		started++;
	}
	if (started == 0)
		worker(&rn); /* -j 1, or no thread could start */
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	qdb_free(th);
	double secs = now_s() - t0;
	pthread_mutex_destroy(&rn.mu);
	pthread_cond_destroy(&rn.cv);

	if (rn.failed) {
		fprintf(stderr, "qdb run: %s: %s\n", a.model, rn.err.msg);
		status = exit_for(rn.err.code);
		goto out;
	}
	if (rn.tw) {
		rc = qdb_trace_writer_commit(rn.tw, &e);
		rn.tw = NULL;
		if (rc) {
			fprintf(stderr, "qdb run: %s\n", e.msg);
			status = QDB_EXIT_INTERNAL;
			goto out;
		}
	}
	if (a.format == QDB_FORMAT_JSON)
		print_json(&rn, &a, n_cpu, secs, started ? started : 1);
	else
		print_table(&rn, &a, n_cpu, secs, started ? started : 1);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "qdb run: writing the output failed\n");
		status = QDB_EXIT_INTERNAL;
	}
out:
	if (rn.tw)
		qdb_trace_writer_abort(rn.tw);
	if (rn.res)
		for (int64_t i = 0; i < rn.count; i++)
			qdb_free(rn.res[i].outs);
	qdb_free(rn.res);
	qdb_free(map);
	qdb_free(dev);
	qdb_exec_delete(x);
	qdb_dataset_close(ds);
	qdb_graph_delete(g);
	return status;
}
