/* conv.c - conv2d in float: NCHW input, OIHW weights, groups (incl.
 * depthwise), stride, padding, dilation, bias, fused activation.
 *
 * Two paths:
 *  - one input channel per group (depthwise, any channel multiplier): direct
 *    loops over output rows; the stride-1 inner loop is a contiguous axpy;
 *  - otherwise per group and per chunk of QDB_GEMM_NC output pixels: im2col
 *    of the chunk into scratch (row-major K x chunk; row segments are
 *    copies of input rows), then the blocked GEMM (gemm.c) into the output
 *    initialised with the bias. A 1x1 stride-1 unpadded convolution
 *    multiplies straight out of its input.
 * The prep holds the parsed attrs and dims; scratch is one im2col chunk.
 */
#include "config.h"

#include <string.h>

#include "base/alloc.h"
#include "ops/gemm.h"
#include "ops/kernel_float.h"

struct conv_prep {
	struct qdb_conv_params p;
	int64_t n, c, h, w;        /* input */
	int64_t o, kh, kw;         /* weights: o x (c/groups) x kh x kw */
	int64_t oh, ow;            /* output */
	int64_t cg, og, k;         /* per group: in channels, out channels, K = cg*kh*kw */
	int has_bias;
};

static int conv_prepare(const struct qdb_graph *g, int node, void **prep, struct qdb_err *err)
{
	const struct qdb_node *nd = &g->nodes[node];
	const struct qdb_value *x = &g->values[nd->inputs[0]], *w = &g->values[nd->inputs[1]];
	const struct qdb_value *y = &g->values[nd->outputs[0]];
	struct conv_prep *cp = qdb_calloc(1, sizeof *cp);
	if (!cp)
		return qdb_err_set(err, QDB_ENOMEM, "node %s: out of memory", nd->name);
	int rc = qdb_conv_params_parse(g, node, &cp->p, err);
	if (rc) {
		qdb_free(cp);
		return rc;
	}
	if (x->rank != 4 || w->rank != 4 || y->rank != 4) {
		qdb_free(cp);
		return qdb_err_set(err, QDB_ESHAPE, "node %s: conv2d needs rank-4 input, weight and output",
				   nd->name);
	}
	cp->n = x->shape[0];
	cp->c = x->shape[1];
	cp->h = x->shape[2];
	cp->w = x->shape[3];
	cp->o = w->shape[0];
	cp->kh = w->shape[2];
	cp->kw = w->shape[3];
	cp->oh = y->shape[2];
	cp->ow = y->shape[3];
	cp->cg = cp->c / cp->p.groups;
	cp->og = cp->o / cp->p.groups;
	cp->k = cp->cg * cp->kh * cp->kw;
	cp->has_bias = nd->n_inputs > 2;
	*prep = cp;
	return QDB_OK;
}

static void conv_release(void *prep) { qdb_free(prep); }

static size_t conv_scratch(const struct qdb_graph *g, int node, const void *prep)
{
	const struct conv_prep *cp = prep;
	if (cp->cg == 1)
		return 0;
	return (size_t)(cp->k * QDB_GEMM_NC) * sizeof(float);
}

typedef float v8f __attribute__((vector_size(32)));

/* y[i] += a * x[i] for n contiguous floats. */
static void axpy(float *restrict y, const float *restrict x, float a, int64_t n)
{
	int64_t i = 0;
	v8f av = (v8f){0} + a;
	for (; i + 8 <= n; i += 8) {
		v8f xv, yv;
		memcpy(&xv, x + i, sizeof xv);
		memcpy(&yv, y + i, sizeof yv);
		yv += av * xv;
		memcpy(y + i, &yv, sizeof yv);
	}
	for (; i < n; i++)
		y[i] += a * x[i];
}

/* First and one-past-last output column whose input column ow*s - pl + off
 * lies in [0, w). */
static void valid_range(int64_t ow_n, int64_t w, int64_t s, int64_t pl, int64_t off,
			int64_t *lo, int64_t *hi)
{
	int64_t start = pl - off; /* need ow*s >= start */
	int64_t l = start <= 0 ? 0 : (start + s - 1) / s;
	int64_t end = w - 1 + pl - off; /* need ow*s <= end */
	int64_t h = end < 0 ? 0 : end / s + 1;
	if (h > ow_n)
		h = ow_n;
	if (l > h)
		l = h;
	*lo = l;
	*hi = h;
}

static void conv_depthwise(const struct conv_prep *cp, const float *x, const float *wt,
			   const float *b, float *y)
{
	const struct qdb_conv_params *p = &cp->p;
	int64_t mult = cp->og; /* output channels per input channel */
	for (int64_t n = 0; n < cp->n; n++) {
		for (int64_t oc = 0; oc < cp->o; oc++) {
			int64_t ic = oc / mult;
			const float *xc = x + (n * cp->c + ic) * cp->h * cp->w;
			const float *wc = wt + oc * cp->kh * cp->kw;
			float *yc = y + (n * cp->o + oc) * cp->oh * cp->ow;
			float bias = b ? b[oc] : 0.0f;
			for (int64_t oh = 0; oh < cp->oh; oh++) {
				float *yr = yc + oh * cp->ow;
				for (int64_t i = 0; i < cp->ow; i++)
					yr[i] = bias;
				for (int64_t ky = 0; ky < cp->kh; ky++) {
					int64_t ih = oh * p->stride[0] - p->pad[0] + ky * p->dil[0];
					if (ih < 0 || ih >= cp->h)
						continue;
					const float *xr = xc + ih * cp->w;
					for (int64_t kx = 0; kx < cp->kw; kx++) {
						float wv = wc[ky * cp->kw + kx];
						int64_t off = kx * p->dil[1], lo, hi;
						valid_range(cp->ow, cp->w, p->stride[1], p->pad[1], off, &lo, &hi);
						if (lo >= hi)
							continue;
						const float *xs = xr + lo * p->stride[1] - p->pad[1] + off;
						if (p->stride[1] == 1) {
							axpy(yr + lo, xs, wv, hi - lo);
						} else {
							int64_t s = p->stride[1];
							for (int64_t i = 0; i < hi - lo; i++)
								yr[lo + i] += wv * xs[i * s];
						}
					}
				}
			}
		}
	}
}

