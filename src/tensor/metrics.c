/* metrics.c - comparison metrics in one pass (the hot path of `qdb compare`).
 *
 * The data is walked once in blocks of BLK elements. A fused kernel reads
 * both tensors in place (f32, f64, i8, u8, i16, i32: integers dequantized in
 * registers, a per tensor, b per tensor or per channel) and accumulates
 * every sum of the block in one branch-free loop; anything else (i64, a per
 * channel, top1) is first dequantized into a double buffer by
 * qdb_tensor_load_real and read by the same kernel as f64. Each sum keeps
 * four lanes: element i of a block goes to lane i % 4, lanes are combined
 * as (0 + 2) + (1 + 3) and the last block's tail is added in order after
 * them. That order is the same for every kernel and instruction set, so the
 * results never depend on the path taken; summing per block also keeps the
 * double sums accurate.
 *
 * A per-channel b is walked in runs of one channel. A group of four that
 * straddles two channels is done once per run with the other lanes masked
 * (a masked lane adds +0, which changes no sum). A run keeps its own max
 * |a-b| and divides it once by the channel's scale: as rounding is
 * monotonic that is exactly the max of the per-element |a-b| / scale.
 *
 * The kernel assumes finite values. A block whose sum of (a-b)^2 is not
 * finite may hold a non-finite difference; it is checked, and if one is
 * found the block is redone by a careful per-element path that counts
 * NaN/Inf and skips those pairs. Block sums are added to the totals only
 * when the block is clean.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/metrics.h"

enum { BLK = 1024 };

/* Per-channel runs shorter than this are not worth a run each (channels on
 * the last axis): such blocks are staged, with a per-element threshold and
 * one division per element. */
enum { MIN_RUN = 2 };

/* Slack for the mismatch test against 1 LSB: the dequantized difference
 * carries double rounding of at most 2^-53 (|a| + |b| + |d|), so a pair that
 * is exactly one step apart must not count as "more than one step". */
#define LSB_SLACK 0x1p-50

/* Sums of one block. */
struct part {
	double saa, sbb, sab, sdd, sad, dmax, smax;
	int64_t mism;
};

/* What the fused kernel reads in place. Integer kinds are dequantized as
 * (q - zp) * s (zp 0 and s 1 when unquantized: exact); K_F64 is also the
 * kind of a staged block. */
enum kind { K_F32, K_F64, K_I8, K_U8, K_I16, K_I32, K_COUNT };
#define KIND_INT(k) ((k) >= K_I8)
static const size_t kind_size[K_COUNT] = {4, 8, 1, 1, 2, 4};

static int kind_of(enum qdb_dtype d)
{
	switch (d) {
	case QDB_F32: return K_F32;
	case QDB_F64: return K_F64;
	case QDB_I8: return K_I8;
	case QDB_U8: return K_U8;
	case QDB_I16: return K_I16;
	case QDB_I32: return K_I32;
	default: return -1;
	}
}

/* One block for the kernel. */
struct kargs {
	const unsigned char *pa, *pb; /* element 0 of the block (in place or staged) */
	int ka, kb;
	int64_t n4;                   /* elements done in vectors: len rounded down to 4 */
	int64_t i0;                   /* flat index of element 0 (channel of the first run) */
	double za, sa;                /* a's per-tensor dequantization (integer ka) */
	double zb, sb;                /* b's, when b is not per channel */
	double thr1, slack;           /* mismatch threshold and its slack */
	int simple;                   /* the mismatch test reduces to |d| > thr1 */
	int per_channel;              /* runs of `inner` share channel (i / inner) % dim */
	int64_t inner, dim;
	const double *scale;
	const int64_t *zero_point;
	const double *thr;            /* per-element thresholds of a staged block, or NULL */
};

/* Four lanes with GCC/clang vector extensions: generic code splits them in
 * SSE2 (or NEON) halves, the target("avx2") copy uses whole registers. No
 * -ffast-math and no contraction (-std=c11): every copy computes the same
 * roundings in the same order. */
