/* cmd_check.c - `qdb check MODEL.qbc [TRACE.qtr]`: the advisor's findings.
 *
 * The operands are recognised by content, in either order. Findings come
 * from src/analysis/advisor.h; this file only parses options and prints:
 * "table" is a list (severity, rule, place, then the evidence and the
 * suggestion wrapped below), "json" an object with the findings.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/advisor.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/filekind.h"
#include "cli/table.h"
#include "graph/graph.h"
#include "io/qbc.h"
#include "io/trace.h"

static const char usage_text[] =
	"usage: qdb check [OPTIONS] MODEL.qbc [TRACE.qtr]\n"
	"Flags what usually breaks consistency between the QAT and the integer\n"
	"model: each finding with its evidence and a suggestion. TRACE (values of\n"
	"the model's layers on real data, e.g. from qdb_torch.py) enables the\n"
	"data rules and the QAT qstate audit.\n"
	"  -f, --format FMT       table (default) or json\n"
	"  -n, --samples N        read at most N samples per trace layer (all)\n"
	"      --only IDS         run only these rules (comma-separated)\n"
	"      --skip IDS         do not run these rules\n"
	"      --pow2             the target expects power-of-two scales\n"
	"      --range-ratio X    range-int8: max|x| / median|x| limit (64)\n"
	"      --beyond S         scale-coverage: share beyond the range (0.0001)\n"
	"      --sat S            scale-coverage: share at qmin/qmax (0.01)\n"
	"      --asym A           asymmetric: |p99+p01|/(p99-p01) limit (0.6)\n"
	"      --lut-jump L       lut-coarse: output LSB per table step (4)\n"
	"      --margin S         output-precision: share of rows with top-2\n"
	"                         margin below 1 LSB (0.01)\n"
	"      --scale-rtol R     qstate-scale: relative scale difference (0.01)\n"
	"      --rules            list the rules and exit\n"
	"  -h, --help             this text\n"
	"Exit status: 0 no finding at warning or above, 1 such findings,\n"
	"2 bad input or usage, 3 internal failure.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("qdb check: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (qdb check --help)\n", stderr);
	return QDB_EXIT_USAGE;
}

static int parse_share(const char *opt, const char *s, double lo, double *out)
{
	double v;
	if (qdb_parse_double(s, &v) || !(v >= lo) || isinf(v)) {
		usage_error("%s: expected a number >= %g, not '%s'", opt, lo, s);
		return -1;
	}
	*out = v;
	return 0;
}

static void list_rules(FILE *f)
{
	for (int i = 0; i < qdb_advisor_n_rules(); i++) {
		const struct qdb_advisor_rule *r = qdb_advisor_rule(i);
		fprintf(f, "%-18s %-8s %s%s\n%-27s -> %s\n", r->id, qdb_severity_name(r->severity),
			r->measures, r->needs_trace ? " [trace]" : "", "", r->suggestion);
	}
}

/* Writes s word-wrapped to `width` columns, every line indented. */
static void wrap(FILE *f, const char *prefix, const char *s, int indent, int width)
{
	int col = indent, first = 1;
	fprintf(f, "%*s%s", indent, "", prefix);
	col += (int)strlen(prefix);
	while (*s) {
		while (*s == ' ')
			s++;
		size_t n = strcspn(s, " ");
		if (!n)
			break;
		if (!first && col + 1 + (int)n > width) {
			fprintf(f, "\n%*s", indent + (int)strlen(prefix), "");
			col = indent + (int)strlen(prefix);
		} else if (!first) {
			fputc(' ', f);
			col++;
		}
		fwrite(s, 1, n, f);
		col += (int)n;
		s += n;
		first = 0;
	}
	fputc('\n', f);
}

static enum qdb_style sev_style(enum qdb_severity s)
{
	return s == QDB_SEV_ERROR ? QDB_STYLE_BOLDRED : s == QDB_SEV_WARNING ? QDB_STYLE_YELLOW
									      : QDB_STYLE_DIM;
}