/* im2col of output columns [p0, p0 + nc) of one group into b (K x nc,
 * row-major): row k = (ic, ky, kx) holds input pixels (oh*s - pad + ky*d,
 * ow*s - pad + kx*d), 0 in the padding. */
static void im2col(const struct conv_prep *cp, const float *xg, int64_t p0, int64_t nc, float *b)
{
	const struct qdb_conv_params *p = &cp->p;
	const int64_t khw = cp->kh * cp->kw;
	for (int64_t k = 0; k < cp->k; k++) {
		int64_t ic = k / khw, r = k % khw, ky = r / cp->kw, kx = r % cp->kw;
		const float *xc = xg + ic * cp->h * cp->w;
		int64_t off = kx * p->dil[1], lo, hi, sw = p->stride[1];
		valid_range(cp->ow, cp->w, sw, p->pad[1], off, &lo, &hi);
		float *dst = b + k * nc;
		int64_t pp = p0, oh = p0 / cp->ow, ow = p0 % cp->ow;
		while (pp < p0 + nc) {
			int64_t run = cp->ow - ow < p0 + nc - pp ? cp->ow - ow : p0 + nc - pp;
			int64_t ih = oh * p->stride[0] - p->pad[0] + ky * p->dil[0];
			if (ih < 0 || ih >= cp->h) {
				memset(dst, 0, sizeof(float) * (size_t)run);
			} else {
				const float *xr = xc + ih * cp->w - p->pad[1] + off;
				int64_t a = lo > ow ? lo : ow, e = hi < ow + run ? hi : ow + run, i = ow;
				for (; i < a && i < ow + run; i++)
					dst[i - ow] = 0.0f;
				if (sw == 1 && e > a) {
					memcpy(dst + (a - ow), xr + a, sizeof(float) * (size_t)(e - a));
					i = e;
				} else {
					for (; i < e; i++)
						dst[i - ow] = xr[i * sw];
				}
				for (; i < ow + run; i++)
					dst[i - ow] = 0.0f;
			}
			dst += run;
			pp += run;
			ow = 0;
			oh++;
		}
	}
}

static int conv_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct conv_prep *cp = a->prep;
	const float *x = qdb_kf_in(a, 0), *wt = qdb_kf_in(a, 1);
	const float *b = cp->has_bias ? qdb_kf_in(a, 2) : NULL;
	float *y = qdb_kf_out(a, 0);
	int64_t plane = cp->oh * cp->ow;

	if (cp->cg == 1) {
		conv_depthwise(cp, x, wt, b, y);
	} else {
		int is_1x1 = cp->kh == 1 && cp->kw == 1 && cp->p.stride[0] == 1 &&
			     cp->p.stride[1] == 1 && !cp->p.pad[0] && !cp->p.pad[1] &&
			     !cp->p.pad[2] && !cp->p.pad[3];
		float *bp = a->scratch;
		if (!is_1x1 && (!bp || a->scratch_bytes < (size_t)(cp->k * QDB_GEMM_NC) * sizeof(float)))
			return qdb_err_set(err, QDB_EINVAL, "node %s: conv2d scratch too small",
					   a->g->nodes[a->node].name);
		for (int64_t n = 0; n < cp->n; n++) {
			for (int64_t grp = 0; grp < cp->p.groups; grp++) {
				const float *xg = x + (n * cp->c + grp * cp->cg) * cp->h * cp->w;
				const float *wg = wt + grp * cp->og * cp->k;
				float *yg = y + (n * cp->o + grp * cp->og) * plane;
				for (int64_t m = 0; m < cp->og; m++) {
					float bias = b ? b[grp * cp->og + m] : 0.0f;
					for (int64_t i = 0; i < plane; i++)
						yg[m * plane + i] = bias;
				}
				if (is_1x1) {
					qdb_gemm(cp->og, plane, cp->k, wg, cp->k, xg, plane, yg, plane);
					continue;
				}
				for (int64_t p0 = 0; p0 < plane; p0 += QDB_GEMM_NC) {
					int64_t nc = plane - p0 < QDB_GEMM_NC ? plane - p0 : QDB_GEMM_NC;
					im2col(cp, xg, p0, nc, bp);
					qdb_gemm(cp->og, nc, cp->k, wg, cp->k, bp, nc, yg + p0, plane);
				}
			}
		}
	}
	qdb_act_apply(y, cp->n * cp->o * plane, &cp->p.act);
	return QDB_OK;
}

const struct qdb_kernel qdb_kf_conv2d = {
	.prepare = conv_prepare,
	.release = conv_release,
	.scratch_size = conv_scratch,
	.run = conv_run,
};
