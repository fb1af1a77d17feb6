/* qbc.c - .qbc graph files: one MessagePack map (man/qdb-formats.5).
 *
 * Loading validates the container: field types, names (every node input
 * defined, every value defined exactly once), constants against their
 * shapes, qparams finite and positive and referring to existing values.
 * Values are created in file order - inputs, constants, node outputs - and
 * saving writes them back in the same order, so load -> save -> load gives
 * an equal graph (qdb_graph_equal), unknown attrs and edits included.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "base/alloc.h"
#include "io/file.h"
#include "io/mp.h"
#include "io/qbc.h"
#include "io/tensor_mp.h"

static int nomem(struct qdb_err *err) { return qdb_err_set(err, QDB_ENOMEM, "out of memory"); }

/* A str field parsed by a name table (stage, profile kind, rounding). */
static int get_enum(const msgpack_object *m, const char *key, int (*parse)(const char *, int *),
		    int *out, const char *choices, struct qdb_err *err)
{
	const msgpack_object *v;
	const char *s;
	size_t n;
	char buf[32], ex[40];
	int rc = qdb_mp_get(m, key, 1, &v, err);
	if (rc || (rc = qdb_mp_as_str(v, key, &s, &n, err)))
		return rc;
	if (n < sizeof buf) {
		memcpy(buf, s, n);
		buf[n] = '\0';
		if (parse(buf, out) == 0)
			return QDB_OK;
	}
	return qdb_err_set(err, QDB_EFORMAT, "%s: \"%s\" is not one of %s", key,
			   qdb_mp_printable(s, n, ex, sizeof ex), choices);
}

static int parse_stage(const char *s, int *out)
{
	enum qdb_stage e;
	int rc = qdb_stage_parse(s, &e);
	*out = (int)e;
	return rc;
}

static int parse_profile(const char *s, int *out)
{
	enum qdb_profile_kind e;
	int rc = qdb_profile_parse(s, &e);
	*out = (int)e;
	return rc;
}

static int parse_rounding(const char *s, int *out)
{
	enum qdb_rounding e;
	int rc = qdb_rounding_parse(s, &e);
	*out = (int)e;
	return rc;
}

static int parse_device(const char *s, int *out)
{
	*out = !strcmp(s, "cpu") ? QDB_DEV_CPU : QDB_DEV_BPU;
	return strcmp(s, "cpu") && strcmp(s, "bpu") ? -1 : 0;
}

static int read_profile(struct qdb_graph *g, const msgpack_object *p, struct qdb_err *err)
{
	int kind, rounding, rc;
	if ((rc = qdb_mp_check_map(p, NULL, err)) ||
	    (rc = get_enum(p, "kind", parse_profile, &kind, "torch, fixed", err)))
		return rc;
	g->profile = (enum qdb_profile_kind)kind;
	/* Default rounding: what the profile's reference does (torch rounds
	 * half to even; fixed-point runtimes mostly round half away). */
	g->rounding = kind == QDB_PROFILE_FIXED ? QDB_ROUND_HALF_AWAY : QDB_ROUND_HALF_EVEN;
	if (qdb_mp_find(p, "rounding")) {
		if ((rc = get_enum(p, "rounding", parse_rounding, &rounding,
				   "half_away, half_up, half_even", err)))
			return rc;
		g->rounding = (enum qdb_rounding)rounding;
	}
	return QDB_OK;
}

static int read_inputs(struct qdb_graph *g, const msgpack_object *a, struct qdb_err *err)
{
	int rc = qdb_mp_as_array(a, "inputs", err);
	for (uint32_t i = 0; !rc && i < a->via.array.size; i++) {
		const msgpack_object *o = &a->via.array.ptr[i], *v;
		char *name = NULL;
		enum qdb_dtype dtype;
		int rank;
		int64_t shape[QDB_MAX_RANK];
		if ((rc = qdb_mp_check_map(o, NULL, err)) ||
		    (rc = qdb_mp_get_strdup(o, "name", 1, NULL, &name, err)) ||
		    (rc = qdb_mp_get(o, "dtype", 1, &v, err)) ||
		    (rc = qdb_dtype_mp_read(v, "dtype", &dtype, err)) ||
		    (rc = qdb_mp_get(o, "shape", 1, &v, err)) ||
		    (rc = qdb_shape_mp_read(v, "shape", &rank, shape, err))) {
			qdb_free(name);
			return qdb_mp_fail(rc, err, "inputs[%u]", i);
		}
		int vi = qdb_graph_add_input(g, name, dtype, rank, shape, err);
		qdb_free(name);
		if (vi < 0)
			return qdb_mp_fail(-vi, err, "inputs[%u]", i);
	}
	return rc;
}

