/* tensor.h - n-d tensors with dtype and (per-tensor or per-channel) quant params.
 *
 * A struct qdb_tensor is usually embedded (qdb_tensor_init / qdb_tensor_done)
 * or heap-allocated (qdb_tensor_new / qdb_tensor_delete). It either owns its
 * element buffer (owns_data = 1, freed by _done) or is a view into memory
 * owned by someone else (an mmapped trace, a graph's constant) and must not
 * outlive it. Quant params (struct qdb_quant) are always owned by the tensor.
 *
 * Element data is C order, little-endian. A view into a file may be
 * unaligned: code that reads views uses qdb_tensor_get() or memcpy loads;
 * kernels that need aligned data take tensors the executor allocated.
 *
 * real = (q - zero_point) * scale, per channel along `axis` when n > 1.
 * Only integer dtypes are dequantized: a float tensor with quant params (a
 * fake-quantized value) already holds real values; its params only say
 * where its quantization steps are (used e.g. for error in LSB).
 */
#ifndef QDB_TENSOR_H
#define QDB_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define QDB_MAX_RANK 8

enum qdb_dtype {
	QDB_F32,
	QDB_F64,
	QDB_I8,
	QDB_U8,
	QDB_I16,
	QDB_I32,
	QDB_I64,
	QDB_DTYPE_COUNT
};

/* "f32", "i8", ...; NULL for an out-of-range value. */
const char *qdb_dtype_name(enum qdb_dtype d);
/* Parses a dtype name; 0 and *out set on success, -1 for an unknown name. */
int qdb_dtype_parse(const char *name, size_t len, enum qdb_dtype *out);
size_t qdb_dtype_size(enum qdb_dtype d);
int qdb_dtype_is_int(enum qdb_dtype d);
/* Representable range of an integer dtype (for floats: -inf/+inf as int64 min/max). */
int64_t qdb_dtype_min(enum qdb_dtype d);
int64_t qdb_dtype_max(enum qdb_dtype d);

struct qdb_quant {
	int32_t n;           /* 0: unquantized; 1: per-tensor; >1: per-channel */
	int32_t axis;        /* channel axis when n > 1, else -1 */
	double *scale;       /* n finite positive scales (owned) */
	int64_t *zero_point; /* n zero points (owned) */
	int64_t qmin, qmax;  /* integer range; INT64_MIN/INT64_MAX mean "the
	                        dtype's range" (resolve with qdb_quant_range) */
};

struct qdb_tensor {
	enum qdb_dtype dtype;
	int rank;
	int64_t shape[QDB_MAX_RANK];
	void *data;      /* numel * dtype_size bytes, C order */
	size_t nbytes;
	int owns_data;   /* 1: data freed by qdb_tensor_done */
	struct qdb_quant q;
};

/* Embedded lifetime: init makes an empty f32 scalar-less tensor (rank 0,
 * data NULL); done frees owned data and quant params and re-inits. */
void qdb_tensor_init(struct qdb_tensor *t);
void qdb_tensor_done(struct qdb_tensor *t);
struct qdb_tensor *qdb_tensor_new(void);
void qdb_tensor_delete(struct qdb_tensor *t);

/* Number of elements (1 for rank 0). Returns -1 if the product overflows. */
int64_t qdb_shape_numel(int rank, const int64_t *shape);
int64_t qdb_tensor_numel(const struct qdb_tensor *t);
/* Same rank and dims. */
int qdb_shape_equal(const struct qdb_tensor *a, const struct qdb_tensor *b);
/* "1x3x8x8" (or "scalar") into dst. */
const char *qdb_shape_str(char *dst, size_t n, int rank, const int64_t *shape);

/* (Re)allocates an owned, zero-filled buffer of the given dtype/shape; drops
 * any previous data but keeps quant params. */
int qdb_tensor_alloc(struct qdb_tensor *t, enum qdb_dtype dtype, int rank,
		     const int64_t *shape, struct qdb_err *err);
