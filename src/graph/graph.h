/* graph.h - the model graph (.qbc): values, nodes, constants, qparams.
 *
 * A struct qdb_graph owns everything reachable from it (strings, arrays,
 * constant tensors, attrs). qdb_graph_load (src/io/qbc.c) returns a new graph
 * the caller frees with qdb_graph_delete; when loaded from a file the
 * constant tensors are copies (the file is not kept mapped), so a graph can
 * be edited and saved over its own source path safely.
 *
 * Values are named tensors: graph inputs, constants, or node outputs. Every
 * name a node mentions resolves to a value index. A value may carry qparams
 * (q.n > 0): in a `qat` graph that means "fake-quantize right after it is
 * produced"; in a `quantized` graph it means "holds integers of `qdtype`".
 *
 * Node attrs are kept generically (so unknown attrs survive a round-trip) and
 * read by the ops through qdb_node_attr_* accessors.
 */
#ifndef QDB_GRAPH_H
#define QDB_GRAPH_H

#include <stdint.h>

#include "base/err.h"
#include "tensor/tensor.h"

enum qdb_stage { QDB_STAGE_FLOAT, QDB_STAGE_QAT, QDB_STAGE_QUANTIZED, QDB_STAGE_COUNT };
const char *qdb_stage_name(enum qdb_stage s);
int qdb_stage_parse(const char *s, enum qdb_stage *out);

enum qdb_profile_kind { QDB_PROFILE_TORCH, QDB_PROFILE_FIXED, QDB_PROFILE_COUNT };
enum qdb_rounding { QDB_ROUND_HALF_AWAY, QDB_ROUND_HALF_UP, QDB_ROUND_HALF_EVEN, QDB_ROUND_COUNT };
const char *qdb_profile_name(enum qdb_profile_kind p);
int qdb_profile_parse(const char *s, enum qdb_profile_kind *out);
const char *qdb_rounding_name(enum qdb_rounding r);
int qdb_rounding_parse(const char *s, enum qdb_rounding *out);

enum qdb_device { QDB_DEV_BPU, QDB_DEV_CPU };

enum qdb_attr_kind { QDB_ATTR_INT, QDB_ATTR_FLOAT, QDB_ATTR_STR, QDB_ATTR_INTS, QDB_ATTR_FLOATS };

struct qdb_attr {
	char *key;
	enum qdb_attr_kind kind;
	int64_t i;        /* INT (also bools: 0/1) */
	double f;         /* FLOAT */
	char *s;          /* STR */
	int64_t *ints;    /* INTS */
	double *floats;   /* FLOATS */
	int32_t n;        /* length of ints/floats */
};

struct qdb_value {
	char *name;
	enum qdb_dtype dtype;        /* dtype the value holds at run time */
	int rank;                    /* -1 until shape inference ran */
	int64_t shape[QDB_MAX_RANK];
	struct qdb_quant q;          /* qparams (q.n == 0: none) */
	enum qdb_dtype qdtype;       /* integer dtype of the qparams */
	int producer;                /* node index, or -1 */
	int constant;                /* index into graph->constants, or -1 */
	int input;                   /* index into graph->inputs, or -1 */
	int is_output;
};

struct qdb_node {
	char *name;                  /* layer name */
	char *op_name;               /* as written in the file */
	int op;                      /* enum qdb_op from ops/ops.h, -1 if unknown */
	int *inputs, n_inputs;       /* value indices */
	int *outputs, n_outputs;
	struct qdb_attr *attrs;
	int n_attrs;
	enum qdb_device device;
};

struct qdb_constant {
	int value;                   /* value index */
	struct qdb_tensor t;         /* owned data; t.q = the tensor object's own qparams */
};

struct qdb_edit {
	char *node, *field, *from, *to;
};

struct qdb_graph {
	char *path;                  /* file it came from, or NULL */
	char *name, *producer;
	enum qdb_stage stage;
	enum qdb_profile_kind profile;
	enum qdb_rounding rounding;
	int version;

	struct qdb_value *values;
	int n_values, cap_values;
	struct qdb_node *nodes;
	int n_nodes, cap_nodes;
	struct qdb_constant *constants;
	int n_constants, cap_constants;
	int *inputs, n_inputs;       /* value indices of graph inputs */
	int *outputs, n_outputs;     /* value indices of graph outputs */
	struct qdb_edit *edits;
	int n_edits, cap_edits;

	/* name -> index hash tables (open addressing), rebuilt on change */
	int *value_map, value_map_cap;
	int *node_map, node_map_cap;
};

