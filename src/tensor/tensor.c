/* tensor.c - tensors, dtypes, quant params, dequantization. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "tensor/tensor.h"

static const struct {
	const char *name;
	size_t size;
	int is_int;
	int64_t min, max;
} dtypes[] = {
	[QDB_F32] = {"f32", 4, 0, INT64_MIN, INT64_MAX},
	[QDB_F64] = {"f64", 8, 0, INT64_MIN, INT64_MAX},
	[QDB_I8] = {"i8", 1, 1, INT8_MIN, INT8_MAX},
	[QDB_U8] = {"u8", 1, 1, 0, UINT8_MAX},
	[QDB_I16] = {"i16", 2, 1, INT16_MIN, INT16_MAX},
	[QDB_I32] = {"i32", 4, 1, INT32_MIN, INT32_MAX},
	[QDB_I64] = {"i64", 8, 1, INT64_MIN, INT64_MAX},
};
_Static_assert(sizeof dtypes / sizeof dtypes[0] == QDB_DTYPE_COUNT,
	       "dtypes must describe every dtype");

static int dtype_ok(enum qdb_dtype d) { return (unsigned)d < QDB_DTYPE_COUNT; }

const char *qdb_dtype_name(enum qdb_dtype d) { return dtype_ok(d) ? dtypes[d].name : NULL; }

int qdb_dtype_parse(const char *name, size_t len, enum qdb_dtype *out)
{
	for (int d = 0; d < QDB_DTYPE_COUNT; d++) {
		if (strlen(dtypes[d].name) == len && memcmp(dtypes[d].name, name, len) == 0) {
			*out = (enum qdb_dtype)d;
			return 0;
		}
	}
	return -1;
}

size_t qdb_dtype_size(enum qdb_dtype d) { return dtype_ok(d) ? dtypes[d].size : 0; }
int qdb_dtype_is_int(enum qdb_dtype d) { return dtype_ok(d) && dtypes[d].is_int; }
int64_t qdb_dtype_min(enum qdb_dtype d) { return dtype_ok(d) ? dtypes[d].min : INT64_MIN; }
int64_t qdb_dtype_max(enum qdb_dtype d) { return dtype_ok(d) ? dtypes[d].max : INT64_MAX; }

/* ---- lifetime ---- */

void qdb_quant_init(struct qdb_quant *q)
{
	q->n = 0;
	q->axis = -1;
	q->scale = NULL;
	q->zero_point = NULL;
	q->qmin = INT64_MIN;
	q->qmax = INT64_MAX;
}

void qdb_quant_done(struct qdb_quant *q)
{
	qdb_free(q->scale);
	qdb_free(q->zero_point);
	qdb_quant_init(q);
}

void qdb_tensor_init(struct qdb_tensor *t)
{
	t->dtype = QDB_F32;
	t->rank = 0;
	for (int i = 0; i < QDB_MAX_RANK; i++)
		t->shape[i] = 0;
	t->data = NULL;
	t->nbytes = 0;
	t->owns_data = 0;
	qdb_quant_init(&t->q);
}

void qdb_tensor_done(struct qdb_tensor *t)
{
	if (t->owns_data)
		qdb_free(t->data);
	qdb_quant_done(&t->q);
	qdb_tensor_init(t);
}

struct qdb_tensor *qdb_tensor_new(void)
{
	struct qdb_tensor *t = qdb_malloc(sizeof *t);
	if (t)
		qdb_tensor_init(t);
	return t;
}

void qdb_tensor_delete(struct qdb_tensor *t)
{
	if (!t)
		return;
	qdb_tensor_done(t);
	qdb_free(t);
}

/* ---- shapes ---- */

int64_t qdb_shape_numel(int rank, const int64_t *shape)
{
	if (rank < 0 || rank > QDB_MAX_RANK)
		return -1;
	int64_t n = 1;
	for (int i = 0; i < rank; i++) {
		if (shape[i] < 0)
			return -1;
		if (shape[i] && n > INT64_MAX / shape[i])
			return -1;
		n *= shape[i];
	}
	return n;
}

int64_t qdb_tensor_numel(const struct qdb_tensor *t) { return qdb_shape_numel(t->rank, t->shape); }

int qdb_shape_equal(const struct qdb_tensor *a, const struct qdb_tensor *b)
{
	if (a->rank != b->rank)
		return 0;
	for (int i = 0; i < a->rank; i++)
		if (a->shape[i] != b->shape[i])
			return 0;
	return 1;
}

