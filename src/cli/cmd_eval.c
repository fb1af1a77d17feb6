/* cmd_eval.c - `qdb eval MODEL... --data DS.qds`: top-1 accuracy of each
 * model on the dataset's class labels, how far every pair of models agrees
 * (top-1 and output cosine), and accuracy per class.
 *
 * Every model is evaluated on the same records by the eval engine
 * (analysis/eval.h: graphs on -j threads, traces by sample id); the
 * figures here are plain counts over its predictions and outputs.
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
	"usage: qdb eval MODEL... --data DS.qds [OPTIONS]\n"
	"Evaluates every MODEL on the same records of the dataset: top-1 accuracy on\n"
	"its class labels, agreement of every pair of models (top-1 and output\n"
	"cosine), accuracy per class. A MODEL is a graph (.qbc, run with its stage's\n"
	"semantics) or a trace (.qtr: its last layer, matched by sample id).\n"
	"  -d, --data DS.qds     the dataset (required)\n"
	"  -s, --samples A:B     record range, python-style (default: all); N = one\n"
	"  -j, --jobs N          worker threads per graph (default: online CPUs)\n"
	"  -f, --format FMT      table (default), csv or json\n"
	"  -w, --wide            do not fit tables to the terminal width\n"
	"  -h, --help            this text\n"
	"With a trace among the models, only the records it holds are evaluated.\n"
	"Exit status: 0 evaluated, 2 bad input or usage, 3 internal failure.\n";

#define MAX_MODELS QDB_CLI_MAX_SOURCES

struct pair_stat {
	int a, b;
	int64_t n, agree;       /* records, equal top-1 */
	int64_t n_cos;          /* records whose outputs could be compared */
	int64_t n_nan;          /* of those, with NaN/Inf in an output */
	double cos_mean, cos_min;
	int64_t cos_min_at;     /* position in the evals, -1 */
};

struct eval_ctx {
	const struct qdb_dataset *d;
	const char *data_path;
	int n_models;
	struct qdb_cli_source *src;
	struct qdb_eval *ev;
	int64_t n_recs, n_total;
	int64_t n_range;               /* records --samples selected */
	int n_classes;                 /* 0: no class labels */
	int64_t *class_count;          /* n_classes */
	int64_t *class_correct;        /* n_models x n_classes */
	struct pair_stat *pairs;
	int n_pairs;
	int named_classes;             /* some class name is not its index */
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "qdb eval: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (qdb eval --help)\n");
	return QDB_EXIT_USAGE;
}

static char model_letter(int i)
{
	return (char)('A' + i);
}

static const char *class_name(const struct eval_ctx *c, int k, char *buf, size_t n)
{
	const char *s = qdb_dataset_class_name(c->d, k);
	if (s && *s)
		return s;
	snprintf(buf, n, "%d", k);
	return buf;
}

/* ---- the figures ----------------------------------------------------------- */

static int count_classes(struct eval_ctx *c, struct qdb_err *err)
{
	int64_t max_label = -1;
	const struct qdb_eval *e0 = &c->ev[0];
	if (qdb_dataset_label_kind(c->d) != QDB_LABEL_CLASS || e0->n_labeled == 0)
		return QDB_OK;
	for (int64_t i = 0; i < e0->n; i++)
		if (e0->label[i] > max_label)
			max_label = e0->label[i];
	int64_t nc = qdb_dataset_n_classes(c->d);
	if (nc < max_label + 1)
		nc = max_label + 1;
	if (nc > 1 << 20)
		return qdb_err_set(err, QDB_EINVAL, "%s: class label %lld is implausibly large",
				   c->data_path, (long long)max_label);
	c->n_classes = (int)nc;
	c->class_count = qdb_calloc((size_t)nc, sizeof *c->class_count);
	c->class_correct = qdb_calloc((size_t)nc * (size_t)c->n_models, sizeof *c->class_correct);
	if (!c->class_count || !c->class_correct)
		return qdb_err_set(err, QDB_ENOMEM, "out of memory");
	for (int64_t i = 0; i < e0->n; i++) {
		int64_t l = e0->label[i];
		if (l < 0)
			continue;
		c->class_count[l]++;
		for (int m = 0; m < c->n_models; m++)
			c->class_correct[(size_t)m * (size_t)nc + (size_t)l] += c->ev[m].pred[i] == l;
	}
	for (int k = 0; k < c->n_classes; k++) {
		char buf[32];
		const char *s = qdb_dataset_class_name(c->d, k);
		snprintf(buf, sizeof buf, "%d", k);
		if (s && *s && strcmp(s, buf))
			c->named_classes = 1;
	}
	return QDB_OK;
}

