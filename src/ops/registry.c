/* registry.c - (op, mode) -> kernel: float kernels here, integer kernels
 * from registry_int.c. */
#include "config.h"

#include <stddef.h>

#include "ops/kernel_float.h"
#include "ops/kernel_int.h"
#include "ops/ops.h"

const struct qdb_kernel *qdb_kernel_float_for(int op)
{
	static const struct qdb_kernel *const table[QDB_OP_COUNT] = {
		/* in float modes quantize and dequantize pass values through: the
		 * executor fake-quantizes the output (qat) or the stage has no
		 * quantization (float) */
		[QDB_OP_QUANTIZE] = &qdb_kf_copy,
		[QDB_OP_DEQUANTIZE] = &qdb_kf_copy,
		[QDB_OP_CONV2D] = &qdb_kf_conv2d,
		[QDB_OP_LINEAR] = &qdb_kf_linear,
		[QDB_OP_MATMUL] = &qdb_kf_matmul,
		[QDB_OP_ADD] = &qdb_kf_add,
		[QDB_OP_MUL] = &qdb_kf_mul,
		[QDB_OP_CONCAT] = &qdb_kf_concat,
		[QDB_OP_RELU] = &qdb_kf_relu,
		[QDB_OP_RELU6] = &qdb_kf_relu6,
		[QDB_OP_CLAMP] = &qdb_kf_clamp,
		[QDB_OP_SIGMOID] = &qdb_kf_sigmoid,
		[QDB_OP_TANH] = &qdb_kf_tanh,
		[QDB_OP_HARDSWISH] = &qdb_kf_hardswish,
		[QDB_OP_SILU] = &qdb_kf_silu,
		[QDB_OP_GELU] = &qdb_kf_gelu,
		[QDB_OP_SOFTMAX] = &qdb_kf_softmax,
		[QDB_OP_MAXPOOL2D] = &qdb_kf_maxpool2d,
		[QDB_OP_AVGPOOL2D] = &qdb_kf_avgpool2d,
		[QDB_OP_GLOBAL_AVGPOOL] = &qdb_kf_global_avgpool,
		[QDB_OP_FLATTEN] = &qdb_kf_copy,
		[QDB_OP_RESHAPE] = &qdb_kf_copy,
		[QDB_OP_PERMUTE] = &qdb_kf_permute,
		[QDB_OP_UPSAMPLE_NEAREST] = &qdb_kf_upsample_nearest,
		[QDB_OP_IDENTITY] = &qdb_kf_copy,
	};
	if (op < 0 || op >= QDB_OP_COUNT)
		return NULL;
	return table[op];
}

const struct qdb_kernel *qdb_kernel_for(int op, enum qdb_exec_mode mode)
{
	switch (mode) {
	case QDB_EXEC_FLOAT: return qdb_kernel_float_for(op);
	case QDB_EXEC_INT: return qdb_kernel_int_for(op);
	default: return NULL;
	}
}
