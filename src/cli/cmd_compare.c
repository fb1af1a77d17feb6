/* cmd_compare.c - `qdb compare A B`: per-layer comparison of two stages.
 *
 * Operands are told apart by content (filekind.h). Two traces go to the
 * comparison engine (analysis/compare.h: threaded, pages released). With a
 * graph (.qbc) on either side the graphs run on the samples of --data and
 * a session (analysis/session.h) answers the cells; it also gives the
 * isolated mode (B's nodes on A's inputs), whose figures are shown beside
 * the cumulative ones. struct cmp_view hides which of the two the printers
 * read from.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/align.h"
#include "analysis/compare.h"
#include "analysis/session.h"
#include "base/alloc.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/filekind.h"
#include "cli/table.h"
#include "io/dataset.h"
#include "io/trace.h"

static const char usage_text[] =
	"usage: qdb compare [OPTIONS] A B\n"
	"Compares two stages layer by layer, in A's execution order (A is the\n"
	"reference, B the candidate). A and B are traces (.qtr) or graphs (.qbc),\n"
	"which run on the samples of --data (traces and graphs may be mixed).\n"
	"  -d, --data DS.qds     the dataset graphs run on (needed with a graph)\n"
	"      --mode MODE       cumulative (default: both sides end to end) or\n"
	"                        isolated (B a graph: each node of B evaluated on A's\n"
	"                        aligned inputs; shown beside the cumulative figures)\n"
	"  -s, --sample ID       one sample only (default: aggregate all shared samples)\n"
	"  -a, --all             aggregate over all shared samples (the default)\n"
	"  -t, --threshold EXPR  divergence condition (default 'cosine<0.99')\n"
	"  -m, --map FILE        rename rules: 'regex => replacement', 'a+b = c'\n"
	"  -f, --format FMT      table (default), csv or json\n"
	"  -M, --metrics LIST    metrics to show, comma-separated, or 'all'\n"
	"                        (default cosine,max_abs,max_steps,sqnr_db,mismatch)\n"
	"      --atol X          mismatch tolerance when B is not quantized (1e-5)\n"
	"  -j, --jobs N          threads for two traces (default: online CPUs)\n"
	"  -w, --wide            do not fit the table to the terminal width\n"
	"  -h, --help            this text\n"
	"Exit status: 0 every aligned layer holds, 1 some cross (in isolation with\n"
	"--mode isolated), 2 bad input or usage.\n";

#define MAX_SHOWN QDB_M_COUNT

struct cmp_args {
	const char *data;
	int isolated;
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

/* Opens one operand as a trace (graphs go to the session instead). */
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
		return qdb_err_set(err, QDB_EINVAL, "%s: a graph: comparing graphs needs --data DS.qds",
				   path);
	default:
		return qdb_err_set(err, QDB_EINVAL, "%s: a %s, not a trace", path,
				   qdb_file_kind_name(kind));
	}
}

/* ---- what the printers read ------------------------------------------------ */

struct cmp_view {
	struct qdb_compare *c;   /* two traces, or NULL */
	struct qdb_session *s;   /* a graph side, or NULL */
	struct qdb_dataset *d;   /* the session's dataset: sample ids as written */
	const char *data;        /* --data, or NULL */
	int isolated;            /* rows carry isolated figures too */
};

static int view_n_samples(const struct cmp_view *v)
{
	return v->c ? qdb_compare_n_samples(v->c) : qdb_session_n_samples(v->s);
}

static const struct qdb_threshold *view_threshold(const struct cmp_view *v)
{
	return v->c ? &qdb_compare_get_opts(v->c)->threshold : qdb_session_threshold(v->s, 0);
}

static const char *view_path(const struct cmp_view *v, int side)
{
	if (v->c)
		return qdb_trace_path(side ? qdb_compare_trace_b(v->c) : qdb_compare_trace_a(v->c));
	return qdb_session_path(v->s, side);
}

static const char *view_stage(const struct cmp_view *v, int side)
{
	if (v->c)
		return qdb_trace_stage(side ? qdb_compare_trace_b(v->c) : qdb_compare_trace_a(v->c));
	return qdb_session_stage(v->s, side);
}

