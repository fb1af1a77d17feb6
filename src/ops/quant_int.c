/* quant_int.c - quantize (float -> integer) and dequantize (integer ->
 * float) in a quantized graph.
 *
 * quantize: zp + rint(x * (1.0f/s)) in float, as quantize_per_tensor and
 * the qat graph's fake quantization round (NaN and overflow to qmin, as
 * torch's cast does), in both profiles: float data is quantized on the
 * host, so the fixed profile's rounding governs requantization only. The
 * range is the profile's (dtype for torch, [qmin, qmax] for fixed). An
 * integer input is rescaled instead.
 * dequantize: (float)((double)(float)(q - zp) * s), torch's dequantize_val,
 * for both profiles (per-channel inputs through qdb_tensor_to_f32).
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "ops/kernel_int.h"
#include "ops/quant.h"

#define CHUNK 1024

struct q_prep {
	struct qdb_qp out;
	int torch;
	enum qdb_rounding rounding;
	int int_input;
	struct qdb_rescale rs;
};

static int quantize_prepare(const struct qdb_graph *g, int node, void **prep, struct qdb_err *err)
{
	const struct qdb_node *nd = &g->nodes[node];
	struct q_prep *qp = qdb_calloc(1, sizeof *qp);
	int rc;
	if (!qp)
		return qdb_err_set(err, QDB_ENOMEM, "node %s: out of memory", nd->name);
	if ((rc = qdb_qp_of(g, node, nd->outputs[0], &qp->out, err)))
		goto fail;
	qp->torch = g->profile == QDB_PROFILE_TORCH;
	qp->rounding = g->rounding;
	const struct qdb_value *in = &g->values[nd->inputs[0]];
	if (in->q.n > 0) {
		struct qdb_qp iq;
		qp->int_input = 1;
		if ((rc = qdb_qp_of(g, node, nd->inputs[0], &iq, err)) ||
		    (rc = qdb_rescale_init(g, node, 0, &iq, &qp->out, &qp->rs, err)))
			goto fail;
	}
	*prep = qp;
	return QDB_OK;
fail:
	qdb_free(qp);
	return rc;
}

static void free_prep(void *p) { qdb_free(p); }

static size_t q_scratch(const struct qdb_graph *g, int node, const void *prep)
{
	return CHUNK * (sizeof(int32_t) + sizeof(float));
}

static int quantize_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct q_prep *qp = a->prep;
	const struct qdb_tensor *x = a->in[0];
	int64_t n = qdb_tensor_numel(x);
	if (!a->scratch || a->scratch_bytes < CHUNK * (sizeof(int32_t) + sizeof(float)))
		return qdb_err_set(err, QDB_EINVAL, "node %s: scratch too small",
				   a->g->nodes[a->node].name);
	int32_t *buf = a->scratch;
	float *fb = (float *)(buf + CHUNK);
	const struct qdb_qp *o = &qp->out;
	float inv = 1.0f / (float)o->s;
	int int_in = qdb_dtype_is_int(x->dtype);
	for (int64_t i = 0; i < n; i += CHUNK) {
		int64_t m = n - i < CHUNK ? n - i : CHUNK;
		if (int_in) {
			qdb_int_load(x, i, m, buf);
			if (qp->int_input)
				qdb_rescale_buf(&qp->rs, buf, m);
			else
				for (int64_t j = 0; j < m; j++)
					buf[j] = (int32_t)qdb_clamp64(buf[j], o->lo, o->hi);
		} else {
			for (int64_t j = 0; j < m; j++)
				fb[j] = (float)qdb_tensor_get(x, i + j);
			for (int64_t j = 0; j < m; j++)
				buf[j] = (int32_t)qdb_quant_step(fb[j], inv, o->zp, o->lo, o->hi);
		}
		qdb_int_store(a->out[0], i, m, buf);
	}
	return QDB_OK;
}

const struct qdb_kernel qdb_ki_quantize = {quantize_prepare, free_prep, q_scratch, quantize_run};

static int dequantize_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct qdb_tensor *x = a->in[0];
	struct qdb_tensor *y = a->out[0];
	int64_t n = qdb_tensor_numel(x);
	if (y->dtype != QDB_F32 || qdb_tensor_numel(y) != n)
		return qdb_err_set(err, QDB_EINVAL, "node %s: dequantize output must be f32 of the same size",
				   a->g->nodes[a->node].name);
	float *out = y->data;
	if (!qdb_dtype_is_int(x->dtype) || x->q.n != 1) {
		qdb_tensor_to_f32(x, out);
		return QDB_OK;
	}
	if (!a->scratch || a->scratch_bytes < CHUNK * sizeof(int32_t))
		return qdb_err_set(err, QDB_EINVAL, "node %s: scratch too small",
				   a->g->nodes[a->node].name);
	int32_t *buf = a->scratch;
	double s = x->q.scale[0];
	int64_t zp = x->q.zero_point[0];
	for (int64_t i = 0; i < n; i += CHUNK) {
		int64_t m = n - i < CHUNK ? n - i : CHUNK;
		qdb_int_load(x, i, m, buf);
		for (int64_t j = 0; j < m; j++)
			out[i + j] = (float)((double)(float)((int64_t)buf[j] - zp) * s);
	}
	return QDB_OK;
}

const struct qdb_kernel qdb_ki_dequantize = {NULL, NULL, q_scratch, dequantize_run};