static int compare_pairs(struct eval_ctx *c, struct qdb_err *err)
{
	int nm = c->n_models;
	c->n_pairs = nm * (nm - 1) / 2;
	if (c->n_pairs == 0)
		return QDB_OK;
	c->pairs = qdb_calloc((size_t)c->n_pairs, sizeof *c->pairs);
	if (!c->pairs)
		return qdb_err_set(err, QDB_ENOMEM, "out of memory");
	int p = 0;
	for (int a = 0; a < nm; a++)
		for (int b = a + 1; b < nm; b++, p++) {
			struct pair_stat *ps = &c->pairs[p];
			const struct qdb_eval *ea = &c->ev[a], *eb = &c->ev[b];
			double sum = 0;
			ps->a = a;
			ps->b = b;
			ps->n = ea->n;
			ps->cos_min = NAN;
			ps->cos_min_at = -1;
			for (int64_t i = 0; i < ea->n; i++) {
				struct qdb_metrics m;
				ps->agree += ea->pred[i] == eb->pred[i];
				if (qdb_tensor_numel(&ea->out[i]) != qdb_tensor_numel(&eb->out[i]) ||
				    qdb_metrics_compute(&ea->out[i], &eb->out[i], 1e-5, 0, &m, NULL))
					continue;
				/* Non-finite outputs make the cosine of that record
				 * NaN, which is the worst there is. */
				double v = m.nonfinite_diff || m.nan_a || m.nan_b || m.inf_a || m.inf_b
						   ? NAN : m.cosine;
				ps->n_cos++;
				if (ps->cos_min_at < 0 ||
				    (!isnan(ps->cos_min) && (isnan(v) || v < ps->cos_min))) {
					ps->cos_min = v;
					ps->cos_min_at = i;
				}
				if (isnan(v)) {
					ps->n_nan++;
					continue;
				}
				sum += v;
			}
			/* the mean of the comparable records; a NaN shows as the minimum */
			ps->cos_mean = ps->n_cos > ps->n_nan ? sum / (double)(ps->n_cos - ps->n_nan) : NAN;
		}
	return QDB_OK;
}

/* ---- output ----------------------------------------------------------------- */

static const char *sample_of(const struct eval_ctx *c, int64_t i, char *buf, size_t n)
{
	if (i < 0)
		return snprintf(buf, n, "-"), buf;
	return qdb_sample_id_str(qdb_dataset_id(c->d, c->ev[0].record[i]), buf, n);
}

static const char *fmt_acc(double v, char *buf, size_t n)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.4f", v);
	return buf;
}

/* Cosines near 1 need more digits than accuracies. */
static const char *fmt_cos(double v, char *buf, size_t n)
{
	if (isnan(v))
		snprintf(buf, n, "nan");
	else if (v > 0.999)
		snprintf(buf, n, "%.6f", v);
	else
		snprintf(buf, n, "%.4f", v);
	return buf;
}