typedef double v4d __attribute__((vector_size(32)));
typedef long long v4i __attribute__((vector_size(32)));

/* The vector loop asks for the data PF_AHEAD elements ahead. A page of an
 * mmapped file is a 4 KiB stream of its own which the hardware prefetcher
 * does not follow into the next page, so without this every page starts
 * with cache misses (2x the time on page-cached traces). A prefetch never
 * faults; the address is formed as an integer as it may lie past the end. */
enum { PF_AHEAD = 1024 };
#define PREFETCH(base, j, size)                                                \
	__builtin_prefetch((const void *)((uintptr_t)(base) + (size_t)((j) + PF_AHEAD) * (size)), 0, 3)

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define SPLAT(x) ((v4d){(x), (x), (x), (x)})
#define VABS(x) ((v4d)((v4i)(x) & (v4i){INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX}))
#define VAND(x, m) ((v4d)((v4i)(x) & (m)))

struct vacc {
	v4d saa, sbb, sab, sdd, sad, mx, smax;
	v4i mism;
};

/* Constants of a run: dequantization of a and b, threshold, slack. */
struct run {
	v4d za, sa, zb, sb, t, vs;
};

/* The kernel, written once and compiled per instruction set SUF with
 * attributes ATTR; LOAD4_SUF(kind, p, out) reads four elements as doubles
 * and VMAX_SUF(x, y) is x > y ? x : y per lane.
 *
 * step: one group of four at j. tv: per-element thresholds (and max |d|/t
 * per element); simple: the test is |d| > t; mask: lanes outside the run
 * add nothing.
 * span: elements [s, e) of the block (e <= n4); only a group that sticks
 * out of the run is masked.
 * kern: the vector part of a block, elements [0, n4), run by run. */
