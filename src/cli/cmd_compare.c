/* cmd_compare.c - `qdb compare A B`: per-layer comparison of two traces.
 *
 * Operands are opened by content (filekind.h). Today both must be traces;
 * open_operand() is the one place that will turn a graph (.qbc) plus
 * --data into a source the comparison engine can read.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/align.h"
#include "analysis/compare.h"
#include "base/alloc.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/filekind.h"
#include "cli/table.h"
#include "io/trace.h"

static const char usage_text[] =
	"usage: qdb compare [OPTIONS] A.qtr B.qtr\n"
	"Compares two traces layer by layer, in A's execution order (A is the\n"
	"reference, B the candidate).\n"
	"  -s, --sample ID       one sample only (default: aggregate all shared samples)\n"
	"  -a, --all             aggregate over all shared samples (the default)\n"
	"  -t, --threshold EXPR  divergence condition (default 'cosine<0.99')\n"
	"  -m, --map FILE        rename rules: 'regex => replacement', 'a+b = c'\n"
	"  -f, --format FMT      table (default), csv or json\n"
	"  -M, --metrics LIST    metrics to show, comma-separated, or 'all'\n"
	"                        (default cosine,max_abs,max_steps,sqnr_db,mismatch)\n"
	"      --atol X          mismatch tolerance when B is not quantized (1e-5)\n"
	"  -j, --jobs N          threads (default: online CPUs)\n"
	"  -w, --wide            do not fit the table to the terminal width\n"
	"  -h, --help            this text\n"
	"Exit status: 0 every aligned layer holds, 1 some cross, 2 bad input or usage.\n";

#define MAX_SHOWN QDB_M_COUNT

struct cmp_args {
	const char *sample;
	int all;
	const char *threshold;
	const char *map;
	enum qdb_format format;
	enum qdb_metric_id shown[MAX_SHOWN];
	int n_shown;
	double atol;
	int jobs;
	int wide;
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "qdb compare: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (qdb compare --help)\n");
	return QDB_EXIT_USAGE;
}

static int exit_for(int status)
{
	return status == QDB_ENOMEM ? QDB_EXIT_INTERNAL : QDB_EXIT_BADINPUT;
}

static int parse_metrics(const char *s, struct cmp_args *a)
{
	a->n_shown = 0;
	if (!strcmp(s, "all")) {
		for (int k = 0; k < QDB_M_COUNT; k++)
			a->shown[a->n_shown++] = (enum qdb_metric_id)k;
		return 0;
	}
	char **v = qdb_split(s, ',');
	int rc = 0;
	if (!v)
		return -1;
	for (int i = 0; v[i]; i++) {
		enum qdb_metric_id id;
		if (qdb_metric_parse(v[i], &id)) {
			rc = usage_error("--metrics: unknown metric '%s'", v[i]);
			break;
		}
		int dup = 0;
		for (int k = 0; k < a->n_shown; k++)
			dup |= a->shown[k] == id;
		if (!dup && a->n_shown < MAX_SHOWN)
			a->shown[a->n_shown++] = id;
	}
	qdb_strv_free(v);
	if (!rc && a->n_shown == 0)
		rc = usage_error("--metrics: %s", "empty list");
	return rc;
}

/* Opens one operand as a trace. The hook for graph operands: a .qbc will be
 * run over --data into a trace-like source here. */
static int open_operand(const char *path, struct qdb_trace **out, struct qdb_err *err)
{
	enum qdb_file_kind kind;
	int rc = qdb_file_kind(path, &kind, err);
	*out = NULL;
	if (rc)
		return rc;
	switch (kind) {
	case QDB_KIND_TRACE:
		return qdb_trace_open(path, out, err);
	case QDB_KIND_GRAPH:
		return qdb_err_set(err, QDB_EUNSUPPORTED,
				   "%s: a graph: comparing graphs needs --data DATASET "
				   "(not supported yet; compare traces recorded from it)", path);
	default:
		return qdb_err_set(err, QDB_EINVAL, "%s: a %s, not a trace", path,
				   qdb_file_kind_name(kind));
	}
}

/* ---- formatting ------------------------------------------------------------ */

/* Table titles: the metric names, shortened where a column would be wider
 * than its numbers (man qdb lists them). */