const char *qdb_shape_str(char *dst, size_t n, int rank, const int64_t *shape)
{
	if (!n)
		return dst;
	if (rank <= 0) {
		snprintf(dst, n, "scalar");
		return dst;
	}
	size_t len = 0;
	dst[0] = '\0';
	for (int i = 0; i < rank && i < QDB_MAX_RANK && len < n; i++) {
		int w = snprintf(dst + len, n - len, "%s%lld", i ? "x" : "", (long long)shape[i]);
		if (w < 0)
			break;
		len += (size_t)w;
	}
	return dst;
}

/* Validates dtype/rank/shape and computes the byte size. */
static int check_shape(enum qdb_dtype dtype, int rank, const int64_t *shape, size_t *nbytes,
		       struct qdb_err *err)
{
	if (!dtype_ok(dtype))
		return qdb_err_set(err, QDB_EINVAL, "tensor: bad dtype %d", (int)dtype);
	if (rank < 0 || rank > QDB_MAX_RANK)
		return qdb_err_set(err, QDB_EINVAL, "tensor: rank %d out of range 0..%d", rank,
				   QDB_MAX_RANK);
	for (int i = 0; i < rank; i++)
		if (shape[i] < 0)
			return qdb_err_set(err, QDB_EINVAL, "tensor: negative dimension %lld",
					   (long long)shape[i]);
	int64_t numel = qdb_shape_numel(rank, shape);
	if (numel < 0 || (uint64_t)numel > SIZE_MAX ||
	    qdb_mul_size((size_t)numel, dtypes[dtype].size, nbytes))
		return qdb_err_set(err, QDB_EINVAL, "tensor: shape too large");
	return QDB_OK;
}

static void set_shape(struct qdb_tensor *t, enum qdb_dtype dtype, int rank, const int64_t *shape)
{
	t->dtype = dtype;
	t->rank = rank;
	for (int i = 0; i < QDB_MAX_RANK; i++)
		t->shape[i] = i < rank ? shape[i] : 0;
}

int qdb_tensor_alloc(struct qdb_tensor *t, enum qdb_dtype dtype, int rank,
		     const int64_t *shape, struct qdb_err *err)
{
	size_t nbytes;
	int rc = check_shape(dtype, rank, shape, &nbytes, err);
	if (rc)
		return rc;
	void *data = qdb_calloc(nbytes ? nbytes : 1, 1);
	if (!data)
		return qdb_err_set(err, QDB_ENOMEM, "tensor: out of memory (%zu bytes)", nbytes);
	if (t->owns_data)
		qdb_free(t->data);
	set_shape(t, dtype, rank, shape);
	t->data = data;
	t->nbytes = nbytes;
	t->owns_data = 1;
	return QDB_OK;
}

int qdb_tensor_view(struct qdb_tensor *t, enum qdb_dtype dtype, int rank,
		    const int64_t *shape, const void *data, size_t nbytes,
		    struct qdb_err *err)
{
	size_t want;
	int rc = check_shape(dtype, rank, shape, &want, err);
	if (rc)
		return rc;
	if (want != nbytes)
		return qdb_err_set(err, QDB_EFORMAT, "tensor: %zu data bytes for %zu expected",
				   nbytes, want);
	if (!data && nbytes)
		return qdb_err_set(err, QDB_EINVAL, "tensor: view of NULL data");
	if (t->owns_data)
		qdb_free(t->data);
	set_shape(t, dtype, rank, shape);
	t->data = (void *)data; /* a view never writes through; const is the caller's promise */
	t->nbytes = nbytes;
	t->owns_data = 0;
	return QDB_OK;
}

int qdb_tensor_copy(struct qdb_tensor *dst, const struct qdb_tensor *src, struct qdb_err *err)
{
	struct qdb_tensor tmp;
	qdb_tensor_init(&tmp);
	int rc = qdb_tensor_alloc(&tmp, src->dtype, src->rank, src->shape, err);
	if (!rc && tmp.nbytes != src->nbytes)
		rc = qdb_err_set(err, QDB_EINVAL, "tensor: copy of inconsistent tensor");
	if (!rc)
		rc = qdb_quant_copy(&tmp.q, &src->q, err);
	if (rc) {
		qdb_tensor_done(&tmp);
		return rc;
	}
	if (src->nbytes)
		memcpy(tmp.data, src->data, src->nbytes);
	qdb_tensor_done(dst);
	*dst = tmp;
	return QDB_OK;
}

