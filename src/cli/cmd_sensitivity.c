/* cmd_sensitivity.c - `qdb sensitivity MODEL.qbc --data DS.qds`: which node
 * (revert) or which quantized value (quantize) moves the output most
 * (analysis/sensitivity.h), as a table, CSV or JSON.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analysis/sensitivity.h"
#include "base/alloc.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/evalsrc.h"
#include "cli/filekind.h"
#include "cli/table.h"
#include "graph/exec.h"
#include "io/dataset.h"
#include "io/qbc.h"
#include "io/trace.h"

static const char usage_text[] =
	"usage: qdb sensitivity MODEL.qbc --data DS.qds [OPTIONS]\n"
	"Ranks the single changes that move the model's output most.\n"
	"  revert    (quantized MODEL): each bpu node alone moved to cpu, ranked by\n"
	"            how much closer the output gets to the reference\n"
	"  quantize  (qat MODEL): fake quant only at each node's quantized values\n"
	"            (and everywhere but there), ranked by the damage against the\n"
	"            float run\n"
	"  -d, --data DS.qds          the dataset (required)\n"
	"  -m, --mode MODE            revert or quantize (default: by the model's stage)\n"
	"  -r, --reference REF        a qat graph (.qbc) or a trace (.qtr) whose output\n"
	"                             is the target; quantize defaults to the float run\n"
	"      --reference-layer L    the trace layer holding the output (default: last)\n"
	"  -M, --metric METRIC        cosine, sqnr or top1 (accuracy against the labels,\n"
	"                             or agreement with the reference); default cosine\n"
	"                             with a reference, else top1\n"
	"  -s, --samples A:B          record range, python-style (default: all); N = one\n"
	"      --nodes a,b            only these nodes\n"
	"      --by node|value        quantize: one unit per node (its outputs and\n"
	"                             weights, default) or per quantized value\n"
	"  -j, --jobs N               threads over records (default: online CPUs)\n"
	"      --naive                re-run the whole graph per unit (same numbers,\n"
	"                             slower: for checking)\n"
	"  -k, --top K                print the K highest-ranked units (default: all)\n"
	"  -f, --format FMT           table (default), csv or json\n"
	"  -w, --wide                 do not fit the table to the terminal width\n"
	"  -h, --help                 this text\n"
	"A progress bar goes to standard error when it is a terminal.\n"
	"Exit status: 0 done, 2 bad input or usage, 3 internal failure.\n";

struct sargs {
	const char *model, *data, *ref, *ref_layer, *samples, *nodes;
	int have_mode, have_metric, by_value, jobs, naive, top, wide;
	enum qdb_sens_mode mode;
	enum qdb_sens_metric metric;
	enum qdb_format format;
};

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "qdb sensitivity: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (qdb sensitivity --help)\n");
	return QDB_EXIT_USAGE;
}

static int parse_args(int argc, char **argv, struct sargs *a)
{
	enum { O_REF_LAYER = 256, O_NODES, O_BY, O_NAIVE };
	static const struct option longs[] = {
		{"data", required_argument, NULL, 'd'},
		{"mode", required_argument, NULL, 'm'},
		{"reference", required_argument, NULL, 'r'},
		{"reference-layer", required_argument, NULL, O_REF_LAYER},
		{"metric", required_argument, NULL, 'M'},
		{"samples", required_argument, NULL, 's'},
		{"nodes", required_argument, NULL, O_NODES},
		{"by", required_argument, NULL, O_BY},
		{"jobs", required_argument, NULL, 'j'},
		{"naive", no_argument, NULL, O_NAIVE},
		{"top", required_argument, NULL, 'k'},
		{"format", required_argument, NULL, 'f'},
		{"wide", no_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof *a);
	a->top = -1;
	optind = 1;
	opterr = 0;
	int c;
	long v;
	while ((c = getopt_long(argc, argv, ":d:m:r:M:s:j:k:f:wh", longs, NULL)) != -1) {
		switch (c) {
		case 'd': a->data = optarg; break;
		case 'm':
			if (qdb_sens_mode_parse(optarg, &a->mode))
				return bad("unknown mode '%s' (revert, quantize)", optarg);
			a->have_mode = 1;
			break;
		case 'r': a->ref = optarg; break;
		case O_REF_LAYER: a->ref_layer = optarg; break;
		case 'M':
			if (qdb_sens_metric_parse(optarg, &a->metric) || a->metric == QDB_SENS_CUSTOM)
				return bad("unknown metric '%s' (cosine, sqnr, top1)", optarg);
			a->have_metric = 1;
			break;
		case 's': a->samples = optarg; break;
		case O_NODES: a->nodes = optarg; break;
		case O_BY:
			if (strcmp(optarg, "node") && strcmp(optarg, "value"))
				return bad("--by: node or value, not '%s'", optarg);
			a->by_value = !strcmp(optarg, "value");
			break;
		case 'j':
			if (qdb_parse_long(optarg, &v) || v < 1 || v > 1024)
				return bad("--jobs: a number in 1..1024, not '%s'", optarg);
			a->jobs = (int)v;
			break;
		case O_NAIVE: a->naive = 1; break;
		case 'k':
			if (qdb_parse_long(optarg, &v) || v < 0 || v > 1000000)
				return bad("--top: a count, not '%s'", optarg);
			a->top = (int)v;
			break;
		case 'f':
			if (qdb_format_parse(optarg, &a->format))
				return bad("unknown format '%s' (table, csv, json)", optarg);
			break;
		case 'w': a->wide = 1; break;
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		case ':': return bad("option %s needs a value", argv[optind - 1]);
		default: return bad("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return bad("%s", optind >= argc ? "give one MODEL.qbc" : "give one MODEL.qbc only");
	a->model = argv[optind];
	if (!a->data)
		return bad("%s", "--data DS.qds is required");
	return 0;
}

/* --samples (qdb_cli_parse_range) -> the list of selected records. */
static int parse_range(const char *s, int64_t count, int64_t **out, int64_t *n)
{
	int64_t first;
	if (qdb_cli_parse_range(s, count, &first, n))
		return -1;
	*out = qdb_alloc_array((size_t)*n, sizeof **out);
	if (!*out)
		return -1;
	for (int64_t i = 0; i < *n; i++)
		(*out)[i] = first + i;
	return 0;
}