static const char *table_title(enum qdb_metric_id id)
{
	switch (id) {
	case QDB_M_MAX_STEPS: return "steps";
	case QDB_M_SQNR_DB: return "sqnr";
	case QDB_M_MISMATCH: return "mism";
	default: return qdb_metric_name(id);
	}
}

/* Compact numbers for tables; CSV and JSON carry full precision. */
static const char *fmt_metric(enum qdb_metric_id id, double v, char *buf, size_t n)
{
	if (isnan(v))
		return snprintf(buf, n, "nan"), buf;
	if (isinf(v))
		return snprintf(buf, n, "%s", v > 0 ? "inf" : "-inf"), buf;
	switch (id) {
	case QDB_M_COSINE: {
		/* five decimals, trailing zeros dropped: 1, 0.99, 0.99996 */
		snprintf(buf, n, "%.5f", v);
		char *dot = strchr(buf, '.');
		if (dot) {
			char *e = buf + strlen(buf) - 1;
			while (e > dot && *e == '0')
				*e-- = '\0';
			if (e == dot)
				*e = '\0';
		}
		if (!strcmp(buf, "-0"))
			snprintf(buf, n, "0");
		break;
	}
	case QDB_M_SQNR_DB:
		snprintf(buf, n, "%.1f", v);
		break;
	case QDB_M_MAX_STEPS:
		if (fabs(v) < 10)
			snprintf(buf, n, "%.2f", v);
		else if (fabs(v) < 1000)
			snprintf(buf, n, "%.1f", v);
		else
			snprintf(buf, n, "%.3g", v);
		break;
	case QDB_M_MISMATCH: {
		double p = 100 * v;
		if (p == 0 || p >= 10)
			snprintf(buf, n, "%.0f%%", p);
		else if (p < 0.01)
			snprintf(buf, n, "<.01%%");
		else
			snprintf(buf, n, "%.2g%%", p);
		break;
	}
	default:
		snprintf(buf, n, "%.3g", v);
		break;
	}
	return buf;
}

static const char *sample_str(const struct qdb_compare *c, int s, char *buf, size_t n)
{
	if (s < 0) {
		snprintf(buf, n, "-");
		return buf;
	}
	return qdb_sample_id_str(qdb_compare_sample_id(c, s), buf, n);
}

static const char *threshold_str(const struct qdb_threshold *t, char *buf, size_t n)
{
	snprintf(buf, n, "%s%c%g", qdb_metric_name(t->metric), t->less ? '<' : '>', t->value);
	return buf;
}

/* What one table/CSV/JSON row needs beyond struct qdb_compare_row. */
struct row_info {
	struct qdb_compare_row r;
	const char *name_a, *name_b, *op;
	int has_shape;
	int rank_a, rank_b;
	int64_t shape_a[QDB_MAX_RANK], shape_b[QDB_MAX_RANK];
	int first; /* the first divergent layer */
};

static void fill_shapes(struct qdb_compare *c, struct row_info *ri, const int *samples, int n)
{
	struct qdb_trace *ta = qdb_compare_trace_a(c), *tb = qdb_compare_trace_b(c);
	for (int i = 0; i < n; i++) {
		int s = samples ? samples[i] : i;
		int sa = qdb_compare_sample_a(c, s), sb = qdb_compare_sample_b(c, s);
		if (!qdb_trace_has(ta, sa, ri->r.layer_a) || !qdb_trace_has(tb, sb, ri->r.layer_b))
			continue;
		struct qdb_tensor a, b;
		qdb_tensor_init(&a);
		qdb_tensor_init(&b);
		if (!qdb_trace_get(ta, sa, ri->r.layer_a, &a, NULL) &&
		    !qdb_trace_get(tb, sb, ri->r.layer_b, &b, NULL)) {
			ri->has_shape = 1;
			ri->rank_a = a.rank;
			ri->rank_b = b.rank;
			memcpy(ri->shape_a, a.shape, sizeof a.shape);
			memcpy(ri->shape_b, b.shape, sizeof b.shape);
		}
		qdb_tensor_done(&a);
		qdb_tensor_done(&b);
		if (ri->has_shape)
			return;
	}
}

static const char *status_word(const struct qdb_compare_row *r)
{
	if (r->n_diverged)
		return "diverged";
	if (r->n_error)
		return "error";
	if (r->n_ok == 0)
		return "missing";
	return "ok";
}

