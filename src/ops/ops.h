/* ops.h - the operator table: names, arity, and the attrs each op reads.
 *
 * One X-macro list (QDB_OPS) defines the enum, the name table and the arity,
 * so they can never disagree. Layouts: activations NCHW, conv weights OIHW
 * (O, I/groups, kH, kW), linear weights (out, in). Every node has one output
 * unless stated. `act` attrs (fused activation) are accepted by conv2d,
 * linear, add and mul: act = "none"|"relu"|"relu6"|"clamp" with act_min /
 * act_max (floats, real domain) for "clamp".
 *
 * op                inputs           attrs (defaults)
 * quantize          x(float)         - (output value's qparams define it)
 * dequantize        x(int)           -
 * conv2d            x, w, [b]        stride [1,1], padding [0,0,0,0] (top,left,bottom,right;
 *                                    a 2-list means [h,w] on both sides), dilation [1,1],
 *                                    groups 1, act
 * linear            x, w, [b]        act          (x: [..., in] -> [..., out])
 * matmul            a, b             -            (batched over leading dims, broadcast)
 * add, mul          a, b             act          (numpy broadcasting)
 * concat            x1..xn           axis 1
 * relu, relu6       x                -
 * clamp             x                min, max (floats)
 * sigmoid, tanh, hardswish, silu     -
 * gelu              x                approximate "none"|"tanh"
 * softmax           x                axis -1
 * maxpool2d         x                kernel [kh,kw], stride (=kernel), padding [0,0], dilation [1,1], ceil_mode 0
 * avgpool2d         x                kernel, stride (=kernel), padding [0,0], ceil_mode 0,
 *                                    count_include_pad 1
 * global_avgpool    x                -            (N,C,H,W -> N,C,1,1)
 * flatten           x                start_dim 1, end_dim -1
 * reshape           x                shape [ints] (one -1 allowed; batch dim may be 0 = keep)
 * permute           x                perm [ints]
 * upsample_nearest  x                scale [sh,sw] (ints) or size [h,w]
 * identity          x                -
 */
#ifndef QDB_OPS_H
#define QDB_OPS_H

/* X(enum suffix, name, min inputs, max inputs) */
#define QDB_OPS(X)                          \
	X(QUANTIZE, "quantize", 1, 1)           \
	X(DEQUANTIZE, "dequantize", 1, 1)       \
	X(CONV2D, "conv2d", 2, 3)               \
	X(LINEAR, "linear", 2, 3)               \
	X(MATMUL, "matmul", 2, 2)               \
	X(ADD, "add", 2, 2)                     \
	X(MUL, "mul", 2, 2)                     \
	X(CONCAT, "concat", 1, 64)              \
	X(RELU, "relu", 1, 1)                   \
	X(RELU6, "relu6", 1, 1)                 \
	X(CLAMP, "clamp", 1, 1)                 \
	X(SIGMOID, "sigmoid", 1, 1)             \
	X(TANH, "tanh", 1, 1)                   \
	X(HARDSWISH, "hardswish", 1, 1)         \
	X(SILU, "silu", 1, 1)                   \
	X(GELU, "gelu", 1, 1)                   \
	X(SOFTMAX, "softmax", 1, 1)             \
	X(MAXPOOL2D, "maxpool2d", 1, 1)         \
	X(AVGPOOL2D, "avgpool2d", 1, 1)         \
	X(GLOBAL_AVGPOOL, "global_avgpool", 1, 1) \
	X(FLATTEN, "flatten", 1, 1)             \
	X(RESHAPE, "reshape", 1, 1)             \
	X(PERMUTE, "permute", 1, 1)             \
	X(UPSAMPLE_NEAREST, "upsample_nearest", 1, 1) \
	X(IDENTITY, "identity", 1, 1)

enum qdb_op {
#define X(e, name, lo, hi) QDB_OP_##e,
	QDB_OPS(X)
#undef X
	QDB_OP_COUNT
};

const char *qdb_op_name(int op);
/* -1 for an unknown name. */
int qdb_op_lookup(const char *name);
int qdb_op_min_inputs(int op);
int qdb_op_max_inputs(int op);

#endif
