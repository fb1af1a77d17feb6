/* cmd_badcases.c - `qdb badcases A B --data DS.qds`: the records where two
 * stages disagree most on the graph output, listed worst first and
 * optionally written out as a dataset to debug on.
 *
 * Both sides are evaluated on the same records by the eval engine
 * (analysis/eval.h); each record's outputs are compared with the metrics
 * of tensor/metrics.h (A is the reference). Records whose outputs are
 * identical are never bad cases.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/eval.h"
#include "base/alloc.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/evalsrc.h"
#include "cli/table.h"
#include "tensor/metrics.h"

static const char usage_text[] =
	"usage: qdb badcases A B --data DS.qds [OPTIONS]\n"
	"Lists the records where B (candidate) disagrees most with A (reference) on\n"
	"the output: a graph's (.qbc, run on the record) first output, a trace's\n"
	"(.qtr) last layer. Records with identical outputs are never listed.\n"
	"  -d, --data DS.qds     the dataset (required)\n"
	"  -k, --top K           how many to list (default 20; 0: every one that qualifies)\n"
	"  -m, --metric M        cosine (default): lowest output cosine first;\n"
	"                        sqnr: lowest output SQNR first; top1: only records\n"
	"                        whose top-1 classes differ, lowest cosine first\n"
	"  -o, --output BAD.qds  write the listed records (inputs, labels, ids) as a\n"
	"                        dataset, in the listed order\n"
	"  -s, --samples A:B     record range, python-style (default: all); N = one\n"
	"  -j, --jobs N          worker threads per graph (default: online CPUs)\n"
	"  -f, --format FMT      table (default), csv or json\n"
	"  -w, --wide            do not fit the table to the terminal width\n"
	"  -h, --help            this text\n"
	"With a trace on either side, only the records it holds are compared.\n"
	"Exit status: 0 done, 2 bad input or usage, 3 internal failure.\n";

enum bc_metric { BC_COSINE, BC_SQNR, BC_TOP1 };

struct bc_rec {
	int64_t i;         /* position in the evals */
	double cosine, sqnr_db, max_abs;
	double key;        /* what the ranking sorts by: cosine or sqnr_db */
	int nonfinite;     /* NaN/Inf in an output: worse than any number */
	int differ;        /* outputs not identical */
};

struct bc_ctx {
	const struct qdb_dataset *d;
	const char *data_path;
	struct qdb_cli_source *src;   /* 2 */
	struct qdb_eval *ev;          /* 2 */
	enum bc_metric metric;
	struct bc_rec *rec;           /* ev[0].n */
	struct bc_rec **list;         /* the bad cases, worst first */
	int64_t n_list, n_shown;
	int64_t n_differ, n_top1;
	double cos_mean;
	int64_t n_total;
	int64_t n_range;              /* records --samples selected */
	const char *written;
};

static const char *const metric_names[] = {"cosine", "sqnr", "top1"};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "qdb badcases: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (qdb badcases --help)\n");
	return QDB_EXIT_USAGE;
}

/* ---- ranking ---------------------------------------------------------------- */