static void print_table(const struct eval_ctx *c, int wide)
{
	struct qdb_table_opts to;
	char buf[256], b2[256];
	qdb_table_opts_init(&to, stdout, wide);
	int width = to.width > 0 ? to.width : 1000;
	const struct qdb_eval *e0 = &c->ev[0];

	snprintf(buf, sizeof buf, "dataset %s (%s)", c->data_path, qdb_dataset_name(c->d));
	printf("%s\n", qdb_ellipsize(b2, sizeof b2, buf, width));
	snprintf(buf, sizeof buf, "records: %lld of %lld%s, %lld labelled", (long long)c->n_recs,
		 (long long)c->n_total, c->n_recs < c->n_range ? " (those in the traces)" : "",
		 (long long)e0->n_labeled);
	printf("%s\n\n", qdb_ellipsize(b2, sizeof b2, buf, width));

	struct qdb_table *t = qdb_table_new();
	if (!t)
		return;
	int c_id = qdb_table_add_col(t, "", 0, 1, 0);
	int c_path = qdb_table_add_col(t, "model", QDB_COL_SHRINK, 12, 0);
	int c_stage = qdb_table_add_col(t, "stage", QDB_COL_SHRINK, 5, 2);
	int c_acc = qdb_table_add_col(t, "accuracy", QDB_COL_RIGHT, 1, 0);
	int c_cor = qdb_table_add_col(t, "correct", QDB_COL_RIGHT, 1, 1);
	qdb_table_col_soft(t, c_path, 30);
	for (int m = 0; m < c->n_models; m++) {
		const struct qdb_eval *e = &c->ev[m];
		int r = qdb_table_add_row(t);
		qdb_table_setf(t, r, c_id, QDB_STYLE_BOLD, "%c", model_letter(m));
		qdb_table_set(t, r, c_path, c->src[m].path, QDB_STYLE_NONE);
		qdb_table_set(t, r, c_stage, c->src[m].stage, QDB_STYLE_NONE);
		qdb_table_set(t, r, c_acc, fmt_acc(e->accuracy, buf, sizeof buf), QDB_STYLE_NONE);
		if (e->n_labeled)
			qdb_table_setf(t, r, c_cor, QDB_STYLE_NONE, "%lld/%lld", (long long)e->correct,
				       (long long)e->n_labeled);
	}
	qdb_table_print(t, stdout, &to);
	qdb_table_delete(t);
	if (!e0->n_labeled)
		printf("no class labels: accuracy not computed\n");

	if (c->n_pairs) {
		printf("\n");
		t = qdb_table_new();
		if (!t)
			return;
		int c_pair = qdb_table_add_col(t, "pair", 0, 1, 0);
		int c_ag = qdb_table_add_col(t, "agreement", QDB_COL_RIGHT, 1, 0);
		int c_diff = qdb_table_add_col(t, "differ", QDB_COL_RIGHT, 1, 1);
		int c_cm = qdb_table_add_col(t, "mean cos", QDB_COL_RIGHT, 1, 0);
		int c_cmin = qdb_table_add_col(t, "min cos", QDB_COL_RIGHT, 1, 2);
		int c_at = qdb_table_add_col(t, "at", QDB_COL_SHRINK, 4, 3);
		qdb_table_col_soft(t, c_at, 12);
		for (int p = 0; p < c->n_pairs; p++) {
			const struct pair_stat *ps = &c->pairs[p];
			int r = qdb_table_add_row(t);
			qdb_table_setf(t, r, c_pair, QDB_STYLE_NONE, "%c %c", model_letter(ps->a),
				       model_letter(ps->b));
			qdb_table_set(t, r, c_ag,
				      fmt_acc(ps->n ? (double)ps->agree / (double)ps->n : NAN, buf,
					      sizeof buf),
				      ps->agree < ps->n ? QDB_STYLE_RED : QDB_STYLE_NONE);
			qdb_table_setf(t, r, c_diff, QDB_STYLE_NONE, "%lld", (long long)(ps->n - ps->agree));
			if (ps->n_cos) {
				qdb_table_set(t, r, c_cm, fmt_cos(ps->cos_mean, buf, sizeof buf),
					      QDB_STYLE_NONE);
				qdb_table_set(t, r, c_cmin, fmt_cos(ps->cos_min, buf, sizeof buf),
					      QDB_STYLE_NONE);
				qdb_table_set(t, r, c_at, sample_of(c, ps->cos_min_at, buf, sizeof buf),
					      QDB_STYLE_NONE);
			} else {
				qdb_table_set(t, r, c_cm, "-", QDB_STYLE_NONE);
			}
		}
		qdb_table_print(t, stdout, &to);
		qdb_table_delete(t);
	}

	if (c->n_classes) {
		printf("\n");
		t = qdb_table_new();
		if (!t)
			return;
		int c_cls = qdb_table_add_col(t, "class", QDB_COL_RIGHT, 1, 0);
		int c_name = c->named_classes ? qdb_table_add_col(t, "name", QDB_COL_SHRINK, 4, 2) : -1;
		int c_cnt = qdb_table_add_col(t, "count", QDB_COL_RIGHT, 1, 1);
		int c_m[MAX_MODELS];
		for (int m = 0; m < c->n_models; m++) {
			char title[2] = {model_letter(m), 0};
			c_m[m] = qdb_table_add_col(t, title, QDB_COL_RIGHT, 1, 0);
		}
		if (c_name >= 0)
			qdb_table_col_soft(t, c_name, 12);
		for (int k = 0; k < c->n_classes; k++) {
			int r = qdb_table_add_row(t);
			int64_t cnt = c->class_count[k];
			qdb_table_setf(t, r, c_cls, QDB_STYLE_NONE, "%d", k);
			if (c_name >= 0)
				qdb_table_set(t, r, c_name, class_name(c, k, buf, sizeof buf),
					      QDB_STYLE_NONE);
			qdb_table_setf(t, r, c_cnt, QDB_STYLE_NONE, "%lld", (long long)cnt);
			double a0 = cnt ? (double)c->class_correct[k] / (double)cnt : NAN;
			for (int m = 0; m < c->n_models; m++) {
				int64_t cor = c->class_correct[(size_t)m * (size_t)c->n_classes + (size_t)k];
				double v = cnt ? (double)cor / (double)cnt : NAN;
				/* below the first model's: where a later stage loses */
				qdb_table_set(t, r, c_m[m], fmt_acc(v, buf, sizeof buf),
					      m > 0 && v < a0 ? QDB_STYLE_RED : QDB_STYLE_NONE);
			}
		}
		qdb_table_print(t, stdout, &to);
		qdb_table_delete(t);
	}
}