static int read_constants(struct qdb_graph *g, const msgpack_object *m, struct qdb_err *err)
{
	int rc = qdb_mp_check_map(m, "constants", err);
	for (uint32_t i = 0; !rc && i < m->via.map.size; i++) {
		const msgpack_object_kv *kv = &m->via.map.ptr[i];
		char ex[64], *name = NULL;
		struct qdb_tensor t;
		qdb_tensor_init(&t);
		qdb_mp_excerpt(&kv->key, ex, sizeof ex);
		if ((rc = qdb_mp_as_strdup(&kv->key, "name", &name, err)) ||
		    (rc = qdb_tensor_mp_read(&kv->val, &t, err))) {
			qdb_free(name);
			return qdb_mp_fail(rc, err, "constants: %s", ex);
		}
		int vi = qdb_graph_add_constant(g, name, &t, err); /* copies the data */
		qdb_tensor_done(&t);
		qdb_free(name);
		if (vi < 0)
			return qdb_mp_fail(-vi, err, "constants: %s", ex);
	}
	return rc;
}

/* Resolves an array of value names into indices (new int array in *out). */
static int read_names(const struct qdb_graph *g, const msgpack_object *a, const char *what,
		      int **out, int *n, struct qdb_err *err)
{
	int rc = qdb_mp_as_array(a, what, err);
	if (rc)
		return rc;
	uint32_t cnt = a->via.array.size;
	int *idx = qdb_alloc_array(cnt ? cnt : 1, sizeof *idx);
	if (!idx)
		return nomem(err);
	for (uint32_t i = 0; i < cnt; i++) {
		const char *s;
		size_t len;
		char w[48], ex[64];
		snprintf(w, sizeof w, "%s[%u]", what, i);
		if ((rc = qdb_mp_as_str(&a->via.array.ptr[i], w, &s, &len, err)))
			break;
		char *name = qdb_strndup(s, len);
		if (!name) {
			rc = nomem(err);
			break;
		}
		idx[i] = qdb_graph_find_value(g, name);
		qdb_free(name);
		if (idx[i] < 0) {
			rc = qdb_err_set(err, QDB_EFORMAT, "%s: \"%s\" is not defined", w,
					 qdb_mp_printable(s, len, ex, sizeof ex));
			break;
		}
	}
	if (rc) {
		qdb_free(idx);
		return rc;
	}
	*out = idx;
	*n = (int)cnt;
	return QDB_OK;
}

