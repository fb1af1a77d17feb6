/* convert.h - qat graph -> quantized graph (`qdb convert`).
 *
 * qdb_convert builds a new graph (stage "quantized", the chosen profile and
 * rounding recorded in it) from a validated qat graph, which it does not
 * modify:
 *  - every value with qparams holds integers of its qparams' dtype; every
 *    constant with qparams (weights, operands) is quantized exactly as the
 *    qat graph fake-quantizes it (torch arithmetic, per channel), so the
 *    integers are the qat weights;
 *  - conv2d/linear biases stay f32 (profile torch), or become int32 at
 *    s_x * s_w[c] rounded by the graph's rounding (profile fixed);
 *  - profile fixed: Q31 multipliers/shifts as node attrs (rq_mult,
 *    rq_shift, rq_left_shift) and lookup tables as constants named by the
 *    node's `lut` attr (see ops/kernel_int.h);
 *  - a quantize node "<input>.quantize" after each float graph input that
 *    has qparams (the input stays float; consumers read "<input>.q"), and a
 *    dequantize node "<output>.dequantize" before each integer graph output
 *    (the graph output keeps its name and is float; the layer's integer
 *    value becomes "<output>.q"). Original nodes keep their names, so traces
 *    of the two stages align by name.
 * Values without qparams: the output of flatten, reshape, permute,
 * identity, maxpool2d, avgpool2d, global_avgpool, upsample_nearest, relu,
 * relu6, clamp, and of a concat whose inputs share qparams, inherits its
 * (first) input's qparams (torch shares observers there); any other node
 * whose inputs or output are not integer (or whose integer kernel cannot
 * prepare) goes to device "cpu" with a note, and runs in float.
 *
 * The report lists every node: device, weights at the int8 limits (each
 * channel's largest weight usually sits there) and of those the clipped
 * ones (the float weight lay beyond the range: a scale too small for the
 * weights, e.g. stale batch-norm folding), int32 bias overflow,
 * multipliers out of range, notes. It owns its strings
 * (qdb_convert_report_done).
 */
#ifndef QDB_CONVERT_H
#define QDB_CONVERT_H

#include <stdint.h>

#include "base/err.h"
#include "graph/graph.h"

struct qdb_convert_opts {
	enum qdb_profile_kind profile;
	enum qdb_rounding rounding;
};

struct qdb_convert_node {
	char *node;
	const char *op;
	enum qdb_device device;
	int64_t weights;          /* weight elements (conv2d/linear) */
	int64_t weights_at_limit; /* of those, at qmin or qmax */
	int64_t weights_clipped;  /* of those, > half a step beyond the range */
	int64_t bias_overflow;    /* fixed: bias entries saturated to int32 */
	int mult_underflow;       /* fixed: multipliers below 2^-31 (became 0) */
	int mult_overflow;        /* fixed: multipliers >= 2^30 (saturated) */
	char *note;               /* why cpu, what was inherited; NULL if nothing */
};

struct qdb_convert_report {
	struct qdb_convert_node *nodes;
	int n_nodes;
	int n_bpu, n_cpu;
	int64_t weights, weights_at_limit, weights_clipped, bias_overflow;
	int mult_underflow, mult_overflow;
	int inherited;            /* values that inherited qparams */
};

/* Default options: profile torch, rounding half_even. */
void qdb_convert_opts_init(struct qdb_convert_opts *o);

int qdb_convert(const struct qdb_graph *qat, const struct qdb_convert_opts *opts,
		struct qdb_graph **out, struct qdb_convert_report *rep, struct qdb_err *err);
void qdb_convert_report_done(struct qdb_convert_report *rep);

#endif