/* ---- quant params ---- */

void qdb_quant_range(const struct qdb_quant *q, enum qdb_dtype dtype, int64_t *qmin,
		     int64_t *qmax)
{
	int64_t lo = qdb_dtype_min(dtype), hi = qdb_dtype_max(dtype);
	*qmin = q->qmin > lo ? q->qmin : lo;
	*qmax = q->qmax < hi ? q->qmax : hi;
}

static void set_range(struct qdb_quant *q, int64_t qmin, int64_t qmax)
{
	if (qmin > qmax) {
		q->qmin = INT64_MIN;
		q->qmax = INT64_MAX;
	} else {
		q->qmin = qmin;
		q->qmax = qmax;
	}
}

int qdb_quant_set(struct qdb_quant *q, double scale, int64_t zero_point, int64_t qmin,
		  int64_t qmax, struct qdb_err *err)
{
	return qdb_quant_set_channels(q, 1, -1, &scale, &zero_point, qmin, qmax, err);
}

int qdb_quant_set_channels(struct qdb_quant *q, int32_t n, int32_t axis, const double *scale,
			   const int64_t *zero_point, int64_t qmin, int64_t qmax,
			   struct qdb_err *err)
{
	if (n < 1)
		return qdb_err_set(err, QDB_EINVAL, "quant: %d channels", (int)n);
	double *s = qdb_alloc_array((size_t)n, sizeof *s);
	int64_t *z = qdb_alloc_array((size_t)n, sizeof *z);
	if (!s || !z) {
		qdb_free(s);
		qdb_free(z);
		return qdb_err_set(err, QDB_ENOMEM, "quant: out of memory");
	}
	memcpy(s, scale, (size_t)n * sizeof *s);
	if (zero_point)
		memcpy(z, zero_point, (size_t)n * sizeof *z);
	else
		memset(z, 0, (size_t)n * sizeof *z);
	qdb_quant_done(q);
	q->n = n;
	q->axis = axis < 0 ? -1 : axis;
	q->scale = s;
	q->zero_point = z;
	set_range(q, qmin, qmax);
	return QDB_OK;
}

int qdb_quant_copy(struct qdb_quant *dst, const struct qdb_quant *src, struct qdb_err *err)
{
	if (dst == src)
		return QDB_OK;
	if (src->n <= 0) {
		qdb_quant_done(dst);
		dst->qmin = src->qmin;
		dst->qmax = src->qmax;
		return QDB_OK;
	}
	int rc = qdb_quant_set_channels(dst, src->n, src->axis, src->scale, src->zero_point,
					0, -1, err);
	if (rc)
		return rc;
	dst->qmin = src->qmin;
	dst->qmax = src->qmax;
	return QDB_OK;
}

int qdb_quant_validate(const struct qdb_quant *q, enum qdb_dtype dtype, int rank,
		       const int64_t *shape, const char *what, struct qdb_err *err)
{
	if (!what)
		what = "quant";
	if (q->n == 0)
		return QDB_OK;
	if (q->n < 0)
		return qdb_err_set(err, QDB_EFORMAT, "%s: %d channels", what, (int)q->n);
	if (!q->scale || !q->zero_point)
		return qdb_err_set(err, QDB_EINVAL, "%s: missing scale or zero point", what);
	for (int32_t i = 0; i < q->n; i++) {
		double s = q->scale[i];
		if (!isfinite(s) || !(s > 0))
			return qdb_err_set(err, QDB_EFORMAT,
					   "%s: scale[%d] = %g is not finite and positive", what,
					   (int)i, s);
	}
	if (q->n > 1 || q->axis >= 0) {
		if (q->axis < 0 || q->axis >= rank)
			return qdb_err_set(err, QDB_EFORMAT, "%s: axis %d out of range for rank %d",
					   what, (int)q->axis, rank);
		if (shape[q->axis] != q->n)
			return qdb_err_set(err, QDB_EFORMAT,
					   "%s: %d scales for dimension %lld of axis %d", what,
					   (int)q->n, (long long)shape[q->axis], (int)q->axis);
	}
	if (q->qmin > q->qmax)
		return qdb_err_set(err, QDB_EFORMAT, "%s: qmin %lld > qmax %lld", what,
				   (long long)q->qmin, (long long)q->qmax);
	if (qdb_dtype_is_int(dtype)) {
		int64_t lo = qdb_dtype_min(dtype), hi = qdb_dtype_max(dtype);
		if ((q->qmin != INT64_MIN && q->qmin < lo) || (q->qmax != INT64_MAX && q->qmax > hi))
			return qdb_err_set(err, QDB_EFORMAT,
					   "%s: range [%lld, %lld] outside %s [%lld, %lld]", what,
					   (long long)q->qmin, (long long)q->qmax,
					   qdb_dtype_name(dtype), (long long)lo, (long long)hi);
		for (int32_t i = 0; i < q->n; i++)
			if (q->zero_point[i] < lo || q->zero_point[i] > hi)
				return qdb_err_set(err, QDB_EFORMAT,
						   "%s: zero_point[%d] = %lld outside %s", what,
						   (int)i, (long long)q->zero_point[i],
						   qdb_dtype_name(dtype));
	}
	return QDB_OK;
}