static int read_attr(struct qdb_attr *a, const msgpack_object *v, struct qdb_err *err)
{
	switch (v->type) {
	case MSGPACK_OBJECT_BOOLEAN:
		a->kind = QDB_ATTR_INT;
		a->i = v->via.boolean;
		return QDB_OK;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		a->kind = QDB_ATTR_INT;
		return qdb_mp_as_int(v, a->key, &a->i, err);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		a->kind = QDB_ATTR_FLOAT;
		a->f = v->via.f64;
		return QDB_OK;
	case MSGPACK_OBJECT_STR:
		a->kind = QDB_ATTR_STR;
		return qdb_mp_as_strdup(v, a->key, &a->s, err);
	case MSGPACK_OBJECT_ARRAY:
		break;
	default:
		return qdb_err_set(err, QDB_EFORMAT, "%s: %s is not an attr type", a->key,
				   qdb_mp_type_name(v));
	}
	uint32_t n = v->via.array.size;
	const msgpack_object *e = v->via.array.ptr;
	int floats = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (e[i].type == MSGPACK_OBJECT_FLOAT32 || e[i].type == MSGPACK_OBJECT_FLOAT64)
			floats = 1;
		else if (e[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
			 e[i].type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
			return qdb_err_set(err, QDB_EFORMAT, "%s[%u]: expected a number, got %s", a->key,
					   i, qdb_mp_type_name(&e[i]));
	}
	if (n > INT32_MAX)
		return qdb_err_set(err, QDB_EFORMAT, "%s: list too long", a->key);
	a->n = (int32_t)n;
	a->kind = floats ? QDB_ATTR_FLOATS : QDB_ATTR_INTS;
	if (floats ? !(a->floats = qdb_alloc_array(n ? n : 1, sizeof *a->floats))
		   : !(a->ints = qdb_alloc_array(n ? n : 1, sizeof *a->ints)))
		return nomem(err);
	for (uint32_t i = 0; i < n; i++) {
		int rc = floats ? qdb_mp_as_double(&e[i], a->key, &a->floats[i], err)
				: qdb_mp_as_int(&e[i], a->key, &a->ints[i], err);
		if (rc)
			return rc;
	}
	return QDB_OK;
}

static int read_attrs(struct qdb_node *n, const msgpack_object *m, struct qdb_err *err)
{
	int rc = qdb_mp_check_map(m, "attrs", err);
	if (rc || m->via.map.size == 0)
		return rc;
	if (!(n->attrs = qdb_calloc(m->via.map.size, sizeof *n->attrs)))
		return nomem(err);
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		struct qdb_attr *a = &n->attrs[i];
		n->n_attrs = (int)i + 1; /* freed with the node from here on */
		if ((rc = qdb_mp_as_strdup(&m->via.map.ptr[i].key, "key", &a->key, err)) ||
		    (rc = read_attr(a, &m->via.map.ptr[i].val, err)))
			return qdb_mp_fail(rc, err, "attrs");
	}
	return QDB_OK;
}

/* Pass 1: the node itself, its attrs, and its output values (so a node may
 * name a value defined by a later one; order is checked by validate). */
static int read_node(struct qdb_graph *g, const msgpack_object *o, struct qdb_err *err)
{
	const msgpack_object *v;
	char *name = NULL, *op = NULL;
	int rc, dev = QDB_DEV_BPU;
	if ((rc = qdb_mp_check_map(o, NULL, err)) ||
	    (rc = qdb_mp_get_strdup(o, "name", 1, NULL, &name, err)) ||
	    (rc = qdb_mp_get_strdup(o, "op", 1, NULL, &op, err)) ||
	    (qdb_mp_find(o, "device") &&
	     (rc = get_enum(o, "device", parse_device, &dev, "bpu, cpu", err)))) {
		qdb_free(name);
		qdb_free(op);
		return rc;
	}
	int ni = qdb_graph_add_node(g, name, op, err);
	qdb_free(name);
	qdb_free(op);
	if (ni < 0)
		return -ni;
	struct qdb_node *n = &g->nodes[ni];
	n->device = (enum qdb_device)dev;
	if ((rc = qdb_mp_get(o, "attrs", 0, &v, err)) || (v && (rc = read_attrs(n, v, err))))
		return rc;
	if ((rc = qdb_mp_get(o, "inputs", 1, &v, err)) || (rc = qdb_mp_as_array(v, "inputs", err)) ||
	    (rc = qdb_mp_get(o, "outputs", 1, &v, err)) || (rc = qdb_mp_as_array(v, "outputs", err)))
		return rc;
	uint32_t cnt = v->via.array.size;
	if (cnt == 0)
		return qdb_err_set(err, QDB_EFORMAT, "outputs: empty");
	if (!(n->outputs = qdb_alloc_array(cnt, sizeof *n->outputs)))
		return nomem(err);
	for (uint32_t i = 0; i < cnt; i++) {
		char w[32], *vn;
		snprintf(w, sizeof w, "outputs[%u]", i);
		if ((rc = qdb_mp_as_strdup(&v->via.array.ptr[i], w, &vn, err)))
			return rc;
		int vi = qdb_graph_add_value(g, vn, err);
		qdb_free(vn);
		if (vi < 0)
			return qdb_mp_fail(-vi, err, "%s", w);
		n = &g->nodes[ni];
		n->outputs[n->n_outputs++] = vi;
		g->values[vi].producer = ni;
	}
	return QDB_OK;
}

