/* eltwise.c - add and mul with numpy broadcasting and a fused activation. */
#include "config.h"

#include "ops/kernel_float.h"

/* Strides of input t over the output's dims (right-aligned; 0 where t has
 * size 1 or no such dim). */
static void bcast_strides(const struct qdb_tensor *t, const struct qdb_tensor *y, int64_t *st)
{
	int64_t s = 1;
	for (int i = y->rank - 1; i >= 0; i--) {
		int ti = i - (y->rank - t->rank);
		int64_t d = ti >= 0 ? t->shape[ti] : 1;
		st[i] = d == 1 ? 0 : s;
		s *= d;
	}
}

enum { OP_ADD, OP_MUL };

static int eltwise_run(const struct qdb_kernel_args *a, int op, struct qdb_err *err)
{
	const struct qdb_tensor *at = a->in[0], *bt = a->in[1];
	const struct qdb_tensor *yt = a->out[0];
	const float *A = qdb_kf_in(a, 0), *B = qdb_kf_in(a, 1);
	float *Y = qdb_kf_out(a, 0);
	struct qdb_act act;
	int rc = qdb_act_parse(a->g, a->node, &act, err);
	if (rc)
		return rc;
	int64_t n = qdb_tensor_numel(yt);
	if (qdb_shape_equal(at, yt) && qdb_shape_equal(bt, yt)) {
		if (op == OP_ADD)
			for (int64_t i = 0; i < n; i++)
				Y[i] = A[i] + B[i];
		else
			for (int64_t i = 0; i < n; i++)
				Y[i] = A[i] * B[i];
	} else if (yt->rank == 0) {
		Y[0] = op == OP_ADD ? A[0] + B[0] : A[0] * B[0];
	} else {
		int64_t sa[QDB_MAX_RANK], sb[QDB_MAX_RANK], idx[QDB_MAX_RANK] = {0};
		bcast_strides(at, yt, sa);
		bcast_strides(bt, yt, sb);
		int r = yt->rank;
		int64_t inner = yt->shape[r - 1], ia = sa[r - 1], ib = sb[r - 1];
		int64_t outer = inner ? n / inner : 0;
		for (int64_t o = 0; o < outer; o++) {
			int64_t ao = 0, bo = 0;
			for (int i = 0; i < r - 1; i++) {
				ao += idx[i] * sa[i];
				bo += idx[i] * sb[i];
			}
			float *yr = Y + o * inner;
			const float *ar = A + ao, *br = B + bo;
			if (op == OP_ADD)
				for (int64_t j = 0; j < inner; j++)
					yr[j] = ar[j * ia] + br[j * ib];
			else
				for (int64_t j = 0; j < inner; j++)
					yr[j] = ar[j * ia] * br[j * ib];
			for (int i = r - 2; i >= 0; i--) {
				if (++idx[i] < yt->shape[i])
					break;
				idx[i] = 0;
			}
		}
	}
	qdb_act_apply(Y, n, &act);
	return QDB_OK;
}

static int add_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	return eltwise_run(a, OP_ADD, err);
}

static int mul_run(const struct qdb_kernel_args *a, struct qdb_err *err)
{
	return eltwise_run(a, OP_MUL, err);
}

const struct qdb_kernel qdb_kf_add = {.run = add_run};
const struct qdb_kernel qdb_kf_mul = {.run = mul_run};
