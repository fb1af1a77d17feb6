/* fuzz_npy.c - libFuzzer target: any bytes as a .npy file. An array that
 * loads owns exactly numel * size bytes, all readable. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qdb_tensor t;
	struct qdb_err e;
	qdb_tensor_init(&t);
	if (qdb_npy_parse(data, size, "fuzz", &t, &e) == QDB_OK) {
		volatile double sink = 0;
		if (t.nbytes != (size_t)qdb_tensor_numel(&t) * qdb_dtype_size(t.dtype) || !t.owns_data)
			abort();
		for (int64_t i = 0; i < qdb_tensor_numel(&t); i++)
			sink += qdb_tensor_get(&t, i);
	}
	qdb_tensor_done(&t);
	return 0;
}