static int read_nodes(struct qdb_graph *g, const msgpack_object *a, struct qdb_err *err)
{
	int rc = qdb_mp_as_array(a, "nodes", err);
	if (rc)
		return rc;
	uint32_t n = a->via.array.size;
	for (uint32_t i = 0; i < n; i++)
		if ((rc = read_node(g, &a->via.array.ptr[i], err))) {
			const msgpack_object *nm = a->via.array.ptr[i].type == MSGPACK_OBJECT_MAP
							   ? qdb_mp_find(&a->via.array.ptr[i], "name")
							   : NULL;
			char ex[64];
			if (nm && nm->type == MSGPACK_OBJECT_STR)
				return qdb_mp_fail(rc, err, "nodes[%u] (%s)", i, qdb_mp_excerpt(nm, ex, sizeof ex));
			return qdb_mp_fail(rc, err, "nodes[%u]", i);
		}
	/* Pass 2: inputs, now that every value exists. */
	for (uint32_t i = 0; i < n; i++) {
		struct qdb_node *node = &g->nodes[i];
		const msgpack_object *v = qdb_mp_find(&a->via.array.ptr[i], "inputs");
		if ((rc = read_names(g, v, "inputs", &node->inputs, &node->n_inputs, err)))
			return qdb_mp_fail(rc, err, "nodes[%u] (%s)", i, node->name);
	}
	return QDB_OK;
}

static int read_outputs(struct qdb_graph *g, const msgpack_object *a, struct qdb_err *err)
{
	int rc = read_names(g, a, "outputs", &g->outputs, &g->n_outputs, err);
	for (int i = 0; !rc && i < g->n_outputs; i++) {
		struct qdb_value *v = &g->values[g->outputs[i]];
		if (v->is_output)
			return qdb_err_set(err, QDB_EFORMAT, "outputs[%d]: \"%s\" listed twice", i, v->name);
		v->is_output = 1;
	}
	return rc;
}

static int read_qparams(struct qdb_graph *g, const msgpack_object *m, struct qdb_err *err)
{
	int rc = qdb_mp_check_map(m, "qparams", err);
	for (uint32_t i = 0; !rc && i < m->via.map.size; i++) {
		const msgpack_object_kv *kv = &m->via.map.ptr[i];
		const msgpack_object *v;
		char ex[64], *name;
		qdb_mp_excerpt(&kv->key, ex, sizeof ex);
		if ((rc = qdb_mp_as_strdup(&kv->key, "name", &name, err)))
			return qdb_mp_fail(rc, err, "qparams");
		int vi = qdb_graph_find_value(g, name);
		qdb_free(name);
		if (vi < 0)
			return qdb_err_set(err, QDB_EFORMAT, "qparams: \"%s\" is not a value", ex);
		struct qdb_value *val = &g->values[vi];
		enum qdb_dtype dt;
		if ((rc = qdb_mp_check_map(&kv->val, NULL, err)) || (rc = qdb_mp_get(&kv->val, "dtype", 1, &v, err)) ||
		    (rc = qdb_dtype_mp_read(v, "dtype", &dt, err)) || (rc = qdb_mp_get(&kv->val, "scale", 1, &v, err)))
			return qdb_mp_fail(rc, err, "qparams: %s", ex);
		if (!qdb_dtype_is_int(dt))
			return qdb_err_set(err, QDB_EFORMAT, "qparams: %s: dtype: %s is not an integer type", ex,
					   qdb_dtype_name(dt));
		if ((rc = qdb_quant_mp_read(&kv->val, dt, val->rank, val->shape, &val->q, err)))
			return qdb_mp_fail(rc, err, "qparams: %s", ex);
		val->qdtype = dt;
	}
	return rc;
}

static int read_edits(struct qdb_graph *g, const msgpack_object *a, struct qdb_err *err)
{
	int rc = qdb_mp_as_array(a, "edits", err);
	for (uint32_t i = 0; !rc && i < a->via.array.size; i++) {
		const msgpack_object *o = &a->via.array.ptr[i];
		char *f[4] = {NULL, NULL, NULL, NULL};
		static const char *const keys[4] = {"node", "field", "from", "to"};
		rc = qdb_mp_check_map(o, NULL, err);
		for (int k = 0; k < 4 && !rc; k++)
			rc = qdb_mp_get_strdup(o, keys[k], 1, NULL, &f[k], err);
		if (!rc)
			rc = qdb_graph_add_edit(g, f[0], f[1], f[2], f[3], err);
		for (int k = 0; k < 4; k++)
			qdb_free(f[k]);
		if (rc)
			return qdb_mp_fail(rc, err, "edits[%u]", i);
	}
	return rc;
}

