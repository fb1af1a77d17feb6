/* graph.c - the graph container: lifetime, name maps, building, attrs,
 * clone and structural equality. Validation lives in validate.c. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "graph/graph.h"
#include "io/hidx.h"
#include "ops/ops.h"

static const char *const stage_names[] = {"float", "qat", "quantized"};
static const char *const profile_names[] = {"torch", "fixed"};
static const char *const rounding_names[] = {"half_away", "half_up", "half_even"};
_Static_assert(sizeof stage_names / sizeof *stage_names == QDB_STAGE_COUNT, "stage names");
_Static_assert(sizeof profile_names / sizeof *profile_names == QDB_PROFILE_COUNT, "profile names");
_Static_assert(sizeof rounding_names / sizeof *rounding_names == QDB_ROUND_COUNT, "rounding names");

static int name_parse(const char *const *names, int n, const char *s)
{
	for (int i = 0; s && i < n; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

/* qdb_X_name and qdb_X_parse over a name table. */
#define NAME_FUNCS(x, type, names, count)                                \
	const char *qdb_##x##_name(type v)                                  \
	{                                                                   \
		return (unsigned)v < (count) ? names[v] : NULL;                 \
	}                                                                   \
	int qdb_##x##_parse(const char *s, type *out)                       \
	{                                                                   \
		int i = name_parse(names, (count), s);                          \
		if (i < 0)                                                      \
			return -1;                                                  \
		*out = (type)i;                                                 \
		return 0;                                                       \
	}
NAME_FUNCS(stage, enum qdb_stage, stage_names, QDB_STAGE_COUNT)
NAME_FUNCS(profile, enum qdb_profile_kind, profile_names, QDB_PROFILE_COUNT)
NAME_FUNCS(rounding, enum qdb_rounding, rounding_names, QDB_ROUND_COUNT)

/* ---- lifetime ---- */

struct qdb_graph *qdb_graph_new(void)
{
	struct qdb_graph *g = qdb_calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->stage = QDB_STAGE_FLOAT;
	g->profile = QDB_PROFILE_TORCH;
	g->rounding = QDB_ROUND_HALF_EVEN;
	g->version = 1;
	return g;
}

static void attr_done(struct qdb_attr *a)
{
	qdb_free(a->key);
	qdb_free(a->s);
	qdb_free(a->ints);
	qdb_free(a->floats);
	memset(a, 0, sizeof *a);
}

static void node_done(struct qdb_node *n)
{
	qdb_free(n->name);
	qdb_free(n->op_name);
	qdb_free(n->inputs);
	qdb_free(n->outputs);
	for (int i = 0; i < n->n_attrs; i++)
		attr_done(&n->attrs[i]);
	qdb_free(n->attrs);
}

void qdb_graph_delete(struct qdb_graph *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->n_values; i++) {
		qdb_free(g->values[i].name);
		qdb_quant_done(&g->values[i].q);
	}
	qdb_free(g->values);
	for (int i = 0; i < g->n_nodes; i++)
		node_done(&g->nodes[i]);
	qdb_free(g->nodes);
	for (int i = 0; i < g->n_constants; i++)
		qdb_tensor_done(&g->constants[i].t);
	qdb_free(g->constants);
	qdb_free(g->inputs);
	qdb_free(g->outputs);
	for (int i = 0; i < g->n_edits; i++) {
		struct qdb_edit *e = &g->edits[i];
		qdb_free(e->node);
		qdb_free(e->field);
		qdb_free(e->from);
		qdb_free(e->to);
	}
	qdb_free(g->edits);
	qdb_free(g->value_map);
	qdb_free(g->node_map);
	qdb_free(g->path);
	qdb_free(g->name);
	qdb_free(g->producer);
	qdb_free(g);
}

/* ---- name maps ---- */

static struct qdb_name_items value_items(const struct qdb_graph *g)
{
	return (struct qdb_name_items){g->values, sizeof *g->values};
}

