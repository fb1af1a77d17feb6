/* cmd_info.c - `qdb info FILE...`: what a trace, dataset, graph or .npy holds.
 *
 * The kind comes from the content (filekind.h). Each kind has one function
 * per output format; table output fits the terminal like every qdb table.
 * CSV prints one table per file (trace: layers, graph: nodes, dataset:
 * classes, npy: one row), files separated by a blank line; JSON prints an
 * array with one object per file.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/filekind.h"
#include "cli/table.h"
#include "graph/graph.h"
#include "io/dataset.h"
#include "io/npy.h"
#include "io/qbc.h"
#include "io/trace.h"
#include "tensor/stats.h"

static const char usage_text[] =
	"usage: qdb info [OPTIONS] FILE...\n"
	"Describes traces (.qtr), datasets (.qds), graphs (.qbc) and .npy files\n"
	"(recognised by content).\n"
	"      --stats          per-layer statistics of one sample (traces, .npy)\n"
	"  -s, --sample ID      the sample for --stats (default: the first)\n"
	"  -f, --format FMT     table (default), csv or json\n"
	"  -w, --wide           do not fit tables to the terminal width\n"
	"  -h, --help           this text\n"
	"Exit status: 0 all files read, 2 a file could not be read or bad usage.\n";

/* Layer/record-count lookups above this are skipped (they are O(1) each,
 * but a 100k-sample trace would still make `info` slow). */
#define MAX_COUNT_LOOKUPS 4000000

struct info_args {
	int stats;
	const char *sample;
	enum qdb_format format;
	int wide;
	int n_done; /* files printed so far (separators) */
};

/* ---- formatting helpers ---------------------------------------------------- */

static const char *fmt_num(double v, char *buf, size_t n)
{
	return qdb_fmt_double(buf, n, v, 4);
}

/* "s=0.05 zp=0", "axis 1 x16: s=0.01..0.03 zp=0", "-" */
static const char *fmt_quant(const struct qdb_quant *q, char *buf, size_t n)
{
	if (q->n <= 0) {
		snprintf(buf, n, "-");
		return buf;
	}
	if (q->n == 1) {
		snprintf(buf, n, "s=%.4g zp=%" PRId64, q->scale[0], q->zero_point[0]);
		return buf;
	}
	double smin = q->scale[0], smax = q->scale[0];
	int64_t zmin = q->zero_point[0], zmax = q->zero_point[0];
	for (int i = 1; i < q->n; i++) {
		smin = fmin(smin, q->scale[i]);
		smax = fmax(smax, q->scale[i]);
		zmin = q->zero_point[i] < zmin ? q->zero_point[i] : zmin;
		zmax = q->zero_point[i] > zmax ? q->zero_point[i] : zmax;
	}
	char zb[64];
	if (zmin == zmax)
		snprintf(zb, sizeof zb, "%" PRId64, zmin);
	else
		snprintf(zb, sizeof zb, "%" PRId64 "..%" PRId64, zmin, zmax);
	snprintf(buf, n, "axis %d x%d: s=%.3g..%.3g zp=%s", q->axis, q->n, smin, smax, zb);
	return buf;
}

static void json_quant(struct qdb_json *j, const struct qdb_quant *q)
{
	if (q->n <= 0) {
		qdb_json_null(j);
		return;
	}
	qdb_json_begin_object(j);
	qdb_json_key(j, "scale");
	if (q->n == 1) {
		qdb_json_number(j, q->scale[0]);
	} else {
		qdb_json_begin_array(j);
		for (int i = 0; i < q->n; i++)
			qdb_json_number(j, q->scale[i]);
		qdb_json_end_array(j);
	}
	qdb_json_key(j, "zero_point");
	if (q->n == 1) {
		qdb_json_int(j, q->zero_point[0]);
	} else {
		qdb_json_begin_array(j);
		for (int i = 0; i < q->n; i++)
			qdb_json_int(j, q->zero_point[i]);
		qdb_json_end_array(j);
	}
	if (q->n > 1) {
		qdb_json_key(j, "axis");
		qdb_json_int(j, q->axis);
	}
	qdb_json_end_object(j);
}

static void json_shape(struct qdb_json *j, int rank, const int64_t *shape)
{
	if (rank < 0) {
		qdb_json_null(j);
		return;
	}
	qdb_json_begin_array(j);
	for (int i = 0; i < rank; i++)
		qdb_json_int(j, shape[i]);
	qdb_json_end_array(j);
}

static void json_kv_str(struct qdb_json *j, const char *k, const char *v)
{
	qdb_json_key(j, k);
	qdb_json_string(j, v);
}

static void json_kv_int(struct qdb_json *j, const char *k, int64_t v)
{
	qdb_json_key(j, k);
	qdb_json_int(j, v);
}

static void json_stats(struct qdb_json *j, const struct qdb_stats *s)
{
	qdb_json_begin_object(j);
	json_kv_int(j, "count", s->count);
	json_kv_int(j, "finite", s->finite);
	json_kv_int(j, "nan", s->nan);
	json_kv_int(j, "inf", s->inf);
	const struct { const char *k; double v; } f[] = {
		{"min", s->min}, {"max", s->max}, {"mean", s->mean}, {"std", s->std},
		{"absmean", s->absmean}, {"p01", s->p01}, {"p50", s->p50}, {"p99", s->p99},
		{"zero_frac", s->zero_frac}, {"sat_frac", s->sat_frac},
		{"hist_lo", s->hist_lo}, {"hist_hi", s->hist_hi},
	};
	for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
		qdb_json_key(j, f[i].k);
		qdb_json_number(j, f[i].v);
	}
	qdb_json_key(j, "hist");
	qdb_json_begin_array(j);
	for (int i = 0; i < QDB_HIST_BINS; i++)
		qdb_json_int(j, s->hist[i]);
	qdb_json_end_array(j);
	qdb_json_end_object(j);
}