#define DEFINE_KERNEL(SUF, ATTR)                                               \
	ATTR ALWAYS_INLINE void step_##SUF(struct vacc *v, const struct kargs *k,  \
					   const struct run *r, int ka, int kb, int tv, \
					   int simple, int64_t j, const v4i *mask)      \
	{                                                                          \
		v4d a, b, t = r->t;                                                    \
		LOAD4_##SUF(ka, k->pa + (size_t)j * kind_size[ka], a);                 \
		LOAD4_##SUF(kb, k->pb + (size_t)j * kind_size[kb], b);                 \
		if (KIND_INT(ka))                                                      \
			a = (a - r->za) * r->sa;                                           \
		if (KIND_INT(kb))                                                      \
			b = (b - r->zb) * r->sb;                                           \
		if (tv)                                                                \
			memcpy(&t, k->thr + j, sizeof t);                                  \
		v4d d = a - b, ad = VABS(d);                                           \
		v4d aa = a * a, bb = b * b, ab = a * b, dd = d * d;                    \
		v4i mi = simple ? (v4i)(ad > t)                                        \
				: (v4i)((ad - t) > r->vs * (VABS(a) + VABS(b) + ad));  \
		if (mask) {                                                            \
			aa = VAND(aa, *mask);                                              \
			bb = VAND(bb, *mask);                                              \
			ab = VAND(ab, *mask);                                              \
			dd = VAND(dd, *mask);                                              \
			ad = VAND(ad, *mask);                                              \
			mi &= *mask;                                                       \
		}                                                                      \
		v->saa += aa;                                                          \
		v->sbb += bb;                                                          \
		v->sab += ab;                                                          \
		v->sdd += dd;                                                          \
		v->sad += ad;                                                          \
		v->mx = VMAX_##SUF(ad, v->mx);                                         \
		v->mism -= mi;                                                         \
		if (tv)                                                                \
			v->smax = VMAX_##SUF(ad / t, v->smax);                             \
	}                                                                          \
                                                                               \
	ATTR ALWAYS_INLINE void span_##SUF(struct vacc *v, const struct kargs *k,  \
					   const struct run *r, int ka, int kb, int tv, \
					   int simple, int64_t s, int64_t e)            \
	{                                                                          \
		const v4i lane = {0, 1, 2, 3};                                         \
		int64_t g = s & ~(int64_t)3;                                           \
		if (g < s) {                                                           \
			v4i m = (v4i)(lane >= s - g) & (v4i)(lane < e - g);                \
			step_##SUF(v, k, r, ka, kb, tv, simple, g, &m);                    \
			g += 4;                                                            \
		}                                                                      \
		for (; g + 4 <= e; g += 4) {                                           \
			PREFETCH(k->pa, g, kind_size[ka]);                                 \
			PREFETCH(k->pb, g, kind_size[kb]);                                 \
			step_##SUF(v, k, r, ka, kb, tv, simple, g, NULL);                  \
		}                                                                      \
		if (g < e) {                                                           \
			v4i m = (v4i)(lane < e - g);                                       \
			step_##SUF(v, k, r, ka, kb, tv, simple, g, &m);                    \
		}                                                                      \
	}                                                                          \
                                                                               \
	ATTR ALWAYS_INLINE void kern_##SUF(const struct kargs *k, int ka, int kb,  \
					   int tv, struct part *p)                      \
	{                                                                          \
		const v4d zero = {0, 0, 0, 0};                                         \
		struct vacc v = {zero, zero, zero, zero, zero, zero, zero, {0, 0, 0, 0}}; \
		struct run r = {SPLAT(k->za), SPLAT(k->sa), SPLAT(k->zb),              \
				SPLAT(k->sb), SPLAT(k->thr1), SPLAT(k->slack)};        \
		double dmax = 0, smax = 0;                                             \
		if (!k->per_channel || tv) {                                           \
			if (k->simple)                                                     \
				span_##SUF(&v, k, &r, ka, kb, tv, 1, 0, k->n4);                \
			else                                                               \
				span_##SUF(&v, k, &r, ka, kb, tv, 0, 0, k->n4);                \
			dmax = hmax(&v.mx);                                                \
			smax = hmax(&v.smax);                                              \
		} else {                                                               \
			int64_t c = (k->i0 / k->inner) % k->dim, s = 0;                    \
			int64_t e = k->inner - k->i0 % k->inner;                           \
			while (s < k->n4) {                                                \
				if (e > k->n4)                                                 \
					e = k->n4;                                                 \
				double sc = k->scale[c];                                       \
				r.zb = SPLAT((double)k->zero_point[c]);                        \
				r.sb = r.t = SPLAT(sc);                                        \
				v.mx = zero;                                                   \
				span_##SUF(&v, k, &r, ka, kb, 0, 0, s, e);                     \
				double m = hmax(&v.mx);                                        \
				dmax = m > dmax ? m : dmax;                                    \
				m /= sc;                                                       \
				smax = m > smax ? m : smax;                                    \
				s = e;                                                         \
				e = s + k->inner;                                              \
				if (++c == k->dim)                                             \
					c = 0;                                                     \
			}                                                                  \
		}                                                                      \
		p->saa = HSUM(v.saa);                                                  \
		p->sbb = HSUM(v.sbb);                                                  \
		p->sab = HSUM(v.sab);                                                  \
		p->sdd = HSUM(v.sdd);                                                  \
		p->sad = HSUM(v.sad);                                                  \
		p->dmax = dmax;                                                        \
		p->smax = smax;                                                        \
		p->mism = v.mism[0] + v.mism[1] + v.mism[2] + v.mism[3];               \
	}

/* Lanes combined as (0 + 2) + (1 + 3). */
#define HSUM(x) (((x)[0] + (x)[2]) + ((x)[1] + (x)[3]))

ALWAYS_INLINE double hmax(const v4d *x)
{
	double m = (*x)[0];
	for (int i = 1; i < 4; i++)
		m = (*x)[i] > m ? (*x)[i] : m;
	return m;
}

/* The generic copy reads staged doubles only (compilers widen small
 * integers poorly without SSE4.1). */
#define LOAD4_gen(kind, p, out) memcpy(&(out), p, sizeof(out))
#define VMAX_gen(x, y) ((v4d)(((v4i)(x) & (v4i)((x) > (y))) | ((v4i)(y) & ~(v4i)((x) > (y)))))
DEFINE_KERNEL(gen, )