static struct qdb_name_items node_items(const struct qdb_graph *g)
{
	return (struct qdb_name_items){g->nodes, sizeof *g->nodes};
}

int qdb_graph_find_value(const struct qdb_graph *g, const char *name)
{
	struct qdb_name_items it = value_items(g);
	return qdb_name_find(g->value_map, g->value_map_cap, &it, name, strlen(name));
}

int qdb_graph_find_node(const struct qdb_graph *g, const char *name)
{
	struct qdb_name_items it = node_items(g);
	return qdb_name_find(g->node_map, g->node_map_cap, &it, name, strlen(name));
}

int qdb_graph_reindex(struct qdb_graph *g, struct qdb_err *err)
{
	struct qdb_name_items vi = value_items(g), ni = node_items(g);
	if (qdb_hidx_rebuild(&g->value_map, &g->value_map_cap, g->n_values, qdb_name_items_hash, &vi) ||
	    qdb_hidx_rebuild(&g->node_map, &g->node_map_cap, g->n_nodes, qdb_name_items_hash, &ni))
		return qdb_err_set(err, QDB_ENOMEM, "graph: out of memory");
	return QDB_OK;
}

/* ---- building ---- */

static int nomem(struct qdb_err *err) { return qdb_err_set(err, QDB_ENOMEM, "out of memory"); }

int qdb_graph_add_value(struct qdb_graph *g, const char *name, struct qdb_err *err)
{
	if (!name || !*name)
		return -qdb_err_set(err, QDB_EFORMAT, "value with an empty name");
	if (qdb_graph_find_value(g, name) >= 0)
		return -qdb_err_set(err, QDB_EFORMAT, "value \"%s\" defined twice", name);
	if (qdb_grow(&g->values, g->n_values, &g->cap_values, sizeof *g->values))
		return -nomem(err);
	struct qdb_value *v = &g->values[g->n_values];
	memset(v, 0, sizeof *v);
	if (!(v->name = qdb_strdup(name)))
		return -nomem(err);
	v->dtype = QDB_F32;
	v->rank = -1;
	qdb_quant_init(&v->q);
	v->qdtype = QDB_I8;
	v->producer = v->constant = v->input = -1;
	g->n_values++;
	struct qdb_name_items it = value_items(g);
	if (qdb_hidx_add(&g->value_map, &g->value_map_cap, g->n_values, qdb_hash_bytes(name, strlen(name)),
			 qdb_name_items_hash, &it)) {
		g->n_values--;
		qdb_free(v->name);
		return -nomem(err);
	}
	return g->n_values - 1;
}

int qdb_graph_add_node(struct qdb_graph *g, const char *name, const char *op, struct qdb_err *err)
{
	if (!name || !*name)
		return -qdb_err_set(err, QDB_EFORMAT, "node with an empty name");
	if (qdb_graph_find_node(g, name) >= 0)
		return -qdb_err_set(err, QDB_EFORMAT, "node \"%s\" defined twice", name);
	if (qdb_grow(&g->nodes, g->n_nodes, &g->cap_nodes, sizeof *g->nodes))
		return -nomem(err);
	struct qdb_node *n = &g->nodes[g->n_nodes];
	memset(n, 0, sizeof *n);
	n->name = qdb_strdup(name);
	n->op_name = qdb_strdup(op ? op : "");
	if (!n->name || !n->op_name) {
		node_done(n);
		return -nomem(err);
	}
	n->op = qdb_op_lookup(n->op_name);
	n->device = QDB_DEV_BPU;
	g->n_nodes++;
	struct qdb_name_items it = node_items(g);
	if (qdb_hidx_add(&g->node_map, &g->node_map_cap, g->n_nodes, qdb_hash_bytes(name, strlen(name)),
			 qdb_name_items_hash, &it)) {
		g->n_nodes--;
		node_done(n);
		return -nomem(err);
	}
	return g->n_nodes - 1;
}