static const char *via_word(int via)
{
	return via == 1 ? "rule" : via == 2 ? "fused" : "name";
}

/* ---- table ---------------------------------------------------------------- */

static void print_table(struct qdb_compare *c, const struct cmp_args *a, struct row_info *rows,
			int n_rows, int sample, int first)
{
	struct qdb_trace *ta = qdb_compare_trace_a(c), *tb = qdb_compare_trace_b(c);
	const struct qdb_threshold *th = &qdb_compare_get_opts(c)->threshold;
	struct qdb_table_opts to;
	char buf[256], b2[256], tbuf[64];
	int agg = sample < 0;

	qdb_table_opts_init(&to, stdout, a->wide);
	int width = to.width > 0 ? to.width : 1000;
	snprintf(buf, sizeof buf, "A %s (%s)", qdb_trace_path(ta), qdb_trace_stage(ta));
	printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));
	snprintf(buf, sizeof buf, "B %s (%s)", qdb_trace_path(tb), qdb_trace_stage(tb));
	printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));
	threshold_str(th, tbuf, sizeof tbuf);
	if (agg)
		snprintf(buf, sizeof buf,
			 "%d samples, worst value per column; mean: mean %s; at: its worst sample",
			 qdb_compare_n_samples(c), qdb_metric_name(th->metric));
	else
		snprintf(buf, sizeof buf, "sample %s", sample_str(c, sample, b2, sizeof b2));
	printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));
	snprintf(buf, sizeof buf, "threshold: %s", tbuf);
	printf("%s\n\n", qdb_ellipsize(b2, sizeof b2, buf, width));

	struct qdb_table *t = qdb_table_new();
	if (!t) {
		fprintf(stderr, "qdb compare: out of memory\n");
		return;
	}
	/* hidden first when the width is short: op, then mean, then shape */
	int c_mark = qdb_table_add_col(t, "", QDB_COL_RIGHT, 1, 0);
	int c_layer = qdb_table_add_col(t, "layer", QDB_COL_SHRINK, 10, 0);
	int c_op = qdb_table_add_col(t, "op", QDB_COL_SHRINK, 5, 4);
	int c_shape = qdb_table_add_col(t, "shape", QDB_COL_SHRINK, 7, 2);
	qdb_table_col_soft(t, c_layer, 24);
	qdb_table_col_soft(t, c_op, 9);
	qdb_table_col_soft(t, c_shape, 11);
	int c_m[MAX_SHOWN];
	for (int k = 0; k < a->n_shown; k++)
		c_m[k] = qdb_table_add_col(t, table_title(a->shown[k]), QDB_COL_RIGHT, 1,
					   a->shown[k] == th->metric ? 0 : 1);
	int c_mean = -1, c_at = -1;
	if (agg) {
		c_mean = qdb_table_add_col(t, "mean", QDB_COL_RIGHT, 1, 3);
		c_at = qdb_table_add_col(t, "at", QDB_COL_SHRINK, 4, 0);
		qdb_table_col_soft(t, c_at, 12);
	}
	int c_flags = qdb_table_add_col(t, "flags", 0, 1, 0);

	for (int i = 0; i < n_rows; i++) {
		const struct row_info *ri = &rows[i];
		const struct qdb_compare_row *r = &ri->r;
		int row = qdb_table_add_row(t);
		if (row < 0)
			break;
		int div = r->n_diverged > 0;
		qdb_table_set(t, row, c_mark, i == first ? ">" : div ? "!" : "",
			      i == first ? QDB_STYLE_BOLDRED : QDB_STYLE_RED);
		if (strcmp(ri->name_a, ri->name_b))
			snprintf(buf, sizeof buf, "%s=%s", ri->name_a, ri->name_b);
		else
			snprintf(buf, sizeof buf, "%s", ri->name_a);
		qdb_table_set(t, row, c_layer, buf, i == first ? QDB_STYLE_BOLDRED : QDB_STYLE_NONE);
		qdb_table_set(t, row, c_op, ri->op, QDB_STYLE_NONE);
		if (ri->has_shape)
			qdb_table_set(t, row, c_shape,
				      qdb_shape_str(buf, sizeof buf, ri->rank_a, ri->shape_a),
				      (r->flags & QDB_CF_SHAPE) ? QDB_STYLE_YELLOW : QDB_STYLE_NONE);
		for (int k = 0; k < a->n_shown; k++) {
			const struct qdb_compare_agg *g = &r->agg[a->shown[k]];
			const char *txt = "-";
			if (g->n > 0)
				txt = fmt_metric(a->shown[k], g->worst, buf, sizeof buf);
			enum qdb_style st = QDB_STYLE_NONE;
			if (div && a->shown[k] == th->metric)
				st = QDB_STYLE_RED;
			qdb_table_set(t, row, c_m[k], txt, st);
		}
		if (agg) {
			const struct qdb_compare_agg *g = &r->agg[th->metric];
			if (g->n > 0) {
				qdb_table_set(t, row, c_mean,
					      fmt_metric(th->metric, g->mean, buf, sizeof buf),
					      QDB_STYLE_NONE);
				qdb_table_set(t, row, c_at, sample_str(c, g->worst_sample, buf, sizeof buf),
					      QDB_STYLE_NONE);
			}
		}
		qdb_compare_flags_str(r->flags, buf, sizeof buf);
		qdb_table_set(t, row, c_flags, buf, QDB_STYLE_YELLOW);
	}
	qdb_table_print(t, stdout, &to);
	qdb_table_delete(t);

	int n_div = 0;
	for (int i = 0; i < n_rows; i++)
		n_div += rows[i].r.n_diverged > 0;
	printf("\n");
	if (first >= 0) {
		const struct row_info *ri = &rows[first];
		const struct qdb_compare_agg *g = &ri->r.agg[th->metric];
		char vb[64], sb[128];
		if (g->n > 0 && !(ri->r.flags & QDB_CF_NUMEL))
			snprintf(buf, sizeof buf, "first divergent layer: %s (%s%s %s at sample %s)",
				 ri->name_a, agg ? "worst " : "", qdb_metric_name(th->metric),
				 fmt_metric(th->metric, g->worst, vb, sizeof vb),
				 sample_str(c, g->worst_sample, sb, sizeof sb));
		else
			snprintf(buf, sizeof buf, "first divergent layer: %s (%s at sample %s)",
				 ri->name_a, qdb_compare_flags_str(ri->r.flags, vb, sizeof vb),
				 sample_str(c, ri->r.first_diverged_sample, sb, sizeof sb));
		printf("%s%s%s\n", to.color ? qdb_style_begin(QDB_STYLE_BOLDRED) : "",
		       qdb_ellipsize(b2, sizeof b2, buf, width), to.color ? qdb_style_end() : "");
	}
	snprintf(buf, sizeof buf, "%d of %d aligned layers diverge (%s)", n_div, n_rows, tbuf);
	printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));

	const struct qdb_align *al = qdb_compare_align(c);
	for (int side = 0; side < 2; side++) {
		int n = side ? al->n_only_b : al->n_only_a;
		const int *idx = side ? al->only_b : al->only_a;
		struct qdb_trace *tr = side ? tb : ta;
		if (n == 0)
			continue;
		/* names wrapped to the width, after a "only in A: " lead */
		const char *lead = side ? "only in B:" : "only in A:";
		int col = printf("%s", lead);
		for (int i = 0; i < n; i++) {
			const char *name = qdb_trace_layer(tr, idx[i])->name;
			qdb_ellipsize(b2, sizeof b2, name, width - 12);
			int w = qdb_utf8_width(b2) + 1;
			if (col + w > width) {
				printf("\n%*s", (int)strlen(lead), "");
				col = (int)strlen(lead);
			}
			col += printf(" %s", b2);
		}
		printf("\n");
	}
}

