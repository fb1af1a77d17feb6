/* tensor_mp.h - tensor objects in MessagePack (internal to io).
 *
 * A tensor object is a map {dtype, shape, data[, scale, zero_point, axis,
 * qmin, qmax]} (man/qdb-formats.5). Reading validates everything (dtype
 * name, rank <= 8, non-negative dims, data length exactly numel * size,
 * scales finite and > 0, zero points in range, per-channel axis and
 * length) and yields a view: out->data points into the object's bin, that
 * is into the caller's buffer (an mmapped file), so it must not outlive it.
 * The quant params in out are owned by out (qdb_tensor_done frees them).
 */
#ifndef QDB_TENSOR_MP_H
#define QDB_TENSOR_MP_H

#include <msgpack.h>

#include "base/err.h"
#include "tensor/tensor.h"

/* out is initialised by the caller; on failure it is left empty. */
int qdb_tensor_mp_read(const msgpack_object *o, struct qdb_tensor *out, struct qdb_err *err);

/* Pieces shared with header fields ({name, dtype, shape} entries, qparams). */
int qdb_dtype_mp_read(const msgpack_object *o, const char *what, enum qdb_dtype *out,
		      struct qdb_err *err);
int qdb_shape_mp_read(const msgpack_object *o, const char *what, int *rank, int64_t *shape,
		      struct qdb_err *err);
/* A number or an array of numbers (ints when `ints`) as a new array in *dv
 * or *iv (qdb_free); an empty array is refused. */
int qdb_mp_read_numbers(const msgpack_object *o, const char *what, int ints, int32_t *count,
			double **dv, int64_t **iv, struct qdb_err *err);
/* The same for scales, each checked finite and positive. */
int qdb_mp_read_scales(const msgpack_object *o, int32_t *count, double **out, struct qdb_err *err);
/* Reads scale/zero_point/axis/qmin/qmax from map `m` into q (initialised,
 * left empty on failure); "no scale" gives q->n == 0. rank < 0 means the
 * shape is not known yet: the axis is then only checked to be >= 0. */
int qdb_quant_mp_read(const msgpack_object *m, enum qdb_dtype dtype, int rank,
		      const int64_t *shape, struct qdb_quant *q, struct qdb_err *err);

/* Checks a tensor before writing it (dtype, rank, nbytes against shape,
 * quant params): QDB_EINVAL with a message. */
int qdb_tensor_mp_check(const struct qdb_tensor *t, struct qdb_err *err);
/* Writes a checked tensor object; returns msgpack's status (0 = ok). */
int qdb_tensor_mp_write(msgpack_packer *pk, const struct qdb_tensor *t);
/* Number of map entries qdb_quant_mp_write_fields writes, and the writer. */
int qdb_quant_mp_nfields(const struct qdb_quant *q, enum qdb_dtype dtype);
int qdb_quant_mp_write_fields(msgpack_packer *pk, const struct qdb_quant *q,
			      enum qdb_dtype dtype);
int qdb_shape_mp_write(msgpack_packer *pk, int rank, const int64_t *shape);

#endif