static int append_int(int **arr, int *n, int v)
{
	int *p = qdb_realloc(*arr, ((size_t)*n + 1) * sizeof *p);
	if (!p)
		return -1;
	p[(*n)++] = v;
	*arr = p;
	return 0;
}

int qdb_graph_add_input(struct qdb_graph *g, const char *name, enum qdb_dtype dtype, int rank,
			const int64_t *shape, struct qdb_err *err)
{
	if (rank < 0 || rank > QDB_MAX_RANK || !qdb_dtype_name(dtype))
		return -qdb_err_set(err, QDB_EINVAL, "input \"%s\": invalid dtype or rank", name);
	int v = qdb_graph_add_value(g, name, err);
	if (v < 0)
		return v;
	if (append_int(&g->inputs, &g->n_inputs, v))
		return -nomem(err); /* the value stays, unused; the graph is still consistent */
	struct qdb_value *val = &g->values[v];
	val->input = g->n_inputs - 1;
	val->dtype = dtype;
	val->rank = rank;
	memcpy(val->shape, shape, sizeof(int64_t) * (size_t)rank);
	return v;
}

int qdb_graph_add_constant(struct qdb_graph *g, const char *name, const struct qdb_tensor *t,
			   struct qdb_err *err)
{
	if (qdb_grow(&g->constants, g->n_constants, &g->cap_constants, sizeof *g->constants))
		return -nomem(err);
	struct qdb_constant *c = &g->constants[g->n_constants];
	qdb_tensor_init(&c->t);
	int rc = qdb_tensor_copy(&c->t, t, err);
	if (rc)
		return -rc;
	int v = qdb_graph_add_value(g, name, err);
	if (v < 0) {
		qdb_tensor_done(&c->t);
		return v;
	}
	c->value = v;
	struct qdb_value *val = &g->values[v];
	val->constant = g->n_constants++;
	val->dtype = t->dtype;
	val->rank = t->rank;
	memcpy(val->shape, t->shape, sizeof val->shape);
	return v;
}

int qdb_graph_add_output(struct qdb_graph *g, int value, struct qdb_err *err)
{
	if (value < 0 || value >= g->n_values)
		return qdb_err_set(err, QDB_EINVAL, "output: no value %d", value);
	if (append_int(&g->outputs, &g->n_outputs, value))
		return nomem(err);
	g->values[value].is_output = 1;
	return QDB_OK;
}

static int *dup_ints(const int *v, int n)
{
	int *p = qdb_alloc_array(n > 0 ? (size_t)n : 1, sizeof *p);
	if (p && n > 0)
		memcpy(p, v, (size_t)n * sizeof *p);
	return p;
}

int qdb_graph_set_node_io(struct qdb_graph *g, int node, const int *inputs, int n_inputs,
			  const int *outputs, int n_outputs, struct qdb_err *err)
{
	if (node < 0 || node >= g->n_nodes || n_inputs < 0 || n_outputs < 0)
		return qdb_err_set(err, QDB_EINVAL, "set node io: bad arguments");
	for (int i = 0; i < n_inputs; i++)
		if (inputs[i] < 0 || inputs[i] >= g->n_values)
			return qdb_err_set(err, QDB_EINVAL, "%s: input %d: no value %d", g->nodes[node].name,
					   i, inputs[i]);
	for (int i = 0; i < n_outputs; i++)
		if (outputs[i] < 0 || outputs[i] >= g->n_values)
			return qdb_err_set(err, QDB_EINVAL, "%s: output %d: no value %d", g->nodes[node].name,
					   i, outputs[i]);
	int *in = dup_ints(inputs, n_inputs), *out = dup_ints(outputs, n_outputs);
	if (!in || !out) {
		qdb_free(in);
		qdb_free(out);
		return nomem(err);
	}
	struct qdb_node *n = &g->nodes[node];
	for (int i = 0; i < n->n_outputs; i++)
		if (g->values[n->outputs[i]].producer == node)
			g->values[n->outputs[i]].producer = -1;
	qdb_free(n->inputs);
	qdb_free(n->outputs);
	n->inputs = in;
	n->n_inputs = n_inputs;
	n->outputs = out;
	n->n_outputs = n_outputs;
	for (int i = 0; i < n_outputs; i++) /* out, not outputs: they may be the old arrays */
		g->values[out[i]].producer = node;
	return QDB_OK;
}

