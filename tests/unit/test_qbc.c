/* test_qbc.c - the graph container (building, name maps, attrs, clone,
 * equality) and .qbc files: contents of the committed good graphs, exact
 * round trips, cuts at every byte, injected allocation failures. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "graph/graph.h"
#include "io/qbc.h"
#include "ops/ops.h"
#include "io_util.h"
#include "tap.h"

static char good_dir[2048], tmp_dir[256];

static void test_names(void)
{
	enum qdb_stage s;
	enum qdb_profile_kind p;
	enum qdb_rounding r;
	ok(qdb_stage_parse("qat", &s) == 0 && s == QDB_STAGE_QAT && !strcmp(qdb_stage_name(s), "qat"), "stage");
	ok(qdb_stage_parse("int8", &s) == -1 && !qdb_stage_name(QDB_STAGE_COUNT), "bad stage");
	ok(qdb_profile_parse("fixed", &p) == 0 && p == QDB_PROFILE_FIXED && qdb_profile_parse("x", &p) == -1,
	   "profile");
	ok(qdb_rounding_parse("half_away", &r) == 0 && r == QDB_ROUND_HALF_AWAY &&
	   !strcmp(qdb_rounding_name(QDB_ROUND_HALF_EVEN), "half_even") && qdb_rounding_parse(NULL, &r) == -1,
	   "rounding");
}

/* x -> relu -> y with a constant, qparams, attrs and an edit. */
static struct qdb_graph *build(struct qdb_err *e)
{
	struct qdb_graph *g = qdb_graph_new();
	int64_t shape[2] = {2, 3};
	struct qdb_tensor w;
	qdb_tensor_init(&w);
	qdb_tensor_alloc(&w, QDB_I8, 2, shape, e);
	((int8_t *)w.data)[4] = -7;
	double scales[2] = {0.5, 0.25};
	int64_t zps[2] = {0, 1};
	qdb_quant_set_channels(&w.q, 2, 0, scales, zps, 0, -1, e);
	int x = qdb_graph_add_input(g, "x", QDB_F32, 2, shape, e);
	int wv = qdb_graph_add_constant(g, "w", &w, e);
	qdb_tensor_done(&w);
	int n = qdb_graph_add_node(g, "mul1", "mul", e);
	int y = qdb_graph_add_value(g, "y", e);
	int in[2] = {x, wv};
	qdb_graph_set_node_io(g, n, in, 2, &y, 1, e);
	qdb_quant_set(&g->values[y].q, 0.1, 3, -128, 127, e);
	g->values[y].qdtype = QDB_I8;
	qdb_node_set_attr_str(&g->nodes[n], "act", "relu", e);
	int64_t pads[4] = {1, 2, 3, 4};
	qdb_node_set_attr_ints(&g->nodes[n], "pad", pads, 4, e);
	qdb_node_set_attr_float(&g->nodes[n], "gain", 2.0, e);
	double fl[2] = {0.5, -1};
	qdb_node_set_attr_floats(&g->nodes[n], "range", fl, 2, e);
	qdb_node_set_attr_int(&g->nodes[n], "groups", 1, e);
	qdb_graph_add_output(g, y, e);
	qdb_graph_add_edit(g, "mul1", "device", "bpu", "cpu", e);
	g->name = qdb_strdup("built");
	g->producer = qdb_strdup("test");
	g->stage = QDB_STAGE_QUANTIZED;
	return g;
}

