/* cmd_convert.c - `qdb convert QAT.qbc -o QUANT.qbc`: the integer graph of
 * a qat graph (src/graph/convert.h), and a report of what saturated or
 * overflowed on the way. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/table.h"
#include "graph/convert.h"
#include "io/qbc.h"

#define CMD "qdb convert"

static const char usage_text[] =
	"usage: qdb convert QAT.qbc -o QUANT.qbc [OPTIONS]\n"
	"Converts a qat graph to integers: int8 weights, biases, requantization,\n"
	"lookup tables; quantize/dequantize at float inputs and outputs.\n"
	"  -o, --output FILE     the quantized graph to write (required)\n"
	"  -p, --profile P       torch (bit-exact with PyTorch's int8 models; default)\n"
	"                        or fixed (int32 bias, Q31 multipliers, LUTs)\n"
	"  -r, --rounding R      fixed profile: half_away (default), half_up, half_even;\n"
	"                        the torch profile always rounds half to even\n"
	"  -a, --all             list every node (default: weighted, cpu and flagged ones)\n"
	"  -q, --quiet           no report, only errors\n"
	"      --format F        report as table (default), csv or json\n"
	"      --wide            do not fit the table to the terminal\n"
	"  -h, --help            this text\n"
	"Exit status: 0 written, 2 bad input or usage, 3 resource failure.\n";

static int flagged(const struct qdb_convert_node *n)
{
	return n->device == QDB_DEV_CPU || n->weights_clipped || n->bias_overflow ||
	       n->mult_underflow || n->mult_overflow;
}

static void report_table(const struct qdb_convert_report *r, int all, int wide)
{
	struct qdb_table *t = qdb_table_new();
	if (!t)
		return;
	int cn = qdb_table_add_col(t, "node", QDB_COL_SHRINK, 8, 0);
	int co = qdb_table_add_col(t, "op", 0, 0, 2);
	int cd = qdb_table_add_col(t, "device", 0, 0, 0);
	int cw = qdb_table_add_col(t, "weights", QDB_COL_RIGHT, 0, 3);
	int cl = qdb_table_add_col(t, "at_limit", QDB_COL_RIGHT, 0, 0);
	int cs = qdb_table_add_col(t, "share", QDB_COL_RIGHT, 0, 1);
	int cc = qdb_table_add_col(t, "clipped", QDB_COL_RIGHT, 0, 0);
	int cb = qdb_table_add_col(t, "bias_ovf", QDB_COL_RIGHT, 0, 1);
	int cm = qdb_table_add_col(t, "mult", QDB_COL_RIGHT, 0, 1);
	int ct = qdb_table_add_col(t, "note", QDB_COL_SHRINK, 8, 4);
	qdb_table_col_soft(t, cn, 24);
	for (int i = 0; i < r->n_nodes; i++) {
		const struct qdb_convert_node *n = &r->nodes[i];
		if (!all && !n->weights && !flagged(n))
			continue;
		int row = qdb_table_add_row(t);
		if (row < 0)
			break;
		qdb_table_set(t, row, cn, n->node, QDB_STYLE_NONE);
		qdb_table_set(t, row, co, n->op, QDB_STYLE_NONE);
		qdb_table_set(t, row, cd, n->device == QDB_DEV_CPU ? "cpu" : "bpu",
			      n->device == QDB_DEV_CPU ? QDB_STYLE_YELLOW : QDB_STYLE_NONE);
		if (n->weights) {
			qdb_table_setf(t, row, cw, QDB_STYLE_NONE, "%lld", (long long)n->weights);
			qdb_table_setf(t, row, cl, n->weights_at_limit ? QDB_STYLE_YELLOW : QDB_STYLE_NONE,
				       "%lld", (long long)n->weights_at_limit);
			qdb_table_setf(t, row, cs, QDB_STYLE_NONE, "%.3f%%",
				       100.0 * (double)n->weights_at_limit / (double)n->weights);
			qdb_table_setf(t, row, cc, n->weights_clipped ? QDB_STYLE_RED : QDB_STYLE_NONE,
				       "%lld", (long long)n->weights_clipped);
		}
		if (n->bias_overflow)
			qdb_table_setf(t, row, cb, QDB_STYLE_RED, "%lld", (long long)n->bias_overflow);
		if (n->mult_underflow || n->mult_overflow)
			qdb_table_setf(t, row, cm, QDB_STYLE_RED, "%d low %d high", n->mult_underflow,
				       n->mult_overflow);
		if (n->note)
			qdb_table_set(t, row, ct, n->note, QDB_STYLE_NONE);
	}
	struct qdb_table_opts o;
	qdb_table_opts_init(&o, stdout, wide);
	if (qdb_table_n_rows(t))
		qdb_table_print(t, stdout, &o);
	qdb_table_delete(t);
}

static void report_csv(const struct qdb_convert_report *r, int all)
{
	printf("node,op,device,weights,at_limit,clipped,bias_overflow,mult_underflow,mult_overflow,note\n");
	for (int i = 0; i < r->n_nodes; i++) {
		const struct qdb_convert_node *n = &r->nodes[i];
		char buf[6][32];
		if (!all && !n->weights && !flagged(n))
			continue;
		snprintf(buf[0], sizeof buf[0], "%lld", (long long)n->weights);
		snprintf(buf[1], sizeof buf[1], "%lld", (long long)n->weights_at_limit);
		snprintf(buf[2], sizeof buf[2], "%lld", (long long)n->bias_overflow);
		snprintf(buf[3], sizeof buf[3], "%d", n->mult_underflow);
		snprintf(buf[4], sizeof buf[4], "%d", n->mult_overflow);
		snprintf(buf[5], sizeof buf[5], "%lld", (long long)n->weights_clipped);
		const char *f[10] = {n->node, n->op, n->device == QDB_DEV_CPU ? "cpu" : "bpu", buf[0],
				     buf[1], buf[5], buf[2], buf[3], buf[4], n->note ? n->note : ""};
		qdb_csv_row(stdout, f, 10);
	}
}

static void report_json(const struct qdb_convert_report *r, const char *out,
			const struct qdb_convert_opts *o)
{
	struct qdb_json j;
	qdb_json_init(&j, stdout);
	qdb_json_begin_object(&j);
	qdb_json_key(&j, "output");
	qdb_json_string(&j, out);
	qdb_json_key(&j, "profile");
	qdb_json_string(&j, qdb_profile_name(o->profile));
	qdb_json_key(&j, "rounding");
	qdb_json_string(&j, qdb_rounding_name(o->rounding));
	qdb_json_key(&j, "bpu");
	qdb_json_int(&j, r->n_bpu);
	qdb_json_key(&j, "cpu");
	qdb_json_int(&j, r->n_cpu);
	qdb_json_key(&j, "weights");
	qdb_json_int(&j, r->weights);
	qdb_json_key(&j, "weights_at_limit");
	qdb_json_int(&j, r->weights_at_limit);
	qdb_json_key(&j, "weights_clipped");
	qdb_json_int(&j, r->weights_clipped);
	qdb_json_key(&j, "bias_overflow");
	qdb_json_int(&j, r->bias_overflow);
	qdb_json_key(&j, "mult_underflow");
	qdb_json_int(&j, r->mult_underflow);
	qdb_json_key(&j, "mult_overflow");
	qdb_json_int(&j, r->mult_overflow);
	qdb_json_key(&j, "nodes");
	qdb_json_begin_array(&j);
	for (int i = 0; i < r->n_nodes; i++) {
		const struct qdb_convert_node *n = &r->nodes[i];
		qdb_json_begin_object(&j);
		qdb_json_key(&j, "node");
		qdb_json_string(&j, n->node);
		qdb_json_key(&j, "op");
		qdb_json_string(&j, n->op);
		qdb_json_key(&j, "device");
		qdb_json_string(&j, n->device == QDB_DEV_CPU ? "cpu" : "bpu");
		qdb_json_key(&j, "weights");
		qdb_json_int(&j, n->weights);
		qdb_json_key(&j, "weights_at_limit");
		qdb_json_int(&j, n->weights_at_limit);
		qdb_json_key(&j, "weights_clipped");
		qdb_json_int(&j, n->weights_clipped);
		qdb_json_key(&j, "bias_overflow");
		qdb_json_int(&j, n->bias_overflow);
		qdb_json_key(&j, "mult_underflow");
		qdb_json_int(&j, n->mult_underflow);
		qdb_json_key(&j, "mult_overflow");
		qdb_json_int(&j, n->mult_overflow);
		qdb_json_key(&j, "note");
		qdb_json_string(&j, n->note);
		qdb_json_end_object(&j);
	}
	qdb_json_end_array(&j);
	qdb_json_finish(&j);
}

enum { OPT_FORMAT = 256, OPT_WIDE };

int qdb_cmd_convert(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"profile", required_argument, NULL, 'p'},
		{"rounding", required_argument, NULL, 'r'},
		{"all", no_argument, NULL, 'a'},
		{"quiet", no_argument, NULL, 'q'},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"wide", no_argument, NULL, OPT_WIDE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *out = NULL, *rounding = NULL;
	int all = 0, quiet = 0, wide = 0, opt;
	enum qdb_format format = QDB_FORMAT_TABLE;
	struct qdb_convert_opts copts;
	qdb_convert_opts_init(&copts);
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":o:p:r:aqh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o': out = optarg; break;
		case 'p':
			if (qdb_profile_parse(optarg, &copts.profile)) {
				fprintf(stderr, CMD ": --profile: '%s' is not torch or fixed\n", optarg);
				return QDB_EXIT_USAGE;
			}
			break;
		case 'r': rounding = optarg; break;
		case 'a': all = 1; break;
		case 'q': quiet = 1; break;
		case OPT_WIDE: wide = 1; break;
		case OPT_FORMAT:
			if (qdb_format_parse(optarg, &format)) {
				fprintf(stderr, CMD ": --format: '%s' is not table, csv or json\n", optarg);
				return QDB_EXIT_USAGE;
			}
			break;
		case 'h': fputs(usage_text, stdout); return QDB_EXIT_OK;
		case ':':
			fprintf(stderr, CMD ": %s needs an argument (qdb convert --help)\n", argv[optind - 1]);
			return QDB_EXIT_USAGE;
		default:
			fprintf(stderr, CMD ": unknown option '%s' (qdb convert --help)\n", argv[optind - 1]);
			return QDB_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, CMD ": needs exactly one QAT.qbc (qdb convert --help)\n");
		return QDB_EXIT_USAGE;
	}
	if (!out) {
		fprintf(stderr, CMD ": -o QUANT.qbc is required (qdb convert --help)\n");
		return QDB_EXIT_USAGE;
	}
	copts.rounding = copts.profile == QDB_PROFILE_FIXED ? QDB_ROUND_HALF_AWAY : QDB_ROUND_HALF_EVEN;
	if (rounding && qdb_rounding_parse(rounding, &copts.rounding)) {
		fprintf(stderr, CMD ": --rounding: '%s' is not half_away, half_up or half_even\n",
			rounding);
		return QDB_EXIT_USAGE;
	}
	if (copts.profile == QDB_PROFILE_TORCH && copts.rounding != QDB_ROUND_HALF_EVEN) {
		fprintf(stderr, CMD ": --rounding %s needs --profile fixed (torch rounds half to even)\n",
			rounding);
		return QDB_EXIT_USAGE;
	}
	struct qdb_err err;
	struct qdb_graph *g = NULL, *q = NULL;
	struct qdb_convert_report rep;
	memset(&rep, 0, sizeof rep);
	int rc = qdb_graph_load_checked(argv[optind], &g, &err);
	if (!rc && (rc = qdb_convert(g, &copts, &q, &rep, &err)))
		qdb_err_prefix(&err, "%s", argv[optind]);
	if (!rc)
		rc = qdb_graph_save(q, out, &err);
	if (rc) {
		fprintf(stderr, CMD ": %s\n", err.msg);
		qdb_graph_delete(g);
		qdb_graph_delete(q);
		qdb_convert_report_done(&rep);
		return rc == QDB_ENOMEM ? QDB_EXIT_INTERNAL
		       : rc == QDB_EIO && strstr(err.msg, out) ? QDB_EXIT_INTERNAL : QDB_EXIT_BADINPUT;
	}
	if (!quiet) {
		if (format == QDB_FORMAT_JSON) {
			report_json(&rep, out, &copts);
		} else if (format == QDB_FORMAT_CSV) {
			report_csv(&rep, all);
		} else {
			report_table(&rep, all, wide);
			printf("%s: %d nodes on bpu, %d on cpu; profile %s, rounding %s\n", out, rep.n_bpu,
			       rep.n_cpu, qdb_profile_name(copts.profile), qdb_rounding_name(copts.rounding));
			printf("weights at the int8 limits: %lld of %lld (%.3f%%), clipped: %lld",
			       (long long)rep.weights_at_limit, (long long)rep.weights,
			       rep.weights ? 100.0 * (double)rep.weights_at_limit / (double)rep.weights : 0.0,
			       (long long)rep.weights_clipped);
			if (copts.profile == QDB_PROFILE_FIXED)
				printf("; int32 bias overflow: %lld; multipliers out of range: %d",
				       (long long)rep.bias_overflow, rep.mult_underflow + rep.mult_overflow);
			printf("\n");
			if (rep.inherited)
				printf("%d value(s) without qparams inherited their input's\n", rep.inherited);
		}
	}
	qdb_graph_delete(g);
	qdb_graph_delete(q);
	qdb_convert_report_done(&rep);
	if (fflush(stdout) || ferror(stdout))
		return QDB_EXIT_INTERNAL;
	return QDB_EXIT_OK;
}