static int view_n_only(const struct cmp_view *v, int side)
{
	if (v->c) {
		const struct qdb_align *al = qdb_compare_align(v->c);
		return side ? al->n_only_b : al->n_only_a;
	}
	return qdb_session_n_only(v->s, side);
}

/* Name and op ("" when unknown) of the i-th layer only one side has. */
static const char *view_only(const struct cmp_view *v, int side, int i, const char **op)
{
	*op = "";
	if (v->c) {
		const struct qdb_align *al = qdb_compare_align(v->c);
		struct qdb_trace *tr = side ? qdb_compare_trace_b(v->c) : qdb_compare_trace_a(v->c);
		const struct qdb_trace_layer *l = qdb_trace_layer(tr, (side ? al->only_b : al->only_a)[i]);
		*op = l->op ? l->op : "";
		return l->name;
	}
	return qdb_session_only_name(v->s, side, i);
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

static const char *sample_str(const struct cmp_view *v, int s, char *buf, size_t n)
{
	if (s < 0) {
		snprintf(buf, n, "-");
		return buf;
	}
	if (v->s) {
		snprintf(buf, n, "%s", qdb_session_sample_name(v->s, s));
		return buf;
	}
	return qdb_sample_id_str(qdb_compare_sample_id(v->c, s), buf, n);
}

static const char *threshold_str(const struct qdb_threshold *t, char *buf, size_t n)
{
	snprintf(buf, n, "%s%c%g", qdb_metric_name(t->metric), t->less ? '<' : '>', t->value);
	return buf;
}

/* What one table/CSV/JSON row needs beyond struct qdb_compare_row. */
struct row_info {
	struct qdb_compare_row r;
	struct qdb_compare_row iso; /* isolated mode: B's node on A's inputs */
	int via;
	const char *name_a, *name_b, *op;
	int has_shape;
	int rank_a, rank_b;
	int64_t shape_a[QDB_MAX_RANK], shape_b[QDB_MAX_RANK];
	int first; /* the first divergent layer */
};

/* The row's shapes (for the table's shape column) from one sample's pair. */
static void set_shapes(struct row_info *ri, const struct qdb_tensor *a, const struct qdb_tensor *b)
{
	ri->has_shape = 1;
	ri->rank_a = a->rank;
	ri->rank_b = b->rank;
	memcpy(ri->shape_a, a->shape, sizeof a->shape);
	memcpy(ri->shape_b, b->shape, sizeof b->shape);
}

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
			set_shapes(ri, &a, &b);
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

static void print_first(const struct cmp_view *v, const struct row_info *ri,
			const struct qdb_compare_row *r, const char *what, int agg, int color,
			int width)
{
	const struct qdb_threshold *th = view_threshold(v);
	const struct qdb_compare_agg *g = &r->agg[th->metric];
	char buf[256], b2[256], vb[64], sb[128];
	if (g->n > 0 && !(r->flags & QDB_CF_NUMEL))
		snprintf(buf, sizeof buf, "first divergent layer%s: %s (%s%s %s at sample %s)", what,
			 ri->name_a, agg ? "worst " : "", qdb_metric_name(th->metric),
			 fmt_metric(th->metric, g->worst, vb, sizeof vb),
			 sample_str(v, g->worst_sample, sb, sizeof sb));
	else
		snprintf(buf, sizeof buf, "first divergent layer%s: %s (%s at sample %s)", what,
			 ri->name_a, qdb_compare_flags_str(r->flags, vb, sizeof vb),
			 sample_str(v, r->first_diverged_sample, sb, sizeof sb));
	printf("%s%s%s\n", color ? qdb_style_begin(QDB_STYLE_BOLDRED) : "",
	       qdb_ellipsize(b2, sizeof b2, buf, width), color ? qdb_style_end() : "");
}

/* first: the first divergent row by the mode's figures (isolated ones in
 * isolated mode); first_cum: by the cumulative ones. */
static void print_table(const struct cmp_view *v, const struct cmp_args *a, struct row_info *rows,
			int n_rows, int sample, int first, int first_cum)
{
	const struct qdb_threshold *th = view_threshold(v);
	struct qdb_table_opts to;
	char buf[256], b2[256], tbuf[64];
	int agg = sample < 0, iso = v->isolated;

	qdb_table_opts_init(&to, stdout, a->wide);
	int width = to.width > 0 ? to.width : 1000;
	for (int side = 0; side < 2; side++) {
		snprintf(buf, sizeof buf, "%c %s (%s)", side ? 'B' : 'A', view_path(v, side),
			 view_stage(v, side));
		printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));
	}
	threshold_str(th, tbuf, sizeof tbuf);
	if (v->data) {
		snprintf(buf, sizeof buf, "data %s", v->data);
		printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));
	}
	if (agg)
		snprintf(buf, sizeof buf,
			 "%d samples, worst value per column; mean: mean %s; at: its worst sample",
			 view_n_samples(v), qdb_metric_name(th->metric));
	else
		snprintf(buf, sizeof buf, "sample %s", sample_str(v, sample, b2, sizeof b2));
	printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));
	if (iso) {
		snprintf(buf, sizeof buf, "i: isolated, B's node on A's inputs (its own error); "
			 "others: cumulative");
		printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));
	}
	snprintf(buf, sizeof buf, "threshold: %s", tbuf);
	printf("%s\n\n", qdb_ellipsize(b2, sizeof b2, buf, width));

	struct qdb_table *t = qdb_table_new();
	if (!t) {
		fprintf(stderr, "qdb compare: out of memory\n");
		return;
	}
	/* hidden first when the width is short: op, then mean, then shape
	 * (isolated mode: the cumulative figures before the isolated ones) */
	int c_mark = qdb_table_add_col(t, "", QDB_COL_RIGHT, 1, 0);
	int c_layer = qdb_table_add_col(t, "layer", QDB_COL_SHRINK, 10, 0);
	int c_op = qdb_table_add_col(t, "op", QDB_COL_SHRINK, 5, 4);
	int c_shape = qdb_table_add_col(t, "shape", QDB_COL_SHRINK, 7, 2);
	qdb_table_col_soft(t, c_layer, 24);
	qdb_table_col_soft(t, c_op, 9);
	qdb_table_col_soft(t, c_shape, 11);
	int c_m[MAX_SHOWN], c_i[MAX_SHOWN];
	for (int k = 0; k < a->n_shown; k++)
		c_m[k] = qdb_table_add_col(t, table_title(a->shown[k]), QDB_COL_RIGHT, 1,
					   a->shown[k] == th->metric ? 0 : iso ? 2 : 1);
	for (int k = 0; iso && k < a->n_shown; k++) {
		snprintf(buf, sizeof buf, "i:%s", table_title(a->shown[k]));
		c_i[k] = qdb_table_add_col(t, buf, QDB_COL_RIGHT, 1, a->shown[k] == th->metric ? 0 : 1);
	}
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
		/* the row the mode judges and whose "at" sample is shown */
		const struct qdb_compare_row *rj = iso ? &ri->iso : r;
		int row = qdb_table_add_row(t);
		if (row < 0)
			break;
		int div = rj->n_diverged > 0;
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
		for (int side = 0; side < 1 + iso; side++) {
			const struct qdb_compare_row *rr = side ? &ri->iso : r;
			for (int k = 0; k < a->n_shown; k++) {
				const struct qdb_compare_agg *g = &rr->agg[a->shown[k]];
				const char *txt = "-";
				if (g->n > 0)
					txt = fmt_metric(a->shown[k], g->worst, buf, sizeof buf);
				enum qdb_style st = QDB_STYLE_NONE;
				if (rr->n_diverged && a->shown[k] == th->metric)
					st = QDB_STYLE_RED;
				qdb_table_set(t, row, side ? c_i[k] : c_m[k], txt, st);
			}
		}
		if (agg) {
			const struct qdb_compare_agg *g = &rj->agg[th->metric];
			if (g->n > 0) {
				qdb_table_set(t, row, c_mean,
					      fmt_metric(th->metric, g->mean, buf, sizeof buf),
					      QDB_STYLE_NONE);
				qdb_table_set(t, row, c_at, sample_str(v, g->worst_sample, buf, sizeof buf),
					      QDB_STYLE_NONE);
			}
		}
		qdb_compare_flags_str(r->flags | (iso ? ri->iso.flags & ~(unsigned)QDB_CF_BFLOAT : 0),
				      buf, sizeof buf);
		qdb_table_set(t, row, c_flags, buf, QDB_STYLE_YELLOW);
	}
	qdb_table_print(t, stdout, &to);
	qdb_table_delete(t);

	int n_div = 0, n_cum = 0;
	for (int i = 0; i < n_rows; i++) {
		n_div += (iso ? rows[i].iso.n_diverged : rows[i].r.n_diverged) > 0;
		n_cum += rows[i].r.n_diverged > 0;
	}
	printf("\n");
	if (first >= 0)
		print_first(v, &rows[first], iso ? &rows[first].iso : &rows[first].r,
			    iso ? " in isolation" : "", agg, to.color, width);
	if (iso && first_cum >= 0)
		print_first(v, &rows[first_cum], &rows[first_cum].r, " end to end", agg, 0, width);
	if (iso)
		snprintf(buf, sizeof buf, "%d of %d aligned layers diverge in isolation, %d end to end (%s)",
			 n_div, n_rows, n_cum, tbuf);
	else
		snprintf(buf, sizeof buf, "%d of %d aligned layers diverge (%s)", n_div, n_rows, tbuf);
	printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));

	for (int side = 0; side < 2; side++) {
		int n = view_n_only(v, side);
		if (n == 0)
			continue;
		/* names wrapped to the width, after a "only in A: " lead */
		const char *lead = side ? "only in B:" : "only in A:";
		int col = printf("%s", lead);
		for (int i = 0; i < n; i++) {
			const char *op;
			const char *name = view_only(v, side, i, &op);
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

static void csv_metric_heads(const struct cmp_args *a, const char *prefix, int agg)
{
	char buf[256];
	for (int k = 0; k < a->n_shown; k++) {
		const char *m = qdb_metric_name(a->shown[k]);
		if (agg) {
			snprintf(buf, sizeof buf, "%s%s_mean", prefix, m);
			qdb_csv_field(stdout, buf, 0);
			snprintf(buf, sizeof buf, "%s%s_worst", prefix, m);
			qdb_csv_field(stdout, buf, 0);
			snprintf(buf, sizeof buf, "%s%s_worst_sample", prefix, m);
			qdb_csv_field(stdout, buf, 0);
		} else {
			snprintf(buf, sizeof buf, "%s%s", prefix, m);
			qdb_csv_field(stdout, buf, 0);
		}
	}
}

static void csv_metrics(const struct cmp_view *v, const struct cmp_args *a,
			const struct qdb_compare_row *r, int agg)
{
	char buf[256];
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
			qdb_csv_field(stdout, sample_str(v, g->worst_sample, buf, sizeof buf), 0);
		} else {
			csv_num(g->worst, 0);
		}
	}
}

