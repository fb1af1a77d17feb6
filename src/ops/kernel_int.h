/* kernel_int.h - integer kernels of quantized graphs (QDB_EXEC_INT).
 *
 * qdb_kernel_int_for(op) is what src/ops/registry.c calls for
 * qdb_kernel_for(op, QDB_EXEC_INT); NULL means the op has no integer kernel
 * (validation reports it at load time). The kernels live one family per file
 * (conv_int.c, linear_int.c, eltwise_int.c, act_int.c, pool_int.c,
 * shape_int.c, quant_int.c) and follow src/ops/kernel.h: the executor
 * allocates outputs with the output value's dtype and qparams; per-node data
 * (packed weights, multipliers, LUTs) is made once by prepare().
 */
#ifndef QDB_KERNEL_INT_H
#define QDB_KERNEL_INT_H

#include "ops/kernel.h"

const struct qdb_kernel *qdb_kernel_int_for(int op);

#endif