/* ---- CSV --------------------------------------------------------------- */

static void csv_num(double v, int first)
{
	char buf[40];
	qdb_csv_field(stdout, qdb_fmt_exact(buf, sizeof buf, v), first);
}

static void print_csv(struct qdb_compare *c, const struct cmp_args *a, struct row_info *rows,
		      int n_rows, int sample)
{
	char buf[256];
	int agg = sample < 0;
	const char *fixed[] = {"layer", "layer_b", "via", "op", "shape", "shape_b", "status",
			       "first", "flags", "samples", "diverged_samples"};
	int nf = (int)(sizeof fixed / sizeof *fixed);
	for (int i = 0; i < nf; i++)
		qdb_csv_field(stdout, fixed[i], i == 0);
	for (int k = 0; k < a->n_shown; k++) {
		const char *m = qdb_metric_name(a->shown[k]);
		if (agg) {
			snprintf(buf, sizeof buf, "%s_mean", m);
			qdb_csv_field(stdout, buf, 0);
			snprintf(buf, sizeof buf, "%s_worst", m);
			qdb_csv_field(stdout, buf, 0);
			snprintf(buf, sizeof buf, "%s_worst_sample", m);
			qdb_csv_field(stdout, buf, 0);
		} else {
			qdb_csv_field(stdout, m, 0);
		}
	}
	putchar('\n');
	for (int i = 0; i < n_rows; i++) {
		const struct row_info *ri = &rows[i];
		const struct qdb_compare_row *r = &ri->r;
		const struct qdb_align *al = qdb_compare_align(c);
		qdb_csv_field(stdout, ri->name_a, 1);
		qdb_csv_field(stdout, ri->name_b, 0);
		qdb_csv_field(stdout, via_word(al->pairs[r->pair].via_rule), 0);
		qdb_csv_field(stdout, ri->op, 0);
		qdb_csv_field(stdout, ri->has_shape ? qdb_shape_str(buf, sizeof buf, ri->rank_a,
								    ri->shape_a) : "", 0);
		qdb_csv_field(stdout, ri->has_shape ? qdb_shape_str(buf, sizeof buf, ri->rank_b,
								    ri->shape_b) : "", 0);
		qdb_csv_field(stdout, status_word(r), 0);
		qdb_csv_field(stdout, ri->first ? "1" : "0", 0);
		qdb_csv_field(stdout, qdb_compare_flags_str(r->flags, buf, sizeof buf), 0);
		snprintf(buf, sizeof buf, "%d", r->n_samples);
		qdb_csv_field(stdout, buf, 0);
		snprintf(buf, sizeof buf, "%d", r->n_diverged);
		qdb_csv_field(stdout, buf, 0);
		for (int k = 0; k < a->n_shown; k++) {
			const struct qdb_compare_agg *g = &r->agg[a->shown[k]];
			if (g->n == 0) {
				qdb_csv_field(stdout, "", 0);
				if (agg) {
					qdb_csv_field(stdout, "", 0);
					qdb_csv_field(stdout, "", 0);
				}
				continue;
			}
			if (agg) {
				csv_num(g->mean, 0);
				csv_num(g->worst, 0);
				qdb_csv_field(stdout, sample_str(c, g->worst_sample, buf, sizeof buf), 0);
			} else {
				csv_num(g->worst, 0);
			}
		}
		putchar('\n');
	}
	const struct qdb_align *al = qdb_compare_align(c);
	for (int side = 0; side < 2; side++) {
		int n = side ? al->n_only_b : al->n_only_a;
		const int *idx = side ? al->only_b : al->only_a;
		struct qdb_trace *tr = side ? qdb_compare_trace_b(c) : qdb_compare_trace_a(c);
		for (int i = 0; i < n; i++) {
			const struct qdb_trace_layer *l = qdb_trace_layer(tr, idx[i]);
			qdb_csv_field(stdout, side ? "" : l->name, 1);
			qdb_csv_field(stdout, side ? l->name : "", 0);
			qdb_csv_field(stdout, "", 0);
			qdb_csv_field(stdout, l->op, 0);
			qdb_csv_field(stdout, "", 0);
			qdb_csv_field(stdout, "", 0);
			qdb_csv_field(stdout, side ? "only_b" : "only_a", 0);
			qdb_csv_field(stdout, "0", 0);
			for (int k = 0; k < 3 + a->n_shown * (agg ? 3 : 1); k++)
				qdb_csv_field(stdout, "", 0);
			putchar('\n');
		}
	}
}