static void csv_num(double v)
{
	char buf[40];
	if (isnan(v))
		qdb_csv_field(stdout, "", 0);
	else
		qdb_csv_field(stdout, qdb_fmt_exact(buf, sizeof buf, v), 0);
}

static void csv_int(int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%lld", (long long)v);
	qdb_csv_field(stdout, buf, 0);
}

static void print_csv(const struct eval_ctx *c)
{
	static const char *const head[] = {"section", "model", "model_b", "class", "class_name",
					   "samples", "count", "value", "cosine_mean",
					   "cosine_min", "cosine_min_sample"};
	char buf[128];
	qdb_csv_row(stdout, head, (int)(sizeof head / sizeof *head));
	for (int m = 0; m < c->n_models; m++) {
		const struct qdb_eval *e = &c->ev[m];
		qdb_csv_field(stdout, "accuracy", 1);
		qdb_csv_field(stdout, c->src[m].path, 0);
		qdb_csv_field(stdout, "", 0);
		qdb_csv_field(stdout, "", 0);
		qdb_csv_field(stdout, "", 0);
		csv_int(e->n_labeled);
		csv_int(e->correct);
		csv_num(e->accuracy);
		for (int k = 0; k < 3; k++)
			qdb_csv_field(stdout, "", 0);
		putchar('\n');
	}
	for (int p = 0; p < c->n_pairs; p++) {
		const struct pair_stat *ps = &c->pairs[p];
		qdb_csv_field(stdout, "agreement", 1);
		qdb_csv_field(stdout, c->src[ps->a].path, 0);
		qdb_csv_field(stdout, c->src[ps->b].path, 0);
		qdb_csv_field(stdout, "", 0);
		qdb_csv_field(stdout, "", 0);
		csv_int(ps->n);
		csv_int(ps->agree);
		csv_num(ps->n ? (double)ps->agree / (double)ps->n : NAN);
		csv_num(ps->n_cos ? ps->cos_mean : NAN);
		csv_num(ps->n_cos ? ps->cos_min : NAN);
		qdb_csv_field(stdout, ps->cos_min_at >= 0 ? sample_of(c, ps->cos_min_at, buf, sizeof buf)
							  : "", 0);
		putchar('\n');
	}
	for (int m = 0; m < c->n_models; m++)
		for (int k = 0; k < c->n_classes; k++) {
			int64_t cnt = c->class_count[k];
			int64_t cor = c->class_correct[(size_t)m * (size_t)c->n_classes + (size_t)k];
			qdb_csv_field(stdout, "class", 1);
			qdb_csv_field(stdout, c->src[m].path, 0);
			qdb_csv_field(stdout, "", 0);
			csv_int(k);
			qdb_csv_field(stdout, class_name(c, k, buf, sizeof buf), 0);
			csv_int(cnt);
			csv_int(cor);
			csv_num(cnt ? (double)cor / (double)cnt : NAN);
			for (int j = 0; j < 3; j++)
				qdb_csv_field(stdout, "", 0);
			putchar('\n');
		}
}

