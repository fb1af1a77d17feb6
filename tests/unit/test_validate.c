/* test_validate.c - graph validation: the invalid-graph corpus
 * (testdata/bad-graphs, made by scripts/make-bad-graphs: each file must fail
 * with a message containing the MANIFEST's pieces), the good graph's inferred
 * shapes, and the integer-kernel check of quantized graphs. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "graph_util.h"
#include "io/qbc.h"
#include "ops/kernel.h"
#include "ops/ops.h"
#include "tap.h"

static char dir[4096];

static void test_corpus(void)
{
	char path[4200], line[1024];
	snprintf(path, sizeof path, "%s/MANIFEST", dir);
	FILE *f = fopen(path, "r");
	if (!ok(f != NULL, "MANIFEST opens (%s)", path))
		return;
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		char *save = NULL, *file = strtok_r(line, "\t", &save);
		snprintf(path, sizeof path, "%s/%s", dir, file);
		struct qdb_graph *g = NULL;
		struct qdb_err e;
		qdb_err_clear(&e);
		int rc = qdb_graph_load_checked(path, &g, &e);
		int all = rc != QDB_OK && g == NULL && e.msg[0] && !strchr(e.msg, '\n');
		const char *missing = NULL;
		for (char *want = strtok_r(NULL, "\t", &save); want; want = strtok_r(NULL, "\t", &save))
			if (!strstr(e.msg, want)) {
				all = 0;
				missing = want;
				break;
			}
		if (!ok(all, "%s: %s", file, e.msg))
			tap_diag("  rc %d, missing '%s'", rc, missing ? missing : "");
		qdb_graph_delete(g);
		n++;
	}
	fclose(f);
	ok(n >= 30, "corpus has %d bad graphs", n);
}

static void test_good(void)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/good.qbc", dir);
	struct qdb_graph *g = NULL;
	struct qdb_err e;
	int rc = qdb_graph_load_checked(path, &g, &e);
	if (!ok(rc == QDB_OK, "good.qbc validates")) {
		tap_diag("  %s", e.msg);
		return;
	}
	const struct qdb_value *c = &g->values[qdb_graph_find_value(g, "c")];
	const struct qdb_value *p = &g->values[qdb_graph_find_value(g, "p")];
	const struct qdb_value *y = &g->values[qdb_graph_find_value(g, "y")];
	ok(c->rank == 4 && c->shape[1] == 4 && c->shape[2] == 8 && c->shape[3] == 8,
	   "conv output inferred 1x4x8x8");
	ok(p->rank == 4 && p->shape[2] == 4 && p->shape[3] == 4, "maxpool output inferred 1x4x4x4");
	ok(y->rank == 2 && y->shape[0] == 1 && y->shape[1] == 5 && y->dtype == QDB_F32,
	   "linear output inferred 1x5 f32");
	ok(qdb_graph_validate(g, &e) == QDB_OK, "validation is repeatable");
	ok(g->values[qdb_graph_find_value(g, "r")].producer == qdb_graph_find_node(g, "relu"),
	   "producers recorded");

	/* the same graph as quantized: outputs become the qparams' dtype */
	g->stage = QDB_STAGE_QUANTIZED;
	for (int i = 0; i < g->n_nodes; i++)
		g->nodes[i].device = QDB_DEV_CPU;
	rc = qdb_graph_validate(g, &e);
	ok(rc == QDB_OK && g->values[qdb_graph_find_value(g, "c")].dtype == QDB_I8 &&
	   g->values[qdb_graph_find_value(g, "p")].dtype == QDB_F32,
	   "quantized graph: values with qparams hold i8, others f32");

	qdb_graph_delete(g);
}

/* Messages for graphs built in memory (the loader cannot make these). */
static void test_built(void)
{
	static const int64_t xs[] = {1, 2, 4, 4};
	struct qdb_err e;
	struct qdb_graph *g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 4, xs);
	tg_node(g, "a", "relu", "x", "y");
	tg_node(g, "b", "relu", "y", "z");
	tg_out(g, "z");
	/* make node b produce y too */
	int both[] = {qdb_graph_find_value(g, "y")};
	int in[] = {qdb_graph_find_value(g, "x")};
	qdb_graph_set_node_io(g, 1, in, 1, both, 1, &e);
	int rc = qdb_graph_validate(g, &e);
	ok(rc != QDB_OK && strstr(e.msg, "node b") && strstr(e.msg, "already produced by node a"),
	   "value produced twice: %s", e.msg);
	qdb_graph_delete(g);

	g = tg_new(QDB_STAGE_FLOAT);
	tg_in(g, "x", 4, xs);
	tg_node(g, "a", "relu", "x", "y");
	tg_out(g, "y");
	g->nodes[0].n_outputs = 0;
	rc = qdb_graph_validate(g, &e);
	ok(rc != QDB_OK && strstr(e.msg, "node a") && strstr(e.msg, "outputs"),
	   "node without output: %s", e.msg);
	g->nodes[0].n_outputs = 1;
	qdb_graph_delete(g);
}

int main(void)
{
	const char *src = getenv("QDB_SRCDIR");
	snprintf(dir, sizeof dir, "%s/testdata/bad-graphs", src ? src : ".");
	test_corpus();
	test_good();
	test_built();
	return tap_done();
}