/* Key/value lines above a table ("  stage     qat.pt"). */
static void kv_line(const char *k, const char *v, int width)
{
	char buf[1024], out[1024];
	snprintf(buf, sizeof buf, "  %-10s %s", k, v ? v : "");
	printf("%s\n", qdb_ellipsize(out, sizeof out, buf, width > 0 ? width : 1000));
}

/* Between two files' outputs (table, CSV): a blank line. */
static void file_sep(struct info_args *a)
{
	if (a->n_done++ > 0)
		putchar('\n');
}

/* A file's table output starts with "PATH: KIND" and key/value lines. */
static void table_begin(struct qdb_table_opts *to, struct info_args *a, const char *path,
			const char *kind)
{
	qdb_table_opts_init(to, stdout, a->wide);
	file_sep(a);
	printf("%s: %s\n", path, kind);
}

/* A file's JSON output: one object of the top-level array, which begins
 * with its "file" and "kind". */
static void json_begin_file(struct qdb_json *j, struct info_args *a, const char *path,
			    const char *kind)
{
	qdb_json_init(j, stdout);
	j->depth = 1; /* inside the top-level array */
	j->count[0] = a->n_done++;
	qdb_json_begin_object(j);
	json_kv_str(j, "file", path);
	json_kv_str(j, "kind", kind);
}

/* Stats columns shared by traces and .npy (table and CSV). */
static const char *const stat_cols[] = {"min", "max", "mean", "std", "p01", "p50", "p99",
					"zero%", "sat%", "nan", "inf"};
#define N_STAT_COLS ((int)(sizeof stat_cols / sizeof *stat_cols))
static const int stat_prio[N_STAT_COLS] = {0, 0, 0, 1, 3, 2, 3, 1, 1, 0, 0};

static void stat_cells(const struct qdb_stats *s, char cells[N_STAT_COLS][40], int raw)
{
	double v[] = {s->min, s->max, s->mean, s->std, s->p01, s->p50, s->p99};
	for (int i = 0; i < 7; i++) {
		if (raw)
			qdb_fmt_exact(cells[i], 40, v[i]);
		else
			fmt_num(v[i], cells[i], 40);
	}
	if (raw) {
		qdb_fmt_exact(cells[7], 40, s->zero_frac);
		qdb_fmt_exact(cells[8], 40, s->sat_frac);
	} else {
		snprintf(cells[7], 40, "%.3g%%", 100 * s->zero_frac);
		snprintf(cells[8], 40, "%.3g%%", 100 * s->sat_frac);
	}
	snprintf(cells[9], 40, "%" PRId64, s->nan);
	snprintf(cells[10], 40, "%" PRId64, s->inf);
}

/* ---- traces ------------------------------------------------------------------ */

struct layer_info {
	int has;          /* a record was found */
	int sample;       /* sample index it came from */
	enum qdb_dtype dtype;
	int rank;
	int64_t shape[QDB_MAX_RANK];
	struct qdb_quant q;
	int64_t records;  /* -1: not counted */
	int has_stats;
	struct qdb_stats st;
};

static int trace_layers(struct qdb_trace *t, struct layer_info *li, int stats_sample,
			struct qdb_err *err)
{
	int nl = qdb_trace_n_layers(t), ns = qdb_trace_n_samples(t);
	int count = (int64_t)nl * ns <= MAX_COUNT_LOOKUPS;
	for (int l = 0; l < nl; l++) {
		qdb_quant_init(&li[l].q);
		li[l].records = count ? 0 : -1;
		for (int s = 0; s < ns; s++) {
			if (!qdb_trace_has(t, s, l))
				continue;
			if (count)
				li[l].records++;
			if (li[l].has) {
				if (!count)
					break;
				continue;
			}
			struct qdb_tensor x;
			qdb_tensor_init(&x);
			int rc = qdb_trace_get(t, s, l, &x, err);
			if (!rc) {
				li[l].has = 1;
				li[l].sample = s;
				li[l].dtype = x.dtype;
				li[l].rank = x.rank;
				memcpy(li[l].shape, x.shape, sizeof x.shape);
				rc = qdb_quant_copy(&li[l].q, &x.q, err);
			}
			qdb_tensor_done(&x);
			if (rc)
				return rc;
		}
		if (stats_sample >= 0 && qdb_trace_has(t, stats_sample, l)) {
			struct qdb_tensor x;
			qdb_tensor_init(&x);
			int rc = qdb_trace_get(t, stats_sample, l, &x, err);
			if (!rc)
				rc = qdb_tensor_stats(&x, &li[l].st, err);
			qdb_tensor_done(&x);
			if (rc)
				return rc;
			li[l].has_stats = 1;
		}
	}
	return QDB_OK;
}