static int parse_graph(struct qdb_graph *g, const msgpack_object *o, struct qdb_err *err)
{
	const msgpack_object *v;
	int rc, stage;
	if ((rc = qdb_mp_check_format(o, "qdb.graph", "graph", err)) ||
	    (rc = qdb_mp_get_strdup(o, "name", 1, NULL, &g->name, err)) ||
	    (rc = get_enum(o, "stage", parse_stage, &stage, "float, qat, quantized", err)) ||
	    (rc = qdb_mp_get_strdup(o, "producer", 0, "", &g->producer, err)))
		return rc;
	g->stage = (enum qdb_stage)stage;
	if ((rc = qdb_mp_get(o, "profile", 0, &v, err)) || (v && (rc = read_profile(g, v, err))))
		return qdb_mp_fail(rc, err, "profile");
	if ((rc = qdb_mp_get(o, "inputs", 1, &v, err)) || (rc = read_inputs(g, v, err)) ||
	    (rc = qdb_mp_get(o, "constants", 0, &v, err)) || (v && (rc = read_constants(g, v, err))) ||
	    (rc = qdb_mp_get(o, "nodes", 1, &v, err)) || (rc = read_nodes(g, v, err)) ||
	    (rc = qdb_mp_get(o, "outputs", 1, &v, err)) || (rc = read_outputs(g, v, err)) ||
	    (rc = qdb_mp_get(o, "qparams", 0, &v, err)) || (v && (rc = read_qparams(g, v, err))) ||
	    (rc = qdb_mp_get(o, "edits", 0, &v, err)) || (v && (rc = read_edits(g, v, err))))
		return rc;
	return QDB_OK;
}

int qdb_graph_parse(const void *data, size_t len, const char *name, struct qdb_graph **out,
		    struct qdb_err *err)
{
	msgpack_unpacked u;
	size_t off = 0;
	int rc;
	*out = NULL;
	struct qdb_graph *g = qdb_graph_new();
	if (!g)
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", name);
	msgpack_unpacked_init(&u);
	if (len == 0)
		rc = qdb_err_set(err, QDB_EFORMAT, "graph: empty file");
	else if ((rc = qdb_mp_next(&u, data, len, &off, err)))
		qdb_mp_fail(rc, err, "graph");
	else if (off != len)
		rc = qdb_err_set(err, QDB_EFORMAT, "at byte %zu: %zu bytes of garbage after the graph",
				 off, len - off);
	if (!rc)
		rc = parse_graph(g, &u.data, err);
	msgpack_unpacked_destroy(&u);
	if (rc) {
		qdb_mp_fail(rc, err, "%s", name);
		qdb_graph_delete(g);
		return rc;
	}
	*out = g;
	return QDB_OK;
}

int qdb_graph_load(const char *path, struct qdb_graph **out, struct qdb_err *err)
{
	struct qdb_map m;
	*out = NULL;
	int rc = qdb_map_open(&m, path, err);
	if (rc)
		return rc;
	rc = qdb_graph_parse(m.data, m.size, path, out, err);
	qdb_map_close(&m); /* constants were copied: the graph does not need the file */
	if (!rc && !((*out)->path = qdb_strdup(path))) {
		qdb_graph_delete(*out);
		*out = NULL;
		rc = qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
	}
	return rc;
}

/* ---- writing ---- */