/* ---- element access ---- */

/* Channel layout of per-channel params: channel of flat i is (i / inner) % dim.
 * Returns 0 when the params do not fit the shape (callers then use channel 0,
 * so an unvalidated tensor can never index outside its scale array). */
int qdb_tensor_channel_layout(const struct qdb_tensor *t, int64_t *inner, int64_t *dim)
{
	const struct qdb_quant *q = &t->q;
	*inner = 1;
	*dim = 1;
	if (q->n <= 1 || q->axis < 0 || q->axis >= t->rank || t->shape[q->axis] != q->n)
		return 0;
	int64_t in = 1;
	for (int i = q->axis + 1; i < t->rank; i++)
		in *= t->shape[i];
	*inner = in ? in : 1;
	*dim = q->n;
	return 1;
}

int64_t qdb_tensor_channel_of(const struct qdb_tensor *t, int64_t i)
{
	int64_t inner, dim;
	if (!qdb_tensor_channel_layout(t, &inner, &dim))
		return 0;
	return (i / inner) % dim;
}

static double load_one(enum qdb_dtype d, const unsigned char *p)
{
	switch (d) {
	case QDB_F32: { float v; memcpy(&v, p, 4); return v; }
	case QDB_F64: { double v; memcpy(&v, p, 8); return v; }
	case QDB_I8: { int8_t v; memcpy(&v, p, 1); return v; }
	case QDB_U8: { uint8_t v; memcpy(&v, p, 1); return v; }
	case QDB_I16: { int16_t v; memcpy(&v, p, 2); return v; }
	case QDB_I32: { int32_t v; memcpy(&v, p, 4); return v; }
	case QDB_I64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
	default: return NAN;
	}
}

double qdb_tensor_get(const struct qdb_tensor *t, int64_t i)
{
	size_t sz = qdb_dtype_size(t->dtype);
	if (!sz || i < 0 || (uint64_t)i >= t->nbytes / sz)
		return NAN;
	return load_one(t->dtype, (const unsigned char *)t->data + (size_t)i * sz);
}

double qdb_tensor_get_real(const struct qdb_tensor *t, int64_t i)
{
	double v = qdb_tensor_get(t, i);
	if (t->q.n <= 0 || !qdb_dtype_is_int(t->dtype))
		return v;
	int64_t c = qdb_tensor_channel_of(t, i);
	return (v - (double)t->q.zero_point[c]) * t->q.scale[c];
}

/* Block loaders: one specialised loop per dtype, memcpy loads (views may be
 * unaligned; compilers turn these into plain unaligned loads). */
#define LOAD_RAW(T)                                                            \
	do {                                                                       \
		const unsigned char *p_ = base + (size_t)i0 * sizeof(T);               \
		for (int64_t j_ = 0; j_ < n; j_++) {                                   \
			T v_;                                                              \
			memcpy(&v_, p_ + (size_t)j_ * sizeof(T), sizeof(T));               \
			out[j_] = (double)v_;                                              \
		}                                                                      \
	} while (0)

#define LOAD_DEQ(T, OFF, LEN, ZP, S)                                           \
	do {                                                                       \
		const unsigned char *p_ = base + (size_t)(i0 + (OFF)) * sizeof(T);    \
		double zp_ = (double)(ZP), s_ = (S);                                   \
		double *o_ = out + (OFF);                                              \
		for (int64_t j_ = 0; j_ < (LEN); j_++) {                               \
			T v_;                                                              \
			memcpy(&v_, p_ + (size_t)j_ * sizeof(T), sizeof(T));               \
			o_[j_] = ((double)v_ - zp_) * s_;                                  \
		}                                                                      \
	} while (0)