static void test_build(void)
{
	struct qdb_err e;
	struct qdb_graph *g = build(&e);
	ok(g->n_values == 3 && g->n_nodes == 1 && g->n_constants == 1 && g->n_inputs == 1 && g->n_outputs == 1,
	   "built graph counts");
	ok(qdb_graph_find_value(g, "w") == 1 && qdb_graph_find_value(g, "zz") == -1 &&
	   qdb_graph_find_node(g, "mul1") == 0 && qdb_graph_find_node(g, "y") == -1, "lookups");
	const struct qdb_node *n = &g->nodes[0];
	ok(n->op == qdb_op_lookup("mul") && n->device == QDB_DEV_BPU && g->values[2].producer == 0 &&
	   g->values[1].constant == 0 && g->values[0].input == 0 && g->values[2].is_output, "roles");
	ok(qdb_graph_add_value(g, "w", &e) == -QDB_EFORMAT && strstr(e.msg, "\"w\" defined twice"),
	   "duplicate value refused");
	ok(qdb_graph_add_node(g, "mul1", "add", &e) == -QDB_EFORMAT, "duplicate node refused");
	ok(qdb_graph_add_value(g, "", &e) == -QDB_EFORMAT, "empty name refused");

	int64_t v[8];
	double f[8];
	ok(!strcmp(qdb_node_attr_str(n, "act", "none"), "relu") && !strcmp(qdb_node_attr_str(n, "x", "none"), "none"),
	   "str attr");
	ok(qdb_node_attr_ints(n, "pad", v, 8) == 4 && v[3] == 4 && qdb_node_attr_ints(n, "pad", v, 2) == 4 &&
	   qdb_node_attr_ints(n, "act", v, 8) == -1, "int list attr");
	ok(qdb_node_attr_float(n, "gain", 0) == 2.0 && qdb_node_attr_int(n, "gain", 0) == 2 &&
	   qdb_node_attr_float(n, "groups", 0) == 1.0 && qdb_node_attr_int(n, "nope", 9) == 9, "numeric attrs");
	ok(qdb_node_attr_floats(n, "range", f, 8) == 2 && f[1] == -1 && qdb_node_attr_floats(n, "pad", f, 8) == 4 &&
	   f[0] == 1.0, "float list attr");
	qdb_node_set_attr_int(&g->nodes[0], "act", 5, &e);
	ok(g->nodes[0].n_attrs == 5 && !strcmp(g->nodes[0].attrs[0].key, "act") &&
	   qdb_node_attr_int(&g->nodes[0], "act", 0) == 5, "setter replaces in place");
	qdb_node_set_attr_str(&g->nodes[0], "act", "relu", &e);

	/* many values: the name map grows */
	int bad = 0;
	for (int i = 0; i < 5000; i++) {
		char name[32];
		snprintf(name, sizeof name, "v%d", i);
		bad += qdb_graph_add_value(g, name, &e) != 3 + i;
	}
	for (int i = 0; i < 5000; i += 7) {
		char name[32];
		snprintf(name, sizeof name, "v%d", i);
		bad += qdb_graph_find_value(g, name) != 3 + i;
	}
	ok(bad == 0 && qdb_graph_find_value(g, "w") == 1, "5000 values added and found");
	free(g->values[1].name);
	g->values[1].name = qdb_strdup("weights");
	ok(qdb_graph_reindex(g, &e) == QDB_OK && qdb_graph_find_value(g, "weights") == 1 &&
	   qdb_graph_find_value(g, "w") == -1, "reindex after a rename");
	qdb_graph_delete(g);

	g = build(&e);
	struct qdb_graph *c = qdb_graph_clone(g, &e);
	ok(c && qdb_graph_equal(g, c), "clone is equal");
	c->nodes[0].attrs[2].f = 3.0;
	ok(!qdb_graph_equal(g, c), "changed attr: not equal");
	qdb_graph_delete(c);
	c = qdb_graph_clone(g, &e);
	((int8_t *)c->constants[0].t.data)[4] = 0;
	ok(!qdb_graph_equal(g, c), "changed constant byte: not equal");
	qdb_graph_delete(c);
	c = qdb_graph_clone(g, &e);
	c->values[2].q.scale[0] = 0.2;
	ok(!qdb_graph_equal(g, c), "changed scale: not equal");
	qdb_graph_delete(c);

	const char *p = path_in(tmp_dir, "built.qbc");
	struct qdb_graph *l = NULL;
	ok(qdb_graph_save(g, p, &e) == QDB_OK && qdb_graph_load(p, &l, &e) == QDB_OK && qdb_graph_equal(g, l) &&
	   !strcmp(l->path, p), "built graph saves and loads back equal");
	qdb_graph_delete(l);
	c = NULL;
	FAULT_LOOP("clone", (qdb_graph_delete(c), (c = qdb_graph_clone(g, &e_)) ? QDB_OK : e_.code));
	ok(qdb_graph_equal(g, c), "clone after faults is equal");
	qdb_graph_delete(c);

	g->values[2].qdtype = QDB_F32;
	ok(qdb_graph_save(g, p, &e) == QDB_EINVAL && strstr(e.msg, "qparams"), "float qparams refused: %s", e.msg);
	g->values[2].qdtype = QDB_I8;
	g->values[2].q.scale[0] = -1;
	ok(qdb_graph_save(g, p, &e) == QDB_EINVAL && strstr(e.msg, "built.qbc: qparams: y"),
	   "negative scale refused: %s", e.msg);
	qdb_graph_delete(g);
}