/* What the writer relies on; a graph built in memory may break it. */
static int check_writable(const struct qdb_graph *g, struct qdb_err *err)
{
	int rc;
	if (!qdb_stage_name(g->stage) || !qdb_profile_name(g->profile) || !qdb_rounding_name(g->rounding))
		return qdb_err_set(err, QDB_EINVAL, "invalid stage, profile or rounding");
	for (int i = 0; i < g->n_inputs; i++) {
		const struct qdb_value *v = &g->values[g->inputs[i]];
		if (v->rank < 0 || !qdb_dtype_name(v->dtype))
			return qdb_err_set(err, QDB_EINVAL, "input %s: dtype or shape unknown", v->name);
	}
	for (int i = 0; i < g->n_constants; i++)
		if ((rc = qdb_tensor_mp_check(&g->constants[i].t, err)))
			return qdb_mp_fail(rc, err, "constant %s", g->values[g->constants[i].value].name);
	for (int i = 0; i < g->n_values; i++) {
		const struct qdb_value *v = &g->values[i];
		if (v->q.n <= 0)
			continue;
		if (!qdb_dtype_is_int(v->qdtype) || (v->q.n > 1 && v->q.axis < 0))
			return qdb_err_set(err, QDB_EINVAL, "qparams %s: dtype or axis invalid", v->name);
		/* Shape not inferred yet: any axis below the rank limit fits. */
		int64_t any[QDB_MAX_RANK];
		for (int k = 0; k < QDB_MAX_RANK; k++)
			any[k] = v->q.n;
		if (qdb_quant_validate(&v->q, v->qdtype, v->rank >= 0 ? v->rank : QDB_MAX_RANK,
				       v->rank >= 0 ? v->shape : any, v->name, err)) {
			if (err) /* a bad graph in memory, not a bad file */
				err->code = QDB_EINVAL;
			return qdb_mp_fail(QDB_EINVAL, err, "qparams");
		}
	}
	for (int i = 0; i < g->n_nodes; i++)
		if (g->nodes[i].n_outputs < 1)
			return qdb_err_set(err, QDB_EINVAL, "node %s: no outputs", g->nodes[i].name);
	return QDB_OK;
}

static int pack_names(msgpack_packer *pk, const struct qdb_graph *g, const int *idx, int n)
{
	int rc = msgpack_pack_array(pk, (size_t)n);
	for (int i = 0; i < n; i++)
		rc |= qdb_mp_pack_str(pk, g->values[idx[i]].name);
	return rc;
}

static int pack_attr(msgpack_packer *pk, const struct qdb_attr *a)
{
	int rc = qdb_mp_pack_str(pk, a->key);
	switch (a->kind) {
	case QDB_ATTR_INT: return rc | msgpack_pack_int64(pk, a->i);
	case QDB_ATTR_FLOAT: return rc | msgpack_pack_double(pk, a->f);
	case QDB_ATTR_STR: return rc | qdb_mp_pack_str(pk, a->s ? a->s : "");
	case QDB_ATTR_INTS:
		rc |= msgpack_pack_array(pk, (size_t)a->n);
		for (int i = 0; i < a->n; i++)
			rc |= msgpack_pack_int64(pk, a->ints[i]);
		return rc;
	case QDB_ATTR_FLOATS:
		rc |= msgpack_pack_array(pk, (size_t)a->n);
		for (int i = 0; i < a->n; i++)
			rc |= msgpack_pack_double(pk, a->floats[i]);
		return rc;
	}
	return -1;
}