/* Per-channel with runs shorter than SHORT_RUN (e.g. channels on the last
 * axis): one loop that counts the channel along, rather than a call per run. */
enum { SHORT_RUN = 8 };
#define LOAD_DEQ_SHORT(T)                                                      \
	do {                                                                       \
		const unsigned char *p_ = base + (size_t)i0 * sizeof(T);               \
		for (int64_t j_ = 0; j_ < n; j_++) {                                   \
			T v_;                                                              \
			memcpy(&v_, p_ + (size_t)j_ * sizeof(T), sizeof(T));               \
			out[j_] = ((double)v_ - (double)t->q.zero_point[c]) * t->q.scale[c]; \
			if (++r == inner) {                                                \
				r = 0;                                                         \
				if (++c == dim)                                                \
					c = 0;                                                     \
			}                                                                  \
		}                                                                      \
	} while (0)

static void load_deq(enum qdb_dtype d, const unsigned char *base, int64_t i0, int64_t off,
		     int64_t len, int64_t zp, double s, double *out)
{
	switch (d) {
	case QDB_I8: LOAD_DEQ(int8_t, off, len, zp, s); break;
	case QDB_U8: LOAD_DEQ(uint8_t, off, len, zp, s); break;
	case QDB_I16: LOAD_DEQ(int16_t, off, len, zp, s); break;
	case QDB_I32: LOAD_DEQ(int32_t, off, len, zp, s); break;
	case QDB_I64: LOAD_DEQ(int64_t, off, len, zp, s); break;
	default: break;
	}
}

void qdb_tensor_load_real(const struct qdb_tensor *t, int64_t i0, int64_t n, double *out)
{
	const unsigned char *base = t->data;
	if (n <= 0)
		return;
	if (t->q.n <= 0 || !qdb_dtype_is_int(t->dtype)) {
		switch (t->dtype) {
		case QDB_F32: LOAD_RAW(float); break;
		case QDB_F64: LOAD_RAW(double); break;
		case QDB_I8: LOAD_RAW(int8_t); break;
		case QDB_U8: LOAD_RAW(uint8_t); break;
		case QDB_I16: LOAD_RAW(int16_t); break;
		case QDB_I32: LOAD_RAW(int32_t); break;
		case QDB_I64: LOAD_RAW(int64_t); break;
		default:
			for (int64_t j = 0; j < n; j++)
				out[j] = NAN;
		}
		return;
	}
	int64_t inner, dim;
	if (!qdb_tensor_channel_layout(t, &inner, &dim)) {
		load_deq(t->dtype, base, i0, 0, n, t->q.zero_point[0], t->q.scale[0], out);
		return;
	}
	/* Runs of `inner` elements share a channel. */
	int64_t c = (i0 / inner) % dim, r = i0 % inner, off = 0;
	if (inner < SHORT_RUN) {
		switch (t->dtype) {
		case QDB_I8: LOAD_DEQ_SHORT(int8_t); break;
		case QDB_U8: LOAD_DEQ_SHORT(uint8_t); break;
		case QDB_I16: LOAD_DEQ_SHORT(int16_t); break;
		case QDB_I32: LOAD_DEQ_SHORT(int32_t); break;
		case QDB_I64: LOAD_DEQ_SHORT(int64_t); break;
		default: break;
		}
		return;
	}
	while (off < n) {
		int64_t len = inner - r;
		if (len > n - off)
			len = n - off;
		load_deq(t->dtype, base, i0, off, len, t->q.zero_point[c], t->q.scale[c], out);
		off += len;
		r = 0;
		if (++c == dim)
			c = 0;
	}
}

void qdb_tensor_to_f64(const struct qdb_tensor *t, double *out)
{
	int64_t n = qdb_tensor_numel(t);
	if (n > 0)
		qdb_tensor_load_real(t, 0, n, out);
}

void qdb_tensor_to_f32(const struct qdb_tensor *t, float *out)
{
	enum { B = 1024 };
	double buf[B];
	int64_t n = qdb_tensor_numel(t);
	for (int64_t i = 0; i < n; i += B) {
		int64_t len = n - i < B ? n - i : B;
		qdb_tensor_load_real(t, i, len, buf);
		for (int64_t j = 0; j < len; j++)
			out[i + j] = (float)buf[j];
	}
}