int qdb_graph_add_edit(struct qdb_graph *g, const char *node, const char *field,
		       const char *from, const char *to, struct qdb_err *err)
{
	if (qdb_grow(&g->edits, g->n_edits, &g->cap_edits, sizeof *g->edits))
		return nomem(err);
	struct qdb_edit *e = &g->edits[g->n_edits];
	e->node = qdb_strdup(node ? node : "");
	e->field = qdb_strdup(field ? field : "");
	e->from = qdb_strdup(from ? from : "");
	e->to = qdb_strdup(to ? to : "");
	if (!e->node || !e->field || !e->from || !e->to) {
		qdb_free(e->node);
		qdb_free(e->field);
		qdb_free(e->from);
		qdb_free(e->to);
		return nomem(err);
	}
	g->n_edits++;
	return QDB_OK;
}

/* ---- attrs ---- */

const struct qdb_attr *qdb_node_attr(const struct qdb_node *n, const char *key)
{
	for (int i = 0; i < n->n_attrs; i++)
		if (!strcmp(n->attrs[i].key, key))
			return &n->attrs[i];
	return NULL;
}

int64_t qdb_node_attr_int(const struct qdb_node *n, const char *key, int64_t def)
{
	const struct qdb_attr *a = qdb_node_attr(n, key);
	if (!a)
		return def;
	if (a->kind == QDB_ATTR_INT)
		return a->i;
	/* An integral float (1.0 written by a tool that knows no ints) counts. */
	if (a->kind == QDB_ATTR_FLOAT && a->f == floor(a->f) && fabs(a->f) < 9e18)
		return (int64_t)a->f;
	return def;
}

double qdb_node_attr_float(const struct qdb_node *n, const char *key, double def)
{
	const struct qdb_attr *a = qdb_node_attr(n, key);
	if (!a)
		return def;
	if (a->kind == QDB_ATTR_FLOAT)
		return a->f;
	if (a->kind == QDB_ATTR_INT)
		return (double)a->i;
	return def;
}

const char *qdb_node_attr_str(const struct qdb_node *n, const char *key, const char *def)
{
	const struct qdb_attr *a = qdb_node_attr(n, key);
	return a && a->kind == QDB_ATTR_STR ? a->s : def;
}

int qdb_node_attr_ints(const struct qdb_node *n, const char *key, int64_t *out, int max)
{
	const struct qdb_attr *a = qdb_node_attr(n, key);
	if (!a || a->kind != QDB_ATTR_INTS)
		return -1;
	for (int i = 0; i < a->n && i < max; i++)
		out[i] = a->ints[i];
	return a->n;
}

int qdb_node_attr_floats(const struct qdb_node *n, const char *key, double *out, int max)
{
	const struct qdb_attr *a = qdb_node_attr(n, key);
	if (!a || (a->kind != QDB_ATTR_FLOATS && a->kind != QDB_ATTR_INTS))
		return -1;
	for (int i = 0; i < a->n && i < max; i++)
		out[i] = a->kind == QDB_ATTR_FLOATS ? a->floats[i] : (double)a->ints[i];
	return a->n;
}

/* Finds key's slot, appending an empty attr when absent; NULL on ENOMEM.
 * An existing attr is emptied but keeps its position. */