/* Worst first: non-finite outputs, then the lowest key; ties in record order. */
static int cmp_rec(const void *pa, const void *pb)
{
	const struct bc_rec *a = *(const struct bc_rec *const *)pa;
	const struct bc_rec *b = *(const struct bc_rec *const *)pb;
	if (a->nonfinite != b->nonfinite)
		return a->nonfinite ? -1 : 1;
	if (!a->nonfinite && a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

static int rank(struct bc_ctx *c, int64_t k, struct qdb_err *err)
{
	const struct qdb_eval *ea = &c->ev[0], *eb = &c->ev[1];
	int64_t n = ea->n;
	double sum = 0;
	int64_t n_sum = 0;
	c->rec = qdb_calloc((size_t)(n ? n : 1), sizeof *c->rec);
	c->list = qdb_calloc((size_t)(n ? n : 1), sizeof *c->list);
	if (!c->rec || !c->list)
		return qdb_err_set(err, QDB_ENOMEM, "out of memory");
	for (int64_t i = 0; i < n; i++) {
		struct bc_rec *r = &c->rec[i];
		struct qdb_metrics m;
		int64_t na = qdb_tensor_numel(&ea->out[i]), nb = qdb_tensor_numel(&eb->out[i]);
		char id[64];
		if (na != nb)
			return qdb_err_set(err, QDB_ESHAPE,
					   "sample %s: the outputs have %lld and %lld elements",
					   qdb_sample_id_str(qdb_dataset_id(c->d, ea->record[i]), id, sizeof id),
					   (long long)na, (long long)nb);
		int rc = qdb_metrics_compute(&ea->out[i], &eb->out[i], 1e-5, 0, &m, err);
		if (rc)
			return rc;
		r->i = i;
		r->cosine = m.cosine;
		r->sqnr_db = m.sqnr_db;
		r->max_abs = m.max_abs;
		r->key = c->metric == BC_SQNR ? m.sqnr_db : m.cosine;
		r->nonfinite = m.nan_a || m.nan_b || m.inf_a || m.inf_b || m.nonfinite_diff;
		r->differ = r->nonfinite || m.max_abs > 0;
		c->n_differ += r->differ;
		c->n_top1 += ea->pred[i] != eb->pred[i];
		if (!r->nonfinite) {
			sum += m.cosine;
			n_sum++;
		}
		int bad = c->metric == BC_TOP1 ? ea->pred[i] != eb->pred[i] : r->differ;
		if (bad)
			c->list[c->n_list++] = r;
	}
	c->cos_mean = n_sum ? sum / (double)n_sum : NAN;
	qsort(c->list, (size_t)c->n_list, sizeof *c->list, cmp_rec);
	c->n_shown = k > 0 && k < c->n_list ? k : c->n_list;
	return QDB_OK;
}

/* ---- output ----------------------------------------------------------------- */

static const char *sample_of(const struct bc_ctx *c, const struct bc_rec *r, char *buf, size_t n)
{
	return qdb_sample_id_str(qdb_dataset_id(c->d, c->ev[0].record[r->i]), buf, n);
}

static const char *class_str(const struct bc_ctx *c, int64_t k, char *buf, size_t n)
{
	if (k < 0)
		return snprintf(buf, n, "-"), buf;
	const char *s = k < qdb_dataset_n_classes(c->d) ? qdb_dataset_class_name(c->d, (int)k) : NULL;
	char num[32];
	snprintf(num, sizeof num, "%lld", (long long)k);
	if (s && *s && strcmp(s, num))
		snprintf(buf, n, "%lld %s", (long long)k, s);
	else
		snprintf(buf, n, "%s", num);
	return buf;
}

static const char *fmt_num(double v, int digits, char *buf, size_t n)
{
	if (isnan(v))
		snprintf(buf, n, "nan");
	else if (isinf(v))
		snprintf(buf, n, "%s", v > 0 ? "inf" : "-inf");
	else
		snprintf(buf, n, "%.*f", digits, v);
	return buf;
}

static const char *fmt_acc(const struct qdb_eval *e, char *buf, size_t n)
{
	return e->n_labeled ? fmt_num(e->accuracy, 4, buf, n) : (snprintf(buf, n, "-"), buf);
}

static void print_table(const struct bc_ctx *c, int wide)
{
	struct qdb_table_opts to;
	char buf[256], b2[256], b3[64], b4[64];
	const struct qdb_eval *ea = &c->ev[0], *eb = &c->ev[1];
	qdb_table_opts_init(&to, stdout, wide);
	int width = to.width > 0 ? to.width : 1000;

	for (int k = 0; k < 2; k++) {
		snprintf(buf, sizeof buf, "%c %s (%s)", k ? 'B' : 'A', c->src[k].path, c->src[k].stage);
		printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));
	}
	snprintf(buf, sizeof buf, "records: %lld of %lld in %s%s", (long long)ea->n,
		 (long long)c->n_total, c->data_path,
		 ea->n < c->n_range ? " (those in the traces)" : "");
	printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));
	snprintf(buf, sizeof buf, "outputs differ on %lld, top-1 on %lld (agreement %s)",
		 (long long)c->n_differ, (long long)c->n_top1,
		 fmt_num(ea->n ? 1 - (double)c->n_top1 / (double)ea->n : NAN, 4, b3, sizeof b3));
	printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));
	snprintf(buf, sizeof buf, "accuracy A %s, B %s; output cosine mean %s", fmt_acc(ea, b3, sizeof b3),
		 fmt_acc(eb, b4, sizeof b4), fmt_num(c->cos_mean, 6, b2, sizeof b2));
	printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));
	if (c->metric == BC_TOP1)
		snprintf(buf, sizeof buf, "%lld of %lld with differing top-1, lowest output cosine first",
			 (long long)c->n_shown, (long long)c->n_list);
	else
		snprintf(buf, sizeof buf, "%lld of %lld that differ, lowest output %s first",
			 (long long)c->n_shown, (long long)c->n_list,
			 c->metric == BC_SQNR ? "sqnr" : "cosine");
	printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));
	if (c->n_shown == 0) {
		printf("\nno bad case\n");
	} else {
		printf("\n");
		struct qdb_table *t = qdb_table_new();
		if (!t)
			return;
		int c_rank = qdb_table_add_col(t, "#", QDB_COL_RIGHT, 1, 0);
		int c_s = qdb_table_add_col(t, "sample", QDB_COL_SHRINK, 6, 0);
		int c_cos = qdb_table_add_col(t, "cosine", QDB_COL_RIGHT, 1, c->metric == BC_SQNR);
		int c_sq = qdb_table_add_col(t, "sqnr", QDB_COL_RIGHT, 1, c->metric != BC_SQNR);
		int c_max = qdb_table_add_col(t, "max_abs", QDB_COL_RIGHT, 1, 2);
		int c_lab = qdb_table_add_col(t, "label", QDB_COL_SHRINK, 3, 0);
		int c_a = qdb_table_add_col(t, "A", QDB_COL_SHRINK, 3, 0);
		int c_b = qdb_table_add_col(t, "B", QDB_COL_SHRINK, 3, 0);
		qdb_table_col_soft(t, c_s, 16);
		for (int64_t k = 0; k < c->n_shown; k++) {
			const struct bc_rec *r = c->list[k];
			int64_t lab = ea->label[r->i], pa = ea->pred[r->i], pb = eb->pred[r->i];
			int row = qdb_table_add_row(t);
			qdb_table_setf(t, row, c_rank, QDB_STYLE_NONE, "%lld", (long long)k + 1);
			qdb_table_set(t, row, c_s, sample_of(c, r, buf, sizeof buf), QDB_STYLE_NONE);
			qdb_table_set(t, row, c_cos, fmt_num(r->cosine, 4, buf, sizeof buf),
				      QDB_STYLE_NONE);
			qdb_table_set(t, row, c_sq, fmt_num(r->sqnr_db, 1, buf, sizeof buf),
				      QDB_STYLE_NONE);
			qdb_table_set(t, row, c_max, qdb_fmt_double(buf, sizeof buf, r->max_abs, 3),
				      QDB_STYLE_NONE);
			qdb_table_set(t, row, c_lab, class_str(c, lab, buf, sizeof buf), QDB_STYLE_NONE);
			/* a prediction that misses the label is red */
			qdb_table_set(t, row, c_a, class_str(c, pa, buf, sizeof buf),
				      lab >= 0 && pa != lab ? QDB_STYLE_RED : QDB_STYLE_NONE);
			qdb_table_set(t, row, c_b, class_str(c, pb, buf, sizeof buf),
				      lab >= 0 && pb != lab ? QDB_STYLE_RED : QDB_STYLE_NONE);
		}
		qdb_table_print(t, stdout, &to);
		qdb_table_delete(t);
	}
	if (c->written)
		printf("\nwrote %lld record%s to %s\n", (long long)c->n_shown, c->n_shown == 1 ? "" : "s",
		       c->written);
}