static void print_table(FILE *f, const struct qdb_graph *g, const char *gpath,
			const struct qdb_trace *t, const struct qdb_advice *a)
{
	int width = qdb_term_width(f), color = qdb_color_wanted(f);
	if (width < 40)
		width = 40;
	fprintf(f, "%s: %s graph, profile %s", gpath, qdb_stage_name(g->stage),
		qdb_profile_name(g->profile));
	if (t) {
		fprintf(f, "; %s: %d layers read, up to %d samples each", qdb_trace_path(t),
			a->layers_scanned, a->samples);
		if (a->layers_unmatched)
			fprintf(f, " (%d not in the graph)", a->layers_unmatched);
	}
	fputc('\n', f);
	for (int i = 0; i < a->n; i++) {
		const struct qdb_finding *fi = &a->findings[i];
		const struct qdb_advisor_rule *r = qdb_advisor_rule(fi->rule);
		fputc('\n', f);
		fprintf(f, "%s%-7s%s  %-17s %s\n", color ? qdb_style_begin(sev_style(fi->severity)) : "",
			qdb_severity_name(fi->severity), color ? qdb_style_end() : "", r->id, fi->where);
		wrap(f, "", fi->evidence, 9, width);
		wrap(f, "-> ", fi->suggestion, 9, width);
	}
	fprintf(f, "%s%d error%s, %d warning%s, %d info (%d rules%s)\n", a->n ? "\n" : "",
		a->counts[QDB_SEV_ERROR], a->counts[QDB_SEV_ERROR] == 1 ? "" : "s",
		a->counts[QDB_SEV_WARNING], a->counts[QDB_SEV_WARNING] == 1 ? "" : "s",
		a->counts[QDB_SEV_INFO], qdb_advisor_n_rules(),
		t ? "" : "; no trace: data rules not run");
}

static void print_json(FILE *f, const struct qdb_graph *g, const char *gpath,
		       const struct qdb_trace *t, const struct qdb_advice *a)
{
	struct qdb_json j;
	qdb_json_init(&j, f);
	qdb_json_begin_object(&j);
	qdb_json_key(&j, "model");
	qdb_json_string(&j, gpath);
	qdb_json_key(&j, "stage");
	qdb_json_string(&j, qdb_stage_name(g->stage));
	qdb_json_key(&j, "profile");
	qdb_json_string(&j, qdb_profile_name(g->profile));
	qdb_json_key(&j, "trace");
	qdb_json_string(&j, t ? qdb_trace_path(t) : NULL);
	qdb_json_key(&j, "layers_scanned");
	qdb_json_int(&j, a->layers_scanned);
	qdb_json_key(&j, "layers_unmatched");
	qdb_json_int(&j, a->layers_unmatched);
	qdb_json_key(&j, "samples");
	qdb_json_int(&j, a->samples);
	qdb_json_key(&j, "counts");
	qdb_json_begin_object(&j);
	for (int s = QDB_SEV_ERROR; s >= QDB_SEV_INFO; s--) {
		qdb_json_key(&j, qdb_severity_name((enum qdb_severity)s));
		qdb_json_int(&j, a->counts[s]);
	}
	qdb_json_end_object(&j);
	qdb_json_key(&j, "findings");
	qdb_json_begin_array(&j);
	for (int i = 0; i < a->n; i++) {
		const struct qdb_finding *fi = &a->findings[i];
		qdb_json_begin_object(&j);
		qdb_json_key(&j, "rule");
		qdb_json_string(&j, qdb_advisor_rule(fi->rule)->id);
		qdb_json_key(&j, "severity");
		qdb_json_string(&j, qdb_severity_name(fi->severity));
		qdb_json_key(&j, "where");
		qdb_json_string(&j, fi->where);
		qdb_json_key(&j, "evidence");
		qdb_json_string(&j, fi->evidence);
		qdb_json_key(&j, "suggestion");
		qdb_json_string(&j, fi->suggestion);
		qdb_json_key(&j, "measure");
		qdb_json_number(&j, fi->measure);
		qdb_json_key(&j, "limit");
		qdb_json_number(&j, fi->limit);
		qdb_json_end_object(&j);
	}
	qdb_json_end_array(&j);
	qdb_json_finish(&j);
}

