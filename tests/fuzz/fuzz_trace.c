/* fuzz_trace.c - libFuzzer target: any bytes as a .qtr trace. A trace that
 * opens must give a view of every record it indexes, and every element of
 * every view must be readable (ASan checks the bounds). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "io/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qdb_trace *t;
	struct qdb_err e;
	if (qdb_trace_parse(data, size, "fuzz", &t, &e))
		return 0;
	volatile double sink = 0;
	int64_t found = 0;
	for (int s = 0; s < qdb_trace_n_samples(t); s++)
		for (int l = 0; l < qdb_trace_n_layers(t); l++) {
			if (!qdb_trace_has(t, s, l))
				continue;
			struct qdb_tensor v;
			qdb_tensor_init(&v);
			if (qdb_trace_get(t, s, l, &v, &e))
				abort(); /* indexed at open, so it must decode */
			found++;
			for (int64_t i = 0; i < qdb_tensor_numel(&v); i++)
				sink += qdb_tensor_get_real(&v, i);
			qdb_tensor_done(&v);
		}
	if (found != qdb_trace_n_records(t))
		abort();
	qdb_trace_close(t);
	return 0;
}