static struct qdb_attr *attr_slot(struct qdb_node *n, const char *key)
{
	for (int i = 0; i < n->n_attrs; i++) {
		struct qdb_attr *a = &n->attrs[i];
		if (!strcmp(a->key, key)) {
			qdb_free(a->s);
			qdb_free(a->ints);
			qdb_free(a->floats);
			a->s = NULL;
			a->ints = NULL;
			a->floats = NULL;
			a->n = 0;
			a->i = 0;
			a->f = 0;
			return a;
		}
	}
	char *k = qdb_strdup(key);
	struct qdb_attr *p = k ? qdb_realloc(n->attrs, ((size_t)n->n_attrs + 1) * sizeof *p) : NULL;
	if (!p) {
		qdb_free(k);
		return NULL;
	}
	n->attrs = p;
	struct qdb_attr *a = &p[n->n_attrs++];
	memset(a, 0, sizeof *a);
	a->key = k;
	a->kind = QDB_ATTR_INT;
	return a;
}

int qdb_node_set_attr_int(struct qdb_node *n, const char *key, int64_t v, struct qdb_err *err)
{
	struct qdb_attr *a = attr_slot(n, key);
	if (!a)
		return nomem(err);
	a->kind = QDB_ATTR_INT;
	a->i = v;
	return QDB_OK;
}

int qdb_node_set_attr_float(struct qdb_node *n, const char *key, double v, struct qdb_err *err)
{
	struct qdb_attr *a = attr_slot(n, key);
	if (!a)
		return nomem(err);
	a->kind = QDB_ATTR_FLOAT;
	a->f = v;
	return QDB_OK;
}

int qdb_node_set_attr_str(struct qdb_node *n, const char *key, const char *v, struct qdb_err *err)
{
	char *s = qdb_strdup(v);
	struct qdb_attr *a = s ? attr_slot(n, key) : NULL;
	if (!a) {
		qdb_free(s);
		return nomem(err);
	}
	a->kind = QDB_ATTR_STR;
	a->s = s;
	return QDB_OK;
}

/* INTS or FLOATS: a copy of count elements of `size` bytes from v. */
static int set_attr_array(struct qdb_node *n, const char *key, enum qdb_attr_kind kind,
			  const void *v, int count, size_t size, struct qdb_err *err)
{
	if (count < 0)
		return qdb_err_set(err, QDB_EINVAL, "attr %s: negative length", key);
	void *p = qdb_alloc_array(count ? (size_t)count : 1, size);
	struct qdb_attr *a = p ? attr_slot(n, key) : NULL;
	if (!a) {
		qdb_free(p);
		return nomem(err);
	}
	if (count)
		memcpy(p, v, (size_t)count * size);
	a->kind = kind;
	if (kind == QDB_ATTR_INTS)
		a->ints = p;
	else
		a->floats = p;
	a->n = count;
	return QDB_OK;
}

int qdb_node_set_attr_ints(struct qdb_node *n, const char *key, const int64_t *v, int count,
			   struct qdb_err *err)
{
	return set_attr_array(n, key, QDB_ATTR_INTS, v, count, sizeof *v, err);
}

int qdb_node_set_attr_floats(struct qdb_node *n, const char *key, const double *v, int count,
			     struct qdb_err *err)
{
	return set_attr_array(n, key, QDB_ATTR_FLOATS, v, count, sizeof *v, err);
}

/* ---- clone ---- */

static int copy_attr(struct qdb_attr *d, const struct qdb_attr *s)
{
	*d = *s;
	d->key = qdb_strdup(s->key);
	d->s = s->s ? qdb_strdup(s->s) : NULL;
	d->ints = s->ints ? qdb_alloc_array(s->n ? (size_t)s->n : 1, sizeof *d->ints) : NULL;
	d->floats = s->floats ? qdb_alloc_array(s->n ? (size_t)s->n : 1, sizeof *d->floats) : NULL;
	if (!d->key || (s->s && !d->s) || (s->ints && !d->ints) || (s->floats && !d->floats))
		return -1;
	if (s->ints && s->n)
		memcpy(d->ints, s->ints, (size_t)s->n * sizeof *d->ints);
	if (s->floats && s->n)
		memcpy(d->floats, s->floats, (size_t)s->n * sizeof *d->floats);
	return 0;
}

