/* linear.c - linear (x[..., in] * w[out, in]^T + b) and matmul (torch
 * semantics: 1-d operands promoted and squeezed, leading dims broadcast),
 * in float with double accumulation. */
#include "config.h"

#include <string.h>

#include "ops/kernel_float.h"

static double dot(const float *a, const float *b, int64_t n)
{
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	int64_t i = 0;
	for (; i + 4 <= n; i += 4) {
		s0 += (double)a[i] * b[i];
		s1 += (double)a[i + 1] * b[i + 1];
		s2 += (double)a[i + 2] * b[i + 2];
		s3 += (double)a[i + 3] * b[i + 3];
	}
	for (; i < n; i++)
		s0 += (double)a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

static int linear_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct qdb_tensor *xt = a->in[0], *wt = a->in[1];
	const float *x = qdb_kf_in(a, 0), *w = qdb_kf_in(a, 1);
	const float *b = a->g->nodes[a->node].n_inputs > 2 ? qdb_kf_in(a, 2) : NULL;
	float *y = qdb_kf_out(a, 0);
	struct qdb_act act;
	int rc = qdb_act_parse(a->g, a->node, &act, err);
	if (rc)
		return rc;
	int64_t in = wt->shape[1], out = wt->shape[0];
	int64_t rows = in ? qdb_tensor_numel(xt) / in : 0;
	if (in == 0) /* empty reduction: bias only */
		rows = qdb_tensor_numel(a->out[0]) / (out ? out : 1);
	for (int64_t r = 0; r < rows; r++)
		for (int64_t o = 0; o < out; o++)
			y[r * out + o] = (float)(dot(x + r * in, w + o * in, in) + (b ? (double)b[o] : 0.0));
	qdb_act_apply(y, rows * out, &act);
	return QDB_OK;
}

const struct qdb_kernel qdb_kf_linear = {.run = linear_run};

/* matmul */

struct mm_dims {
	int brank;                          /* broadcast batch rank */
	int64_t bshape[QDB_MAX_RANK];
	int64_t astride[QDB_MAX_RANK], bstride[QDB_MAX_RANK]; /* in matrices, 0 = broadcast */
	int64_t n, k, m;
};

static void mm_dims(const struct qdb_tensor *at, const struct qdb_tensor *bt, struct mm_dims *d)
{
	int ar = at->rank, br = bt->rank;
	int64_t ash[QDB_MAX_RANK + 1], bsh[QDB_MAX_RANK + 1];
	/* promote 1-d operands: a [k] -> [1, k]; b [k] -> [k, 1] */
	if (ar == 1) {
		ash[0] = 1;
		ash[1] = at->shape[0];
		ar = 2;
	} else {
		memcpy(ash, at->shape, sizeof(int64_t) * (size_t)ar);
	}
	if (br == 1) {
		bsh[0] = bt->shape[0];
		bsh[1] = 1;
		br = 2;
	} else {
		memcpy(bsh, bt->shape, sizeof(int64_t) * (size_t)br);
	}
	d->n = ash[ar - 2];
	d->k = ash[ar - 1];
	d->m = bsh[br - 1];
	int abr = ar - 2, bbr = br - 2;
	d->brank = abr > bbr ? abr : bbr;
	int64_t as = 1, bs = 1;
	for (int i = d->brank - 1; i >= 0; i--) {
		int ai = i - (d->brank - abr), bi = i - (d->brank - bbr);
		int64_t ad = ai >= 0 ? ash[ai] : 1, bd = bi >= 0 ? bsh[bi] : 1;
		d->bshape[i] = ad > bd ? ad : bd;
		d->astride[i] = ad == 1 ? 0 : as;
		d->bstride[i] = bd == 1 ? 0 : bs;
		as *= ad;
		bs *= bd;
	}
}

static size_t matmul_scratch(const struct qdb_graph *g, int node, const void *prep)
{
	const struct qdb_node *nd = &g->nodes[node];
	const struct qdb_value *b = &g->values[nd->inputs[1]];
	int64_t m = b->rank >= 2 ? b->shape[b->rank - 1] : 1;
	return (size_t)(m > 0 ? m : 1) * sizeof(double);
}

static int matmul_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	struct mm_dims d;
	mm_dims(a->in[0], a->in[1], &d);
	const float *A = qdb_kf_in(a, 0), *B = qdb_kf_in(a, 1);
	float *Y = qdb_kf_out(a, 0);
	double *acc = a->scratch;
	if ((size_t)d.m * sizeof(double) > a->scratch_bytes && d.m > 0)
		return qdb_err_set(err, QDB_EINVAL, "node %s: matmul scratch too small",
				   a->g->nodes[a->node].name);
	int64_t batches = qdb_shape_numel(d.brank, d.bshape);
	int64_t idx[QDB_MAX_RANK] = {0};
	for (int64_t bi = 0; bi < batches; bi++) {
		int64_t ao = 0, bo = 0;
		for (int i = 0; i < d.brank; i++) {
			ao += idx[i] * d.astride[i];
			bo += idx[i] * d.bstride[i];
		}
		const float *Am = A + ao * d.n * d.k, *Bm = B + bo * d.k * d.m;
		float *Ym = Y + bi * d.n * d.m;
		for (int64_t i = 0; i < d.n; i++) {
			for (int64_t j = 0; j < d.m; j++)
				acc[j] = 0;
			for (int64_t kk = 0; kk < d.k; kk++) {
				double av = Am[i * d.k + kk];
				const float *br = Bm + kk * d.m;
				for (int64_t j = 0; j < d.m; j++)
					acc[j] += av * br[j];
			}
			for (int64_t j = 0; j < d.m; j++)
				Ym[i * d.m + j] = (float)acc[j];
		}
		for (int i = d.brank - 1; i >= 0; i--) {
			if (++idx[i] < d.bshape[i])
				break;
			idx[i] = 0;
		}
	}
	return QDB_OK;
}

const struct qdb_kernel qdb_kf_matmul = {.scratch_size = matmul_scratch, .run = matmul_run};