static void block_gen(const struct kargs *k, struct part *p)
{
	kern_gen(k, K_F64, K_F64, k->thr != NULL, p);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(QDB_METRICS_GENERIC)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#define AVX2 __attribute__((target("avx2")))

AVX2 ALWAYS_INLINE __m256d load4_avx2(int kind, const unsigned char *p)
{
	int32_t x4;
	int64_t x8;
	switch (kind) {
	case K_F32: return _mm256_cvtps_pd(_mm_loadu_ps((const float *)(const void *)p));
	case K_F64: return _mm256_loadu_pd((const double *)(const void *)p);
	case K_I8:
		memcpy(&x4, p, sizeof x4);
		return _mm256_cvtepi32_pd(_mm_cvtepi8_epi32(_mm_cvtsi32_si128(x4)));
	case K_U8:
		memcpy(&x4, p, sizeof x4);
		return _mm256_cvtepi32_pd(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(x4)));
	case K_I16:
		memcpy(&x8, p, sizeof x8);
		return _mm256_cvtepi32_pd(_mm_cvtepi16_epi32(_mm_cvtsi64_si128(x8)));
	default:
		return _mm256_cvtepi32_pd(_mm_loadu_si128((const __m128i *)(const void *)p));
	}
}

#define LOAD4_avx2(kind, p, out) ((out) = load4_avx2(kind, p))
/* maxpd is x > y ? x : y, NaN and signed zeros included. */
#define VMAX_avx2(x, y) _mm256_max_pd(x, y)
DEFINE_KERNEL(avx2, AVX2)