int qdb_cmd_check(int argc, char **argv)
{
	enum {
		O_ONLY = 256, O_SKIP, O_POW2, O_RANGE, O_BEYOND, O_SAT, O_ASYM, O_LUT,
		O_MARGIN, O_RTOL, O_RULES
	};
	static const struct option longopts[] = {
		{"format", required_argument, NULL, 'f'},
		{"samples", required_argument, NULL, 'n'},
		{"only", required_argument, NULL, O_ONLY},
		{"skip", required_argument, NULL, O_SKIP},
		{"pow2", no_argument, NULL, O_POW2},
		{"range-ratio", required_argument, NULL, O_RANGE},
		{"beyond", required_argument, NULL, O_BEYOND},
		{"sat", required_argument, NULL, O_SAT},
		{"asym", required_argument, NULL, O_ASYM},
		{"lut-jump", required_argument, NULL, O_LUT},
		{"margin", required_argument, NULL, O_MARGIN},
		{"scale-rtol", required_argument, NULL, O_RTOL},
		{"rules", no_argument, NULL, O_RULES},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct qdb_advisor_opts o;
	qdb_advisor_opts_init(&o);
	enum qdb_format format = QDB_FORMAT_TABLE;
	const char *only = NULL, *skip = NULL;
	long lv;
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":f:n:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (qdb_format_parse(optarg, &format) || format == QDB_FORMAT_CSV)
				return usage_error("--format: expected table or json, not '%s'", optarg);
			break;
		case 'n':
			if (qdb_parse_long(optarg, &lv) || lv < 1 || lv > 1000000000)
				return usage_error("--samples: expected a count >= 1, not '%s'", optarg);
			o.max_samples = (int)lv;
			break;
		case O_ONLY: only = optarg; break;
		case O_SKIP: skip = optarg; break;
		case O_POW2: o.pow2 = 1; break;
		case O_RANGE:
			if (parse_share("--range-ratio", optarg, 1, &o.range_ratio))
				return QDB_EXIT_USAGE;
			break;
		case O_BEYOND:
			if (parse_share("--beyond", optarg, 0, &o.beyond_share))
				return QDB_EXIT_USAGE;
			break;
		case O_SAT:
			if (parse_share("--sat", optarg, 0, &o.sat_share))
				return QDB_EXIT_USAGE;
			break;
		case O_ASYM:
			if (parse_share("--asym", optarg, 0, &o.asym))
				return QDB_EXIT_USAGE;
			break;
		case O_LUT:
			if (parse_share("--lut-jump", optarg, 0, &o.lut_jump))
				return QDB_EXIT_USAGE;
			break;
		case O_MARGIN:
			if (parse_share("--margin", optarg, 0, &o.margin_share))
				return QDB_EXIT_USAGE;
			break;
		case O_RTOL:
			if (parse_share("--scale-rtol", optarg, 0, &o.scale_rtol))
				return QDB_EXIT_USAGE;
			break;
		case O_RULES: list_rules(stdout); return QDB_EXIT_OK;
		case 'h': fputs(usage_text, stdout); return QDB_EXIT_OK;
		case ':': return usage_error("%s needs an argument", argv[optind - 1]);
		default: return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	int nops = argc - optind;
	if (nops < 1 || nops > 2)
		return usage_error("%s", nops < 1 ? "needs MODEL.qbc (and optionally TRACE.qtr)"
						  : "too many operands: expected MODEL.qbc [TRACE.qtr]");

	struct qdb_err err;
	qdb_err_clear(&err);
	if (qdb_advisor_select(&o, only, skip, &err))
		return usage_error("%s", err.msg);

	const char *gpath = NULL, *tpath = NULL;
	for (int i = optind; i < argc; i++) {
		enum qdb_file_kind k;
		if (qdb_file_kind(argv[i], &k, &err)) {
			fprintf(stderr, "qdb check: %s\n", err.msg);
			return QDB_EXIT_BADINPUT;
		}
		const char **slot = k == QDB_KIND_GRAPH ? &gpath : k == QDB_KIND_TRACE ? &tpath : NULL;
		if (!slot || *slot) {
			fprintf(stderr, "qdb check: %s: expected %s, not a %s\n", argv[i],
				slot ? "one graph and at most one trace" : "a graph (.qbc) or a trace (.qtr)",
				qdb_file_kind_name(k));
			return QDB_EXIT_BADINPUT;
		}
		*slot = argv[i];
	}
	if (!gpath) {
		fprintf(stderr, "qdb check: %s: needs a graph (.qbc) besides the trace\n", tpath);
		return QDB_EXIT_BADINPUT;
	}

	struct qdb_graph *g = NULL;
	struct qdb_trace *t = NULL;
	struct qdb_advice a;
	qdb_advice_init(&a);
	int ret = QDB_EXIT_BADINPUT, rc;
	if ((rc = qdb_graph_load(gpath, &g, &err)) || (tpath && (rc = qdb_trace_open(tpath, &t, &err))))
		goto fail;
	if ((rc = qdb_advise(g, t, &o, &a, &err)))
		goto fail;
	if (format == QDB_FORMAT_JSON)
		print_json(stdout, g, gpath, t, &a);
	else
		print_table(stdout, g, gpath, t, &a);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "qdb check: writing the output failed\n");
		ret = QDB_EXIT_INTERNAL;
	} else {
		ret = qdb_advice_count(&a, QDB_SEV_WARNING) ? QDB_EXIT_DIVERGED : QDB_EXIT_OK;
	}
	goto done;
fail:
	fprintf(stderr, "qdb check: %s\n", err.msg);
	ret = rc == QDB_ENOMEM ? QDB_EXIT_INTERNAL : QDB_EXIT_BADINPUT;
done:
	qdb_advice_done(&a);
	if (t)
		qdb_trace_close(t);
	qdb_graph_delete(g);
	return ret;
}