/* Makes t a view of `data` (not owned). nbytes must match; checked. */
int qdb_tensor_view(struct qdb_tensor *t, enum qdb_dtype dtype, int rank,
		    const int64_t *shape, const void *data, size_t nbytes,
		    struct qdb_err *err);
/* Deep copy (owned data, copied quant params) into an initialised dst. */
int qdb_tensor_copy(struct qdb_tensor *dst, const struct qdb_tensor *src,
		    struct qdb_err *err);

/* Quant params. */
void qdb_quant_init(struct qdb_quant *q);
void qdb_quant_done(struct qdb_quant *q);
/* Per-tensor params; qmin/qmax default to the dtype range when qmin > qmax
 * (stored as INT64_MIN/INT64_MAX). */
int qdb_quant_set(struct qdb_quant *q, double scale, int64_t zero_point,
		  int64_t qmin, int64_t qmax, struct qdb_err *err);
/* Per-channel params (n >= 1, arrays copied; zero_point may be NULL = 0).
 * A negative axis is stored as -1 (per-tensor). */
int qdb_quant_set_channels(struct qdb_quant *q, int32_t n, int32_t axis,
			   const double *scale, const int64_t *zero_point,
			   int64_t qmin, int64_t qmax, struct qdb_err *err);
int qdb_quant_copy(struct qdb_quant *dst, const struct qdb_quant *src,
		   struct qdb_err *err);
/* Checks scales finite and > 0, axis in range of `rank`/shape, n equals the
 * axis dimension, qmin <= qmax within the dtype. `what` prefixes messages. */
int qdb_quant_validate(const struct qdb_quant *q, enum qdb_dtype dtype, int rank,
		       const int64_t *shape, const char *what, struct qdb_err *err);
/* Effective integer range: [qmin, qmax] intersected with the dtype's range. */
void qdb_quant_range(const struct qdb_quant *q, enum qdb_dtype dtype, int64_t *qmin,
		     int64_t *qmax);

/* Element i (flat index) as double, raw (no dequantization). Safe on
 * unaligned views. */
double qdb_tensor_get(const struct qdb_tensor *t, int64_t i);
/* Element i dequantized ((q - zp) * scale of its channel), or raw if the
 * tensor has no quant params. */
double qdb_tensor_get_real(const struct qdb_tensor *t, int64_t i);
/* Channel of flat index i along q.axis (0 when per-tensor). */
int64_t qdb_tensor_channel_of(const struct qdb_tensor *t, int64_t i);
/* Per-channel layout: the channel of flat i is (i / inner) % dim. Returns 1
 * for valid per-channel params, else 0 with inner = dim = 1 (params that do
 * not fit the shape are read as channel 0, never out of bounds). */
int qdb_tensor_channel_layout(const struct qdb_tensor *t, int64_t *inner, int64_t *dim);
/* Elements [i0, i0 + n) dequantized into out (n doubles); the caller checks
 * the range. One specialised loop per dtype: the fast path of metrics,
 * stats and dequantization. */
void qdb_tensor_load_real(const struct qdb_tensor *t, int64_t i0, int64_t n, double *out);
/* How many of the raw elements [i0, i0 + n) of an integer tensor sit at the
 * effective qmin or qmax (qdb_quant_range); 0 for float tensors. */
int64_t qdb_tensor_count_saturated(const struct qdb_tensor *t, int64_t i0, int64_t n);

/* Dequantizes the whole tensor into a new owned f32 tensor (same shape, no
 * quant params) in dst (initialised by the caller; its old content is
 * released only on success; dst must not be src). */
int qdb_tensor_dequantize(struct qdb_tensor *dst, const struct qdb_tensor *src,
			  struct qdb_err *err);
/* Dequantizes into a caller buffer of numel floats/doubles. */
void qdb_tensor_to_f32(const struct qdb_tensor *t, float *out);
void qdb_tensor_to_f64(const struct qdb_tensor *t, double *out);

#endif