static void csv_num(double v)
{
	char buf[40];
	qdb_csv_field(stdout, qdb_fmt_exact(buf, sizeof buf, v), 0);
}

static void csv_int(int64_t v, int first)
{
	char buf[32];
	if (v < 0)
		buf[0] = '\0';
	else
		snprintf(buf, sizeof buf, "%lld", (long long)v);
	qdb_csv_field(stdout, buf, first);
}

static void print_csv(const struct bc_ctx *c)
{
	static const char *const head[] = {"rank", "sample", "record", "cosine", "sqnr_db",
					   "max_abs", "label", "pred_a", "pred_b"};
	char buf[128];
	const struct qdb_eval *ea = &c->ev[0], *eb = &c->ev[1];
	qdb_csv_row(stdout, head, (int)(sizeof head / sizeof *head));
	for (int64_t k = 0; k < c->n_shown; k++) {
		const struct bc_rec *r = c->list[k];
		csv_int(k + 1, 1);
		qdb_csv_field(stdout, sample_of(c, r, buf, sizeof buf), 0);
		csv_int(ea->record[r->i], 0);
		csv_num(r->cosine);
		csv_num(r->sqnr_db);
		csv_num(r->max_abs);
		csv_int(ea->label[r->i], 0);
		csv_int(ea->pred[r->i], 0);
		csv_int(eb->pred[r->i], 0);
		putchar('\n');
	}
}