struct qdb_graph *qdb_graph_new(void);
void qdb_graph_delete(struct qdb_graph *g);

/* Lookups; -1 when absent. */
int qdb_graph_find_value(const struct qdb_graph *g, const char *name);
int qdb_graph_find_node(const struct qdb_graph *g, const char *name);

/* Building (used by the loader, convert and tests). Names are copied.
 * add_value and add_node return the new index >= 0, or -status: -QDB_EFORMAT
 * for an empty or duplicate name. A new value is f32, rank -1 (unknown),
 * without qparams, produced by nothing; a new node has no inputs, outputs
 * or attrs, device bpu, and op = qdb_op_lookup(op). */
int qdb_graph_add_value(struct qdb_graph *g, const char *name, struct qdb_err *err);
int qdb_graph_add_node(struct qdb_graph *g, const char *name, const char *op,
		       struct qdb_err *err); /* returns index >= 0 or -status */
/* A graph input value of known dtype and shape: value index or -status. */
int qdb_graph_add_input(struct qdb_graph *g, const char *name, enum qdb_dtype dtype, int rank,
			const int64_t *shape, struct qdb_err *err);
/* A constant value holding a deep copy of t: value index or -status. */
int qdb_graph_add_constant(struct qdb_graph *g, const char *name, const struct qdb_tensor *t,
			   struct qdb_err *err);
/* Appends value index `value` to the graph outputs. */
int qdb_graph_add_output(struct qdb_graph *g, int value, struct qdb_err *err);
/* Sets a node's inputs and outputs (value indices, copied) and makes it the
 * producer of its outputs. */
int qdb_graph_set_node_io(struct qdb_graph *g, int node, const int *inputs, int n_inputs,
			  const int *outputs, int n_outputs, struct qdb_err *err);
/* Appends an edit record (strings copied; NULL is stored as ""). */
int qdb_graph_add_edit(struct qdb_graph *g, const char *node, const char *field,
		       const char *from, const char *to, struct qdb_err *err);
/* Rebuilds the name maps; needed after renaming or removing values or
 * nodes directly in the arrays (adding through the functions above keeps
 * them current). */
int qdb_graph_reindex(struct qdb_graph *g, struct qdb_err *err);

/* Attr accessors: return def when absent; *_req variants fail with a
 * message naming node and key. */
const struct qdb_attr *qdb_node_attr(const struct qdb_node *n, const char *key);
int64_t qdb_node_attr_int(const struct qdb_node *n, const char *key, int64_t def);
double qdb_node_attr_float(const struct qdb_node *n, const char *key, double def);
const char *qdb_node_attr_str(const struct qdb_node *n, const char *key, const char *def);
/* Copies up to max ints into out; returns the count, or -1 when absent or
 * not an int list. */
int qdb_node_attr_ints(const struct qdb_node *n, const char *key, int64_t *out, int max);
/* The same for float lists (an int list is converted). */
int qdb_node_attr_floats(const struct qdb_node *n, const char *key, double *out, int max);
/* Setters: replace the value of an existing key in place (keeping attr
 * order), else append. Strings and lists are copied. */
int qdb_node_set_attr_int(struct qdb_node *n, const char *key, int64_t v, struct qdb_err *err);
int qdb_node_set_attr_float(struct qdb_node *n, const char *key, double v, struct qdb_err *err);
int qdb_node_set_attr_str(struct qdb_node *n, const char *key, const char *v,
			  struct qdb_err *err);
int qdb_node_set_attr_ints(struct qdb_node *n, const char *key, const int64_t *v, int count,
			   struct qdb_err *err);
int qdb_node_set_attr_floats(struct qdb_node *n, const char *key, const double *v, int count,
			     struct qdb_err *err);

/* Full validation: topological order, every input defined, op known and
 * supported in this stage, attrs valid, shapes inferred (fills value
 * rank/shape/dtype), qparams consistent. Errors name node and field. */
int qdb_graph_validate(struct qdb_graph *g, struct qdb_err *err);

/* Deep copy (for editing without touching the original). */
struct qdb_graph *qdb_graph_clone(const struct qdb_graph *g, struct qdb_err *err);
/* 1 if the graphs are the same container: names, stage, profile, values
 * (dtype, shape, qparams, roles), constants byte for byte, nodes with
 * their attrs in order, edits. The path is not compared. */
int qdb_graph_equal(const struct qdb_graph *a, const struct qdb_graph *b);

#endif