static int clone_into(struct qdb_graph *c, const struct qdb_graph *g, struct qdb_err *err)
{
	int rc;
	c->stage = g->stage;
	c->profile = g->profile;
	c->rounding = g->rounding;
	c->version = g->version;
	if ((g->path && !(c->path = qdb_strdup(g->path))) || (g->name && !(c->name = qdb_strdup(g->name))) ||
	    (g->producer && !(c->producer = qdb_strdup(g->producer))))
		return nomem(err);
	/* Values first, by name, so indices match; then fill in the rest. */
	for (int i = 0; i < g->n_values; i++) {
		int v = qdb_graph_add_value(c, g->values[i].name, err);
		if (v < 0)
			return -v;
		struct qdb_value *d = &c->values[v];
		const struct qdb_value *s = &g->values[i];
		char *name = d->name;
		*d = *s;
		d->name = name;
		qdb_quant_init(&d->q);
		if ((rc = qdb_quant_copy(&d->q, &s->q, err)))
			return rc;
	}
	for (int i = 0; i < g->n_constants; i++) {
		if (qdb_grow(&c->constants, c->n_constants, &c->cap_constants, sizeof *c->constants))
			return nomem(err);
		struct qdb_constant *k = &c->constants[i];
		k->value = g->constants[i].value;
		qdb_tensor_init(&k->t);
		if ((rc = qdb_tensor_copy(&k->t, &g->constants[i].t, err)))
			return rc;
		c->n_constants++;
	}
	for (int i = 0; i < g->n_nodes; i++) {
		const struct qdb_node *s = &g->nodes[i];
		int ni = qdb_graph_add_node(c, s->name, s->op_name, err);
		if (ni < 0)
			return -ni;
		struct qdb_node *d = &c->nodes[ni];
		d->op = s->op;
		d->device = s->device;
		if (!(d->inputs = dup_ints(s->inputs, s->n_inputs)) ||
		    !(d->outputs = dup_ints(s->outputs, s->n_outputs)))
			return nomem(err);
		d->n_inputs = s->n_inputs;
		d->n_outputs = s->n_outputs;
		if (s->n_attrs && !(d->attrs = qdb_calloc((size_t)s->n_attrs, sizeof *d->attrs)))
			return nomem(err);
		for (int a = 0; a < s->n_attrs; a++) {
			d->n_attrs = a + 1;
			if (copy_attr(&d->attrs[a], &s->attrs[a]))
				return nomem(err);
		}
	}
	if (!(c->inputs = dup_ints(g->inputs, g->n_inputs)) || !(c->outputs = dup_ints(g->outputs, g->n_outputs)))
		return nomem(err);
	c->n_inputs = g->n_inputs;
	c->n_outputs = g->n_outputs;
	for (int i = 0; i < g->n_edits; i++) {
		const struct qdb_edit *e = &g->edits[i];
		if ((rc = qdb_graph_add_edit(c, e->node, e->field, e->from, e->to, err)))
			return rc;
	}
	return QDB_OK;
}

struct qdb_graph *qdb_graph_clone(const struct qdb_graph *g, struct qdb_err *err)
{
	struct qdb_graph *c = qdb_graph_new();
	if (!c) {
		nomem(err);
		return NULL;
	}
	if (clone_into(c, g, err)) {
		qdb_graph_delete(c);
		return NULL;
	}
	return c;
}

/* ---- equality ---- */

static int str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static int quant_eq(const struct qdb_quant *a, const struct qdb_quant *b)
{
	if (a->n != b->n || a->qmin != b->qmin || a->qmax != b->qmax || (a->n > 1 && a->axis != b->axis))
		return 0;
	for (int i = 0; i < a->n; i++)
		if (a->scale[i] != b->scale[i] || a->zero_point[i] != b->zero_point[i])
			return 0;
	return 1;
}

