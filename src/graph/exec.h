/* exec.h - running a graph: a prepared executor and the values of one run.
 *
 * struct qdb_exec is made once per (graph, semantics) by qdb_exec_new: it
 * picks every node's kernels, runs their prepare() (packed weights,
 * multipliers, LUTs), and converts the constants once (dequantized for
 * float kernels, fake-quantized per channel for QAT). It keeps a pointer to
 * the graph, which must be validated (qdb_graph_validate), outlive the
 * executor and not change meanwhile. After qdb_exec_new it is read-only:
 * any number of threads may run it at once, each with its own struct
 * qdb_run. Free with qdb_exec_delete (after all its runs).
 *
 * struct qdb_run holds everything one execution produces: a tensor per value
 * (owned), which nodes are up to date, and the device of each node. Setting
 * an input or a device marks the affected downstream cone stale;
 * qdb_run_forward recomputes only stale nodes, so "toggle a node to cpu and
 * re-run" costs the cone, not the graph. qdb_run_copy clones a finished run
 * (e.g. a baseline) so that variants reuse its upstream activations.
 *
 * Semantics (DESIGN.md section 3):
 *  - FLOAT: float kernels, constants dequantized, no fake quant.
 *  - FAKEQUANT (qat): float kernels; every value with qparams is
 *    fake-quantized right after it is produced (graph inputs when set);
 *    float constants with qparams are fake-quantized once, per channel.
 *    A quantized graph runs on its dequantized constants.
 *  - INTEGER (quantized graphs): "bpu" nodes run integer kernels on integer
 *    values; "cpu" nodes get their integer inputs dequantized, run the float
 *    kernel with dequantized constants, and their outputs stay float for
 *    cpu consumers; where such a value flows into a bpu node or is a graph
 *    output it is quantized with the value's qparams (torch arithmetic,
 *    ops/quant.h). The value a hook, trace or qdb_run_value sees is that
 *    quantized form whenever one exists ("visible form"); otherwise the
 *    float the cpu node computed.
 *  - NATIVE: the graph's stage decides (float, qat -> FAKEQUANT,
 *    quantized -> INTEGER).
 */
#ifndef QDB_EXEC_H
#define QDB_EXEC_H

#include "base/err.h"
#include "graph/graph.h"
#include "tensor/tensor.h"

enum qdb_exec_sem { QDB_SEM_NATIVE, QDB_SEM_FLOAT, QDB_SEM_FAKEQUANT, QDB_SEM_INTEGER };
/* "native", "float", "qat", "int". */
const char *qdb_exec_sem_name(enum qdb_exec_sem s);
int qdb_exec_sem_parse(const char *s, enum qdb_exec_sem *out); /* 0 or -1 */

struct qdb_exec;
struct qdb_run;

int qdb_exec_new(const struct qdb_graph *g, enum qdb_exec_sem sem, struct qdb_exec **out,
		 struct qdb_err *err);
void qdb_exec_delete(struct qdb_exec *x);
const struct qdb_graph *qdb_exec_graph(const struct qdb_exec *x);
/* The resolved semantics (never NATIVE). */
enum qdb_exec_sem qdb_exec_semantics(const struct qdb_exec *x);
/* 1 if node can run on `dev` in this executor (bpu needs an integer kernel
 * that prepared fine; always 1 outside INTEGER semantics). */
int qdb_exec_can_run_on(const struct qdb_exec *x, int node, enum qdb_device dev);

/* ---- runs ---- */

int qdb_run_new(const struct qdb_exec *x, struct qdb_run **out, struct qdb_err *err);
void qdb_run_delete(struct qdb_run *r);
const struct qdb_exec *qdb_run_exec(const struct qdb_run *r);
/* dst := src (same executor): devices, inputs, computed values, staleness. */
int qdb_run_copy(struct qdb_run *dst, const struct qdb_run *src, struct qdb_err *err);

/* Graph input i (index into g->inputs) from any tensor, e.g. a dataset
 * view (unaligned data is fine): converted to the input's runtime form
 * (f32, fake-quantized, or quantized to the declared integer dtype). The
 * shape must equal the declared one. Marks its consumers' cone stale. */
int qdb_run_set_input(struct qdb_run *r, int i, const struct qdb_tensor *t, struct qdb_err *err);

/* Devices start as in the graph. Changing one marks the node's cone stale
 * (a no-op for the values outside INTEGER semantics). Fails with
 * QDB_EUNSUPPORTED when the node cannot run on dev. */
enum qdb_device qdb_run_device(const struct qdb_run *r, int node);
int qdb_run_set_device(struct qdb_run *r, int node, enum qdb_device dev, struct qdb_err *err);

/* Called after a node ran, with its outputs in visible form. Return 0 to
 * go on; non-zero stops the run: qdb_run_forward returns QDB_ESTOPPED and
 * a later qdb_run_forward resumes after that node. */
typedef int (*qdb_run_hook_fn)(void *ctx, struct qdb_run *r, int node,
			       const struct qdb_tensor *const *out, int n_out);

/* Runs every stale node in graph order (hook may be NULL). */
int qdb_run_forward(struct qdb_run *r, qdb_run_hook_fn hook, void *ctx, struct qdb_err *err);
/* The node qdb_run_step would run next; -1 when everything is up to date. */
int qdb_run_next(const struct qdb_run *r);
/* Runs exactly that node (stepping); QDB_OK and nothing done at the end. */
int qdb_run_step(struct qdb_run *r, qdb_run_hook_fn hook, void *ctx, struct qdb_err *err);
/* Marks node and everything downstream of it stale (e.g. "re-run from"). */
void qdb_run_invalidate(struct qdb_run *r, int node);
int qdb_run_node_done(const struct qdb_run *r, int node);

/* Value v in visible form (constants: the executor's copy for the
 * semantics); NULL when not computed (yet). Valid until the value is
 * recomputed or the run is deleted. */
const struct qdb_tensor *qdb_run_value(const struct qdb_run *r, int value);
/* Graph output i (index into g->outputs). */
const struct qdb_tensor *qdb_run_output(const struct qdb_run *r, int i);

/* Evaluates node on given inputs without touching the run's values
 * (isolated comparison): in[k] (NULL = the run's current value, e.g. for
 * constants) is converted into the node's domain first (dequantized for
 * float kernels; quantized with the value's qparams for integer kernels;
 * fake-quantized under FAKEQUANT). out[k] (initialised by the caller) get
 * the outputs in visible form. Uses the node's device in this run. */
int qdb_run_eval_node(struct qdb_run *r, int node, const struct qdb_tensor *const *in,
		      struct qdb_tensor *const *out, struct qdb_err *err);

#endif