struct bar {
	int on;
	double last;
	double t0;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int progress(void *user, int64_t done, int64_t total)
{
	struct bar *b = user;
	double t = now();
	if (!b->on || (done < total && t - b->last < 0.1))
		return 0;
	b->last = t;
	const int w = 30;
	int fill = total > 0 ? (int)((double)done / (double)total * w) : w;
	char bar[64];
	for (int i = 0; i < w; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[w] = '\0';
	double el = t - b->t0;
	double eta = done > 0 ? el / (double)done * (double)(total - done) : 0;
	fprintf(stderr, "\rsensitivity [%s] %lld/%lld records, %.0fs left ", bar, (long long)done,
		(long long)total, eta);
	fflush(stderr);
	return 0;
}

static int node_list(const struct qdb_graph *g, const char *s, int **out, int *n)
{
	char **parts = qdb_split(s, ',');
	if (!parts)
		return -1;
	int cnt = (int)qdb_strv_len(parts);
	*out = qdb_alloc_array((size_t)(cnt ? cnt : 1), sizeof **out);
	*n = 0;
	int rc = *out ? 0 : -1;
	for (int i = 0; !rc && i < cnt; i++) {
		if (!parts[i][0])
			continue;
		int k = qdb_graph_find_node(g, parts[i]);
		if (k < 0) {
			fprintf(stderr, "qdb sensitivity: --nodes: the model has no node '%s'\n", parts[i]);
			rc = -2;
			break;
		}
		(*out)[(*n)++] = k;
	}
	qdb_strv_free(parts);
	return rc;
}

static void print_result(const struct sargs *a, const struct qdb_sens_result *r,
			 const char *model)
{
	int n = a->top >= 0 && a->top < r->n_units ? a->top : r->n_units;
	int quant = r->mode == QDB_SENS_QUANTIZE;
	const char *metric = qdb_sens_metric_name(r->metric);
	char b1[40], b2[40], b3[40];
	if (a->format == QDB_FORMAT_JSON) {
		struct qdb_json j;
		qdb_json_init(&j, stdout);
		qdb_json_begin_object(&j);
		qdb_json_key(&j, "model");
		qdb_json_string(&j, model);
		qdb_json_key(&j, "mode");
		qdb_json_string(&j, qdb_sens_mode_name(r->mode));
		qdb_json_key(&j, "metric");
		qdb_json_string(&j, metric);
		qdb_json_key(&j, "records");
		qdb_json_int(&j, r->n_records);
		qdb_json_key(&j, "baseline");
		qdb_json_number(&j, r->baseline);
		if (quant) {
			qdb_json_key(&j, "float_score");
			qdb_json_number(&j, r->float_score);
		}
		qdb_json_key(&j, "units");
		qdb_json_begin_array(&j);
		for (int i = 0; i < n; i++) {
			const struct qdb_sens_unit *u = &r->units[i];
			qdb_json_begin_object(&j);
			qdb_json_key(&j, "rank");
			qdb_json_int(&j, i + 1);
			qdb_json_key(&j, "name");
			qdb_json_string(&j, u->name);
			qdb_json_key(&j, "op");
			qdb_json_string(&j, u->op);
			qdb_json_key(&j, "score");
			qdb_json_number(&j, u->score);
			if (quant) {
				qdb_json_key(&j, "score_except");
				qdb_json_number(&j, u->score_except);
			}
			qdb_json_key(&j, "effect");
			qdb_json_number(&j, u->effect);
			qdb_json_end_object(&j);
		}
		qdb_json_end_array(&j);
		qdb_json_key(&j, "seconds");
		qdb_json_number(&j, r->seconds);
		qdb_json_key(&j, "threads");
		qdb_json_int(&j, r->threads);
		qdb_json_key(&j, "node_evaluations");
		qdb_json_int(&j, r->computed);
		qdb_json_key(&j, "full_rerun_evaluations");
		qdb_json_int(&j, r->full);
		qdb_json_finish(&j);
		return;
	}
	if (a->format == QDB_FORMAT_CSV) {
		const char *head[] = {"rank", "name", "op", "score", "score_except", "effect"};
		if (!quant)
			head[4] = "effect"; /* revert: no score_except column */
		qdb_csv_row(stdout, head, quant ? 6 : 5);
		for (int i = 0; i < n; i++) {
			const struct qdb_sens_unit *u = &r->units[i];
			char rank[16];
			snprintf(rank, sizeof rank, "%d", i + 1);
			const char *row[6] = {rank, u->name, u->op, qdb_fmt_exact(b1, sizeof b1, u->score),
					      NULL, NULL};
			if (quant) {
				row[4] = qdb_fmt_exact(b2, sizeof b2, u->score_except);
				row[5] = qdb_fmt_exact(b3, sizeof b3, u->effect);
			} else {
				row[4] = qdb_fmt_exact(b3, sizeof b3, u->effect);
			}
			qdb_csv_row(stdout, row, quant ? 6 : 5);
		}
		return;
	}
	if (quant)
		printf("%s: quantize sensitivity, %s over %lld records: float %s, fake quant "
		       "everywhere %s\n",
		       model, metric, (long long)r->n_records,
		       qdb_fmt_double(b1, sizeof b1, r->float_score, 6),
		       qdb_fmt_double(b2, sizeof b2, r->baseline, 6));
	else
		printf("%s: revert sensitivity, %s over %lld records: all on bpu %s\n", model, metric,
		       (long long)r->n_records, qdb_fmt_double(b1, sizeof b1, r->baseline, 6));
	struct qdb_table *t = qdb_table_new();
	if (!t)
		return;
	int c_rank = qdb_table_add_col(t, "rank", QDB_COL_RIGHT, 0, 0);
	int c_name = qdb_table_add_col(t, quant ? "unit" : "node", QDB_COL_SHRINK, 8, 0);
	int c_op = qdb_table_add_col(t, "op", 0, 0, 2);
	char title[64], title2[64];
	snprintf(title, sizeof title, quant ? "%s only here" : "%s on cpu", metric);
	int c_score = qdb_table_add_col(t, title, QDB_COL_RIGHT, 0, 0);
	int c_ex = -1;
	if (quant) {
		snprintf(title2, sizeof title2, "%s all but here", metric);
		c_ex = qdb_table_add_col(t, title2, QDB_COL_RIGHT, 0, 1);
	}
	int c_eff = qdb_table_add_col(t, quant ? "damage" : "gain", QDB_COL_RIGHT, 0, 0);
	for (int i = 0; i < n; i++) {
		const struct qdb_sens_unit *u = &r->units[i];
		int row = qdb_table_add_row(t);
		if (row < 0)
			break;
		qdb_table_setf(t, row, c_rank, QDB_STYLE_NONE, "%d", i + 1);
		qdb_table_set(t, row, c_name, u->name, i == 0 ? QDB_STYLE_BOLD : QDB_STYLE_NONE);
		qdb_table_set(t, row, c_op, u->op, QDB_STYLE_NONE);
		qdb_table_set(t, row, c_score, qdb_fmt_double(b1, sizeof b1, u->score, 6),
			      QDB_STYLE_NONE);
		if (c_ex >= 0)
			qdb_table_set(t, row, c_ex, qdb_fmt_double(b2, sizeof b2, u->score_except, 6),
				      QDB_STYLE_NONE);
		qdb_table_set(t, row, c_eff, qdb_fmt_double(b3, sizeof b3, u->effect, 4),
			      u->effect > 0 && i < 3 ? QDB_STYLE_GREEN : QDB_STYLE_NONE);
	}
	struct qdb_table_opts to;
	qdb_table_opts_init(&to, stdout, a->wide);
	qdb_table_print(t, stdout, &to);
	qdb_table_delete(t);
	printf("%lld node evaluations (a full re-run per unit: %lld, %.1fx), %.2fs on %d "
	       "thread%s\n",
	       (long long)r->computed, (long long)r->full,
	       r->computed ? (double)r->full / (double)r->computed : 0.0, r->seconds, r->threads,
	       r->threads == 1 ? "" : "s");
}

int qdb_cmd_sensitivity(int argc, char **argv)
{
	struct sargs a;
	int prc = parse_args(argc, argv, &a);
	if (prc < 0)
		return QDB_EXIT_OK;
	if (prc)
		return prc;
	struct qdb_err err;
	struct qdb_graph *g = NULL, *rg = NULL;
	struct qdb_dataset *d = NULL;
	struct qdb_trace *rt = NULL;
	struct qdb_exec *x = NULL, *rx = NULL;
	int64_t *recs = NULL;
	int *nodes = NULL;
	int status = QDB_EXIT_BADINPUT;
	struct qdb_sens_result res;
	qdb_sens_result_init(&res);

	if (qdb_graph_load_checked(a.model, &g, &err) || qdb_dataset_open(a.data, &d, &err)) {
		fprintf(stderr, "qdb sensitivity: %s\n", err.msg);
		goto out;
	}
	struct qdb_sens_opts o;
	qdb_sens_opts_init(&o);
	o.mode = a.have_mode ? a.mode
		 : g->stage == QDB_STAGE_QAT ? QDB_SENS_QUANTIZE : QDB_SENS_REVERT;
	if (a.ref) {
		enum qdb_file_kind kind;
		if (qdb_file_kind(a.ref, &kind, &err)) {
			fprintf(stderr, "qdb sensitivity: %s\n", err.msg);
			goto out;
		}
		if (kind == QDB_KIND_GRAPH) {
			if (qdb_graph_load_checked(a.ref, &rg, &err) ||
			    qdb_exec_new(rg, QDB_SEM_NATIVE, &rx, &err)) {
				fprintf(stderr, "qdb sensitivity: %s\n", err.msg);
				goto out;
			}
			o.ref_x = rx;
		} else if (kind == QDB_KIND_TRACE) {
			if (qdb_trace_open(a.ref, &rt, &err)) {
				fprintf(stderr, "qdb sensitivity: %s\n", err.msg);
				goto out;
			}
			o.ref_t = rt;
			if (a.ref_layer && (o.ref_layer = qdb_trace_find_layer(rt, a.ref_layer)) < 0) {
				fprintf(stderr, "qdb sensitivity: %s: no layer '%s'\n", a.ref, a.ref_layer);
				goto out;
			}
		} else {
			fprintf(stderr, "qdb sensitivity: %s: a %s is no reference (a graph or a trace)\n",
				a.ref, qdb_file_kind_name(kind));
			goto out;
		}
	}
	o.metric = a.have_metric ? a.metric
		   : (a.ref || o.mode == QDB_SENS_QUANTIZE) ? QDB_SENS_COSINE : QDB_SENS_TOP1;
	if (a.samples) {
		if (parse_range(a.samples, qdb_dataset_count(d), &recs, &o.n_records)) {
			fprintf(stderr, "qdb sensitivity: --samples: bad range '%s' for %lld records\n",
				a.samples, (long long)qdb_dataset_count(d));
			goto out;
		}
		o.records = recs;
	}
	if (a.nodes) {
		int r = node_list(g, a.nodes, &nodes, &o.n_nodes);
		if (r) {
			if (r == -1)
				status = QDB_EXIT_INTERNAL;
			goto out;
		}
		o.nodes = nodes;
	}
	o.by_value = a.by_value;
	o.threads = a.jobs;
	o.naive = a.naive;
	struct bar bar = {isatty(STDERR_FILENO), 0, now()};
	o.progress = progress;
	o.user = &bar;
	if (qdb_exec_new(g, o.mode == QDB_SENS_QUANTIZE ? QDB_SEM_FAKEQUANT : QDB_SEM_INTEGER, &x,
			 &err)) {
		fprintf(stderr, "qdb sensitivity: %s: %s\n", a.model, err.msg);
		goto out;
	}
	int rc = qdb_sens_run(x, d, &o, &res, &err);
	if (bar.on)
		fprintf(stderr, "\r%60s\r", "");
	if (rc) {
		fprintf(stderr, "qdb sensitivity: %s\n", err.msg);
		status = rc == QDB_ENOMEM ? QDB_EXIT_INTERNAL : QDB_EXIT_BADINPUT;
		goto out;
	}
	print_result(&a, &res, a.model);
	fflush(stdout);
	status = ferror(stdout) ? QDB_EXIT_INTERNAL : QDB_EXIT_OK;
out:
	qdb_sens_result_done(&res);
	qdb_exec_delete(x);
	qdb_exec_delete(rx);
	qdb_graph_delete(g);
	qdb_graph_delete(rg);
	if (rt)
		qdb_trace_close(rt);
	if (d)
		qdb_dataset_close(d);
	qdb_free(recs);
	qdb_free(nodes);
	return status;
}
