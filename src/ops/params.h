/* params.h - op attributes parsed and checked in one place.
 *
 * Validation (src/graph/validate.c) and every kernel (float and integer) read
 * node attrs through these parsers, so a value the validator accepted is the
 * value the kernel runs with, and defaults live in exactly one place (they
 * are listed in ops.h and man/qdb-formats.5). Parsers fill small structs the
 * caller owns (no allocation) and fail with QDB_EFORMAT and a message
 * "node NAME: attr 'KEY': what" (the node name comes from the graph).
 *
 * Integer attrs accept an int or a list of ints; a scalar means "the same on
 * both spatial axes". Float attrs accept ints too (msgpack writers differ).
 */
#ifndef QDB_PARAMS_H
#define QDB_PARAMS_H

#include <stdint.h>

#include "base/err.h"
#include "graph/graph.h"

/* Fused activation (conv2d, linear, add, mul): attr act =
 * "none"|"relu"|"relu6"|"clamp", with act_min/act_max for "clamp". lo/hi are
 * the real-domain bounds (-inf/+inf where unbounded). */
enum qdb_act_kind { QDB_ACT_NONE, QDB_ACT_RELU, QDB_ACT_RELU6, QDB_ACT_CLAMP };
struct qdb_act {
	enum qdb_act_kind kind;
	float lo, hi;
};
int qdb_act_parse(const struct qdb_graph *g, int node, struct qdb_act *a, struct qdb_err *err);
const char *qdb_act_name(enum qdb_act_kind k);

/* conv2d: stride [1,1], padding [0,0,0,0] (top, left, bottom, right; a
 * 2-list [h, w] pads both sides), dilation [1,1], groups 1, act. */
struct qdb_conv_params {
	int64_t stride[2];
	int64_t pad[4]; /* top, left, bottom, right */
	int64_t dil[2];
	int64_t groups;
	struct qdb_act act;
};
int qdb_conv_params_parse(const struct qdb_graph *g, int node, struct qdb_conv_params *p,
			  struct qdb_err *err);
/* Output extent of a convolution window sweep; <= 0 when the window does
 * not fit. */
int64_t qdb_conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad_lo,
			  int64_t pad_hi, int64_t dil);

/* maxpool2d / avgpool2d: kernel (required), stride (= kernel), padding
 * [0,0] (symmetric [h, w]), dilation [1,1] (maxpool only), ceil_mode 0,
 * count_include_pad 1 (avgpool only). */
struct qdb_pool_params {
	int64_t kernel[2], stride[2], pad[2], dil[2];
	int ceil_mode, count_include_pad;
};
int qdb_pool_params_parse(const struct qdb_graph *g, int node, struct qdb_pool_params *p,
			  struct qdb_err *err);
/* Output size exactly as torch's pooling_output_shape computes it (the last
 * window must start inside the input or its left padding). */
int64_t qdb_pool_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil,
			  int ceil_mode);

/* clamp: min (-inf), max (+inf). */
int qdb_clamp_params_parse(const struct qdb_graph *g, int node, float *lo, float *hi,
			   struct qdb_err *err);
/* gelu: approximate "none" (0) | "tanh" (1). */
int qdb_gelu_params_parse(const struct qdb_graph *g, int node, int *tanh_approx,
			  struct qdb_err *err);
/* Reads an int attr that names an axis of a rank-`rank` tensor (negative
 * counts from the end) and returns it normalised to [0, rank). */
int qdb_axis_param_parse(const struct qdb_graph *g, int node, const char *key, int64_t def,
			 int rank, int *axis, struct qdb_err *err);

/* upsample_nearest: scale [sh, sw] (positive ints) or size [h, w]. For a
 * given input H, W: output size and the float source-index factors torch
 * uses (in / out, computed in float). */
struct qdb_upsample_params {
	int64_t out_h, out_w;
	float rh, rw;
};
int qdb_upsample_params_parse(const struct qdb_graph *g, int node, int64_t in_h, int64_t in_w,
			      struct qdb_upsample_params *p, struct qdb_err *err);
/* torch's nearest source index for output index o. */
int64_t qdb_upsample_src(int64_t o, int64_t in, int64_t out, float r);

/* Generic: int list attr (a scalar counts as a 1-list). Returns the count,
 * 0 when absent, or -1 (and err set) when present but not ints or longer
 * than max. */
int qdb_ints_param(const struct qdb_graph *g, int node, const char *key, int64_t *out, int max,
		   struct qdb_err *err);
/* Number attr (int or float); def when absent; fails on other kinds. */
int qdb_float_param(const struct qdb_graph *g, int node, const char *key, double def,
		    double *out, struct qdb_err *err);
int qdb_int_param(const struct qdb_graph *g, int node, const char *key, int64_t def,
		  int64_t *out, struct qdb_err *err);

#endif
