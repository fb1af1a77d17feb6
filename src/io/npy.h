/* npy.h - numpy .npy files (format versions 1.0-3.0, little-endian or
 * byte-order-free dtypes <f4 <f8 |i1 |u1 <i2 <i4 <i8, C order).
 *
 * qdb_npy_load reads into a new owned tensor (init'ed by the caller);
 * qdb_npy_save writes atomically. Fortran order and other dtypes are
 * refused with a message.
 */
#ifndef QDB_NPY_H
#define QDB_NPY_H

#include "base/err.h"
#include "tensor/tensor.h"

int qdb_npy_load(const char *path, struct qdb_tensor *out, struct qdb_err *err);
int qdb_npy_parse(const void *data, size_t len, const char *name,
		  struct qdb_tensor *out, struct qdb_err *err);
int qdb_npy_save(const struct qdb_tensor *t, const char *path, struct qdb_err *err);

#endif