/* Every (ka, kb) pair, inlined. */
#define KCASE(A, B)                                                            \
	case K_##A * K_COUNT + K_##B:                                              \
		kern_avx2(k, K_##A, K_##B, 0, p);                                      \
		return;
#define KROW(A) KCASE(A, F32) KCASE(A, F64) KCASE(A, I8) KCASE(A, U8) KCASE(A, I16) KCASE(A, I32)

AVX2 static void block_avx2(const struct kargs *k, struct part *p)
{
	if (k->thr) {
		kern_avx2(k, K_F64, K_F64, 1, p);
		return;
	}
	switch (k->ka * K_COUNT + k->kb) {
		KROW(F32) KROW(F64) KROW(I8) KROW(U8) KROW(I16) KROW(I32)
	}
	kern_avx2(k, K_F64, K_F64, 0, p); /* not reached: every pair is listed */
}
#endif

typedef void block_fn(const struct kargs *, struct part *);

/* The kernel for this CPU; *fused: it reads every kind in place (else
 * blocks are staged as doubles). */
static block_fn *pick_block(int *fused)
{
#ifdef HAVE_AVX2_PATH
	if (__builtin_cpu_supports("avx2")) {
		*fused = 1;
		return block_avx2;
	}
#endif
	*fused = 0;
	return block_gen;
}

struct acc {
	double saa, sbb, sab, sdd, sad, dmax, smax;
	int64_t mism, count, worst, nfdiff;
	int64_t nan_a, inf_a, nan_b, inf_b;
};

static void add_part(struct acc *s, const struct part *p, int64_t n)
{
	s->saa += p->saa;
	s->sbb += p->sbb;
	s->sab += p->sab;
	s->sdd += p->sdd;
	s->sad += p->sad;
	s->smax = p->smax > s->smax ? p->smax : s->smax;
	s->mism += p->mism;
	s->count += n;
}

static int same_nonfinite(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	return a == b; /* both infinite */
}

/* The careful path for a block holding a non-finite value (or an overflowing
 * difference): per element, counting and skipping NaN/Inf. */
static void block_slow(const double *xa, const double *xb, const double *thr, double thr1,
		       int64_t n, int64_t i0, double slack, struct acc *s)
{
	for (int64_t i = 0; i < n; i++) {
		double a = xa[i], b = xb[i];
		int fa = isfinite(a), fb = isfinite(b);
		s->nan_a += isnan(a);
		s->inf_a += isinf(a) != 0;
		s->nan_b += isnan(b);
		s->inf_b += isinf(b) != 0;
		if (!fa || !fb) {
			s->nfdiff += !same_nonfinite(a, b);
			continue;
		}
		double d = a - b, ad = fabs(d), t = thr ? thr[i] : thr1;
		s->saa += a * a;
		s->sbb += b * b;
		s->sab += a * b;
		s->sdd += d * d;
		s->sad += ad;
		s->count++;
		if (ad > s->dmax || s->worst < 0) {
			s->dmax = ad;
			s->worst = i0 + i;
		}
		if (thr) {
			double st = ad / t;
			s->smax = st > s->smax ? st : s->smax;
		}
		s->mism += (ad - t) > slack * (fabs(a) + fabs(b) + ad);
	}
}

/* 1 when every difference of the block is finite. */
static int diffs_finite(const double *xa, const double *xb, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		if (!isfinite(xa[i] - xb[i]))
			return 0;
	return 1;
}

/* First index of the block where |a-b| equals its block maximum. */
static int64_t find_max(const double *xa, const double *xb, int64_t n, double dmax)
{
	for (int64_t i = 0; i < n; i++)
		if (fabs(xa[i] - xb[i]) == dmax)
			return i;
	return 0;
}

/* Per-element LSB of b for a per-channel b (runs of `inner` share a channel). */
static void fill_lsb(const struct qdb_tensor *b, int64_t inner, int64_t dim, int64_t i0,
		     int64_t n, double *thr)
{
	int64_t c = (i0 / inner) % dim, r = i0 % inner, off = 0;
	while (off < n) {
		int64_t len = inner - r;
		if (len > n - off)
			len = n - off;
		double s = b->q.scale[c];
		for (int64_t j = 0; j < len; j++)
			thr[off + j] = s;
		off += len;
		r = 0;
		if (++c == dim)
			c = 0;
	}
}

/* Running argmax over rows of the last axis, across blocks. */
struct top1 {
	int64_t row_len, pos;
	int64_t ia, ib;
	double ba, bb;
	int agree;
};

static void top1_block(struct top1 *t, const double *xa, const double *xb, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		double a = xa[i], b = xb[i];
		if ((t->ia < 0 && a == a) || a > t->ba) {
			t->ba = a;
			t->ia = t->pos;
		}
		if ((t->ib < 0 && b == b) || b > t->bb) {
			t->bb = b;
			t->ib = t->pos;
		}
		if (++t->pos == t->row_len) {
			t->agree &= t->ia == t->ib;
			t->pos = 0;
			t->ia = t->ib = -1;
			t->ba = t->bb = NAN;
		}
	}
}

static int tensor_ok(const struct qdb_tensor *t, const char *what, int64_t *numel,
		     struct qdb_err *err)
{
	int64_t n = qdb_tensor_numel(t);
	size_t sz = qdb_dtype_size(t->dtype);
	if (n < 0 || !sz || t->nbytes / sz < (uint64_t)n || (n && !t->data))
		return qdb_err_set(err, QDB_EINVAL, "metrics: %s: data does not match its shape",
				   what);
	*numel = n;
	return qdb_quant_validate(&t->q, t->dtype, t->rank, t->shape, what, err);
}

/* Values of a side the fused kernel reads in place as f32, or as raw
 * integers, stay below 2^128 in magnitude: when both sides do, the sum in
 * the mismatch test cannot overflow and with slack 0 the test is exactly
 * |d| > thr. */
static int bounded(const struct qdb_tensor *t, int kind)
{
	return kind == K_F32 || (KIND_INT(kind) && t->q.n == 0);
}

/* Loads the elements [j, len) of a block not yet staged (the tail, or all). */
struct stage {
	const struct qdb_tensor *t;
	double *x;
	int64_t from; /* staged from here on */
};

static void stage_from(struct stage *st, int64_t i0, int64_t j)
{
	if (j < st->from) {
		qdb_tensor_load_real(st->t, i0 + j, st->from - j, st->x + j);
		st->from = j;
	}
}

