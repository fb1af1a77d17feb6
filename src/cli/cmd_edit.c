/* cmd_edit.c - `qdb edit QUANT.qbc --cpu a,b [--bpu c] -o EDITED.qbc`:
 * move nodes of a quantized graph between the integer device ("bpu") and
 * float on the CPU ("cpu"); the change is appended to the graph's edit
 * history (src/graph/edit.h). */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/str.h"
#include "cli/cli.h"
#include "graph/edit.h"
#include "io/qbc.h"

#define CMD "qdb edit"

static const char usage_text[] =
	"usage: qdb edit QUANT.qbc [--cpu A,B...] [--bpu C...] -o EDITED.qbc\n"
	"Sets node devices of a quantized graph: cpu runs the node in float on\n"
	"dequantized inputs, bpu on integers. The edit history is kept in the file.\n"
	"  -c, --cpu NODES       comma-separated node names to run on cpu (repeatable)\n"
	"  -b, --bpu NODES       node names to run on bpu again (repeatable)\n"
	"  -o, --output FILE     the graph to write (required; may be QUANT.qbc itself)\n"
	"  -q, --quiet           print nothing on success\n"
	"  -h, --help            this text\n"
	"Exit status: 0 written, 2 bad input or usage (unknown node names are listed\n"
	"with close matches), 3 resource failure.\n";

/* Appends the comma-separated names of s to *v (a growing array). */
static int add_names(char ***v, int *n, const char *s)
{
	char **parts = qdb_split(s, ',');
	if (!parts)
		return -1;
	for (char **p = parts; *p; p++) {
		if (!**p)
			continue;
		char **nv = qdb_realloc(*v, (size_t)(*n + 1) * sizeof **v);
		if (!nv) {
			qdb_strv_free(parts);
			return -1;
		}
		*v = nv;
		if (!((*v)[*n] = qdb_strdup(*p))) {
			qdb_strv_free(parts);
			return -1;
		}
		(*n)++;
	}
	qdb_strv_free(parts);
	return 0;
}

static void free_names(char **v, int n)
{
	for (int i = 0; i < n; i++)
		qdb_free(v[i]);
	qdb_free(v);
}

int qdb_cmd_edit(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"cpu", required_argument, NULL, 'c'},
		{"bpu", required_argument, NULL, 'b'},
		{"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char **cpu = NULL, **bpu = NULL;
	int n_cpu = 0, n_bpu = 0, quiet = 0, opt, status = QDB_EXIT_USAGE;
	const char *out = NULL;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":c:b:o:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
		case 'b':
			if (add_names(opt == 'c' ? &cpu : &bpu, opt == 'c' ? &n_cpu : &n_bpu, optarg)) {
				fprintf(stderr, CMD ": out of memory\n");
				status = QDB_EXIT_INTERNAL;
				goto done;
			}
			break;
		case 'o': out = optarg; break;
		case 'q': quiet = 1; break;
		case 'h':
			fputs(usage_text, stdout);
			status = QDB_EXIT_OK;
			goto done;
		case ':':
			fprintf(stderr, CMD ": %s needs an argument (qdb edit --help)\n", argv[optind - 1]);
			goto done;
		default:
			fprintf(stderr, CMD ": unknown option '%s' (qdb edit --help)\n", argv[optind - 1]);
			goto done;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, CMD ": needs exactly one QUANT.qbc (qdb edit --help)\n");
		goto done;
	}
	if (!out) {
		fprintf(stderr, CMD ": -o EDITED.qbc is required (qdb edit --help)\n");
		goto done;
	}
	if (!n_cpu && !n_bpu) {
		fprintf(stderr, CMD ": nothing to do: give --cpu or --bpu node names\n");
		goto done;
	}
	struct qdb_err err;
	struct qdb_graph *g = NULL;
	int changed = 0;
	int rc = qdb_graph_load_checked(argv[optind], &g, &err);
	if (!rc && (rc = qdb_graph_edit_devices(g, cpu, n_cpu, bpu, n_bpu, &changed, &err)))
		qdb_err_prefix(&err, "%s", argv[optind]);
	if (!rc)
		rc = qdb_graph_save(g, out, &err);
	if (rc) {
		fprintf(stderr, CMD ": %s\n", err.msg);
		status = rc == QDB_ENOMEM ? QDB_EXIT_INTERNAL : QDB_EXIT_BADINPUT;
	} else {
		if (!quiet) {
			printf("%s: %d node(s) changed", out, changed);
			int shown = 0;
			for (int i = g->n_edits - changed; i < g->n_edits; i++)
				printf("%s %s %s->%s", shown++ ? "," : ":", g->edits[i].node, g->edits[i].from,
				       g->edits[i].to);
			printf("\n");
		}
		status = fflush(stdout) || ferror(stdout) ? QDB_EXIT_INTERNAL : QDB_EXIT_OK;
	}
	qdb_graph_delete(g);
done:
	free_names(cpu, n_cpu);
	free_names(bpu, n_bpu);
	return status;
}
