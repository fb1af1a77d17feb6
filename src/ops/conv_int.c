/* conv_int.c - conv2d on integers: int8/uint8/int16 activations, int8/uint8
 * weights (per-tensor or per output channel), groups incl. depthwise,
 * stride, dilation, padding with the input zero point, fused
 * relu/relu6/clamp applied in the integer domain.
 *
 * The input of each sample is first widened to int16 (x - zp_x) in a
 * zero-padded buffer, so padding contributes exactly 0 to the sums and the
 * window loops need no bounds checks. Then:
 *  - one input channel per group (depthwise): direct loops, int32
 *    accumulators per output plane, stride-1 rows vectorised;
 *  - otherwise per group and chunk of output pixels: im2col straight into
 *    pair-packed panels and the int16 GEMM (igemm.c), int32 accumulation
 *    (int64 when K * |x| * |w| could overflow, e.g. int16 inputs);
 *  - activations whose (x - zp_x) does not fit int16 (int16 data with a
 *    far zero point): a direct int64 loop, slow but exact.
 * Accumulators are requantized per output channel (qdb_wq_requant).
 */
#include "config.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CONV_X86 1
#endif

#include "base/alloc.h"
#include "ops/igemm.h"
#include "ops/kernel_int.h"

struct conv_prep {
	struct qdb_conv_params p;
	struct qdb_wq wq;
	int64_t cg, og, kh, kw, k;
	int depthwise;     /* cg == 1 */
	int direct64;      /* operands do not fit the int16 paths */
	int wide;          /* GEMM accumulates into int64 */
	int64_t kc;        /* GEMM pair block */
	int64_t xmax;
	int32_t *ap;       /* packed weights, groups x a_pairs(og, k) */
	size_t ap_group;
};

/* Output pixels per GEMM chunk: a multiple of NR, K-dependent. */
static int64_t chunk_cols(int64_t k, int64_t plane)
{
	int64_t kp = qdb_igemm_kp(k) > 0 ? qdb_igemm_kp(k) : 1;
	int64_t nc = (int64_t)(1 << 18) / (kp * 4); /* packed chunk ~256 KiB */
	nc = nc / QDB_IGEMM_NR * QDB_IGEMM_NR;
	if (nc < 2 * QDB_IGEMM_NR)
		nc = 2 * QDB_IGEMM_NR;
	if (nc > 512)
		nc = 512;
	int64_t pr = (plane + QDB_IGEMM_NR - 1) / QDB_IGEMM_NR * QDB_IGEMM_NR;
	return nc < pr ? nc : pr;
}

static void conv_release(void *prep)
{
	struct conv_prep *cp = prep;
	if (!cp)
		return;
	qdb_wq_done(&cp->wq);
	qdb_free(cp->ap);
	qdb_free(cp);
}