static int pack_graph(msgpack_packer *pk, const struct qdb_graph *g)
{
	int nq = 0, profile = g->stage == QDB_STAGE_QUANTIZED || g->profile != QDB_PROFILE_TORCH ||
			      g->rounding != QDB_ROUND_HALF_EVEN;
	for (int i = 0; i < g->n_values; i++)
		nq += g->values[i].q.n > 0;
	int rc = msgpack_pack_map(pk, 10 + (size_t)profile + (g->n_edits > 0));
	rc |= qdb_mp_pack_kv_str(pk, "format", "qdb.graph");
	rc |= qdb_mp_pack_kv_int(pk, "version", 1);
	rc |= qdb_mp_pack_kv_str(pk, "name", g->name ? g->name : "");
	rc |= qdb_mp_pack_kv_str(pk, "stage", qdb_stage_name(g->stage));
	rc |= qdb_mp_pack_kv_str(pk, "producer", g->producer ? g->producer : "");
	if (profile) {
		rc |= qdb_mp_pack_str(pk, "profile") | msgpack_pack_map(pk, 2);
		rc |= qdb_mp_pack_kv_str(pk, "kind", qdb_profile_name(g->profile));
		rc |= qdb_mp_pack_kv_str(pk, "rounding", qdb_rounding_name(g->rounding));
	}
	rc |= qdb_mp_pack_str(pk, "inputs") | msgpack_pack_array(pk, (size_t)g->n_inputs);
	for (int i = 0; i < g->n_inputs; i++) {
		const struct qdb_value *v = &g->values[g->inputs[i]];
		rc |= msgpack_pack_map(pk, 3) | qdb_mp_pack_kv_str(pk, "name", v->name);
		rc |= qdb_mp_pack_kv_str(pk, "dtype", qdb_dtype_name(v->dtype));
		rc |= qdb_mp_pack_str(pk, "shape") | qdb_shape_mp_write(pk, v->rank, v->shape);
	}
	rc |= qdb_mp_pack_str(pk, "outputs") | pack_names(pk, g, g->outputs, g->n_outputs);
	rc |= qdb_mp_pack_str(pk, "constants") | msgpack_pack_map(pk, (size_t)g->n_constants);
	for (int i = 0; i < g->n_constants; i++) {
		rc |= qdb_mp_pack_str(pk, g->values[g->constants[i].value].name);
		rc |= qdb_tensor_mp_write(pk, &g->constants[i].t);
	}
	rc |= qdb_mp_pack_str(pk, "qparams") | msgpack_pack_map(pk, (size_t)nq);
	for (int i = 0; i < g->n_values; i++) {
		const struct qdb_value *v = &g->values[i];
		if (v->q.n <= 0)
			continue;
		rc |= qdb_mp_pack_str(pk, v->name);
		rc |= msgpack_pack_map(pk, 1 + (size_t)qdb_quant_mp_nfields(&v->q, v->qdtype));
		rc |= qdb_mp_pack_kv_str(pk, "dtype", qdb_dtype_name(v->qdtype));
		rc |= qdb_quant_mp_write_fields(pk, &v->q, v->qdtype);
	}
	rc |= qdb_mp_pack_str(pk, "nodes") | msgpack_pack_array(pk, (size_t)g->n_nodes);
	for (int i = 0; i < g->n_nodes; i++) {
		const struct qdb_node *n = &g->nodes[i];
		rc |= msgpack_pack_map(pk, 6);
		rc |= qdb_mp_pack_kv_str(pk, "name", n->name);
		rc |= qdb_mp_pack_kv_str(pk, "op", n->op_name);
		rc |= qdb_mp_pack_str(pk, "inputs") | pack_names(pk, g, n->inputs, n->n_inputs);
		rc |= qdb_mp_pack_str(pk, "outputs") | pack_names(pk, g, n->outputs, n->n_outputs);
		rc |= qdb_mp_pack_str(pk, "attrs") | msgpack_pack_map(pk, (size_t)n->n_attrs);
		for (int k = 0; k < n->n_attrs; k++)
			rc |= pack_attr(pk, &n->attrs[k]);
		rc |= qdb_mp_pack_kv_str(pk, "device", n->device == QDB_DEV_CPU ? "cpu" : "bpu");
	}
	if (g->n_edits > 0) {
		rc |= qdb_mp_pack_str(pk, "edits") | msgpack_pack_array(pk, (size_t)g->n_edits);
		for (int i = 0; i < g->n_edits; i++) {
			const struct qdb_edit *e = &g->edits[i];
			rc |= msgpack_pack_map(pk, 4);
			rc |= qdb_mp_pack_kv_str(pk, "node", e->node);
			rc |= qdb_mp_pack_kv_str(pk, "field", e->field);
			rc |= qdb_mp_pack_kv_str(pk, "from", e->from);
			rc |= qdb_mp_pack_kv_str(pk, "to", e->to);
		}
	}
	return rc;
}

int qdb_graph_serialize(const struct qdb_graph *g, char **data, size_t *len, struct qdb_err *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	*data = NULL;
	*len = 0;
	int rc = check_writable(g, err);
	if (rc)
		return rc;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (pack_graph(&pk, g)) {
		msgpack_sbuffer_destroy(&sb);
		return qdb_err_set(err, QDB_ENOMEM, "graph: out of memory");
	}
	*data = sb.data;
	*len = sb.size;
	return QDB_OK;
}

int qdb_graph_save(const struct qdb_graph *g, const char *path, struct qdb_err *err)
{
	struct qdb_atomic a;
	msgpack_packer pk;
	int rc = check_writable(g, err);
	if (rc)
		return qdb_mp_fail(rc, err, "%s", path);
	if ((rc = qdb_atomic_open(&a, path, err)))
		return rc;
	msgpack_packer_init(&pk, a.fp, msgpack_fbuffer_write);
	errno = 0;
	if (pack_graph(&pk, g)) {
		rc = qdb_atomic_write_error(&a, err);
		qdb_atomic_abort(&a);
		return rc;
	}
	return qdb_atomic_commit(&a, err);
}