/* ---- JSON -------------------------------------------------------------- */

static void json_sample(struct qdb_json *j, const struct qdb_compare *c, int s)
{
	if (s < 0) {
		qdb_json_null(j);
		return;
	}
	const struct qdb_sample_id *id = qdb_compare_sample_id(c, s);
	if (id->is_str)
		qdb_json_string(j, id->str);
	else
		qdb_json_int(j, id->num);
}

static void json_shape(struct qdb_json *j, int rank, const int64_t *shape)
{
	qdb_json_begin_array(j);
	for (int i = 0; i < rank; i++)
		qdb_json_int(j, shape[i]);
	qdb_json_end_array(j);
}

static void json_side(struct qdb_json *j, const char *key, struct qdb_trace *t)
{
	qdb_json_key(j, key);
	qdb_json_begin_object(j);
	qdb_json_key(j, "path");
	qdb_json_string(j, qdb_trace_path(t));
	qdb_json_key(j, "stage");
	qdb_json_string(j, qdb_trace_stage(t));
	qdb_json_key(j, "model");
	qdb_json_string(j, qdb_trace_model(t));
	qdb_json_key(j, "producer");
	qdb_json_string(j, qdb_trace_producer(t));
	qdb_json_end_object(j);
}

static void print_json(struct qdb_compare *c, const struct cmp_args *a, struct row_info *rows,
		       int n_rows, int sample, int first)
{
	struct qdb_json j;
	char buf[256];
	int agg = sample < 0, n_div = 0;
	const struct qdb_threshold *th = &qdb_compare_get_opts(c)->threshold;
	const struct qdb_align *al = qdb_compare_align(c);

	for (int i = 0; i < n_rows; i++)
		n_div += rows[i].r.n_diverged > 0;
	qdb_json_init(&j, stdout);
	qdb_json_begin_object(&j);
	json_side(&j, "a", qdb_compare_trace_a(c));
	json_side(&j, "b", qdb_compare_trace_b(c));
	qdb_json_key(&j, "mode");
	qdb_json_string(&j, agg ? "aggregate" : "sample");
	if (!agg) {
		qdb_json_key(&j, "sample");
		json_sample(&j, c, sample);
	}
	qdb_json_key(&j, "samples");
	qdb_json_int(&j, agg ? qdb_compare_n_samples(c) : 1);
	qdb_json_key(&j, "threshold");
	qdb_json_string(&j, threshold_str(th, buf, sizeof buf));
	qdb_json_key(&j, "first_divergent");
	qdb_json_string(&j, first >= 0 ? rows[first].name_a : NULL);
	qdb_json_key(&j, "divergent_layers");
	qdb_json_int(&j, n_div);
	qdb_json_key(&j, "layers");
	qdb_json_begin_array(&j);
	for (int i = 0; i < n_rows; i++) {
		const struct row_info *ri = &rows[i];
		const struct qdb_compare_row *r = &ri->r;
		qdb_json_begin_object(&j);
		qdb_json_key(&j, "layer");
		qdb_json_string(&j, ri->name_a);
		qdb_json_key(&j, "layer_b");
		qdb_json_string(&j, ri->name_b);
		qdb_json_key(&j, "via");
		qdb_json_string(&j, via_word(al->pairs[r->pair].via_rule));
		qdb_json_key(&j, "op");
		qdb_json_string(&j, ri->op);
		qdb_json_key(&j, "shape");
		if (ri->has_shape)
			json_shape(&j, ri->rank_a, ri->shape_a);
		else
			qdb_json_null(&j);
		qdb_json_key(&j, "shape_b");
		if (ri->has_shape)
			json_shape(&j, ri->rank_b, ri->shape_b);
		else
			qdb_json_null(&j);
		qdb_json_key(&j, "status");
		qdb_json_string(&j, status_word(r));
		qdb_json_key(&j, "first");
		qdb_json_bool(&j, ri->first);
		qdb_json_key(&j, "flags");
		qdb_json_begin_array(&j);
		char fb[128];
		qdb_compare_flags_str(r->flags, fb, sizeof fb);
		char **fv = fb[0] ? qdb_split(fb, ',') : NULL;
		for (int k = 0; fv && fv[k]; k++)
			qdb_json_string(&j, fv[k]);
		qdb_strv_free(fv);
		qdb_json_end_array(&j);
		qdb_json_key(&j, "samples");
		qdb_json_int(&j, r->n_samples);
		qdb_json_key(&j, "diverged_samples");
		qdb_json_int(&j, r->n_diverged);
		qdb_json_key(&j, "first_diverged_sample");
		json_sample(&j, c, r->first_diverged_sample);
		qdb_json_key(&j, "nan_a");
		qdb_json_int(&j, r->nan_a);
		qdb_json_key(&j, "inf_a");
		qdb_json_int(&j, r->inf_a);
		qdb_json_key(&j, "nan_b");
		qdb_json_int(&j, r->nan_b);
		qdb_json_key(&j, "inf_b");
		qdb_json_int(&j, r->inf_b);
		qdb_json_key(&j, "sat_a");
		qdb_json_number(&j, r->sat_a);
		qdb_json_key(&j, "sat_b");
		qdb_json_number(&j, r->sat_b);
		qdb_json_key(&j, "metrics");
		qdb_json_begin_object(&j);
		for (int k = 0; k < a->n_shown; k++) {
			const struct qdb_compare_agg *g = &r->agg[a->shown[k]];
			qdb_json_key(&j, qdb_metric_name(a->shown[k]));
			if (g->n == 0) {
				qdb_json_null(&j);
			} else if (agg) {
				qdb_json_begin_object(&j);
				qdb_json_key(&j, "mean");
				qdb_json_number(&j, g->mean);
				qdb_json_key(&j, "worst");
				qdb_json_number(&j, g->worst);
				qdb_json_key(&j, "worst_sample");
				json_sample(&j, c, g->worst_sample);
				qdb_json_end_object(&j);
			} else {
				qdb_json_number(&j, g->worst);
			}
		}
		qdb_json_end_object(&j);
		qdb_json_end_object(&j);
	}
	qdb_json_end_array(&j);
	for (int side = 0; side < 2; side++) {
		int n = side ? al->n_only_b : al->n_only_a;
		const int *idx = side ? al->only_b : al->only_a;
		struct qdb_trace *tr = side ? qdb_compare_trace_b(c) : qdb_compare_trace_a(c);
		qdb_json_key(&j, side ? "only_b" : "only_a");
		qdb_json_begin_array(&j);
		for (int i = 0; i < n; i++)
			qdb_json_string(&j, qdb_trace_layer(tr, idx[i])->name);
		qdb_json_end_array(&j);
	}
	qdb_json_finish(&j);
}