int qdb_metrics_compute(const struct qdb_tensor *a, const struct qdb_tensor *b, double atol,
			int want_top1, struct qdb_metrics *m, struct qdb_err *err)
{
	int64_t n, nb;
	int rc;
	memset(m, 0, sizeof *m);
	m->top1 = -1;
	m->argmax_worst = -1;
	if ((rc = tensor_ok(a, "reference", &n, err)) || (rc = tensor_ok(b, "candidate", &nb, err)))
		return rc;
	if (n != nb) {
		char sa[96], sb[96];
		return qdb_err_set(err, QDB_ESHAPE, "metrics: shapes %s and %s differ",
				   qdb_shape_str(sa, sizeof sa, a->rank, a->shape),
				   qdb_shape_str(sb, sizeof sb, b->rank, b->shape));
	}
	if (!(atol >= 0))
		return qdb_err_set(err, QDB_EINVAL, "metrics: tolerance %g is not >= 0", atol);

	int b_quant = b->q.n > 0;
	int64_t inner = 1, dim = 1;
	int per_channel = b_quant && qdb_tensor_channel_layout(b, &inner, &dim);
	double thr1 = b_quant ? b->q.scale[0] : atol;
	double slack = b_quant ? LSB_SLACK : 0;

	struct top1 tp = {0};
	int do_top1 = want_top1 && n > 0;
	if (do_top1) {
		int64_t la = a->rank ? a->shape[a->rank - 1] : 1;
		int64_t lb = b->rank ? b->shape[b->rank - 1] : 1;
		do_top1 = la == lb && la > 0;
		tp = (struct top1){la, 0, -1, -1, NAN, NAN, 1};
	}

	/* What is read in place; -1: staged. */
	int ka = kind_of(a->dtype), kb = kind_of(b->dtype);
	int short_runs = per_channel && inner < MIN_RUN;
	if (a->q.n > 1 && qdb_dtype_is_int(a->dtype))
		ka = -1; /* a per channel */
	int fused;
	block_fn *block = pick_block(&fused);
	if (!fused || do_top1 || short_runs)
		ka = kb = -1;
	struct kargs k = {0};
	k.za = ka >= 0 && KIND_INT(ka) && a->q.n > 0 ? (double)a->q.zero_point[0] : 0;
	k.sa = ka >= 0 && KIND_INT(ka) && a->q.n > 0 ? a->q.scale[0] : 1;
	k.zb = kb >= 0 && KIND_INT(kb) && b_quant ? (double)b->q.zero_point[0] : 0;
	k.sb = kb >= 0 && KIND_INT(kb) && b_quant ? b->q.scale[0] : 1;
	k.thr1 = thr1;
	k.slack = slack;
	k.simple = !b_quant && bounded(a, ka) && bounded(b, kb);
	k.per_channel = per_channel;
	k.inner = inner;
	k.dim = dim;
	k.scale = b->q.scale;
	k.zero_point = b->q.zero_point;

	struct acc s = {0};
	s.worst = -1;
	s.dmax = 0;
	double xa[BLK], xb[BLK], thr[BLK];
	const unsigned char *da = a->data, *db = b->data;
	int ia = qdb_dtype_is_int(a->dtype), ib = qdb_dtype_is_int(b->dtype);
	int64_t sat_a = 0, sat_b = 0;
	for (int64_t i0 = 0; i0 < n; i0 += BLK) {
		int64_t len = n - i0 < BLK ? n - i0 : BLK, n4 = len & ~(int64_t)3;
		struct stage sta = {a, xa, len}, stb = {b, xb, len};
		if (ka < 0)
			stage_from(&sta, i0, 0);
		if (kb < 0)
			stage_from(&stb, i0, 0);
		if (ia)
			sat_a += qdb_tensor_count_saturated(a, i0, len);
		if (ib)
			sat_b += qdb_tensor_count_saturated(b, i0, len);
		if (short_runs)
			fill_lsb(b, inner, dim, i0, len, thr);
		k.ka = ka < 0 ? K_F64 : ka;
		k.kb = kb < 0 ? K_F64 : kb;
		k.pa = ka < 0 ? (const unsigned char *)xa : da + (size_t)i0 * kind_size[ka];
		k.pb = kb < 0 ? (const unsigned char *)xb : db + (size_t)i0 * kind_size[kb];
		k.n4 = n4;
		k.i0 = i0;
		k.thr = short_runs ? thr : NULL;

		struct part p;
		block(&k, &p);
		stage_from(&sta, i0, n4);
		stage_from(&stb, i0, n4);
		for (int64_t j = n4; j < len; j++) {
			double xa_ = xa[j], xb_ = xb[j], d = xa_ - xb_, ad = fabs(d);
			double t = per_channel ? b->q.scale[((i0 + j) / inner) % dim] : thr1;
			p.saa += xa_ * xa_;
			p.sbb += xb_ * xb_;
			p.sab += xa_ * xb_;
			p.sdd += d * d;
			p.sad += ad;
			p.dmax = ad > p.dmax ? ad : p.dmax;
			p.mism += (ad - t) > slack * (fabs(xa_) + fabs(xb_) + ad);
			if (per_channel && ad / t > p.smax)
				p.smax = ad / t;
		}

		/* A non-finite difference makes the sum of d^2 infinite or NaN. */
		int clean = isfinite(p.sdd);
		if (!clean) {
			stage_from(&sta, i0, 0);
			stage_from(&stb, i0, 0);
			clean = diffs_finite(xa, xb, len);
		}
		if (clean) {
			if (p.dmax > s.dmax || s.worst < 0) {
				stage_from(&sta, i0, 0);
				stage_from(&stb, i0, 0);
				s.dmax = p.dmax;
				s.worst = i0 + find_max(xa, xb, len, p.dmax);
			}
			add_part(&s, &p, len);
		} else {
			if (per_channel && !short_runs)
				fill_lsb(b, inner, dim, i0, len, thr);
			block_slow(xa, xb, per_channel ? thr : NULL, thr1, len, i0, slack, &s);
		}
		if (do_top1)
			top1_block(&tp, xa, xb, len);
	}

	m->count = s.count;
	m->nan_a = s.nan_a;
	m->inf_a = s.inf_a;
	m->nan_b = s.nan_b;
	m->inf_b = s.inf_b;
	m->nonfinite_diff = s.nfdiff;
	m->b_quantized = b_quant;
	if (s.saa == 0 && s.sbb == 0)
		m->cosine = 1;
	else if (s.saa == 0 || s.sbb == 0)
		m->cosine = 0;
	else {
		double c = s.sab / (sqrt(s.saa) * sqrt(s.sbb));
		m->cosine = c > 1 ? 1 : c < -1 ? -1 : c;
	}
	double cnt = s.count ? (double)s.count : 1;
	m->max_abs = s.dmax;
	m->mean_abs = s.sad / cnt;
	m->mse = s.sdd / cnt;
	m->sqnr_db = s.sdd == 0 ? INFINITY : 10 * log10(s.saa / s.sdd);
	m->rel_l2 = s.saa == 0 ? (s.sdd == 0 ? 0 : INFINITY) : sqrt(s.sdd) / sqrt(s.saa);
	if (!b_quant)
		m->max_steps = NAN;
	else if (per_channel)
		m->max_steps = s.smax;
	else
		m->max_steps = s.dmax / thr1;
	m->mismatch = (double)s.mism / cnt;
	m->sat_a = ia && n ? (double)sat_a / (double)n : 0;
	m->sat_b = ib && n ? (double)sat_b / (double)n : 0;
	m->argmax_worst = s.worst;
	if (do_top1)
		m->top1 = tp.agree;
	return QDB_OK;
}