static void json_sample(struct qdb_json *j, const struct eval_ctx *c, int64_t i)
{
	if (i < 0) {
		qdb_json_null(j);
		return;
	}
	const struct qdb_sample_id *id = qdb_dataset_id(c->d, c->ev[0].record[i]);
	if (id->is_str)
		qdb_json_string(j, id->str);
	else
		qdb_json_int(j, id->num);
}

static void json_num_or_null(struct qdb_json *j, double v, int valid)
{
	if (valid)
		qdb_json_number(j, v);
	else
		qdb_json_null(j);
}

static void print_json(const struct eval_ctx *c)
{
	struct qdb_json j;
	char buf[64];
	qdb_json_init(&j, stdout);
	qdb_json_begin_object(&j);
	qdb_json_key(&j, "dataset");
	qdb_json_begin_object(&j);
	qdb_json_key(&j, "path");
	qdb_json_string(&j, c->data_path);
	qdb_json_key(&j, "name");
	qdb_json_string(&j, qdb_dataset_name(c->d));
	qdb_json_key(&j, "records");
	qdb_json_int(&j, c->n_total);
	qdb_json_end_object(&j);
	qdb_json_key(&j, "samples");
	qdb_json_int(&j, c->n_recs);
	qdb_json_key(&j, "labelled");
	qdb_json_int(&j, c->ev[0].n_labeled);

	qdb_json_key(&j, "models");
	qdb_json_begin_array(&j);
	for (int m = 0; m < c->n_models; m++) {
		const struct qdb_eval *e = &c->ev[m];
		qdb_json_begin_object(&j);
		qdb_json_key(&j, "id");
		snprintf(buf, sizeof buf, "%c", model_letter(m));
		qdb_json_string(&j, buf);
		qdb_json_key(&j, "path");
		qdb_json_string(&j, c->src[m].path);
		qdb_json_key(&j, "kind");
		qdb_json_string(&j, qdb_file_kind_name(c->src[m].kind));
		qdb_json_key(&j, "name");
		qdb_json_string(&j, c->src[m].name);
		qdb_json_key(&j, "stage");
		qdb_json_string(&j, c->src[m].stage);
		qdb_json_key(&j, "accuracy");
		json_num_or_null(&j, e->accuracy, e->n_labeled > 0);
		qdb_json_key(&j, "correct");
		qdb_json_int(&j, e->correct);
		qdb_json_key(&j, "labelled");
		qdb_json_int(&j, e->n_labeled);
		qdb_json_end_object(&j);
	}
	qdb_json_end_array(&j);

	qdb_json_key(&j, "agreement");
	qdb_json_begin_array(&j);
	for (int p = 0; p < c->n_pairs; p++) {
		const struct pair_stat *ps = &c->pairs[p];
		qdb_json_begin_object(&j);
		qdb_json_key(&j, "a");
		qdb_json_string(&j, c->src[ps->a].path);
		qdb_json_key(&j, "b");
		qdb_json_string(&j, c->src[ps->b].path);
		qdb_json_key(&j, "samples");
		qdb_json_int(&j, ps->n);
		qdb_json_key(&j, "top1_agree");
		qdb_json_int(&j, ps->agree);
		qdb_json_key(&j, "top1_agreement");
		json_num_or_null(&j, ps->n ? (double)ps->agree / (double)ps->n : NAN, ps->n > 0);
		qdb_json_key(&j, "cosine_mean");
		json_num_or_null(&j, ps->cos_mean, ps->n_cos > 0);
		qdb_json_key(&j, "cosine_min");
		json_num_or_null(&j, ps->cos_min, ps->n_cos > 0);
		qdb_json_key(&j, "cosine_min_sample");
		json_sample(&j, c, ps->cos_min_at);
		qdb_json_end_object(&j);
	}
	qdb_json_end_array(&j);

	qdb_json_key(&j, "classes");
	qdb_json_begin_array(&j);
	for (int k = 0; k < c->n_classes; k++) {
		int64_t cnt = c->class_count[k];
		qdb_json_begin_object(&j);
		qdb_json_key(&j, "class");
		qdb_json_int(&j, k);
		qdb_json_key(&j, "name");
		qdb_json_string(&j, class_name(c, k, buf, sizeof buf));
		qdb_json_key(&j, "count");
		qdb_json_int(&j, cnt);
		qdb_json_key(&j, "correct");
		qdb_json_begin_array(&j);
		for (int m = 0; m < c->n_models; m++)
			qdb_json_int(&j, c->class_correct[(size_t)m * (size_t)c->n_classes + (size_t)k]);
		qdb_json_end_array(&j);
		qdb_json_key(&j, "accuracy");
		qdb_json_begin_array(&j);
		for (int m = 0; m < c->n_models; m++) {
			int64_t cor = c->class_correct[(size_t)m * (size_t)c->n_classes + (size_t)k];
			json_num_or_null(&j, cnt ? (double)cor / (double)cnt : NAN, cnt > 0);
		}
		qdb_json_end_array(&j);
		qdb_json_end_object(&j);
	}
	qdb_json_end_array(&j);
	qdb_json_finish(&j);
}

