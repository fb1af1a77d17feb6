/* edit.h - editing node devices of a quantized graph (`qdb edit`).
 *
 * qdb_graph_edit_devices moves the named nodes to "cpu" or "bpu" in place
 * and appends one record {node, field: "device", from, to} to the graph's
 * edit history per node whose device changed (the history is saved with
 * the graph). All names are checked before anything changes: an unknown
 * name fails with QDB_ENOTFOUND and a message listing close node names; a
 * node named for both devices, a graph that is not quantized, or a node
 * whose integer kernel cannot prepare (for "bpu") fail with QDB_EINVAL.
 */
#ifndef QDB_EDIT_H
#define QDB_EDIT_H

#include "base/err.h"
#include "graph/graph.h"

/* cpu/bpu: arrays of node names (n_cpu/n_bpu long). *changed (may be NULL)
 * gets the number of nodes whose device changed. */
int qdb_graph_edit_devices(struct qdb_graph *g, char *const *cpu, int n_cpu, char *const *bpu,
			   int n_bpu, int *changed, struct qdb_err *err);

/* Up to max node names close to `name` (edit distance, shared prefix or
 * substring), best first, into out (pointers into g). Returns the count. */
int qdb_graph_close_nodes(const struct qdb_graph *g, const char *name, const char **out, int max);

#endif