static int ints_eq(const int *a, const int *b, int n)
{
	return n == 0 || !memcmp(a, b, (size_t)n * sizeof *a);
}

static int attr_eq(const struct qdb_attr *a, const struct qdb_attr *b)
{
	if (strcmp(a->key, b->key) || a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case QDB_ATTR_INT: return a->i == b->i;
	case QDB_ATTR_FLOAT: return a->f == b->f || (isnan(a->f) && isnan(b->f));
	case QDB_ATTR_STR: return str_eq(a->s, b->s);
	case QDB_ATTR_INTS: return a->n == b->n && (a->n == 0 || !memcmp(a->ints, b->ints, (size_t)a->n * sizeof *a->ints));
	case QDB_ATTR_FLOATS:
		if (a->n != b->n)
			return 0;
		for (int i = 0; i < a->n; i++)
			if (a->floats[i] != b->floats[i] && !(isnan(a->floats[i]) && isnan(b->floats[i])))
				return 0;
		return 1;
	}
	return 0;
}

int qdb_graph_equal(const struct qdb_graph *a, const struct qdb_graph *b)
{
	if (!str_eq(a->name, b->name) || !str_eq(a->producer, b->producer) || a->stage != b->stage ||
	    a->profile != b->profile || a->rounding != b->rounding || a->version != b->version ||
	    a->n_values != b->n_values || a->n_nodes != b->n_nodes || a->n_constants != b->n_constants ||
	    a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs || a->n_edits != b->n_edits ||
	    !ints_eq(a->inputs, b->inputs, a->n_inputs) || !ints_eq(a->outputs, b->outputs, a->n_outputs))
		return 0;
	for (int i = 0; i < a->n_values; i++) {
		const struct qdb_value *x = &a->values[i], *y = &b->values[i];
		if (strcmp(x->name, y->name) || x->dtype != y->dtype || x->rank != y->rank ||
		    (x->rank > 0 && memcmp(x->shape, y->shape, sizeof(int64_t) * (size_t)x->rank)) ||
		    !quant_eq(&x->q, &y->q) || (x->q.n > 0 && x->qdtype != y->qdtype) ||
		    x->producer != y->producer || x->constant != y->constant || x->input != y->input ||
		    x->is_output != y->is_output)
			return 0;
	}
	for (int i = 0; i < a->n_constants; i++) {
		const struct qdb_tensor *x = &a->constants[i].t, *y = &b->constants[i].t;
		if (a->constants[i].value != b->constants[i].value || x->dtype != y->dtype ||
		    !qdb_shape_equal(x, y) || x->nbytes != y->nbytes ||
		    (x->nbytes && memcmp(x->data, y->data, x->nbytes)) || !quant_eq(&x->q, &y->q))
			return 0;
	}
	for (int i = 0; i < a->n_nodes; i++) {
		const struct qdb_node *x = &a->nodes[i], *y = &b->nodes[i];
		if (strcmp(x->name, y->name) || strcmp(x->op_name, y->op_name) || x->op != y->op ||
		    x->device != y->device || x->n_inputs != y->n_inputs || x->n_outputs != y->n_outputs ||
		    !ints_eq(x->inputs, y->inputs, x->n_inputs) || !ints_eq(x->outputs, y->outputs, x->n_outputs) ||
		    x->n_attrs != y->n_attrs)
			return 0;
		for (int k = 0; k < x->n_attrs; k++)
			if (!attr_eq(&x->attrs[k], &y->attrs[k]))
				return 0;
	}
	for (int i = 0; i < a->n_edits; i++) {
		const struct qdb_edit *x = &a->edits[i], *y = &b->edits[i];
		if (!str_eq(x->node, y->node) || !str_eq(x->field, y->field) || !str_eq(x->from, y->from) ||
		    !str_eq(x->to, y->to))
			return 0;
	}
	return 1;
}
