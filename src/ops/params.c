/* params.c - parsing and checking op attrs (see params.h). */
#include "config.h"

#include <math.h>
#include <string.h>

#include "ops/params.h"

static const char *node_name(const struct qdb_graph *g, int node)
{
	return g->nodes[node].name ? g->nodes[node].name : "?";
}

static const struct qdb_attr *find(const struct qdb_graph *g, int node, const char *key)
{
	const struct qdb_node *n = &g->nodes[node];
	for (int i = 0; i < n->n_attrs; i++)
		if (n->attrs[i].key && !strcmp(n->attrs[i].key, key))
			return &n->attrs[i];
	return NULL;
}

int qdb_ints_param(const struct qdb_graph *g, int node, const char *key, int64_t *out, int max,
		   struct qdb_err *err)
{
	const struct qdb_attr *a = find(g, node, key);
	if (!a)
		return 0;
	if (a->kind == QDB_ATTR_INT) {
		if (max < 1)
			goto too_long;
		out[0] = a->i;
		return 1;
	}
	if (a->kind == QDB_ATTR_FLOATS && a->n == 0)
		return 0; /* an empty list decodes as either kind */
	if (a->kind != QDB_ATTR_INTS) {
		qdb_err_set(err, QDB_EFORMAT, "node %s: attr '%s': expected int or list of ints",
			    node_name(g, node), key);
		return -1;
	}
	if (a->n > max)
		goto too_long;
	for (int i = 0; i < a->n; i++)
		out[i] = a->ints[i];
	return a->n;
too_long:
	qdb_err_set(err, QDB_EFORMAT, "node %s: attr '%s': at most %d values expected",
		    node_name(g, node), key, max);
	return -1;
}

int qdb_float_param(const struct qdb_graph *g, int node, const char *key, double def,
		    double *out, struct qdb_err *err)
{
	const struct qdb_attr *a = find(g, node, key);
	if (!a) {
		*out = def;
		return QDB_OK;
	}
	if (a->kind == QDB_ATTR_FLOAT)
		*out = a->f;
	else if (a->kind == QDB_ATTR_INT)
		*out = (double)a->i;
	else
		return qdb_err_set(err, QDB_EFORMAT, "node %s: attr '%s': expected a number",
				   node_name(g, node), key);
	if (isnan(*out))
		return qdb_err_set(err, QDB_EFORMAT, "node %s: attr '%s': is NaN",
				   node_name(g, node), key);
	return QDB_OK;
}

int qdb_int_param(const struct qdb_graph *g, int node, const char *key, int64_t def,
		  int64_t *out, struct qdb_err *err)
{
	const struct qdb_attr *a = find(g, node, key);
	if (!a) {
		*out = def;
		return QDB_OK;
	}
	if (a->kind != QDB_ATTR_INT)
		return qdb_err_set(err, QDB_EFORMAT, "node %s: attr '%s': expected an int",
				   node_name(g, node), key);
	*out = a->i;
	return QDB_OK;
}

/* Two spatial values from an int or a 2-list; all > 0 (or >= 0 with
 * allow_zero). */
static int pair_param(const struct qdb_graph *g, int node, const char *key,
		      const int64_t def[2], int allow_zero, int64_t out[2], struct qdb_err *err)
{
	int64_t v[2];
	int n = qdb_ints_param(g, node, key, v, 2, err);
	if (n < 0)
		return err ? err->code : QDB_EFORMAT;
	if (n == 0) {
		out[0] = def[0];
		out[1] = def[1];
	} else if (n == 1) {
		out[0] = out[1] = v[0];
	} else {
		out[0] = v[0];
		out[1] = v[1];
	}
	for (int i = 0; i < 2; i++)
		if (out[i] < (allow_zero ? 0 : 1) || out[i] > (1 << 20))
			return qdb_err_set(err, QDB_EFORMAT, "node %s: attr '%s': %lld is out of range (%s)",
					   node_name(g, node), key, (long long)out[i],
					   allow_zero ? "0..2^20" : "1..2^20");
	return QDB_OK;
}

const char *qdb_act_name(enum qdb_act_kind k)
{
	switch (k) {
	case QDB_ACT_NONE: return "none";
	case QDB_ACT_RELU: return "relu";
	case QDB_ACT_RELU6: return "relu6";
	case QDB_ACT_CLAMP: return "clamp";
	}
	return "?";
}