static int conv_prepare(const struct qdb_graph *g, int node, void **prep, struct qdb_err *err)
{
	const struct qdb_node *nd = &g->nodes[node];
	struct conv_prep *cp = qdb_calloc(1, sizeof *cp);
	int rc;
	if (!cp)
		return qdb_err_set(err, QDB_ENOMEM, "node %s: out of memory", nd->name);
	if ((rc = qdb_conv_params_parse(g, node, &cp->p, err)))
		goto fail;
	const struct qdb_value *xv = &g->values[nd->inputs[0]], *wv = &g->values[nd->inputs[1]];
	if (xv->rank != 4 || wv->rank != 4) {
		rc = qdb_err_set(err, QDB_ESHAPE, "node %s: conv2d needs rank-4 input and weight",
				 nd->name);
		goto fail;
	}
	if ((rc = qdb_wq_prepare(g, node, cp->p.groups, &cp->wq, err)))
		goto fail;
	cp->kh = wv->shape[2];
	cp->kw = wv->shape[3];
	cp->cg = wv->shape[1];
	cp->og = cp->wq.o / cp->p.groups;
	cp->k = cp->cg * cp->kh * cp->kw;
	if (cp->cg * cp->p.groups != xv->shape[1] || cp->og * cp->p.groups != cp->wq.o) {
		rc = qdb_err_set(err, QDB_ESHAPE, "node %s: channels do not match groups", nd->name);
		goto fail;
	}
	cp->depthwise = cp->cg == 1;
	int64_t dlo = cp->wq.x.lo - cp->wq.x.zp, dhi = cp->wq.x.hi - cp->wq.x.zp;
	cp->xmax = -dlo > dhi ? -dlo : dhi;
	cp->direct64 = dlo < -32768 || dhi > 32767;
	if (!cp->direct64) {
		if (cp->depthwise) {
			/* Depthwise sums K = kh*kw products in int32. */
			cp->direct64 = cp->k * cp->xmax * (cp->wq.wmax > 0 ? cp->wq.wmax : 1) > INT32_MAX;
		} else {
			cp->kc = qdb_igemm_kc(cp->wq.wmax, cp->xmax);
			if (cp->kc == 0)
				cp->direct64 = 1;
			cp->wide = qdb_igemm_wide(cp->k, cp->wq.wmax, cp->xmax);
		}
	}
	if (!cp->direct64 && !cp->depthwise) {
		cp->ap_group = qdb_igemm_a_pairs(cp->og, cp->k);
		cp->ap = qdb_alloc_array(cp->ap_group * (size_t)cp->p.groups, sizeof *cp->ap);
		if (!cp->ap) {
			rc = qdb_err_set(err, QDB_ENOMEM, "node %s: out of memory", nd->name);
			goto fail;
		}
		for (int64_t gi = 0; gi < cp->p.groups; gi++)
			qdb_igemm_pack_a(cp->wq.w16 + gi * cp->og * cp->k, cp->k, cp->og, cp->k,
					 cp->ap + gi * cp->ap_group);
	}
	*prep = cp;
	return QDB_OK;
fail:
	conv_release(cp);
	return rc;
}

struct conv_dims {
	int64_t c, h, w, hp, wp, o, oh, ow, plane;
};

static void dims_of(const struct conv_prep *cp, const struct qdb_tensor *x,
		    const struct qdb_tensor *y, struct conv_dims *d)
{
	d->c = x->shape[1];
	d->h = x->shape[2];
	d->w = x->shape[3];
	d->hp = d->h + cp->p.pad[0] + cp->p.pad[2];
	d->wp = d->w + cp->p.pad[1] + cp->p.pad[3];
	d->o = y->shape[1];
	d->oh = y->shape[2];
	d->ow = y->shape[3];
	d->plane = d->oh * d->ow;
}

/* Scratch: padded input (int16), then per path: packed B chunk + C + row
 * offsets, or a depthwise plane accumulator; plus one output row. */
static size_t conv_scratch_for(const struct conv_prep *cp, const struct conv_dims *d)
{
	size_t xp = (size_t)(d->c * d->hp * d->wp) * sizeof(int16_t) +
		    (size_t)d->w * sizeof(int32_t);
	size_t rest;
	if (cp->direct64) {
		return (size_t)d->plane * (sizeof(int64_t) + sizeof(int32_t)) + 8 * 64;
	} else if (cp->depthwise) {
		rest = (size_t)d->plane * 2 * sizeof(int32_t);
	} else {
		int64_t nc = chunk_cols(cp->k, d->plane);
		rest = qdb_igemm_b_pairs(nc, cp->k) * sizeof(int32_t) +
		       (size_t)(cp->og * nc) * (cp->wide ? sizeof(int64_t) : sizeof(int32_t)) +
		       (size_t)nc * (sizeof(int64_t) + sizeof(int32_t));
	}
	return xp + rest + 8 * 64;
}

static size_t conv_scratch(const struct qdb_graph *g, int node, const void *prep)
{
	const struct conv_prep *cp = prep;
	const struct qdb_node *nd = &g->nodes[node];
	const struct qdb_value *xv = &g->values[nd->inputs[0]], *yv = &g->values[nd->outputs[0]];
	struct qdb_tensor x, y;
	x.rank = y.rank = 4;
	memcpy(x.shape, xv->shape, sizeof x.shape);
	memcpy(y.shape, yv->shape, sizeof y.shape);
	struct conv_dims d;
	dims_of(cp, &x, &y, &d);
	return conv_scratch_for(cp, &d);
}