static void test_files(void)
{
	struct qdb_err e;
	struct qdb_graph *g;
	const char *small = path_in(good_dir, "small.qbc");
	int rc = qdb_graph_load(small, &g, &e);
	if (!ok(rc == QDB_OK, "load small.qbc: %s", rc ? e.msg : "ok"))
		return;
	ok(!strcmp(g->name, "tiny-conv") && g->stage == QDB_STAGE_QUANTIZED && g->profile == QDB_PROFILE_FIXED &&
	   g->rounding == QDB_ROUND_HALF_UP && !strcmp(g->producer, "make-bad-corpus"), "header");
	ok(g->n_values == 7 && g->n_nodes == 4 && g->n_constants == 2 && g->n_edits == 1 &&
	   !strcmp(g->edits[0].to, "cpu"), "counts");
	int w = qdb_graph_find_value(g, "w"), c1 = qdb_graph_find_value(g, "c1"), x = qdb_graph_find_value(g, "x");
	const struct qdb_tensor *wt = &g->constants[g->values[w].constant].t;
	ok(wt->dtype == QDB_I8 && wt->rank == 4 && wt->shape[0] == 4 && wt->owns_data && wt->q.n == 4 &&
	   wt->q.axis == 0 && wt->q.scale[2] == 0.05 && ((int8_t *)wt->data)[0] == -3, "weights");
	ok(g->values[c1].q.n == 1 && g->values[c1].q.zero_point[0] == -128 && g->values[c1].q.qmax == 127 &&
	   g->values[c1].qdtype == QDB_I8 && g->values[c1].rank == -1 && g->values[c1].producer == 1, "qparams c1");
	ok(g->values[x].input == 0 && g->values[x].rank == 4 && g->values[x].q.n == 0, "input x");
	const struct qdb_node *conv = &g->nodes[qdb_graph_find_node(g, "conv1")];
	int64_t v[4];
	double f[2];
	ok(conv->op == QDB_OP_CONV2D && conv->n_inputs == 3 && conv->inputs[1] == w && conv->n_attrs == 9, "conv node");
	ok(qdb_node_attr_ints(conv, "padding", v, 4) == 4 && qdb_node_attr_int(conv, "groups", 0) == 1 &&
	   !strcmp(qdb_node_attr_str(conv, "note", ""), "unknown attrs survive") &&
	   qdb_node_attr_float(conv, "gain", 0) == 0.5 && qdb_node_attr_floats(conv, "act_range", f, 2) == 2 &&
	   f[1] == 6.0 && qdb_node_attr_ints(conv, "empty", v, 4) == 0, "conv attrs of every kind");
	ok(g->nodes[qdb_graph_find_node(g, "pool1")].device == QDB_DEV_CPU && g->nodes[0].device == QDB_DEV_BPU,
	   "devices");

	const char *out = path_in(tmp_dir, "small.qbc");
	size_t la, lb;
	ok(qdb_graph_save(g, out, &e) == QDB_OK, "save");
	char *a = slurp(small, &la), *b = slurp(out, &lb);
	ok(a && b && la == lb && !memcmp(a, b, la), "saved small.qbc equals the original byte for byte");
	char *mem;
	size_t lm;
	ok(qdb_graph_serialize(g, &mem, &lm, &e) == QDB_OK && lm == la && !memcmp(mem, a, la),
	   "serialize gives the same bytes");
	qdb_free(mem);
	free(b);

	struct qdb_graph *g2;
	ok(qdb_graph_load(out, &g2, &e) == QDB_OK && qdb_graph_equal(g, g2), "load -> save -> load is equal");
	ok(qdb_graph_save(g2, out, &e) == QDB_OK, "saving over its own source works (constants are copies)");
	qdb_graph_delete(g2);

	int bad = 0;
	for (size_t cut = 0; cut < la; cut++) {
		rc = qdb_graph_parse(a, cut, "cut", &g2, &e);
		bad += rc != QDB_EFORMAT || strncmp(e.msg, "cut: ", 5) || g2;
		qdb_graph_delete(g2);
	}
	ok(bad == 0, "small.qbc cut at each of %zu bytes: refused", la);
	free(a);

	g2 = NULL;
	FAULT_LOOP("graph load", (qdb_graph_delete(g2), qdb_graph_load(small, &g2, &e_)));
	ok(g2 && qdb_graph_equal(g, g2), "loaded after faults: equal");
	qdb_graph_delete(g2);
	FAULT_LOOP("graph save", qdb_graph_save(g, out, &e_));
	qdb_graph_delete(g);

	rc = qdb_graph_load(path_in(good_dir, "minimal.qbc"), &g, &e);
	if (!ok(rc == QDB_OK, "load minimal.qbc: %s", rc ? e.msg : "ok"))
		return;
	const struct qdb_attr *fl = qdb_node_attr(&g->nodes[0], "flag"), *mx = qdb_node_attr(&g->nodes[0], "mixed");
	ok(fl && fl->kind == QDB_ATTR_INT && fl->i == 1 && mx && mx->kind == QDB_ATTR_FLOATS && mx->n == 2 &&
	   mx->floats[0] == 1.0 && mx->floats[1] == 2.5, "bool -> int, mixed list -> floats");
	ok(g->profile == QDB_PROFILE_TORCH && g->rounding == QDB_ROUND_HALF_EVEN && !strcmp(g->producer, "") &&
	   g->n_constants == 0 && g->n_edits == 0 && g->nodes[0].device == QDB_DEV_BPU, "defaults");
	ok(qdb_graph_save(g, out, &e) == QDB_OK && qdb_graph_load(out, &g2, &e) == QDB_OK && qdb_graph_equal(g, g2),
	   "minimal graph round trip");
	qdb_graph_delete(g2);

	/* load_checked adds validation: relu with two inputs loads, but is
	 * refused by it, and the message names the file */
	ok(qdb_graph_load_checked(small, &g2, &e) == QDB_OK && g2->values[qdb_graph_find_value(g2, "c1")].rank == 4,
	   "small.qbc validates (shapes inferred)");
	qdb_graph_delete(g2);
	int a2[2] = {g->nodes[0].inputs[0], g->nodes[0].inputs[0]};
	qdb_graph_set_node_io(g, 0, a2, 2, g->nodes[0].outputs, 1, &e);
	ok(qdb_graph_save(g, out, &e) == QDB_OK && qdb_graph_load(out, &g2, &e) == QDB_OK, "relu with two inputs loads");
	qdb_graph_delete(g2);
	rc = qdb_graph_load_checked(out, &g2, &e);
	ok(rc != QDB_OK && !g2 && !strncmp(e.msg, out, strlen(out)) && strstr(e.msg, "relu"),
	   "but does not validate: %s", e.msg);
	qdb_graph_delete(g);
}

int main(void)
{
	const char *src = getenv("QDB_SRCDIR") ? getenv("QDB_SRCDIR") : ".";
	snprintf(good_dir, sizeof good_dir, "%s/testdata/good", src);
	snprintf(tmp_dir, sizeof tmp_dir, "%s/qdb-qbc-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp_dir)) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	test_names();
	test_build();
	test_files();
	unlink(path_in(tmp_dir, "built.qbc"));
	unlink(path_in(tmp_dir, "small.qbc"));
	ok(rmdir(tmp_dir) == 0, "no files left behind (no temporaries)");
	return tap_done();
}