/* ---- names and thresholds ---- */

static const char *const metric_names[] = {
	[QDB_M_COSINE] = "cosine",
	[QDB_M_MAX_ABS] = "max_abs",
	[QDB_M_MEAN_ABS] = "mean_abs",
	[QDB_M_MSE] = "mse",
	[QDB_M_SQNR_DB] = "sqnr_db",
	[QDB_M_REL_L2] = "rel_l2",
	[QDB_M_MAX_STEPS] = "max_steps",
	[QDB_M_MISMATCH] = "mismatch",
	[QDB_M_TOP1] = "top1",
};
_Static_assert(sizeof metric_names / sizeof metric_names[0] == QDB_M_COUNT,
	       "metric_names must name every metric");

const char *qdb_metric_name(enum qdb_metric_id id)
{
	return (unsigned)id < QDB_M_COUNT ? metric_names[id] : NULL;
}

int qdb_metric_parse(const char *name, enum qdb_metric_id *out)
{
	for (int i = 0; i < QDB_M_COUNT; i++) {
		if (strcmp(name, metric_names[i]) == 0) {
			*out = (enum qdb_metric_id)i;
			return 0;
		}
	}
	return -1;
}

double qdb_metric_value(const struct qdb_metrics *m, enum qdb_metric_id id)
{
	switch (id) {
	case QDB_M_COSINE: return m->cosine;
	case QDB_M_MAX_ABS: return m->max_abs;
	case QDB_M_MEAN_ABS: return m->mean_abs;
	case QDB_M_MSE: return m->mse;
	case QDB_M_SQNR_DB: return m->sqnr_db;
	case QDB_M_REL_L2: return m->rel_l2;
	case QDB_M_MAX_STEPS: return m->max_steps;
	case QDB_M_MISMATCH: return m->mismatch;
	case QDB_M_TOP1: return m->top1 < 0 ? NAN : m->top1;
	default: return NAN;
	}
}

