/* registry_int.c - op -> integer kernel table (see kernel_int.h). */
#include "config.h"

#include <stddef.h>

#include "ops/kernel_int.h"
#include "ops/ops.h"

const struct qdb_kernel *qdb_kernel_int_for(int op)
{
	static const struct qdb_kernel *const table[QDB_OP_COUNT] = {
		[QDB_OP_QUANTIZE] = &qdb_ki_quantize,
		[QDB_OP_DEQUANTIZE] = &qdb_ki_dequantize,
		[QDB_OP_CONV2D] = &qdb_ki_conv2d,
		[QDB_OP_LINEAR] = &qdb_ki_linear,
		[QDB_OP_MATMUL] = &qdb_ki_matmul,
		[QDB_OP_ADD] = &qdb_ki_add,
		[QDB_OP_MUL] = &qdb_ki_mul,
		[QDB_OP_CONCAT] = &qdb_ki_concat,
		[QDB_OP_RELU] = &qdb_ki_relu,
		[QDB_OP_RELU6] = &qdb_ki_relu6,
		[QDB_OP_CLAMP] = &qdb_ki_clamp,
		[QDB_OP_SIGMOID] = &qdb_ki_lut_act,
		[QDB_OP_TANH] = &qdb_ki_lut_act,
		[QDB_OP_HARDSWISH] = &qdb_ki_lut_act,
		[QDB_OP_SILU] = &qdb_ki_lut_act,
		[QDB_OP_GELU] = &qdb_ki_lut_act,
		[QDB_OP_SOFTMAX] = &qdb_ki_softmax,
		[QDB_OP_MAXPOOL2D] = &qdb_ki_maxpool2d,
		[QDB_OP_AVGPOOL2D] = &qdb_ki_avgpool2d,
		[QDB_OP_GLOBAL_AVGPOOL] = &qdb_ki_global_avgpool,
		[QDB_OP_FLATTEN] = &qdb_ki_copy,
		[QDB_OP_RESHAPE] = &qdb_ki_copy,
		[QDB_OP_PERMUTE] = &qdb_ki_permute,
		[QDB_OP_UPSAMPLE_NEAREST] = &qdb_ki_upsample_nearest,
		[QDB_OP_IDENTITY] = &qdb_ki_copy,
	};
	if (op < 0 || op >= QDB_OP_COUNT)
		return NULL;
	return table[op];
}