int qdb_act_parse(const struct qdb_graph *g, int node, struct qdb_act *a, struct qdb_err *err)
{
	const struct qdb_attr *at = find(g, node, "act");
	a->kind = QDB_ACT_NONE;
	a->lo = -INFINITY;
	a->hi = INFINITY;
	if (!at)
		return QDB_OK;
	if (at->kind != QDB_ATTR_STR || !at->s)
		return qdb_err_set(err, QDB_EFORMAT, "node %s: attr 'act': expected a string",
				   node_name(g, node));
	if (!strcmp(at->s, "none"))
		return QDB_OK;
	if (!strcmp(at->s, "relu")) {
		a->kind = QDB_ACT_RELU;
		a->lo = 0;
		return QDB_OK;
	}
	if (!strcmp(at->s, "relu6")) {
		a->kind = QDB_ACT_RELU6;
		a->lo = 0;
		a->hi = 6;
		return QDB_OK;
	}
	if (!strcmp(at->s, "clamp")) {
		double lo, hi;
		int rc;
		if ((rc = qdb_float_param(g, node, "act_min", -INFINITY, &lo, err)) ||
		    (rc = qdb_float_param(g, node, "act_max", INFINITY, &hi, err)))
			return rc;
		if (lo > hi)
			return qdb_err_set(err, QDB_EFORMAT, "node %s: attr 'act_min': %g > act_max %g",
					   node_name(g, node), lo, hi);
		a->kind = QDB_ACT_CLAMP;
		a->lo = (float)lo;
		a->hi = (float)hi;
		return QDB_OK;
	}
	return qdb_err_set(err, QDB_EFORMAT,
			   "node %s: attr 'act': '%s' is not none, relu, relu6 or clamp",
			   node_name(g, node), at->s);
}

int64_t qdb_conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad_lo,
			  int64_t pad_hi, int64_t dil)
{
	int64_t span = in + pad_lo + pad_hi - dil * (k - 1) - 1;
	if (span < 0)
		return 0;
	return span / stride + 1;
}

int qdb_conv_params_parse(const struct qdb_graph *g, int node, struct qdb_conv_params *p,
			  struct qdb_err *err)
{
	static const int64_t one[2] = {1, 1};
	int rc;
	if ((rc = pair_param(g, node, "stride", one, 0, p->stride, err)) ||
	    (rc = pair_param(g, node, "dilation", one, 0, p->dil, err)))
		return rc;
	int64_t pad[4];
	int n = qdb_ints_param(g, node, "padding", pad, 4, err);
	if (n < 0)
		return err ? err->code : QDB_EFORMAT;
	switch (n) {
	case 0:
		p->pad[0] = p->pad[1] = p->pad[2] = p->pad[3] = 0;
		break;
	case 1:
		p->pad[0] = p->pad[1] = p->pad[2] = p->pad[3] = pad[0];
		break;
	case 2:
		p->pad[0] = p->pad[2] = pad[0];
		p->pad[1] = p->pad[3] = pad[1];
		break;
	case 4:
		memcpy(p->pad, pad, sizeof p->pad);
		break;
	default:
		return qdb_err_set(err, QDB_EFORMAT,
				   "node %s: attr 'padding': expected 2 ([h, w]) or 4 (top, left, bottom, right) ints",
				   node_name(g, node));
	}
	for (int i = 0; i < 4; i++)
		if (p->pad[i] < 0 || p->pad[i] > (1 << 20))
			return qdb_err_set(err, QDB_EFORMAT, "node %s: attr 'padding': %lld is out of range",
					   node_name(g, node), (long long)p->pad[i]);
	if ((rc = qdb_int_param(g, node, "groups", 1, &p->groups, err)))
		return rc;
	if (p->groups < 1)
		return qdb_err_set(err, QDB_EFORMAT, "node %s: attr 'groups': %lld must be >= 1",
				   node_name(g, node), (long long)p->groups);
	return qdb_act_parse(g, node, &p->act, err);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

int64_t qdb_pool_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil,
			  int ceil_mode)
{
	int64_t out = floor_div(in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0),
				stride) + 1;
	if (ceil_mode && (out - 1) * stride >= in + pad)
		out--;
	return out;
}

int qdb_pool_params_parse(const struct qdb_graph *g, int node, struct qdb_pool_params *p,
			  struct qdb_err *err)
{
	static const int64_t one[2] = {1, 1}, zero[2] = {0, 0};
	int rc;
	int64_t k[2];
	int n = qdb_ints_param(g, node, "kernel", k, 2, err);
	if (n < 0)
		return err ? err->code : QDB_EFORMAT;
	if (n == 0)
		return qdb_err_set(err, QDB_EFORMAT, "node %s: attr 'kernel': missing",
				   node_name(g, node));
	if ((rc = pair_param(g, node, "kernel", one, 0, p->kernel, err)) ||
	    (rc = pair_param(g, node, "stride", p->kernel, 0, p->stride, err)) ||
	    (rc = pair_param(g, node, "padding", zero, 1, p->pad, err)) ||
	    (rc = pair_param(g, node, "dilation", one, 0, p->dil, err)))
		return rc;
	int64_t v = 0;
	if ((rc = qdb_int_param(g, node, "ceil_mode", 0, &v, err)))
		return rc;
	p->ceil_mode = v != 0;
	if ((rc = qdb_int_param(g, node, "count_include_pad", 1, &v, err)))
		return rc;
	p->count_include_pad = v != 0;
	for (int i = 0; i < 2; i++) {
		int64_t eff = (p->kernel[i] - 1) * p->dil[i] + 1;
		if (p->pad[i] > eff / 2)
			return qdb_err_set(err, QDB_EFORMAT,
					   "node %s: attr 'padding': %lld exceeds half the kernel (%lld)",
					   node_name(g, node), (long long)p->pad[i], (long long)eff);
	}
	return QDB_OK;
}

