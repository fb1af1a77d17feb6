/* shape_int.c - concat, flatten/reshape/identity, permute and
 * upsample_nearest on integers.
 *
 * Values pass through unchanged when input and output share qparams (and
 * dtype); otherwise each element is rescaled into the output's domain
 * (qdb_rescale: torch's dequantize-then-quantize, or a Q31 multiplier in
 * the fixed profile; concat has one per input, as torch's quantized cat
 * requantizes inputs whose qparams differ).
 */
#include "config.h"

#include <string.h>

#include "base/alloc.h"
#include "ops/kernel_int.h"
#include "ops/ops.h"

#define CHUNK 1024

struct shape_prep {
	int n;
	int same_dtype;
	struct qdb_rescale rs[];
};

static int shape_prepare(const struct qdb_graph *g, int node, void **prep, struct qdb_err *err)
{
	const struct qdb_node *nd = &g->nodes[node];
	int n = nd->op == QDB_OP_CONCAT ? nd->n_inputs : 1;
	struct shape_prep *sp = qdb_calloc(1, sizeof *sp + (size_t)n * sizeof(struct qdb_rescale));
	struct qdb_qp out, in;
	int rc;
	if (!sp)
		return qdb_err_set(err, QDB_ENOMEM, "node %s: out of memory", nd->name);
	sp->n = n;
	if ((rc = qdb_qp_of(g, node, nd->outputs[0], &out, err)))
		goto fail;
	sp->same_dtype = 1;
	for (int k = 0; k < n; k++) {
		if ((rc = qdb_qp_of(g, node, nd->inputs[k], &in, err)) ||
		    (rc = qdb_rescale_init(g, node, k, &in, &out, &sp->rs[k], err)))
			goto fail;
		if (in.dt != out.dt)
			sp->same_dtype = 0;
	}
	*prep = sp;
	return QDB_OK;
fail:
	qdb_free(sp);
	return rc;
}

static void shape_release(void *prep) { qdb_free(prep); }

static size_t chunk_scratch(const struct qdb_graph *g, int node, const void *prep)
{
	return CHUNK * sizeof(int32_t);
}

/* dst[d0 + i] = rescale(src[s0 + i]) for n elements. */
static void move(const struct qdb_rescale *rs, int same_dtype, const struct qdb_tensor *src,
		 int64_t s0, struct qdb_tensor *dst, int64_t d0, int64_t n, int32_t *buf)
{
	if (rs->identity && same_dtype) {
		size_t es = qdb_dtype_size(src->dtype);
		memcpy((char *)dst->data + d0 * es, (const char *)src->data + s0 * es, (size_t)n * es);
		return;
	}
	for (int64_t i = 0; i < n; i += CHUNK) {
		int64_t m = n - i < CHUNK ? n - i : CHUNK;
		qdb_int_load(src, s0 + i, m, buf);
		qdb_rescale_buf(rs, buf, m);
		qdb_int_store(dst, d0 + i, m, buf);
	}
}

static int copy_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct shape_prep *sp = a->prep;
	int64_t n = qdb_tensor_numel(a->in[0]);
	if (n != qdb_tensor_numel(a->out[0]))
		return qdb_err_set(err, QDB_ESHAPE, "node %s: input and output sizes differ",
				   a->g->nodes[a->node].name);
	if (!a->scratch)
		return qdb_err_set(err, QDB_EINVAL, "node %s: no scratch", a->g->nodes[a->node].name);
	move(&sp->rs[0], sp->same_dtype, a->in[0], 0, a->out[0], 0, n, a->scratch);
	return QDB_OK;
}

static int concat_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct shape_prep *sp = a->prep;
	const struct qdb_node *nd = &a->g->nodes[a->node];
	struct qdb_tensor *y = a->out[0];
	int axis, rc;
	if ((rc = qdb_axis_param_parse(a->g, a->node, "axis", 1, y->rank, &axis, err)))
		return rc;
	if (!a->scratch)
		return qdb_err_set(err, QDB_EINVAL, "node %s: no scratch", nd->name);
	int64_t outer = qdb_shape_numel(axis, y->shape);
	int64_t inner = qdb_shape_numel(y->rank - axis - 1, y->shape + axis + 1);
	int64_t ydim = y->shape[axis], off = 0;
	for (int k = 0; k < nd->n_inputs; k++) {
		const struct qdb_tensor *x = a->in[k];
		if (x->rank != y->rank)
			return qdb_err_set(err, QDB_ESHAPE, "node %s: concat input %d has rank %d", nd->name,
					   k, x->rank);
		int64_t xd = x->shape[axis];
		for (int64_t o = 0; o < outer; o++)
			move(&sp->rs[k], sp->same_dtype, x, o * xd * inner, y, (o * ydim + off) * inner,
			     xd * inner, a->scratch);
		off += xd;
	}
	if (off != ydim)
		return qdb_err_set(err, QDB_ESHAPE, "node %s: concat sizes do not add up", nd->name);
	return QDB_OK;
}