static void json_side(struct qdb_json *j, const char *key, const struct qdb_cli_source *s,
		      const struct qdb_eval *e)
{
	qdb_json_key(j, key);
	qdb_json_begin_object(j);
	qdb_json_key(j, "path");
	qdb_json_string(j, s->path);
	qdb_json_key(j, "kind");
	qdb_json_string(j, qdb_file_kind_name(s->kind));
	qdb_json_key(j, "stage");
	qdb_json_string(j, s->stage);
	qdb_json_key(j, "accuracy");
	if (e->n_labeled)
		qdb_json_number(j, e->accuracy);
	else
		qdb_json_null(j);
	qdb_json_end_object(j);
}

static void json_int_or_null(struct qdb_json *j, int64_t v)
{
	if (v < 0)
		qdb_json_null(j);
	else
		qdb_json_int(j, v);
}

static void print_json(const struct bc_ctx *c)
{
	struct qdb_json j;
	const struct qdb_eval *ea = &c->ev[0], *eb = &c->ev[1];
	qdb_json_init(&j, stdout);
	qdb_json_begin_object(&j);
	json_side(&j, "a", &c->src[0], ea);
	json_side(&j, "b", &c->src[1], eb);
	qdb_json_key(&j, "data");
	qdb_json_string(&j, c->data_path);
	qdb_json_key(&j, "samples");
	qdb_json_int(&j, ea->n);
	qdb_json_key(&j, "differ");
	qdb_json_int(&j, c->n_differ);
	qdb_json_key(&j, "top1_differ");
	qdb_json_int(&j, c->n_top1);
	qdb_json_key(&j, "cosine_mean");
	qdb_json_number(&j, c->cos_mean);
	qdb_json_key(&j, "metric");
	qdb_json_string(&j, metric_names[c->metric]);
	qdb_json_key(&j, "qualifying");
	qdb_json_int(&j, c->n_list);
	qdb_json_key(&j, "written");
	qdb_json_string(&j, c->written);
	qdb_json_key(&j, "badcases");
	qdb_json_begin_array(&j);
	for (int64_t k = 0; k < c->n_shown; k++) {
		const struct bc_rec *r = c->list[k];
		const struct qdb_sample_id *id = qdb_dataset_id(c->d, ea->record[r->i]);
		qdb_json_begin_object(&j);
		qdb_json_key(&j, "rank");
		qdb_json_int(&j, k + 1);
		qdb_json_key(&j, "sample");
		if (id->is_str)
			qdb_json_string(&j, id->str);
		else
			qdb_json_int(&j, id->num);
		qdb_json_key(&j, "record");
		qdb_json_int(&j, ea->record[r->i]);
		qdb_json_key(&j, "cosine");
		qdb_json_number(&j, r->cosine);
		qdb_json_key(&j, "sqnr_db");
		qdb_json_number(&j, r->sqnr_db);
		qdb_json_key(&j, "max_abs");
		qdb_json_number(&j, r->max_abs);
		qdb_json_key(&j, "nonfinite");
		qdb_json_bool(&j, r->nonfinite);
		qdb_json_key(&j, "label");
		json_int_or_null(&j, ea->label[r->i]);
		qdb_json_key(&j, "pred_a");
		json_int_or_null(&j, ea->pred[r->i]);
		qdb_json_key(&j, "pred_b");
		json_int_or_null(&j, eb->pred[r->i]);
		qdb_json_end_object(&j);
	}
	qdb_json_end_array(&j);
	qdb_json_finish(&j);
}

/* ---- main --------------------------------------------------------------------- */