int qdb_metric_higher_is_better(enum qdb_metric_id id)
{
	return id == QDB_M_COSINE || id == QDB_M_SQNR_DB || id == QDB_M_TOP1;
}

int qdb_threshold_parse(const char *s, struct qdb_threshold *t, struct qdb_err *err)
{
	const char *op = strpbrk(s, "<>");
	if (!op)
		return qdb_err_set(err, QDB_EINVAL,
				   "threshold '%s': expected METRIC<VALUE or METRIC>VALUE", s);
	const char *b = s, *e = op;
	while (*b == ' ' || *b == '\t')
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	char name[32];
	size_t len = (size_t)(e - b);
	if (len == 0 || len >= sizeof name)
		return qdb_err_set(err, QDB_EINVAL, "threshold '%s': missing metric name", s);
	memcpy(name, b, len);
	name[len] = '\0';
	enum qdb_metric_id id;
	if (qdb_metric_parse(name, &id))
		return qdb_err_set(err, QDB_EINVAL,
				   "threshold '%s': unknown metric '%s' (cosine, max_abs, mean_abs, "
				   "mse, sqnr_db, rel_l2, max_steps, mismatch, top1)",
				   s, name);
	const char *v = op + 1;
	if (*v == '=')
		return qdb_err_set(err, QDB_EINVAL, "threshold '%s': use '<' or '>' (not '%c=')", s,
				   *op);
	while (*v == ' ' || *v == '\t')
		v++;
	char *end;
	double x = strtod(v, &end);
	while (*end == ' ' || *end == '\t')
		end++;
	if (end == v || *end || isnan(x))
		return qdb_err_set(err, QDB_EINVAL, "threshold '%s': bad number '%s'", s, v);
	t->metric = id;
	t->less = *op == '<';
	t->value = x;
	return QDB_OK;
}

int qdb_threshold_crossed(const struct qdb_threshold *t, const struct qdb_metrics *m)
{
	/* Not applicable is not divergent: top1 not computed, LSB of float b. */
	if ((t->metric == QDB_M_TOP1 && m->top1 < 0) ||
	    (t->metric == QDB_M_MAX_STEPS && !m->b_quantized))
		return 0;
	if (m->nonfinite_diff > 0)
		return 1;
	double v = qdb_metric_value(m, t->metric);
	if (isnan(v))
		return 1;
	return t->less ? v < t->value : v > t->value;
}