static int info_trace(const char *path, struct info_args *a, struct qdb_err *err)
{
	struct qdb_trace *t = NULL;
	struct layer_info *li = NULL;
	char buf[256], sb[128];
	int rc = qdb_trace_open(path, &t, err);
	if (rc)
		return rc;
	int nl = qdb_trace_n_layers(t), ns = qdb_trace_n_samples(t);
	int stats_sample = -1;
	if (a->stats) {
		if (a->sample) {
			stats_sample = qdb_trace_find_sample_str(t, a->sample);
			if (stats_sample < 0) {
				rc = qdb_err_set(err, QDB_ENOTFOUND, "%s: no sample '%s'", path,
						 a->sample);
				goto out;
			}
		} else if (ns > 0) {
			stats_sample = 0;
		}
	}
	li = qdb_calloc((size_t)nl + 1, sizeof *li);
	if (!li) {
		rc = qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	if ((rc = trace_layers(t, li, stats_sample, err)))
		goto out;
	int any_qstate = 0;
	for (int l = 0; l < nl; l++)
		any_qstate |= qdb_trace_layer(t, l)->has_qstate;
	if (stats_sample >= 0)
		qdb_sample_id_str(qdb_trace_sample(t, stats_sample), sb, sizeof sb);

	if (a->format == QDB_FORMAT_JSON) {
		struct qdb_json j;
		json_begin_file(&j, a, path, "trace");
		json_kv_str(&j, "stage", qdb_trace_stage(t));
		json_kv_str(&j, "model", qdb_trace_model(t));
		json_kv_str(&j, "producer", qdb_trace_producer(t));
		json_kv_int(&j, "samples", ns);
		json_kv_int(&j, "records", qdb_trace_n_records(t));
		qdb_json_key(&j, "sample_ids");
		qdb_json_begin_array(&j);
		for (int s = 0; s < ns; s++) {
			const struct qdb_sample_id *id = qdb_trace_sample(t, s);
			if (id->is_str)
				qdb_json_string(&j, id->str);
			else
				qdb_json_int(&j, id->num);
		}
		qdb_json_end_array(&j);
		if (stats_sample >= 0)
			json_kv_str(&j, "stats_sample", sb);
		qdb_json_key(&j, "layers");
		qdb_json_begin_array(&j);
		for (int l = 0; l < nl; l++) {
			const struct qdb_trace_layer *tl = qdb_trace_layer(t, l);
			qdb_json_begin_object(&j);
			json_kv_str(&j, "name", tl->name);
			json_kv_str(&j, "op", tl->op);
			qdb_json_key(&j, "shape");
			json_shape(&j, li[l].has ? li[l].rank : -1, li[l].shape);
			json_kv_str(&j, "dtype", li[l].has ? qdb_dtype_name(li[l].dtype) : NULL);
			qdb_json_key(&j, "qparams");
			json_quant(&j, &li[l].q);
			qdb_json_key(&j, "records");
			if (li[l].records >= 0)
				qdb_json_int(&j, li[l].records);
			else
				qdb_json_null(&j);
			if (tl->has_qstate) {
				qdb_json_key(&j, "qstate");
				qdb_json_begin_object(&j);
				qdb_json_key(&j, "fake_quant");
				qdb_json_bool(&j, tl->fake_quant);
				qdb_json_key(&j, "observer");
				qdb_json_bool(&j, tl->observer);
				qdb_json_key(&j, "scale");
				qdb_json_number(&j, tl->qs_scale);
				json_kv_int(&j, "zero_point", tl->qs_zero_point);
				qdb_json_end_object(&j);
			}
			if (li[l].has_stats) {
				qdb_json_key(&j, "stats");
				json_stats(&j, &li[l].st);
			}
			qdb_json_end_object(&j);
		}
		qdb_json_end_array(&j);
		qdb_json_end_object(&j);
		goto out;
	}

	if (a->format == QDB_FORMAT_CSV) {
		file_sep(a);
		const char *h[] = {"file", "kind", "layer", "op", "shape", "dtype", "qparams",
				   "records", "fake_quant", "observer"};
		int nh = (int)(sizeof h / sizeof *h);
		for (int i = 0; i < nh; i++)
			qdb_csv_field(stdout, h[i], i == 0);
		for (int i = 0; a->stats && i < N_STAT_COLS; i++)
			qdb_csv_field(stdout, stat_cols[i], 0);
		if (a->stats)
			qdb_csv_field(stdout, "stats_sample", 0);
		putchar('\n');
		for (int l = 0; l < nl; l++) {
			const struct qdb_trace_layer *tl = qdb_trace_layer(t, l);
			qdb_csv_field(stdout, path, 1);
			qdb_csv_field(stdout, "trace", 0);
			qdb_csv_field(stdout, tl->name, 0);
			qdb_csv_field(stdout, tl->op, 0);
			qdb_csv_field(stdout, li[l].has ? qdb_shape_str(buf, sizeof buf, li[l].rank,
									li[l].shape) : "", 0);
			qdb_csv_field(stdout, li[l].has ? qdb_dtype_name(li[l].dtype) : "", 0);
			qdb_csv_field(stdout, li[l].q.n ? fmt_quant(&li[l].q, buf, sizeof buf) : "", 0);
			snprintf(buf, sizeof buf, "%" PRId64, li[l].records);
			qdb_csv_field(stdout, li[l].records >= 0 ? buf : "", 0);
			qdb_csv_field(stdout, tl->has_qstate ? (tl->fake_quant ? "1" : "0") : "", 0);
			qdb_csv_field(stdout, tl->has_qstate ? (tl->observer ? "1" : "0") : "", 0);
			if (a->stats) {
				char cells[N_STAT_COLS][40];
				stat_cells(&li[l].st, cells, 1);
				for (int i = 0; i < N_STAT_COLS; i++)
					qdb_csv_field(stdout, li[l].has_stats ? cells[i] : "", 0);
				qdb_csv_field(stdout, li[l].has_stats ? sb : "", 0);
			}
			putchar('\n');
		}
		goto out;
	}

	struct qdb_table_opts to;
	table_begin(&to, a, path, "trace");
	kv_line("stage", qdb_trace_stage(t), to.width);
	kv_line("model", qdb_trace_model(t), to.width);
	kv_line("producer", qdb_trace_producer(t), to.width);
	snprintf(buf, sizeof buf, "%d", nl);
	kv_line("layers", buf, to.width);
	if (ns > 0) {
		char f[64], l[64];
		qdb_sample_id_str(qdb_trace_sample(t, 0), f, sizeof f);
		qdb_sample_id_str(qdb_trace_sample(t, ns - 1), l, sizeof l);
		snprintf(buf, sizeof buf, "%d (%s .. %s)", ns, f, l);
	} else {
		snprintf(buf, sizeof buf, "0");
	}
	kv_line("samples", buf, to.width);
	snprintf(buf, sizeof buf, "%" PRId64, qdb_trace_n_records(t));
	kv_line("records", buf, to.width);
	putchar('\n');

	struct qdb_table *tb = qdb_table_new();
	if (!tb) {
		rc = qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	int c_i = qdb_table_add_col(tb, "#", QDB_COL_RIGHT, 1, 5);
	int c_name = qdb_table_add_col(tb, "layer", QDB_COL_SHRINK, 10, 0);
	int c_op = qdb_table_add_col(tb, "op", QDB_COL_SHRINK, 5, 3);
	int c_shape = qdb_table_add_col(tb, "shape", QDB_COL_SHRINK, 7, 0);
	int c_dt = qdb_table_add_col(tb, "dtype", 0, 1, 0);
	int c_q = qdb_table_add_col(tb, "qparams", QDB_COL_SHRINK, 8, 2);
	int c_rec = qdb_table_add_col(tb, "records", QDB_COL_RIGHT, 1, 4);
	qdb_table_col_soft(tb, c_name, 24);
	qdb_table_col_soft(tb, c_op, 9);
	qdb_table_col_soft(tb, c_shape, 11);
	qdb_table_col_soft(tb, c_q, 40);
	int c_qs = any_qstate ? qdb_table_add_col(tb, "qstate", 0, 1, 1) : -1;
	for (int l = 0; l < nl; l++) {
		const struct qdb_trace_layer *tl = qdb_trace_layer(t, l);
		int r = qdb_table_add_row(tb);
		if (r < 0)
			break;
		qdb_table_setf(tb, r, c_i, QDB_STYLE_DIM, "%d", l);
		qdb_table_set(tb, r, c_name, tl->name, QDB_STYLE_NONE);
		qdb_table_set(tb, r, c_op, tl->op, QDB_STYLE_NONE);
		if (li[l].has) {
			qdb_table_set(tb, r, c_shape, qdb_shape_str(buf, sizeof buf, li[l].rank,
								     li[l].shape), QDB_STYLE_NONE);
			qdb_table_set(tb, r, c_dt, qdb_dtype_name(li[l].dtype), QDB_STYLE_NONE);
			qdb_table_set(tb, r, c_q, fmt_quant(&li[l].q, buf, sizeof buf), QDB_STYLE_NONE);
		} else {
			qdb_table_set(tb, r, c_shape, "(no record)", QDB_STYLE_YELLOW);
		}
		if (li[l].records >= 0)
			qdb_table_setf(tb, r, c_rec, li[l].records < ns ? QDB_STYLE_YELLOW
									: QDB_STYLE_NONE,
				       "%" PRId64, li[l].records);
		if (c_qs >= 0 && tl->has_qstate)
			qdb_table_setf(tb, r, c_qs, QDB_STYLE_NONE, "fq=%d obs=%d", tl->fake_quant,
				       tl->observer);
	}
	qdb_table_print(tb, stdout, &to);
	qdb_table_delete(tb);

	if (stats_sample >= 0) {
		printf("\nstatistics of sample %s\n", sb);
		tb = qdb_table_new();
		if (!tb) {
			rc = qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
			goto out;
		}
		c_name = qdb_table_add_col(tb, "layer", QDB_COL_SHRINK, 10, 0);
		qdb_table_col_soft(tb, c_name, 20);
		int c_s[N_STAT_COLS];
		for (int i = 0; i < N_STAT_COLS; i++)
			c_s[i] = qdb_table_add_col(tb, stat_cols[i], QDB_COL_RIGHT, 1, stat_prio[i]);
		for (int l = 0; l < nl; l++) {
			int r = qdb_table_add_row(tb);
			if (r < 0)
				break;
			qdb_table_set(tb, r, c_name, qdb_trace_layer(t, l)->name, QDB_STYLE_NONE);
			if (!li[l].has_stats)
				continue;
			char cells[N_STAT_COLS][40];
			stat_cells(&li[l].st, cells, 0);
			for (int i = 0; i < N_STAT_COLS; i++) {
				enum qdb_style st = QDB_STYLE_NONE;
				if ((i == 9 && li[l].st.nan) || (i == 10 && li[l].st.inf) ||
				    (i == 8 && li[l].st.sat_frac >= 0.01))
					st = QDB_STYLE_YELLOW;
				qdb_table_set(tb, r, c_s[i], cells[i], st);
			}
		}
		qdb_table_print(tb, stdout, &to);
		qdb_table_delete(tb);
	}
out:
	for (int l = 0; li && l < nl; l++)
		qdb_quant_done(&li[l].q);
	qdb_free(li);
	qdb_trace_close(t);
	return rc;
}

/* ---- datasets ---------------------------------------------------------------- */

static int info_dataset(const char *path, struct info_args *a, struct qdb_err *err)
{
	struct qdb_dataset *d = NULL;
	int64_t *hist = NULL, unlabelled = 0;
	char buf[256];
	int rc = qdb_dataset_open(path, &d, err);
	if (rc)
		return rc;
	int ni = qdb_dataset_n_inputs(d), nc = qdb_dataset_n_classes(d);
	int64_t count = qdb_dataset_count(d);
	enum qdb_label_kind lk = qdb_dataset_label_kind(d);
	const char *lkname = lk == QDB_LABEL_CLASS ? "class" : lk == QDB_LABEL_TENSOR ? "tensor" : "none";

	/* class histogram: classes named in the header, plus any index seen
	 * beyond them */
	int64_t nh = nc;
	if (lk == QDB_LABEL_CLASS) {
		for (int64_t i = 0; i < count; i++) {
			int64_t c = qdb_dataset_label_class(d, i);
			if (c >= nh && c < 1000000)
				nh = c + 1;
		}
		hist = qdb_calloc((size_t)nh + 1, sizeof *hist);
		if (!hist) {
			rc = qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
			goto out;
		}
		for (int64_t i = 0; i < count; i++) {
			int64_t c = qdb_dataset_label_class(d, i);
			if (c >= 0 && c < nh)
				hist[c]++;
			else
				unlabelled++;
		}
	}

	if (a->format == QDB_FORMAT_JSON) {
		struct qdb_json j;
		json_begin_file(&j, a, path, "dataset");
		json_kv_str(&j, "name", qdb_dataset_name(d));
		json_kv_int(&j, "count", count);
		qdb_json_key(&j, "inputs");
		qdb_json_begin_array(&j);
		for (int i = 0; i < ni; i++) {
			const struct qdb_dataset_input *in = qdb_dataset_input_info(d, i);
			qdb_json_begin_object(&j);
			json_kv_str(&j, "name", in->name);
			json_kv_str(&j, "dtype", qdb_dtype_name(in->dtype));
			qdb_json_key(&j, "shape");
			json_shape(&j, in->rank, in->shape);
			qdb_json_end_object(&j);
		}
		qdb_json_end_array(&j);
		qdb_json_key(&j, "label");
		qdb_json_begin_object(&j);
		json_kv_str(&j, "kind", lkname);
		qdb_json_key(&j, "classes");
		qdb_json_begin_array(&j);
		for (int c = 0; c < nc; c++)
			qdb_json_string(&j, qdb_dataset_class_name(d, c));
		qdb_json_end_array(&j);
		qdb_json_end_object(&j);
		if (hist) {
			qdb_json_key(&j, "histogram");
			qdb_json_begin_array(&j);
			for (int64_t c = 0; c < nh; c++) {
				qdb_json_begin_object(&j);
				json_kv_int(&j, "class", c);
				json_kv_str(&j, "name", c < nc ? qdb_dataset_class_name(d, (int)c) : NULL);
				json_kv_int(&j, "count", hist[c]);
				qdb_json_end_object(&j);
			}
			qdb_json_end_array(&j);
			json_kv_int(&j, "unlabelled", unlabelled);
		}
		qdb_json_end_object(&j);
		goto out;
	}

	if (a->format == QDB_FORMAT_CSV) {
		file_sep(a);
		const char *h[] = {"file", "kind", "class", "name", "count"};
		qdb_csv_row(stdout, h, 5);
		for (int64_t c = 0; hist && c <= nh; c++) {
			if (c == nh && unlabelled == 0)
				break;
			qdb_csv_field(stdout, path, 1);
			qdb_csv_field(stdout, "dataset", 0);
			snprintf(buf, sizeof buf, "%" PRId64, c);
			qdb_csv_field(stdout, c < nh ? buf : "", 0);
			const char *nm = c < nc ? qdb_dataset_class_name(d, (int)c) : NULL;
			qdb_csv_field(stdout, c == nh ? "(unlabelled)" : nm ? nm : "", 0);
			snprintf(buf, sizeof buf, "%" PRId64, c < nh ? hist[c] : unlabelled);
			qdb_csv_field(stdout, buf, 0);
			putchar('\n');
		}
		goto out;
	}

	struct qdb_table_opts to;
	table_begin(&to, a, path, "dataset");
	kv_line("name", qdb_dataset_name(d), to.width);
	snprintf(buf, sizeof buf, "%" PRId64, count);
	kv_line("records", buf, to.width);
	if (lk == QDB_LABEL_CLASS)
		snprintf(buf, sizeof buf, "class (%d classes named)", nc);
	else
		snprintf(buf, sizeof buf, "%s", lkname);
	kv_line("label", buf, to.width);
	printf("\n");
	struct qdb_table *tb = qdb_table_new();
	if (!tb) {
		rc = qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	int c_n = qdb_table_add_col(tb, "input", QDB_COL_SHRINK, 10, 0);
	int c_d = qdb_table_add_col(tb, "dtype", 0, 1, 0);
	int c_s = qdb_table_add_col(tb, "shape", QDB_COL_SHRINK, 7, 0);
	qdb_table_col_soft(tb, c_n, 24);
	for (int i = 0; i < ni; i++) {
		const struct qdb_dataset_input *in = qdb_dataset_input_info(d, i);
		int r = qdb_table_add_row(tb);
		if (r < 0)
			break;
		qdb_table_set(tb, r, c_n, in->name, QDB_STYLE_NONE);
		qdb_table_set(tb, r, c_d, qdb_dtype_name(in->dtype), QDB_STYLE_NONE);
		qdb_table_set(tb, r, c_s, qdb_shape_str(buf, sizeof buf, in->rank, in->shape),
			      QDB_STYLE_NONE);
	}
	qdb_table_print(tb, stdout, &to);
	qdb_table_delete(tb);
	if (hist) {
		printf("\n");
		tb = qdb_table_new();
		if (!tb) {
			rc = qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
			goto out;
		}
		int c_c = qdb_table_add_col(tb, "class", QDB_COL_RIGHT, 1, 0);
		int c_nm = qdb_table_add_col(tb, "name", QDB_COL_SHRINK, 8, 0);
		int c_k = qdb_table_add_col(tb, "count", QDB_COL_RIGHT, 1, 0);
		int c_p = qdb_table_add_col(tb, "share", QDB_COL_RIGHT, 1, 0);
		for (int64_t c = 0; c <= nh; c++) {
			if (c == nh && unlabelled == 0)
				break;
			int64_t k = c < nh ? hist[c] : unlabelled;
			int r = qdb_table_add_row(tb);
			if (r < 0)
				break;
			if (c < nh)
				qdb_table_setf(tb, r, c_c, QDB_STYLE_NONE, "%" PRId64, c);
			const char *nm = c < nc ? qdb_dataset_class_name(d, (int)c) : NULL;
			qdb_table_set(tb, r, c_nm, c == nh ? "(unlabelled)" : nm ? nm : "",
				      QDB_STYLE_NONE);
			qdb_table_setf(tb, r, c_k, QDB_STYLE_NONE, "%" PRId64, k);
			qdb_table_setf(tb, r, c_p, QDB_STYLE_NONE, "%.1f%%",
				       count ? 100.0 * (double)k / (double)count : 0.0);
		}
		qdb_table_print(tb, stdout, &to);
		qdb_table_delete(tb);
	}
out:
	qdb_free(hist);
	qdb_dataset_close(d);
	return rc;
}

/* ---- graphs ------------------------------------------------------------------ */

static const char *node_shape(const struct qdb_graph *g, const struct qdb_node *n, char *buf,
			      size_t len)
{
	if (n->n_outputs < 1 || g->values[n->outputs[0]].rank < 0)
		return "";
	const struct qdb_value *v = &g->values[n->outputs[0]];
	return qdb_shape_str(buf, len, v->rank, v->shape);
}

static const char *value_dtype(const struct qdb_value *v)
{
	/* in a quantized graph a value with qparams holds its qdtype */
	return qdb_dtype_name(v->q.n > 0 ? v->qdtype : v->dtype);
}

static int info_graph(const char *path, struct info_args *a, struct qdb_err *err)
{
	struct qdb_graph *g = NULL;
	char buf[256];
	int rc = qdb_graph_load(path, &g, err);
	if (rc)
		return rc;
	/* Validation infers the shapes shown below; a graph that does not
	 * validate is still described (that is when one wants to look). */
	struct qdb_err verr;
	qdb_err_clear(&verr);
	int valid = qdb_graph_validate(g, &verr) == QDB_OK;

	if (a->format == QDB_FORMAT_JSON) {
		struct qdb_json j;
		json_begin_file(&j, a, path, "graph");
		json_kv_str(&j, "name", g->name);
		json_kv_str(&j, "stage", qdb_stage_name(g->stage));
		json_kv_str(&j, "producer", g->producer);
		if (g->stage == QDB_STAGE_QUANTIZED) {
			json_kv_str(&j, "profile", qdb_profile_name(g->profile));
			if (g->profile == QDB_PROFILE_FIXED)
				json_kv_str(&j, "rounding", qdb_rounding_name(g->rounding));
		}
		json_kv_int(&j, "version", g->version);
		qdb_json_key(&j, "valid");
		qdb_json_bool(&j, valid);
		json_kv_str(&j, "validation_error", valid ? NULL : verr.msg);
		qdb_json_key(&j, "inputs");
		qdb_json_begin_array(&j);
		for (int i = 0; i < g->n_inputs; i++) {
			const struct qdb_value *v = &g->values[g->inputs[i]];
			qdb_json_begin_object(&j);
			json_kv_str(&j, "name", v->name);
			json_kv_str(&j, "dtype", qdb_dtype_name(v->dtype));
			qdb_json_key(&j, "shape");
			json_shape(&j, v->rank, v->shape);
			qdb_json_end_object(&j);
		}
		qdb_json_end_array(&j);
		qdb_json_key(&j, "outputs");
		qdb_json_begin_array(&j);
		for (int i = 0; i < g->n_outputs; i++)
			qdb_json_string(&j, g->values[g->outputs[i]].name);
		qdb_json_end_array(&j);
		qdb_json_key(&j, "nodes");
		qdb_json_begin_array(&j);
		for (int i = 0; i < g->n_nodes; i++) {
			const struct qdb_node *n = &g->nodes[i];
			qdb_json_begin_object(&j);
			json_kv_str(&j, "name", n->name);
			json_kv_str(&j, "op", n->op_name);
			json_kv_str(&j, "device", n->device == QDB_DEV_CPU ? "cpu" : "bpu");
			qdb_json_key(&j, "inputs");
			qdb_json_begin_array(&j);
			for (int k = 0; k < n->n_inputs; k++)
				qdb_json_string(&j, g->values[n->inputs[k]].name);
			qdb_json_end_array(&j);
			qdb_json_key(&j, "outputs");
			qdb_json_begin_array(&j);
			for (int k = 0; k < n->n_outputs; k++)
				qdb_json_string(&j, g->values[n->outputs[k]].name);
			qdb_json_end_array(&j);
			if (n->n_outputs > 0) {
				const struct qdb_value *v = &g->values[n->outputs[0]];
				qdb_json_key(&j, "shape");
				json_shape(&j, v->rank, v->shape);
				json_kv_str(&j, "dtype", value_dtype(v));
				qdb_json_key(&j, "qparams");
				json_quant(&j, &v->q);
			}
			qdb_json_end_object(&j);
		}
		qdb_json_end_array(&j);
		qdb_json_key(&j, "constants");
		qdb_json_begin_array(&j);
		for (int i = 0; i < g->n_constants; i++) {
			const struct qdb_constant *c = &g->constants[i];
			qdb_json_begin_object(&j);
			json_kv_str(&j, "name", g->values[c->value].name);
			json_kv_str(&j, "dtype", qdb_dtype_name(c->t.dtype));
			qdb_json_key(&j, "shape");
			json_shape(&j, c->t.rank, c->t.shape);
			qdb_json_key(&j, "qparams");
			json_quant(&j, c->t.q.n ? &c->t.q : &g->values[c->value].q);
			qdb_json_end_object(&j);
		}
		qdb_json_end_array(&j);
		qdb_json_key(&j, "edits");
		qdb_json_begin_array(&j);
		for (int i = 0; i < g->n_edits; i++) {
			const struct qdb_edit *e = &g->edits[i];
			qdb_json_begin_object(&j);
			json_kv_str(&j, "node", e->node);
			json_kv_str(&j, "field", e->field);
			json_kv_str(&j, "from", e->from);
			json_kv_str(&j, "to", e->to);
			qdb_json_end_object(&j);
		}
		qdb_json_end_array(&j);
		qdb_json_end_object(&j);
		goto out;
	}

	if (a->format == QDB_FORMAT_CSV) {
		file_sep(a);
		const char *h[] = {"file", "kind", "node", "op", "device", "shape", "dtype",
				   "qparams", "inputs"};
		qdb_csv_row(stdout, h, 9);
		for (int i = 0; i < g->n_nodes; i++) {
			const struct qdb_node *n = &g->nodes[i];
			const struct qdb_value *v = n->n_outputs ? &g->values[n->outputs[0]] : NULL;
			struct qdb_buf ins;
			qdb_buf_init(&ins);
			for (int k = 0; k < n->n_inputs; k++)
				qdb_buf_printf(&ins, "%s%s", k ? " " : "", g->values[n->inputs[k]].name);
			qdb_csv_field(stdout, path, 1);
			qdb_csv_field(stdout, "graph", 0);
			qdb_csv_field(stdout, n->name, 0);
			qdb_csv_field(stdout, n->op_name, 0);
			qdb_csv_field(stdout, n->device == QDB_DEV_CPU ? "cpu" : "bpu", 0);
			qdb_csv_field(stdout, node_shape(g, n, buf, sizeof buf), 0);
			qdb_csv_field(stdout, v ? value_dtype(v) : "", 0);
			qdb_csv_field(stdout, v && v->q.n ? fmt_quant(&v->q, buf, sizeof buf) : "", 0);
			qdb_csv_field(stdout, ins.s, 0);
			putchar('\n');
			qdb_buf_done(&ins);
		}
		goto out;
	}

	struct qdb_table_opts to;
	table_begin(&to, a, path, "graph");
	kv_line("name", g->name, to.width);
	kv_line("stage", qdb_stage_name(g->stage), to.width);
	if (g->stage == QDB_STAGE_QUANTIZED) {
		if (g->profile == QDB_PROFILE_FIXED)
			snprintf(buf, sizeof buf, "fixed (rounding %s)", qdb_rounding_name(g->rounding));
		else
			snprintf(buf, sizeof buf, "%s", qdb_profile_name(g->profile));
		kv_line("profile", buf, to.width);
	}
	kv_line("producer", g->producer, to.width);
	struct qdb_buf lb;
	qdb_buf_init(&lb);
	for (int i = 0; i < g->n_inputs; i++) {
		const struct qdb_value *v = &g->values[g->inputs[i]];
		qdb_buf_printf(&lb, "%s%s %s %s", i ? ", " : "", v->name, qdb_dtype_name(v->dtype),
			       v->rank >= 0 ? qdb_shape_str(buf, sizeof buf, v->rank, v->shape) : "?");
	}
	kv_line("inputs", lb.s, to.width);
	qdb_buf_reset(&lb);
	for (int i = 0; i < g->n_outputs; i++)
		qdb_buf_printf(&lb, "%s%s", i ? ", " : "", g->values[g->outputs[i]].name);
	kv_line("outputs", lb.s, to.width);
	qdb_buf_done(&lb);
	snprintf(buf, sizeof buf, "%d nodes, %d constants, %d edits", g->n_nodes, g->n_constants,
		 g->n_edits);
	kv_line("size", buf, to.width);
	char vbuf[QDB_ERR_MSG_MAX + 8];
	snprintf(vbuf, sizeof vbuf, "%s%s", valid ? "yes" : "no: ", valid ? "" : verr.msg);
	kv_line("valid", vbuf, to.width);
	putchar('\n');

	struct qdb_table *tb = qdb_table_new();
	if (!tb) {
		rc = qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	int c_i = qdb_table_add_col(tb, "#", QDB_COL_RIGHT, 1, 5);
	int c_n = qdb_table_add_col(tb, "node", QDB_COL_SHRINK, 10, 0);
	int c_op = qdb_table_add_col(tb, "op", QDB_COL_SHRINK, 5, 0);
	int c_dev = qdb_table_add_col(tb, "dev", 0, 1, 1);
	int c_sh = qdb_table_add_col(tb, "shape", QDB_COL_SHRINK, 7, 3);
	int c_dt = qdb_table_add_col(tb, "dtype", 0, 1, 2);
	int c_q = qdb_table_add_col(tb, "qparams", QDB_COL_SHRINK, 8, 4);
	qdb_table_col_soft(tb, c_n, 24);
	qdb_table_col_soft(tb, c_op, 9);
	qdb_table_col_soft(tb, c_sh, 11);
	qdb_table_col_soft(tb, c_q, 40);
	for (int i = 0; i < g->n_nodes; i++) {
		const struct qdb_node *n = &g->nodes[i];
		const struct qdb_value *v = n->n_outputs ? &g->values[n->outputs[0]] : NULL;
		int r = qdb_table_add_row(tb);
		if (r < 0)
			break;
		qdb_table_setf(tb, r, c_i, QDB_STYLE_DIM, "%d", i);
		qdb_table_set(tb, r, c_n, n->name, QDB_STYLE_NONE);
		qdb_table_set(tb, r, c_op, n->op_name, n->op < 0 ? QDB_STYLE_YELLOW : QDB_STYLE_NONE);
		qdb_table_set(tb, r, c_dev, n->device == QDB_DEV_CPU ? "cpu" : "bpu",
			      n->device == QDB_DEV_CPU ? QDB_STYLE_YELLOW : QDB_STYLE_NONE);
		qdb_table_set(tb, r, c_sh, node_shape(g, n, buf, sizeof buf), QDB_STYLE_NONE);
		qdb_table_set(tb, r, c_dt, v ? value_dtype(v) : "", QDB_STYLE_NONE);
		qdb_table_set(tb, r, c_q, v ? fmt_quant(&v->q, buf, sizeof buf) : "", QDB_STYLE_NONE);
	}
	qdb_table_print(tb, stdout, &to);
	qdb_table_delete(tb);

	if (g->n_constants > 0) {
		printf("\nconstants\n");
		tb = qdb_table_new();
		if (!tb) {
			rc = qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
			goto out;
		}
		c_n = qdb_table_add_col(tb, "name", QDB_COL_SHRINK, 10, 0);
		c_dt = qdb_table_add_col(tb, "dtype", 0, 1, 0);
		c_sh = qdb_table_add_col(tb, "shape", QDB_COL_SHRINK, 7, 0);
		c_q = qdb_table_add_col(tb, "qparams", QDB_COL_SHRINK, 8, 1);
		qdb_table_col_soft(tb, c_n, 24);
		qdb_table_col_soft(tb, c_q, 40);
		for (int i = 0; i < g->n_constants; i++) {
			const struct qdb_constant *c = &g->constants[i];
			int r = qdb_table_add_row(tb);
			if (r < 0)
				break;
			qdb_table_set(tb, r, c_n, g->values[c->value].name, QDB_STYLE_NONE);
			qdb_table_set(tb, r, c_dt, qdb_dtype_name(c->t.dtype), QDB_STYLE_NONE);
			qdb_table_set(tb, r, c_sh, qdb_shape_str(buf, sizeof buf, c->t.rank, c->t.shape),
				      QDB_STYLE_NONE);
			qdb_table_set(tb, r, c_q,
				      fmt_quant(c->t.q.n ? &c->t.q : &g->values[c->value].q, buf,
						sizeof buf), QDB_STYLE_NONE);
		}
		qdb_table_print(tb, stdout, &to);
		qdb_table_delete(tb);
	}
	if (g->n_edits > 0) {
		printf("\nedits\n");
		for (int i = 0; i < g->n_edits; i++) {
			const struct qdb_edit *e = &g->edits[i];
			char line[1024], out[1024];
			snprintf(line, sizeof line, "  %s: %s %s -> %s", e->node, e->field, e->from, e->to);
			printf("%s\n", qdb_ellipsize(out, sizeof out, line,
						     to.width > 0 ? to.width : 1000));
		}
	}
out:
	qdb_graph_delete(g);
	return rc;
}

/* ---- .npy -------------------------------------------------------------------- */

static int info_npy(const char *path, struct info_args *a, struct qdb_err *err)
{
	struct qdb_tensor t;
	struct qdb_stats st;
	char sh[256];
	qdb_tensor_init(&t);
	int rc = qdb_npy_load(path, &t, err);
	if (!rc && a->stats)
		rc = qdb_tensor_stats(&t, &st, err);
	if (rc)
		goto out;
	qdb_shape_str(sh, sizeof sh, t.rank, t.shape);
	if (a->format == QDB_FORMAT_JSON) {
		struct qdb_json j;
		json_begin_file(&j, a, path, "npy");
		json_kv_str(&j, "dtype", qdb_dtype_name(t.dtype));
		qdb_json_key(&j, "shape");
		json_shape(&j, t.rank, t.shape);
		json_kv_int(&j, "bytes", (int64_t)t.nbytes);
		if (a->stats) {
			qdb_json_key(&j, "stats");
			json_stats(&j, &st);
		}
		qdb_json_end_object(&j);
	} else if (a->format == QDB_FORMAT_CSV) {
		file_sep(a);
		const char *h[] = {"file", "kind", "dtype", "shape", "bytes"};
		for (int i = 0; i < 5; i++)
			qdb_csv_field(stdout, h[i], i == 0);
		for (int i = 0; a->stats && i < N_STAT_COLS; i++)
			qdb_csv_field(stdout, stat_cols[i], 0);
		putchar('\n');
		char nb[32];
		snprintf(nb, sizeof nb, "%zu", t.nbytes);
		const char *v[] = {path, "npy", qdb_dtype_name(t.dtype), sh, nb};
		for (int i = 0; i < 5; i++)
			qdb_csv_field(stdout, v[i], i == 0);
		if (a->stats) {
			char cells[N_STAT_COLS][40];
			stat_cells(&st, cells, 1);
			for (int i = 0; i < N_STAT_COLS; i++)
				qdb_csv_field(stdout, cells[i], 0);
		}
		putchar('\n');
	} else {
		struct qdb_table_opts to;
		table_begin(&to, a, path, "npy");
		char buf[64];
		kv_line("dtype", qdb_dtype_name(t.dtype), to.width);
		kv_line("shape", sh, to.width);
		snprintf(buf, sizeof buf, "%zu", t.nbytes);
		kv_line("bytes", buf, to.width);
		if (a->stats) {
			char cells[N_STAT_COLS][40];
			stat_cells(&st, cells, 0);
			for (int i = 0; i < N_STAT_COLS; i++)
				kv_line(stat_cols[i], cells[i], to.width);
		}
	}
out:
	qdb_tensor_done(&t);
	return rc;
}

/* ---- main -------------------------------------------------------------------- */

int qdb_cmd_info(int argc, char **argv)
{
	enum { OPT_STATS = 256 };
	static const struct option longopts[] = {
		{"stats", no_argument, NULL, OPT_STATS},
		{"sample", required_argument, NULL, 's'},
		{"format", required_argument, NULL, 'f'},
		{"wide", no_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct info_args a;
	int opt, ret = QDB_EXIT_OK;

	memset(&a, 0, sizeof a);
	a.format = QDB_FORMAT_TABLE;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":s:f:wh", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_STATS: a.stats = 1; break;
		case 's': a.sample = optarg; break;
		case 'f':
			if (qdb_format_parse(optarg, &a.format)) {
				fprintf(stderr, "qdb info: --format: expected table, csv or json, "
						"not '%s' (qdb info --help)\n", optarg);
				return QDB_EXIT_USAGE;
			}
			break;
		case 'w': a.wide = 1; break;
		case 'h': fputs(usage_text, stdout); return QDB_EXIT_OK;
		case ':':
			fprintf(stderr, "qdb info: %s needs an argument (qdb info --help)\n",
				argv[optind - 1]);
			return QDB_EXIT_USAGE;
		default:
			fprintf(stderr, "qdb info: unknown option '%s' (qdb info --help)\n",
				argv[optind - 1]);
			return QDB_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "qdb info: needs at least one FILE (qdb info --help)\n");
		return QDB_EXIT_USAGE;
	}
	if (a.sample && !a.stats)
		a.stats = 1; /* --sample only means something for the statistics */

	if (a.format == QDB_FORMAT_JSON)
		fputs("[", stdout);
	for (int i = optind; i < argc; i++) {
		struct qdb_err err;
		enum qdb_file_kind kind;
		qdb_err_clear(&err);
		int rc = qdb_file_kind(argv[i], &kind, &err);
		if (!rc) {
			switch (kind) {
			case QDB_KIND_TRACE: rc = info_trace(argv[i], &a, &err); break;
			case QDB_KIND_DATASET: rc = info_dataset(argv[i], &a, &err); break;
			case QDB_KIND_GRAPH: rc = info_graph(argv[i], &a, &err); break;
			case QDB_KIND_NPY: rc = info_npy(argv[i], &a, &err); break;
			}
		}
		if (rc) {
			fflush(stdout);
			fprintf(stderr, "qdb info: %s\n", err.msg);
			if (ret == QDB_EXIT_OK || rc == QDB_ENOMEM)
				ret = rc == QDB_ENOMEM ? QDB_EXIT_INTERNAL : QDB_EXIT_BADINPUT;
		}
	}
	if (a.format == QDB_FORMAT_JSON)
		fputs(a.n_done ? "\n]\n" : "]\n", stdout);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "qdb info: writing output failed\n");
		return QDB_EXIT_INTERNAL;
	}
	return ret;
}
