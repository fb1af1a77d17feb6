/* run_int.c - test helper: runs a quantized graph on every record of a
 * dataset and compares graph output 0 (raw integers, or floats) with the
 * record's tensor label, element by element.
 *
 * usage: run_int MODEL.qbc DATA.qds
 * prints one line per record "i exact n maxdiff" and a final
 * "TOTAL exact n maxdiff"; exit 0 when everything ran (agreement is judged
 * by the caller, tests/torch/int_ops.py), 2 on bad input.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>

#include "graph/exec.h"
#include "io/dataset.h"
#include "io/qbc.h"

int main(int argc, char **argv)
{
	struct qdb_err err;
	struct qdb_graph *g = NULL;
	struct qdb_dataset *ds = NULL;
	struct qdb_exec *x = NULL;
	struct qdb_run *r = NULL;
	int rc = 2;
	if (argc != 3) {
		fprintf(stderr, "usage: run_int MODEL.qbc DATA.qds\n");
		return 2;
	}
	if (qdb_graph_load_checked(argv[1], &g, &err) || qdb_dataset_open(argv[2], &ds, &err) ||
	    qdb_exec_new(g, QDB_SEM_NATIVE, &x, &err) || qdb_run_new(x, &r, &err)) {
		fprintf(stderr, "run_int: %s\n", err.msg);
		goto done;
	}
	int64_t total = 0, exact = 0;
	double maxdiff = 0;
	for (int64_t i = 0; i < qdb_dataset_count(ds); i++) {
		for (int k = 0; k < g->n_inputs; k++) {
			const char *name = g->values[g->inputs[k]].name;
			int di = qdb_dataset_find_input(ds, name);
			struct qdb_tensor t;
			qdb_tensor_init(&t);
			if (di < 0 || qdb_dataset_input(ds, i, di, &t, &err) ||
			    qdb_run_set_input(r, k, &t, &err)) {
				fprintf(stderr, "run_int: record %lld input %s: %s\n", (long long)i, name,
					di < 0 ? "missing" : err.msg);
				qdb_tensor_done(&t);
				goto done;
			}
			qdb_tensor_done(&t);
		}
		if (qdb_run_forward(r, NULL, NULL, &err)) {
			fprintf(stderr, "run_int: record %lld: %s\n", (long long)i, err.msg);
			goto done;
		}
		const struct qdb_tensor *out = qdb_run_output(r, 0);
		struct qdb_tensor want;
		qdb_tensor_init(&want);
		if (qdb_dataset_label_tensor(ds, i, &want, &err)) {
			fprintf(stderr, "run_int: record %lld label: %s\n", (long long)i, err.msg);
			goto done;
		}
		int64_t n = qdb_tensor_numel(out), e = 0;
		double md = 0;
		if (n != qdb_tensor_numel(&want)) {
			fprintf(stderr, "run_int: record %lld: %lld outputs, label has %lld\n",
				(long long)i, (long long)n, (long long)qdb_tensor_numel(&want));
			qdb_tensor_done(&want);
			goto done;
		}
		for (int64_t j = 0; j < n; j++) {
			double a = qdb_tensor_get(out, j), b = qdb_tensor_get(&want, j);
			double d = fabs(a - b);
			e += a == b;
			md = d > md ? d : md;
		}
		qdb_tensor_done(&want);
		printf("%lld %lld %lld %g\n", (long long)i, (long long)e, (long long)n, md);
		total += n;
		exact += e;
		maxdiff = md > maxdiff ? md : maxdiff;
	}
	printf("TOTAL %lld %lld %g\n", (long long)exact, (long long)total, maxdiff);
	rc = 0;
done:
	qdb_run_delete(r);
	qdb_exec_delete(x);
	qdb_dataset_close(ds);
	qdb_graph_delete(g);
	return rc;
}