/* ---- main --------------------------------------------------------------------- */

int qdb_cmd_eval(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"data", required_argument, NULL, 'd'},
		{"samples", required_argument, NULL, 's'},
		{"jobs", required_argument, NULL, 'j'},
		{"format", required_argument, NULL, 'f'},
		{"wide", no_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *data = NULL, *samples = NULL;
	enum qdb_format format = QDB_FORMAT_TABLE;
	int jobs = 0, wide = 0, opt;
	long lv;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":d:s:j:f:wh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd': data = optarg; break;
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
	int n_models = argc - optind;
	if (n_models < 1)
		return usage_error("%s", "needs at least one MODEL");
	if (n_models > MAX_MODELS)
		return usage_error("%s", "at most 26 models");
	if (!data)
		return usage_error("%s", "--data DS.qds is required");

	struct qdb_cli_evalset es;
	struct eval_ctx c;
	struct qdb_err err;
	int rc, ret = QDB_EXIT_OK;

	memset(&c, 0, sizeof c);
	qdb_err_clear(&err);
	if ((rc = qdb_cli_evalset_open(&es, data, argv + optind, n_models, samples, jobs, &err)))
		goto fail;
	c.d = es.d;
	c.data_path = data;
	c.n_models = n_models;
	c.src = es.src;
	c.ev = es.ev;
	c.n_recs = es.n_recs;
	c.n_total = es.total;
	c.n_range = es.n_range;
	if ((rc = count_classes(&c, &err)) || (rc = compare_pairs(&c, &err)))
		goto fail;

	switch (format) {
	case QDB_FORMAT_TABLE: print_table(&c, wide); break;
	case QDB_FORMAT_CSV: print_csv(&c); break;
	case QDB_FORMAT_JSON: print_json(&c); break;
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "qdb eval: writing the output failed\n");
		ret = QDB_EXIT_INTERNAL;
	}
	goto out;
fail:
	fprintf(stderr, "qdb eval: %s\n", err.msg);
	ret = qdb_cli_exit_for(rc);
out:
	qdb_free(c.class_count);
	qdb_free(c.class_correct);
	qdb_free(c.pairs);
	qdb_cli_evalset_done(&es);
	return ret;
}
