/* shape.c - data movement in float: concat, flatten/reshape/identity (a
 * copy: the element order does not change; also quantize/dequantize in
 * float modes), permute, upsample_nearest. */
#include "config.h"

#include <string.h>

#include "ops/kernel_float.h"

static int copy_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct qdb_tensor *x = a->in[0];
	struct qdb_tensor *y = a->out[0];
	if (x->nbytes != y->nbytes)
		return qdb_err_set(err, QDB_ESHAPE, "node %s: input and output sizes differ",
				   a->g->nodes[a->node].name);
	if (x->nbytes)
		memcpy(y->data, x->data, x->nbytes);
	return QDB_OK;
}

static int concat_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct qdb_tensor *yt = a->out[0];
	const struct qdb_node *nd = &a->g->nodes[a->node];
	int axis;
	int rc = qdb_axis_param_parse(a->g, a->node, "axis", 1, yt->rank, &axis, err);
	if (rc)
		return rc;
	int64_t outer = qdb_shape_numel(axis, yt->shape);
	int64_t inner = qdb_shape_numel(yt->rank - axis - 1, yt->shape + axis + 1);
	int64_t ydim = yt->shape[axis];
	float *y = qdb_kf_out(a, 0);
	int64_t off = 0;
	for (int i = 0; i < nd->n_inputs; i++) {
		const struct qdb_tensor *xt = a->in[i];
		int64_t d = xt->shape[axis];
		const float *x = qdb_kf_in(a, i);
		for (int64_t o = 0; o < outer; o++)
			memcpy(y + (o * ydim + off) * inner, x + o * d * inner,
			       (size_t)(d * inner) * sizeof(float));
		off += d;
	}
	return QDB_OK;
}

static int permute_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct qdb_tensor *xt = a->in[0], *yt = a->out[0];
	int64_t perm[QDB_MAX_RANK];
	int n = qdb_ints_param(a->g, a->node, "perm", perm, QDB_MAX_RANK, err);
	if (n < 0)
		return err ? err->code : QDB_EFORMAT;
	if (n != xt->rank)
		return qdb_err_set(err, QDB_EFORMAT, "node %s: attr 'perm': length %d != rank %d",
				   a->g->nodes[a->node].name, n, xt->rank);
	int r = xt->rank;
	int64_t xs[QDB_MAX_RANK], st[QDB_MAX_RANK], idx[QDB_MAX_RANK] = {0};
	int64_t s = 1;
	for (int i = r - 1; i >= 0; i--) {
		xs[i] = s;
		s *= xt->shape[i];
	}
	for (int i = 0; i < r; i++)
		st[i] = xs[perm[i]]; /* input stride of output dim i */
	const float *x = qdb_kf_in(a, 0);
	float *y = qdb_kf_out(a, 0);
	int64_t total = qdb_tensor_numel(yt);
	if (r == 0) {
		if (total)
			y[0] = x[0];
		return QDB_OK;
	}
	int64_t inner = yt->shape[r - 1], is = st[r - 1];
	for (int64_t o = 0; inner && o < total / inner; o++) {
		int64_t base = 0;
		for (int i = 0; i < r - 1; i++)
			base += idx[i] * st[i];
		for (int64_t j = 0; j < inner; j++)
			y[o * inner + j] = x[base + j * is];
		for (int i = r - 2; i >= 0; i--) {
			if (++idx[i] < yt->shape[i])
				break;
			idx[i] = 0;
		}
	}
	return QDB_OK;
}

static int upsample_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct qdb_tensor *xt = a->in[0], *yt = a->out[0];
	int64_t H = xt->shape[2], W = xt->shape[3], OH = yt->shape[2], OW = yt->shape[3];
	struct qdb_upsample_params p;
	int rc = qdb_upsample_params_parse(a->g, a->node, H, W, &p, err);
	if (rc)
		return rc;
	int64_t planes = xt->shape[0] * xt->shape[1];
	const float *x = qdb_kf_in(a, 0);
	float *y = qdb_kf_out(a, 0);
	for (int64_t pl = 0; pl < planes; pl++)
		for (int64_t oh = 0; oh < OH; oh++) {
			int64_t ih = qdb_upsample_src(oh, H, OH, p.rh);
			for (int64_t ow = 0; ow < OW; ow++)
				y[(pl * OH + oh) * OW + ow] =
					x[(pl * H + ih) * W + qdb_upsample_src(ow, W, OW, p.rw)];
		}
	return QDB_OK;
}

const struct qdb_kernel qdb_kf_copy = {.run = copy_run};
const struct qdb_kernel qdb_kf_concat = {.run = concat_run};
const struct qdb_kernel qdb_kf_permute = {.run = permute_run};
const struct qdb_kernel qdb_kf_upsample_nearest = {.run = upsample_run};
