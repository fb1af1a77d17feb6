/* fuzz_qbc.c - libFuzzer target: any bytes as a .qbc graph. A graph that
 * loads must serialize, parse back equal (the writer accepts all the
 * loader does, and the round trip is exact), and clone equal. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "io/qbc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qdb_graph *g, *g2, *c;
	struct qdb_err e;
	char *buf;
	size_t len;
	if (qdb_graph_parse(data, size, "fuzz", &g, &e))
		return 0;
	if (qdb_graph_serialize(g, &buf, &len, &e))
		abort();
	if (qdb_graph_parse(buf, len, "again", &g2, &e) || !qdb_graph_equal(g, g2))
		abort();
	qdb_free(buf);
	if (!(c = qdb_graph_clone(g, &e)) || !qdb_graph_equal(g, c))
		abort();
	qdb_graph_delete(c);
	qdb_graph_delete(g2);
	qdb_graph_delete(g);
	return 0;
}
