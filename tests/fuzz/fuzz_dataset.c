/* fuzz_dataset.c - libFuzzer target: any bytes as a .qds dataset. Every
 * input and label of a dataset that opens must decode and be readable. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "io/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double touch(const struct qdb_tensor *v)
{
	double s = 0;
	for (int64_t i = 0; i < qdb_tensor_numel(v); i++)
		s += qdb_tensor_get_real(v, i);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qdb_dataset *d;
	struct qdb_err e;
	if (qdb_dataset_parse(data, size, "fuzz", &d, &e))
		return 0;
	volatile double sink = 0;
	for (int64_t r = 0; r < qdb_dataset_count(d); r++) {
		struct qdb_tensor v;
		for (int i = 0; i < qdb_dataset_n_inputs(d); i++) {
			qdb_tensor_init(&v);
			if (qdb_dataset_input(d, r, i, &v, &e))
				abort(); /* validated at open */
			sink += touch(&v);
			qdb_tensor_done(&v);
		}
		if (qdb_dataset_label_kind(d) == QDB_LABEL_TENSOR) {
			qdb_tensor_init(&v);
			int rc = qdb_dataset_label_tensor(d, r, &v, &e);
			if (rc && rc != QDB_ENOTFOUND)
				abort();
			sink += touch(&v);
			qdb_tensor_done(&v);
		}
		if (qdb_dataset_find(d, qdb_dataset_id(d, r)) != r)
			abort();
	}
	qdb_dataset_close(d);
	return 0;
}