static void *bump(unsigned char **p, size_t n)
{
	uintptr_t a = ((uintptr_t)*p + 63) & ~(uintptr_t)63;
	*p = (unsigned char *)a + n;
	return (void *)a;
}

/* (x - zp) of sample b, all channels, into the zero-padded int16 buffer. */
static void widen_padded(const struct conv_prep *cp, const struct conv_dims *d,
			 const struct qdb_tensor *x, int64_t b, int16_t *xp, int32_t *row)
{
	int64_t zp = cp->wq.x.zp, pt = cp->p.pad[0], pl = cp->p.pad[1];
	memset(xp, 0, (size_t)(d->c * d->hp * d->wp) * sizeof *xp);
	for (int64_t c = 0; c < d->c; c++) {
		for (int64_t i = 0; i < d->h; i++) {
			qdb_int_load(x, ((b * d->c + c) * d->h + i) * d->w, d->w, row);
			int16_t *dst = xp + (c * d->hp + i + pt) * d->wp + pl;
			for (int64_t j = 0; j < d->w; j++)
				dst[j] = (int16_t)(row[j] - zp);
		}
	}
}

/* acc[i] += w * src[i * stride] for n outputs. */
static void dw_row_generic(int32_t *acc, const int16_t *src, int64_t stride, int32_t w,
			   int64_t n)
{
	if (stride == 1) {
		for (int64_t i = 0; i < n; i++)
			acc[i] += w * src[i];
	} else {
		for (int64_t i = 0; i < n; i++)
			acc[i] += w * src[i * stride];
	}
}

#ifdef CONV_X86
__attribute__((target("avx2"))) static void dw_row_avx2(int32_t *acc, const int16_t *src,
							 int64_t stride, int32_t w, int64_t n)
{
	int64_t i = 0;
	if (stride == 1) {
		__m256i wv = _mm256_set1_epi32(w);
		for (; i + 8 <= n; i += 8) {
			__m256i x = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
			__m256i a = _mm256_loadu_si256((const __m256i *)(acc + i));
			a = _mm256_add_epi32(a, _mm256_mullo_epi32(x, wv));
			_mm256_storeu_si256((__m256i *)(acc + i), a);
		}
	}
	for (; i < n; i++)
		acc[i] += w * src[i * stride];
}
#endif

typedef void (*dw_row_fn)(int32_t *, const int16_t *, int64_t, int32_t, int64_t);

static dw_row_fn pick_dw_row(void)
{
#ifdef CONV_X86
	if (__builtin_cpu_supports("avx2"))
		return dw_row_avx2;
#endif
	return dw_row_generic;
}

static void conv_depthwise(const struct conv_prep *cp, const struct conv_dims *d,
			   const int16_t *xp, int32_t *acc, int32_t *q, struct qdb_tensor *y,
			   int64_t b)
{
	dw_row_fn row_fn = pick_dw_row();
	const struct qdb_conv_params *p = &cp->p;
	for (int64_t oc = 0; oc < d->o; oc++) {
		int64_t ic = oc / cp->og;
		const int16_t *xc = xp + ic * d->hp * d->wp;
		const int16_t *wc = cp->wq.w16 + oc * cp->k;
		memset(acc, 0, (size_t)d->plane * sizeof *acc);
		for (int64_t oh = 0; oh < d->oh; oh++) {
			int32_t *ar = acc + oh * d->ow;
			for (int64_t ky = 0; ky < cp->kh; ky++) {
				const int16_t *xr = xc + (oh * p->stride[0] + ky * p->dil[0]) * d->wp;
				for (int64_t kx = 0; kx < cp->kw; kx++) {
					int32_t wv = wc[ky * cp->kw + kx];
					if (wv)
						row_fn(ar, xr + kx * p->dil[1], p->stride[1], wv, d->ow);
				}
			}
		}
		qdb_wq_requant(&cp->wq, oc, acc, NULL, d->plane, q);
		qdb_int_store(y, (b * d->o + oc) * d->plane, d->plane, q);
	}
}