/* ---- main ------------------------------------------------------------------ */

static int find_sample(struct qdb_compare *c, const char *id, struct qdb_err *err)
{
	int s = qdb_compare_find_sample(c, id);
	if (s >= 0)
		return s;
	struct qdb_trace *ta = qdb_compare_trace_a(c), *tb = qdb_compare_trace_b(c);
	if (qdb_trace_find_sample_str(ta, id) < 0)
		qdb_err_set(err, QDB_ENOTFOUND, "%s: no sample '%s'", qdb_trace_path(ta), id);
	else
		qdb_err_set(err, QDB_ENOTFOUND, "%s: no sample '%s'", qdb_trace_path(tb), id);
	return -1;
}

int qdb_cmd_compare(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"sample", required_argument, NULL, 's'},
		{"all", no_argument, NULL, 'a'},
		{"threshold", required_argument, NULL, 't'},
		{"map", required_argument, NULL, 'm'},
		{"format", required_argument, NULL, 'f'},
		{"metrics", required_argument, NULL, 'M'},
		{"atol", required_argument, NULL, 'A'},
		{"jobs", required_argument, NULL, 'j'},
		{"wide", no_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cmp_args a;
	struct qdb_err err;
	struct qdb_rules rules;
	struct qdb_trace *ta = NULL, *tb = NULL;
	struct qdb_compare *c = NULL;
	struct row_info *rows = NULL;
	int ret = QDB_EXIT_BADINPUT, opt, rc;
	long lv;

	memset(&a, 0, sizeof a);
	a.format = QDB_FORMAT_TABLE;
	a.atol = 1e-5;
	parse_metrics("cosine,max_abs,max_steps,sqnr_db,mismatch", &a);
	qdb_rules_init(&rules);
	qdb_err_clear(&err);

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":s:at:m:f:M:j:wh", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': a.sample = optarg; break;
		case 'a': a.all = 1; break;
		case 't': a.threshold = optarg; break;
		case 'm': a.map = optarg; break;
		case 'f':
			if (qdb_format_parse(optarg, &a.format))
				return usage_error("--format: expected table, csv or json, not '%s'",
						   optarg);
			break;
		case 'M':
			if (parse_metrics(optarg, &a))
				return QDB_EXIT_USAGE;
			break;
		case 'A':
			if (qdb_parse_double(optarg, &a.atol) || !(a.atol >= 0) || isinf(a.atol))
				return usage_error("--atol: expected a number >= 0, not '%s'", optarg);
			break;
		case 'j':
			if (qdb_parse_long(optarg, &lv) || lv < 1 || lv > 1024)
				return usage_error("-j: expected a thread count 1..1024, not '%s'",
						   optarg);
			a.jobs = (int)lv;
			break;
		case 'w': a.wide = 1; break;
		case 'h': fputs(usage_text, stdout); return QDB_EXIT_OK;
		case ':':
			return usage_error("%s needs an argument", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		return usage_error("%s", argc - optind < 2 ? "needs two files, A and B"
							   : "too many operands: expected A and B");
	if (a.sample && a.all)
		return usage_error("%s", "--sample and --all exclude each other");

	struct qdb_compare_opts co;
	qdb_compare_opts_init(&co);
	co.atol = a.atol;
	co.release_pages = 1;
	if (a.threshold && qdb_threshold_parse(a.threshold, &co.threshold, &err)) {
		fprintf(stderr, "qdb compare: --threshold: %s\n", err.msg);
		return QDB_EXIT_USAGE;
	}
	if (a.map) {
		if ((rc = qdb_rules_load(&rules, a.map, &err)))
			goto fail;
		co.rules = &rules;
	}
	if ((rc = open_operand(argv[optind], &ta, &err)) ||
	    (rc = open_operand(argv[optind + 1], &tb, &err)))
		goto fail;
	if ((rc = qdb_compare_new(ta, tb, &co, &c, &err)))
		goto fail;
	int n_pairs = qdb_compare_n_pairs(c);
	if (n_pairs == 0) {
		rc = qdb_err_set(&err, QDB_EINVAL,
				 "%s, %s: no layer in common (%d and %d layers; see --map)",
				 argv[optind], argv[optind + 1], qdb_trace_n_layers(ta),
				 qdb_trace_n_layers(tb));
		goto fail;
	}

	int sample = -1;
	if (a.sample && (sample = find_sample(c, a.sample, &err)) < 0) {
		rc = err.code;
		goto fail;
	}
	const int *samples = sample >= 0 ? &sample : NULL;
	int ns = sample >= 0 ? 1 : -1;
	if ((rc = qdb_compare_fill(c, samples, ns, a.jobs, &err)))
		goto fail;

	rows = qdb_calloc((size_t)n_pairs, sizeof *rows);
	if (!rows) {
		rc = qdb_err_set(&err, QDB_ENOMEM, "out of memory");
		goto fail;
	}
	int first = -1;
	for (int p = 0; p < n_pairs; p++) {
		struct row_info *ri = &rows[p];
		if ((rc = qdb_compare_row(c, p, samples, ns, &ri->r, &err)))
			goto fail;
		const struct qdb_trace_layer *la = qdb_trace_layer(ta, ri->r.layer_a);
		const struct qdb_trace_layer *lb = qdb_trace_layer(tb, ri->r.layer_b);
		ri->name_a = la->name;
		ri->name_b = lb->name;
		ri->op = la->op && la->op[0] ? la->op : lb->op ? lb->op : "";
		fill_shapes(c, ri, samples, sample >= 0 ? 1 : qdb_compare_n_samples(c));
		if (ri->r.n_diverged && first < 0) {
			first = p;
			ri->first = 1;
		}
	}

	switch (a.format) {
	case QDB_FORMAT_TABLE: print_table(c, &a, rows, n_pairs, sample, first); break;
	case QDB_FORMAT_CSV: print_csv(c, &a, rows, n_pairs, sample); break;
	case QDB_FORMAT_JSON: print_json(c, &a, rows, n_pairs, sample, first); break;
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "qdb compare: writing output failed\n");
		ret = QDB_EXIT_INTERNAL;
	} else {
		ret = first >= 0 ? QDB_EXIT_DIVERGED : QDB_EXIT_OK;
	}
	goto out;
fail:
	fprintf(stderr, "qdb compare: %s\n", err.msg);
	ret = exit_for(rc);
out:
	qdb_free(rows);
	qdb_compare_delete(c);
	qdb_trace_close(tb);
	qdb_trace_close(ta);
	qdb_rules_done(&rules);
	return ret;
}