/* Isolated mode appends iso_status, iso_first, iso_diverged_samples and the
 * isolated metrics after the cumulative columns. */
static void print_csv(const struct cmp_view *v, const struct cmp_args *a, struct row_info *rows,
		      int n_rows, int sample, int iso_first)
{
	char buf[256];
	int agg = sample < 0, iso = v->isolated;
	const char *fixed[] = {"layer", "layer_b", "via", "op", "shape", "shape_b", "status",
			       "first", "flags", "samples", "diverged_samples"};
	int nf = (int)(sizeof fixed / sizeof *fixed);
	for (int i = 0; i < nf; i++)
		qdb_csv_field(stdout, fixed[i], i == 0);
	csv_metric_heads(a, "", agg);
	if (iso) {
		qdb_csv_field(stdout, "iso_status", 0);
		qdb_csv_field(stdout, "iso_first", 0);
		qdb_csv_field(stdout, "iso_diverged_samples", 0);
		csv_metric_heads(a, "iso_", agg);
	}
	putchar('\n');
	for (int i = 0; i < n_rows; i++) {
		const struct row_info *ri = &rows[i];
		const struct qdb_compare_row *r = &ri->r;
		qdb_csv_field(stdout, ri->name_a, 1);
		qdb_csv_field(stdout, ri->name_b, 0);
		qdb_csv_field(stdout, via_word(ri->via), 0);
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
		csv_metrics(v, a, r, agg);
		if (iso) {
			qdb_csv_field(stdout, status_word(&ri->iso), 0);
			qdb_csv_field(stdout, i == iso_first ? "1" : "0", 0);
			snprintf(buf, sizeof buf, "%d", ri->iso.n_diverged);
			qdb_csv_field(stdout, buf, 0);
			csv_metrics(v, a, &ri->iso, agg);
		}
		putchar('\n');
	}
	int pad = 3 + a->n_shown * (agg ? 3 : 1);
	if (iso)
		pad += 3 + a->n_shown * (agg ? 3 : 1);
	for (int side = 0; side < 2; side++) {
		int n = view_n_only(v, side);
		for (int i = 0; i < n; i++) {
			const char *op;
			const char *name = view_only(v, side, i, &op);
			qdb_csv_field(stdout, side ? "" : name, 1);
			qdb_csv_field(stdout, side ? name : "", 0);
			qdb_csv_field(stdout, "", 0);
			qdb_csv_field(stdout, op, 0);
			qdb_csv_field(stdout, "", 0);
			qdb_csv_field(stdout, "", 0);
			qdb_csv_field(stdout, side ? "only_b" : "only_a", 0);
			qdb_csv_field(stdout, "0", 0);
			for (int k = 0; k < pad; k++)
				qdb_csv_field(stdout, "", 0);
			putchar('\n');
		}
	}
}