static void conv_gemm(const struct conv_prep *cp, const struct conv_dims *d, const int16_t *xp,
		      unsigned char *scratch, struct qdb_tensor *y, int64_t b)
{
	const struct qdb_conv_params *p = &cp->p;
	int64_t nc_max = chunk_cols(cp->k, d->plane), kp = qdb_igemm_kp(cp->k);
	int64_t khw = cp->kh * cp->kw;
	unsigned char *s = scratch;
	int32_t *bp = bump(&s, qdb_igemm_b_pairs(nc_max, cp->k) * sizeof(int32_t));
	void *cbuf = bump(&s, (size_t)(cp->og * nc_max) * (cp->wide ? sizeof(int64_t) : sizeof(int32_t)));
	int64_t *off = bump(&s, (size_t)nc_max * sizeof(int64_t));
	int32_t *q = bump(&s, (size_t)nc_max * sizeof(int32_t));
	int32_t *c32 = cp->wide ? NULL : cbuf;
	int64_t *c64 = cp->wide ? cbuf : NULL;
	for (int64_t gi = 0; gi < p->groups; gi++) {
		const int16_t *xg = xp + gi * cp->cg * d->hp * d->wp;
		for (int64_t n0 = 0; n0 < d->plane; n0 += nc_max) {
			int64_t nc = d->plane - n0 < nc_max ? d->plane - n0 : nc_max;
			int64_t panels = (nc + QDB_IGEMM_NR - 1) / QDB_IGEMM_NR;
			/* Top-left input offset of each output pixel in the chunk. */
			int64_t oh = n0 / d->ow, ow = n0 % d->ow;
			for (int64_t n = 0; n < nc; n++) {
				off[n] = oh * p->stride[0] * d->wp + ow * p->stride[1];
				if (++ow == d->ow) {
					ow = 0;
					oh++;
				}
			}
			/* im2col: pair p holds k = 2p (low half) and 2p+1 (high half). */
			for (int64_t pi = 0; pi < kp; pi++) {
				int64_t k0 = 2 * pi, k1 = 2 * pi + 1;
				const int16_t *s0 = xg + (k0 / khw) * d->hp * d->wp +
						    ((k0 % khw) / cp->kw) * p->dil[0] * d->wp +
						    (k0 % cp->kw) * p->dil[1];
				const int16_t *s1 = NULL;
				if (k1 < cp->k)
					s1 = xg + (k1 / khw) * d->hp * d->wp +
					     ((k1 % khw) / cp->kw) * p->dil[0] * d->wp +
					     (k1 % cp->kw) * p->dil[1];
				for (int64_t j = 0; j < panels; j++) {
					uint32_t *dst = (uint32_t *)bp + (j * kp + pi) * QDB_IGEMM_NR;
					int64_t nb = j * QDB_IGEMM_NR;
					int64_t w = nc - nb < QDB_IGEMM_NR ? nc - nb : QDB_IGEMM_NR;
					const int64_t *o = off + nb;
					int64_t c = 0;
					if (s1)
						for (; c < w; c++)
							dst[c] = (uint32_t)(uint16_t)s0[o[c]] |
								 ((uint32_t)(uint16_t)s1[o[c]] << 16);
					else
						for (; c < w; c++)
							dst[c] = (uint32_t)(uint16_t)s0[o[c]];
					for (; c < QDB_IGEMM_NR; c++)
						dst[c] = 0;
				}
			}
			qdb_igemm(cp->og, nc, cp->k, cp->ap + gi * cp->ap_group, bp, cp->kc, c32, c64,
				  nc);
			for (int64_t m = 0; m < cp->og; m++) {
				int64_t oc = gi * cp->og + m;
				qdb_wq_requant(&cp->wq, oc, c32 ? c32 + m * nc : NULL,
					       c64 ? c64 + m * nc : NULL, nc, q);
				qdb_int_store(y, (b * d->o + oc) * d->plane + n0, nc, q);
			}
		}
	}
}