int qdb_tensor_dequantize(struct qdb_tensor *dst, const struct qdb_tensor *src,
			  struct qdb_err *err)
{
	if (dst == src)
		return qdb_err_set(err, QDB_EINVAL, "tensor: dequantize in place");
	int64_t n = qdb_tensor_numel(src);
	size_t sz = qdb_dtype_size(src->dtype);
	if (n < 0 || !sz || src->nbytes / sz < (uint64_t)n)
		return qdb_err_set(err, QDB_EINVAL, "tensor: dequantize of inconsistent tensor");
	struct qdb_tensor tmp;
	qdb_tensor_init(&tmp);
	int rc = qdb_tensor_alloc(&tmp, QDB_F32, src->rank, src->shape, err);
	if (rc)
		return rc;
	qdb_tensor_to_f32(src, tmp.data);
	qdb_tensor_done(dst);
	*dst = tmp;
	return QDB_OK;
}

#define COUNT_SAT(T)                                                           \
	do {                                                                       \
		const unsigned char *p_ = (const unsigned char *)t->data +             \
					  (size_t)i0 * sizeof(T);                      \
		for (int64_t j_ = 0; j_ < n; j_++) {                                   \
			T v_;                                                              \
			memcpy(&v_, p_ + (size_t)j_ * sizeof(T), sizeof(T));               \
			sat += ((int64_t)v_ == lo) | ((int64_t)v_ == hi);                  \
		}                                                                      \
	} while (0)

/* 1- and 2-byte tensors are counted 16 bytes at a time (GCC/clang vector
 * extensions): lanes count down by one per hit (a true comparison is -1)
 * and are flushed before they can overflow. VT is the lane type, T the
 * element type, L the lanes, MAXIT the iterations a lane counter survives. */
#define COUNT_SAT_VEC(VT, T, L, MAXIT)                                         \
	do {                                                                       \
		typedef VT vec_ __attribute__((vector_size(16)));                      \
		const unsigned char *p_ = (const unsigned char *)t->data +             \
					  (size_t)i0 * sizeof(T);                      \
		const T lo_ = (T)lo, hi_ = (T)hi;                                      \
		vec_ vlo_, vhi_;                                                       \
		for (int k_ = 0; k_ < (L); k_++) {                                     \
			vlo_[k_] = (VT)lo_;                                                \
			vhi_[k_] = (VT)hi_;                                                \
		}                                                                      \
		int64_t j_ = 0;                                                        \
		while (j_ + (L) <= n) {                                                \
			vec_ acc_ = {0};                                                   \
			for (int it_ = 0; it_ < (MAXIT) && j_ + (L) <= n; it_++, j_ += (L)) {  \
				vec_ v_;                                                       \
				memcpy(&v_, p_ + (size_t)j_ * sizeof(T), sizeof v_);           \
				acc_ += (vec_)((v_ == vlo_) | (v_ == vhi_));                   \
			}                                                                  \
			for (int k_ = 0; k_ < (L); k_++)                                   \
				sat -= acc_[k_];                                               \
		}                                                                      \
		for (; j_ < n; j_++) {                                                 \
			T v_;                                                              \
			memcpy(&v_, p_ + (size_t)j_ * sizeof(T), sizeof(T));               \
			sat += (v_ == lo_) | (v_ == hi_);                                  \
		}                                                                      \
	} while (0)

int64_t qdb_tensor_count_saturated(const struct qdb_tensor *t, int64_t i0, int64_t n)
{
	int64_t lo, hi, sat = 0;
	if (n <= 0)
		return 0;
	qdb_quant_range(&t->q, t->dtype, &lo, &hi);
	/* lo..hi lie within the dtype (qdb_quant_range), so the casts are exact. */
	switch (t->dtype) {
	case QDB_I8: COUNT_SAT_VEC(signed char, int8_t, 16, 127); break;
	case QDB_U8: COUNT_SAT_VEC(signed char, uint8_t, 16, 127); break;
	case QDB_I16: COUNT_SAT_VEC(short, int16_t, 8, 32767); break;
	case QDB_I32: COUNT_SAT(int32_t); break;
	case QDB_I64: COUNT_SAT(int64_t); break;
	default: break;
	}
	return sat;
}