/* ---- JSON -------------------------------------------------------------- */

static void json_sample(struct qdb_json *j, const struct cmp_view *v, int s)
{
	const struct qdb_sample_id *id = NULL;
	if (s < 0) {
		qdb_json_null(j);
		return;
	}
	if (v->c) {
		id = qdb_compare_sample_id(v->c, s);
	} else {
		/* session samples are named by their dataset ids */
		const char *name = qdb_session_sample_name(v->s, s);
		int64_t r = v->d ? qdb_dataset_find_str(v->d, name) : -1;
		if (r < 0) {
			qdb_json_string(j, name);
			return;
		}
		id = qdb_dataset_id(v->d, r);
	}
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

static void json_side(struct qdb_json *j, const char *key, const struct cmp_view *v, int side)
{
	qdb_json_key(j, key);
	qdb_json_begin_object(j);
	qdb_json_key(j, "path");
	qdb_json_string(j, view_path(v, side));
	qdb_json_key(j, "stage");
	qdb_json_string(j, view_stage(v, side));
	if (v->c) {
		struct qdb_trace *t = side ? qdb_compare_trace_b(v->c) : qdb_compare_trace_a(v->c);
		qdb_json_key(j, "model");
		qdb_json_string(j, qdb_trace_model(t));
		qdb_json_key(j, "producer");
		qdb_json_string(j, qdb_trace_producer(t));
	} else {
		qdb_json_key(j, "kind");
		qdb_json_string(j, qdb_session_kind(v->s, side) == QDB_SOURCE_GRAPH ? "graph"
										   : "trace");
	}
	qdb_json_end_object(j);
}

static void json_metrics(struct qdb_json *j, const struct cmp_view *v, const struct cmp_args *a,
			 const struct qdb_compare_row *r, int agg)
{
	qdb_json_key(j, "metrics");
	qdb_json_begin_object(j);
	for (int k = 0; k < a->n_shown; k++) {
		const struct qdb_compare_agg *g = &r->agg[a->shown[k]];
		qdb_json_key(j, qdb_metric_name(a->shown[k]));
		if (g->n == 0) {
			qdb_json_null(j);
		} else if (agg) {
			qdb_json_begin_object(j);
			qdb_json_key(j, "mean");
			qdb_json_number(j, g->mean);
			qdb_json_key(j, "worst");
			qdb_json_number(j, g->worst);
			qdb_json_key(j, "worst_sample");
			json_sample(j, v, g->worst_sample);
			qdb_json_end_object(j);
		} else {
			qdb_json_number(j, g->worst);
		}
	}
	qdb_json_end_object(j);
}

/* first: by the cumulative figures; iso_first: by the isolated ones. */
static void print_json(const struct cmp_view *v, const struct cmp_args *a, struct row_info *rows,
		       int n_rows, int sample, int first, int iso_first)
{
	struct qdb_json j;
	char buf[256];
	int agg = sample < 0, n_div = 0, n_iso = 0, iso = v->isolated;
	const struct qdb_threshold *th = view_threshold(v);

	for (int i = 0; i < n_rows; i++) {
		n_div += rows[i].r.n_diverged > 0;
		n_iso += rows[i].iso.n_diverged > 0;
	}
	qdb_json_init(&j, stdout);
	qdb_json_begin_object(&j);
	json_side(&j, "a", v, 0);
	json_side(&j, "b", v, 1);
	qdb_json_key(&j, "data");
	qdb_json_string(&j, v->data);
	qdb_json_key(&j, "comparison");
	qdb_json_string(&j, iso ? "isolated" : "cumulative");
	qdb_json_key(&j, "mode");
	qdb_json_string(&j, agg ? "aggregate" : "sample");
	if (!agg) {
		qdb_json_key(&j, "sample");
		json_sample(&j, v, sample);
	}
	qdb_json_key(&j, "samples");
	qdb_json_int(&j, agg ? view_n_samples(v) : 1);
	qdb_json_key(&j, "threshold");
	qdb_json_string(&j, threshold_str(th, buf, sizeof buf));
	qdb_json_key(&j, "first_divergent");
	qdb_json_string(&j, first >= 0 ? rows[first].name_a : NULL);
	qdb_json_key(&j, "divergent_layers");
	qdb_json_int(&j, n_div);
	if (iso) {
		qdb_json_key(&j, "first_divergent_isolated");
		qdb_json_string(&j, iso_first >= 0 ? rows[iso_first].name_a : NULL);
		qdb_json_key(&j, "divergent_layers_isolated");
		qdb_json_int(&j, n_iso);
	}
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
		qdb_json_string(&j, via_word(ri->via));
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
		json_sample(&j, v, r->first_diverged_sample);
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
		json_metrics(&j, v, a, r, agg);
		if (iso) {
			qdb_json_key(&j, "isolated");
			qdb_json_begin_object(&j);
			qdb_json_key(&j, "status");
			qdb_json_string(&j, status_word(&ri->iso));
			qdb_json_key(&j, "first");
			qdb_json_bool(&j, i == iso_first);
			qdb_json_key(&j, "diverged_samples");
			qdb_json_int(&j, ri->iso.n_diverged);
			qdb_json_key(&j, "first_diverged_sample");
			json_sample(&j, v, ri->iso.first_diverged_sample);
			json_metrics(&j, v, a, &ri->iso, agg);
			qdb_json_end_object(&j);
		}
		qdb_json_end_object(&j);
	}
	qdb_json_end_array(&j);
	for (int side = 0; side < 2; side++) {
		int n = view_n_only(v, side);
		qdb_json_key(&j, side ? "only_b" : "only_a");
		qdb_json_begin_array(&j);
		for (int i = 0; i < n; i++) {
			const char *op;
			qdb_json_string(&j, view_only(v, side, i, &op));
		}
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

/* The sides' rows from the session: the aggregate over all samples, or
 * one sample's cells; iso: into the isolated half of the rows. */
static int session_rows(const struct cmp_view *v, struct row_info *rows, int n_rows, int sample,
			int iso, struct qdb_err *err)
{
	int rc;
	if (sample < 0 && (rc = qdb_session_aggregate(v->s, NULL, NULL, err)))
		return rc;
	for (int p = 0; p < n_rows; p++) {
		struct qdb_compare_row *dst = iso ? &rows[p].iso : &rows[p].r;
		if (sample >= 0) {
			if ((rc = qdb_session_sample_row(v->s, sample, p, dst, err)))
				return rc;
		} else {
			*dst = *qdb_session_agg(v->s, p);
		}
	}
	return QDB_OK;
}

/* Shapes from the first of a few samples (from `from`) that has both. */
static void session_shapes(const struct cmp_view *v, struct row_info *ri, int row, int from)
{
	int n = qdb_session_n_samples(v->s);
	for (int s = from; s < n && s < from + 8 && !ri->has_shape; s++) {
		struct qdb_tensor a, b;
		qdb_tensor_init(&a);
		qdb_tensor_init(&b);
		if (qdb_session_tensors(v->s, s, row, &a, &b, NULL) == QDB_OK) {
			set_shapes(ri, &a, &b);
			qdb_tensor_done(&a);
			qdb_tensor_done(&b);
		}
	}
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);
	return n >= k && !strcmp(s + n - k, suf);
}

int qdb_cmd_compare(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"data", required_argument, NULL, 'd'},
		{"mode", required_argument, NULL, 'O'},
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
	struct cmp_view v;
	enum qdb_file_kind kind[2];
	int ret = QDB_EXIT_BADINPUT, opt, rc, n_pairs, sample = -1;
	long lv;

	memset(&v, 0, sizeof v);
	memset(&a, 0, sizeof a);
	a.format = QDB_FORMAT_TABLE;
	a.atol = 1e-5;
	parse_metrics("cosine,max_abs,max_steps,sqnr_db,mismatch", &a);
	qdb_rules_init(&rules);
	qdb_err_clear(&err);

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":d:s:at:m:f:M:j:wh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd': a.data = optarg; break;
		case 'O':
			if (!strcmp(optarg, "isolated"))
				a.isolated = 1;
			else if (!strcmp(optarg, "cumulative"))
				a.isolated = 0;
			else
				return usage_error("--mode: expected cumulative or isolated, not '%s'",
						   optarg);
			break;
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
	for (int k = 0; k < 2; k++) {
		const char *path = argv[optind + k];
		if ((rc = qdb_file_kind(path, &kind[k], &err)))
			goto fail;
		if (kind[k] != QDB_KIND_TRACE && kind[k] != QDB_KIND_GRAPH) {
			rc = qdb_err_set(&err, QDB_EINVAL, "%s: a %s, not a trace or a graph", path,
					 qdb_file_kind_name(kind[k]));
			goto fail;
		}
	}
	int graphs = kind[0] == QDB_KIND_GRAPH || kind[1] == QDB_KIND_GRAPH;
	if (a.data && !graphs)
		return usage_error("%s", "--data: neither A nor B is a graph");
	if (a.isolated && kind[1] != QDB_KIND_GRAPH)
		return usage_error("%s", "--mode isolated: B must be a graph (.qbc), run on --data");
	if (graphs) {
		for (int k = 0; k < 2; k++)
			if (kind[k] == QDB_KIND_GRAPH && !a.data) {
				rc = qdb_err_set(&err, QDB_EINVAL,
						 "%s: a graph: comparing graphs needs --data DS.qds "
						 "(the samples it runs on)", argv[optind + k]);
				goto fail;
			} else if ((kind[k] == QDB_KIND_GRAPH) != has_suffix(argv[optind + k], ".qbc")) {
				/* the session tells graphs from traces by the name */
				rc = qdb_err_set(&err, QDB_EINVAL, "%s: a %s: name it *.%s to compare it",
						 argv[optind + k], qdb_file_kind_name(kind[k]),
						 kind[k] == QDB_KIND_GRAPH ? "qbc" : "qtr");
				goto fail;
			}
		goto session;
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
	v.c = c;
	n_pairs = qdb_compare_n_pairs(c);
	if (n_pairs == 0) {
		rc = qdb_err_set(&err, QDB_EINVAL,
				 "%s, %s: no layer in common (%d and %d layers; see --map)",
				 argv[optind], argv[optind + 1], qdb_trace_n_layers(ta),
				 qdb_trace_n_layers(tb));
		goto fail;
	}

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
	for (int p = 0; p < n_pairs; p++) {
		struct row_info *ri = &rows[p];
		if ((rc = qdb_compare_row(c, p, samples, ns, &ri->r, &err)))
			goto fail;
		ri->via = qdb_compare_align(c)->pairs[p].via_rule;
		const struct qdb_trace_layer *la = qdb_trace_layer(ta, ri->r.layer_a);
		const struct qdb_trace_layer *lb = qdb_trace_layer(tb, ri->r.layer_b);
		ri->name_a = la->name;
		ri->name_b = lb->name;
		ri->op = la->op && la->op[0] ? la->op : lb->op ? lb->op : "";
		fill_shapes(c, ri, samples, sample >= 0 ? 1 : qdb_compare_n_samples(c));
	}
	goto print;

session:;
	struct qdb_session_opts so;
	qdb_session_opts_init(&so);
	so.a_path = argv[optind];
	so.b_path = argv[optind + 1];
	so.data_path = a.data;
	so.map_path = a.map;
	so.atol = a.atol;
	so.thresholds[0] = co.threshold;
	so.n_thresholds = 1;
	if ((rc = qdb_session_open(&so, &v.s, &err)) || (rc = qdb_dataset_open(a.data, &v.d, &err)))
		goto fail;
	v.data = a.data;
	n_pairs = qdb_session_n_rows(v.s);
	if (n_pairs == 0) {
		rc = qdb_err_set(&err, QDB_EINVAL, "%s, %s: no layer in common (see --map)",
				 argv[optind], argv[optind + 1]);
		goto fail;
	}
	if (a.sample && (sample = qdb_session_find_sample(v.s, a.sample)) < 0) {
		rc = qdb_err_set(&err, QDB_ENOTFOUND, "%s: no sample '%s'%s", a.data, a.sample,
				 kind[0] == QDB_KIND_TRACE || kind[1] == QDB_KIND_TRACE
					 ? " (in the trace)" : "");
		goto fail;
	}
	rows = qdb_calloc((size_t)n_pairs, sizeof *rows);
	if (!rows) {
		rc = qdb_err_set(&err, QDB_ENOMEM, "out of memory");
		goto fail;
	}
	for (int p = 0; p < n_pairs; p++) {
		const struct qdb_session_row *sr = qdb_session_row(v.s, p);
		rows[p].name_a = sr->name;
		rows[p].name_b = sr->name_b;
		rows[p].op = sr->op ? sr->op : "";
		rows[p].via = sr->via_rule;
	}
	if ((rc = session_rows(&v, rows, n_pairs, sample, 0, &err)))
		goto fail;
	for (int p = 0; p < n_pairs; p++)
		session_shapes(&v, &rows[p], p, sample >= 0 ? sample : 0);
	if (a.isolated) {
		if ((rc = qdb_session_set_mode(v.s, QDB_MODE_ISOLATED, &err)) ||
		    (rc = session_rows(&v, rows, n_pairs, sample, 1, &err)))
			goto fail;
		v.isolated = 1;
	}

print:;
	int first = -1, iso_first = -1;
	for (int p = 0; p < n_pairs; p++) {
		if (rows[p].r.n_diverged && first < 0) {
			first = p;
			rows[p].first = 1;
		}
		if (v.isolated && rows[p].iso.n_diverged && iso_first < 0)
			iso_first = p;
	}
	/* the mode's own judgement marks the table and sets the exit status */
	int judged = v.isolated ? iso_first : first;
	switch (a.format) {
	case QDB_FORMAT_TABLE: print_table(&v, &a, rows, n_pairs, sample, judged, first); break;
	case QDB_FORMAT_CSV: print_csv(&v, &a, rows, n_pairs, sample, iso_first); break;
	case QDB_FORMAT_JSON: print_json(&v, &a, rows, n_pairs, sample, first, iso_first); break;
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "qdb compare: writing output failed\n");
		ret = QDB_EXIT_INTERNAL;
	} else {
		ret = judged >= 0 ? QDB_EXIT_DIVERGED : QDB_EXIT_OK;
	}
	goto out;
fail:
	fprintf(stderr, "qdb compare: %s\n", err.msg);
	ret = exit_for(rc);
out:
	qdb_free(rows);
	qdb_session_close(v.s);
	qdb_dataset_close(v.d);
	qdb_compare_delete(c);
	qdb_trace_close(tb);
	qdb_trace_close(ta);
	qdb_rules_done(&rules);
	return ret;
}