int qdb_clamp_params_parse(const struct qdb_graph *g, int node, float *lo, float *hi,
			   struct qdb_err *err)
{
	double a, b;
	int rc;
	if ((rc = qdb_float_param(g, node, "min", -INFINITY, &a, err)) ||
	    (rc = qdb_float_param(g, node, "max", INFINITY, &b, err)))
		return rc;
	if (a > b)
		return qdb_err_set(err, QDB_EFORMAT, "node %s: attr 'min': %g > max %g",
				   node_name(g, node), a, b);
	*lo = (float)a;
	*hi = (float)b;
	return QDB_OK;
}

int qdb_gelu_params_parse(const struct qdb_graph *g, int node, int *tanh_approx,
			  struct qdb_err *err)
{
	const struct qdb_attr *a = find(g, node, "approximate");
	*tanh_approx = 0;
	if (!a)
		return QDB_OK;
	if (a->kind == QDB_ATTR_STR && a->s && !strcmp(a->s, "none"))
		return QDB_OK;
	if (a->kind == QDB_ATTR_STR && a->s && !strcmp(a->s, "tanh")) {
		*tanh_approx = 1;
		return QDB_OK;
	}
	return qdb_err_set(err, QDB_EFORMAT, "node %s: attr 'approximate': expected \"none\" or \"tanh\"",
			   node_name(g, node));
}

int qdb_axis_param_parse(const struct qdb_graph *g, int node, const char *key, int64_t def,
			 int rank, int *axis, struct qdb_err *err)
{
	int64_t v = 0;
	int rc = qdb_int_param(g, node, key, def, &v, err);
	if (rc)
		return rc;
	if (v < -(int64_t)rank || v >= rank)
		return qdb_err_set(err, QDB_EFORMAT, "node %s: attr '%s': %lld is out of range for rank %d",
				   node_name(g, node), key, (long long)v, rank);
	*axis = (int)(v < 0 ? v + rank : v);
	return QDB_OK;
}

int qdb_upsample_params_parse(const struct qdb_graph *g, int node, int64_t in_h, int64_t in_w,
			      struct qdb_upsample_params *p, struct qdb_err *err)
{
	int64_t sc[2], sz[2];
	int ns = qdb_ints_param(g, node, "scale", sc, 2, err);
	if (ns < 0)
		return err ? err->code : QDB_EFORMAT;
	int nz = qdb_ints_param(g, node, "size", sz, 2, err);
	if (nz < 0)
		return err ? err->code : QDB_EFORMAT;
	if ((ns > 0) == (nz > 0))
		return qdb_err_set(err, QDB_EFORMAT,
				   "node %s: attr 'scale': exactly one of 'scale' and 'size' is required",
				   node_name(g, node));
	if (ns == 1)
		sc[1] = sc[0];
	if (nz == 1)
		sz[1] = sz[0];
	if (ns) {
		for (int i = 0; i < 2; i++)
			if (sc[i] < 1 || sc[i] > 4096)
				return qdb_err_set(err, QDB_EFORMAT,
						   "node %s: attr 'scale': %lld is not a positive int <= 4096",
						   node_name(g, node), (long long)sc[i]);
		p->out_h = in_h * sc[0];
		p->out_w = in_w * sc[1];
		/* torch passes the scale factor and uses 1/scale in float */
		p->rh = (float)(1.0 / (double)sc[0]);
		p->rw = (float)(1.0 / (double)sc[1]);
	} else {
		for (int i = 0; i < 2; i++)
			if (sz[i] < 1 || sz[i] > (1 << 20))
				return qdb_err_set(err, QDB_EFORMAT,
						   "node %s: attr 'size': %lld is out of range",
						   node_name(g, node), (long long)sz[i]);
		p->out_h = sz[0];
		p->out_w = sz[1];
		p->rh = (float)in_h / (float)sz[0];
		p->rw = (float)in_w / (float)sz[1];
	}
	return QDB_OK;
}

int64_t qdb_upsample_src(int64_t o, int64_t in, int64_t out, float r)
{
	if (out == in)
		return o;
	if (out == 2 * in)
		return o >> 1;
	int64_t s = (int64_t)floorf((float)o * r);
	return s < in - 1 ? s : in - 1;
}
