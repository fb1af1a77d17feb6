/* kernel.h - the interface between the executor and op kernels.
 *
 * Each op family lives in one file (src/ops/<family>.c) and exports one
 * struct qdb_kernel per execution mode it supports. qdb_kernel_for() (in
 * src/ops/registry.c) picks the kernel for (op, mode); NULL means "not
 * supported in that mode", which qdb_graph_validate reports at load time.
 *
 * Modes:
 *  - QDB_EXEC_FLOAT: f32 in, f32 out. Also used for QAT (fake quant is
 *    applied by the executor to every value with qparams right after it is
 *    produced, and to constants with qparams once at prepare time) and for
 *    nodes on device "cpu" in a quantized graph (inputs dequantized first).
 *  - QDB_EXEC_INT: integer semantics of a quantized graph on "bpu": inputs
 *    are integer tensors carrying their quant params (t->q), outputs are
 *    allocated by the executor with the dtype and qparams of the output
 *    value; requantization follows g->profile / g->rounding.
 *
 * Ownership: the executor allocates every output tensor (shape and dtype
 * from shape inference, q copied from the value) before calling run();
 * kernels never allocate per call except through `prep` (made once by
 * prepare(), freed by release()) and the scratch the executor passes.
 */
#ifndef QDB_KERNEL_H
#define QDB_KERNEL_H

#include <stddef.h>

#include "base/err.h"
#include "graph/graph.h"
#include "tensor/tensor.h"

enum qdb_exec_mode { QDB_EXEC_FLOAT, QDB_EXEC_INT, QDB_EXEC_MODE_COUNT };

struct qdb_kernel_args {
	const struct qdb_graph *g;
	int node;                              /* index into g->nodes */
	const struct qdb_tensor *const *in;    /* g->nodes[node].n_inputs tensors */
	struct qdb_tensor *const *out;         /* n_outputs, preallocated */
	void *prep;                            /* from prepare(), may be NULL */
	void *scratch;                         /* scratch_size() bytes, may be NULL */
	size_t scratch_bytes;
};

struct qdb_kernel {
	/* Optional: precompute per-node data (packed weights, multipliers,
	 * LUTs). Called once per (graph, node, mode) before any run. */
	int (*prepare)(const struct qdb_graph *g, int node, void **prep, struct qdb_err *err);
	void (*release)(void *prep);
	/* Optional: scratch bytes run() needs for this node (e.g. im2col). */
	size_t (*scratch_size)(const struct qdb_graph *g, int node, const void *prep);
	int (*run)(const struct qdb_kernel_args *a, struct qdb_err *err);
};

const struct qdb_kernel *qdb_kernel_for(int op, enum qdb_exec_mode mode);

#endif