int qdb_cmd_badcases(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"data", required_argument, NULL, 'd'},
		{"top", required_argument, NULL, 'k'},
		{"metric", required_argument, NULL, 'm'},
		{"output", required_argument, NULL, 'o'},
		{"samples", required_argument, NULL, 's'},
		{"jobs", required_argument, NULL, 'j'},
		{"format", required_argument, NULL, 'f'},
		{"wide", no_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *data = NULL, *samples = NULL, *out_path = NULL;
	enum qdb_format format = QDB_FORMAT_TABLE;
	enum bc_metric metric = BC_COSINE;
	int jobs = 0, wide = 0, opt;
	long lv, k = 20;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":d:k:m:o:s:j:f:wh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd': data = optarg; break;
		case 'k':
			if (qdb_parse_long(optarg, &k) || k < 0)
				return usage_error("-k: expected a count >= 0, not '%s'", optarg);
			break;
		case 'm':
			if (!strcmp(optarg, "cosine"))
				metric = BC_COSINE;
			else if (!strcmp(optarg, "sqnr") || !strcmp(optarg, "sqnr_db"))
				metric = BC_SQNR;
			else if (!strcmp(optarg, "top1"))
				metric = BC_TOP1;
			else
				return usage_error("--metric: expected cosine, sqnr or top1, not '%s'",
						   optarg);
			break;
		case 'o': out_path = optarg; break;
		case 's': samples = optarg; break;
		case 'j':
			if (qdb_parse_long(optarg, &lv) || lv < 1 || lv > 1024)
				return usage_error("-j: expected a thread count 1..1024, not '%s'", optarg);
			jobs = (int)lv;
			break;
		case 'f':
			if (qdb_format_parse(optarg, &format))
				return usage_error("--format: expected table, csv or json, not '%s'",
						   optarg);
			break;
		case 'w': wide = 1; break;
		case 'h': fputs(usage_text, stdout); return QDB_EXIT_OK;
		case ':': return usage_error("%s needs an argument", argv[optind - 1]);
		default: return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		return usage_error("%s", argc - optind < 2 ? "needs two models, A and B"
							   : "too many operands: expected A and B");
	if (!data)
		return usage_error("%s", "--data DS.qds is required");
	if (out_path && !*out_path)
		return usage_error("%s", "-o: empty file name");

	struct qdb_cli_evalset es;
	struct bc_ctx c;
	struct qdb_err err;
	int64_t *out_recs = NULL;
	int rc, ret = QDB_EXIT_OK;

	memset(&c, 0, sizeof c);
	qdb_err_clear(&err);
	if ((rc = qdb_cli_evalset_open(&es, data, argv + optind, 2, samples, jobs, &err)))
		goto fail;
	c.d = es.d;
	c.data_path = data;
	c.src = es.src;
	c.ev = es.ev;
	c.metric = metric;
	c.n_total = es.total;
	c.n_range = es.n_range;
	if ((rc = rank(&c, k, &err)))
		goto fail;

	if (out_path) {
		out_recs = qdb_alloc_array((size_t)(c.n_shown ? c.n_shown : 1), sizeof *out_recs);
		if (!out_recs) {
			rc = qdb_err_set(&err, QDB_ENOMEM, "out of memory");
			goto fail;
		}
		for (int64_t i = 0; i < c.n_shown; i++)
			out_recs[i] = es.ev[0].record[c.list[i]->i];
		char name[256];
		snprintf(name, sizeof name, "%s-badcases", qdb_dataset_name(es.d));
		if ((rc = qdb_dataset_write_records(es.d, out_path, name, out_recs, c.n_shown, &err)))
			goto fail;
		c.written = out_path;
	}

	switch (format) {
	case QDB_FORMAT_TABLE: print_table(&c, wide); break;
	case QDB_FORMAT_CSV: print_csv(&c); break;
	case QDB_FORMAT_JSON: print_json(&c); break;
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "qdb badcases: writing the output failed\n");
		ret = QDB_EXIT_INTERNAL;
	}
	goto out;
fail:
	fprintf(stderr, "qdb badcases: %s\n", err.msg);
	ret = qdb_cli_exit_for(rc);
out:
	qdb_free(c.rec);
	qdb_free(c.list);
	qdb_free(out_recs);
	qdb_cli_evalset_done(&es);
	return ret;
}