/* Exact fallback: int64 sums straight from the tensor. */
static void conv_direct64(const struct conv_prep *cp, const struct conv_dims *d,
			  const struct qdb_tensor *x, unsigned char *scratch, struct qdb_tensor *y,
			  int64_t b)
{
	const struct qdb_conv_params *p = &cp->p;
	unsigned char *s = scratch;
	int64_t *acc = bump(&s, (size_t)d->plane * sizeof *acc);
	int32_t *q = bump(&s, (size_t)d->plane * sizeof *q);
	int64_t zp = cp->wq.x.zp;
	for (int64_t oc = 0; oc < d->o; oc++) {
		int64_t gi = oc / cp->og;
		for (int64_t oh = 0; oh < d->oh; oh++) {
			for (int64_t ow = 0; ow < d->ow; ow++) {
				int64_t sum = 0;
				for (int64_t c = 0; c < cp->cg; c++) {
					int64_t ic = gi * cp->cg + c;
					for (int64_t ky = 0; ky < cp->kh; ky++) {
						int64_t iy = oh * p->stride[0] - p->pad[0] + ky * p->dil[0];
						if (iy < 0 || iy >= d->h)
							continue;
						for (int64_t kx = 0; kx < cp->kw; kx++) {
							int64_t ix = ow * p->stride[1] - p->pad[1] + kx * p->dil[1];
							if (ix < 0 || ix >= d->w)
								continue;
							int64_t xv = (int64_t)qdb_tensor_get(
									     x, ((b * d->c + ic) * d->h + iy) * d->w + ix) - zp;
							sum += xv * cp->wq.w16[oc * cp->k + (c * cp->kh + ky) * cp->kw + kx];
						}
					}
				}
				acc[oh * d->ow + ow] = sum;
			}
		}
		qdb_wq_requant(&cp->wq, oc, NULL, acc, d->plane, q);
		qdb_int_store(y, (b * d->o + oc) * d->plane, d->plane, q);
	}
}

static int conv_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	const struct conv_prep *cp = a->prep;
	const struct qdb_tensor *x = a->in[0];
	struct qdb_tensor *y = a->out[0];
	const char *name = a->g->nodes[a->node].name;
	struct conv_dims d;
	if (x->rank != 4 || y->rank != 4)
		return qdb_err_set(err, QDB_ESHAPE, "node %s: conv2d needs rank-4 tensors", name);
	dims_of(cp, x, y, &d);
	if (d.c != cp->cg * cp->p.groups || d.o != cp->wq.o)
		return qdb_err_set(err, QDB_ESHAPE, "node %s: conv2d channels changed since prepare",
				   name);
	size_t need = conv_scratch_for(cp, &d);
	if (!a->scratch || a->scratch_bytes < need)
		return qdb_err_set(err, QDB_EINVAL, "node %s: conv2d scratch too small (%zu < %zu)",
				   name, a->scratch_bytes, need);
	for (int64_t b = 0; b < x->shape[0]; b++) {
		unsigned char *s = a->scratch;
		if (cp->direct64) {
			conv_direct64(cp, &d, x, s, y, b);
			continue;
		}
		int32_t *row = bump(&s, (size_t)d.w * sizeof(int32_t));
		int16_t *xp = bump(&s, (size_t)(d.c * d.hp * d.wp) * sizeof(int16_t));
		widen_padded(cp, &d, x, b, xp, row);
		if (cp->depthwise) {
			int32_t *acc = bump(&s, (size_t)d.plane * sizeof(int32_t));
			int32_t *q = bump(&s, (size_t)d.plane * sizeof(int32_t));
			conv_depthwise(cp, &d, xp, acc, q, y, b);
		} else {
			conv_gemm(cp, &d, xp, s, y, b);
		}
	}
	return QDB_OK;
}

const struct qdb_kernel qdb_ki_conv2d = {
	.prepare = conv_prepare,
	.release = conv_release,
	.scratch_size = conv_scratch,
	.run = conv_run,
};