static size_t gather_scratch(const struct qdb_graph *g, int node, const void *prep)
{
	const struct qdb_value *x = &g->values[g->nodes[node].inputs[0]];
	const struct qdb_value *y = &g->values[g->nodes[node].outputs[0]];
	int64_t nx = qdb_shape_numel(x->rank, x->shape), ny = qdb_shape_numel(y->rank, y->shape);
	return (size_t)((nx > 0 ? nx : 1) + (ny > 0 ? ny : 1)) * sizeof(int32_t);
}

static int gather_buffers(const struct qdb_kernel_args *a, int32_t **xb, int32_t **yb,
			  struct qdb_err *err)
{
	int64_t nx = qdb_tensor_numel(a->in[0]), ny = qdb_tensor_numel(a->out[0]);
	size_t need = (size_t)((nx > 0 ? nx : 1) + (ny > 0 ? ny : 1)) * sizeof(int32_t);
	if (!a->scratch || a->scratch_bytes < need)
		return qdb_err_set(err, QDB_EINVAL, "node %s: scratch too small",
				   a->g->nodes[a->node].name);
	*xb = a->scratch;
	*yb = *xb + (nx > 0 ? nx : 1);
	qdb_int_load(a->in[0], 0, nx, *xb);
	return QDB_OK;
}

static int permute_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct shape_prep *sp = a->prep;
	const struct qdb_tensor *xt = a->in[0];
	struct qdb_tensor *yt = a->out[0];
	int64_t perm[QDB_MAX_RANK];
	int n = qdb_ints_param(a->g, a->node, "perm", perm, QDB_MAX_RANK, err), rc;
	if (n < 0)
		return err ? err->code : QDB_EFORMAT;
	if (n != xt->rank || yt->rank != xt->rank)
		return qdb_err_set(err, QDB_EFORMAT, "node %s: attr 'perm': length %d != rank %d",
				   a->g->nodes[a->node].name, n, xt->rank);
	int32_t *x, *y;
	if ((rc = gather_buffers(a, &x, &y, err)))
		return rc;
	int r = xt->rank;
	int64_t xs[QDB_MAX_RANK], st[QDB_MAX_RANK], idx[QDB_MAX_RANK] = {0}, s = 1;
	for (int i = r - 1; i >= 0; i--) {
		xs[i] = s;
		s *= xt->shape[i];
	}
	for (int i = 0; i < r; i++) {
		if (perm[i] < 0 || perm[i] >= r)
			return qdb_err_set(err, QDB_EFORMAT, "node %s: attr 'perm': bad axis",
					   a->g->nodes[a->node].name);
		st[i] = xs[perm[i]];
	}
	int64_t total = qdb_tensor_numel(yt);
	for (int64_t o = 0; o < total; o++) {
		int64_t src = 0;
		for (int i = 0; i < r; i++)
			src += idx[i] * st[i];
		y[o] = x[src];
		for (int i = r - 1; i >= 0; i--) {
			if (++idx[i] < yt->shape[i])
				break;
			idx[i] = 0;
		}
	}
	qdb_rescale_buf(&sp->rs[0], y, total);
	qdb_int_store(yt, 0, total, y);
	return QDB_OK;
}

static int upsample_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct shape_prep *sp = a->prep;
	const struct qdb_tensor *xt = a->in[0];
	struct qdb_tensor *yt = a->out[0];
	if (xt->rank != 4 || yt->rank != 4)
		return qdb_err_set(err, QDB_ESHAPE, "node %s: upsample needs rank-4 tensors",
				   a->g->nodes[a->node].name);
	int64_t H = xt->shape[2], W = xt->shape[3], OH = yt->shape[2], OW = yt->shape[3];
	struct qdb_upsample_params p;
	int rc = qdb_upsample_params_parse(a->g, a->node, H, W, &p, err);
	if (rc)
		return rc;
	int32_t *x, *y;
	if ((rc = gather_buffers(a, &x, &y, err)))
		return rc;
	int64_t planes = xt->shape[0] * xt->shape[1];
	for (int64_t pl = 0; pl < planes; pl++)
		for (int64_t oh = 0; oh < OH; oh++) {
			int64_t ih = qdb_upsample_src(oh, H, OH, p.rh);
			for (int64_t ow = 0; ow < OW; ow++)
				y[(pl * OH + oh) * OW + ow] = x[(pl * H + ih) * W + qdb_upsample_src(ow, W, OW, p.rw)];
		}
	int64_t total = planes * OH * OW;
	qdb_rescale_buf(&sp->rs[0], y, total);
	qdb_int_store(yt, 0, total, y);
	return QDB_OK;
}

const struct qdb_kernel qdb_ki_copy = {shape_prepare, shape_release, chunk_scratch, copy_run};
const struct qdb_kernel qdb_ki_concat = {shape_prepare, shape_release, chunk_scratch, concat_run};
const struct qdb_kernel qdb_ki_permute = {shape_prepare, shape_release, gather_scratch,
					  permute_run};
const struct qdb_kernel qdb_ki_upsample_nearest = {shape_prepare, shape_release, gather_scratch,
						   upsample_run};
