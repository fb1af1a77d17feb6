/* registry_int.c - op -> integer kernel table (see kernel_int.h). */
#include "config.h"

#include <stddef.h>

#include "ops/kernel_int.h"
#include "ops/ops.h"

const struct qdb_kernel *qdb_kernel_int_for(int op)
{
	static const struct qdb_kernel *const table[QDB_OP_COUNT] = {
		NULL,
	};
	if (op < 0 || op >= QDB_OP_COUNT)
		return NULL;
	return table[op];
}
