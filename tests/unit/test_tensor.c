/* test_tensor.c - dtypes, shapes, views, quant params, dequantization. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "tensor/tensor.h"
#include "tap.h"

static void test_dtypes(void)
{
	enum qdb_dtype d;
	ok(qdb_dtype_parse("u8", 2, &d) == 0 && d == QDB_U8, "parse u8");
	ok(qdb_dtype_parse("i16x", 3, &d) == 0 && d == QDB_I16, "parse uses the given length");
	ok(qdb_dtype_parse("f16", 3, &d) == -1, "f16 unknown");
	ok(qdb_dtype_parse("i", 1, &d) == -1, "prefix is not a name");
	ok(strcmp(qdb_dtype_name(QDB_F64), "f64") == 0, "name f64");
	ok(qdb_dtype_name(QDB_DTYPE_COUNT) == NULL, "name out of range");
	ok_int(qdb_dtype_size(QDB_I16), 2, "size i16");
	ok_int(qdb_dtype_size(QDB_I64), 8, "size i64");
	ok(qdb_dtype_is_int(QDB_U8) && !qdb_dtype_is_int(QDB_F32), "is_int");
	ok_int(qdb_dtype_min(QDB_I8), -128, "i8 min");
	ok_int(qdb_dtype_max(QDB_U8), 255, "u8 max");
	ok_int(qdb_dtype_min(QDB_I16), -32768, "i16 min");
	ok(qdb_dtype_min(QDB_F32) == INT64_MIN && qdb_dtype_max(QDB_F32) == INT64_MAX,
	   "float range is unbounded");
}

static void test_shapes(void)
{
	int64_t s[3] = {2, 3, 4};
	char buf[64];
	ok_int(qdb_shape_numel(3, s), 24, "numel");
	ok_int(qdb_shape_numel(0, s), 1, "numel of scalar");
	int64_t big[3] = {INT64_MAX / 2, 3, 1};
	ok_int(qdb_shape_numel(3, big), -1, "numel overflow");
	int64_t neg[1] = {-1};
	ok_int(qdb_shape_numel(1, neg), -1, "negative dim");
	ok(strcmp(qdb_shape_str(buf, sizeof buf, 3, s), "2x3x4") == 0, "shape str");
	ok(strcmp(qdb_shape_str(buf, sizeof buf, 0, s), "scalar") == 0, "scalar str");
	qdb_shape_str(buf, 4, 3, s);
	ok(strlen(buf) < 4, "shape str truncates safely");
}

static void test_alloc_view_copy(void)
{
	struct qdb_err e;
	struct qdb_tensor t, u;
	qdb_tensor_init(&t);
	qdb_tensor_init(&u);
	int64_t s[2] = {2, 3};
	ok(qdb_tensor_alloc(&t, QDB_I16, 2, s, &e) == QDB_OK, "alloc");
	ok(t.nbytes == 12 && t.owns_data && qdb_tensor_numel(&t) == 6, "alloc sizes");
	int16_t *p = t.data;
	int zero = 1;
	for (int i = 0; i < 6; i++)
		zero &= p[i] == 0;
	ok(zero, "alloc zero-fills");
	for (int i = 0; i < 6; i++)
		p[i] = (int16_t)(i * 100 - 200);
	ok(qdb_tensor_copy(&u, &t, &e) == QDB_OK, "copy");
	ok(u.data != t.data && memcmp(u.data, t.data, 12) == 0 && qdb_shape_equal(&u, &t),
	   "copy is deep and equal");
	int64_t bad[1] = {-2};
	ok(qdb_tensor_alloc(&t, QDB_F32, 1, bad, &e) == QDB_EINVAL, "negative dim refused");
	ok(t.data == p, "failed alloc keeps the old tensor");
	ok(qdb_tensor_alloc(&t, QDB_F32, 9, s, &e) == QDB_EINVAL, "rank 9 refused");
	int64_t huge[2] = {INT64_MAX / 4, 8};
	ok(qdb_tensor_alloc(&t, QDB_F32, 2, huge, &e) == QDB_EINVAL, "huge shape refused");

	/* Unaligned view: 1 byte into a buffer. */
	unsigned char raw[1 + 3 * sizeof(float)];
	float f[3] = {1.5f, -2.25f, 3.0f};
	memcpy(raw + 1, f, sizeof f);
	int64_t s3[1] = {3};
	ok(qdb_tensor_view(&t, QDB_F32, 1, s3, raw + 1, sizeof f, &e) == QDB_OK, "view");
	ok(!t.owns_data && t.data == raw + 1, "view does not own");
	ok(qdb_tensor_get(&t, 1) == -2.25 && qdb_tensor_get(&t, 2) == 3.0, "unaligned get");
	ok(isnan(qdb_tensor_get(&t, 3)) && isnan(qdb_tensor_get(&t, -1)), "get out of range is NaN");
	ok(qdb_tensor_view(&t, QDB_F32, 1, s3, raw, 11, &e) == QDB_EFORMAT,
	   "view size mismatch refused");
	ok(strstr(e.msg, "11 data bytes for 12 expected") != NULL, "size mismatch message");
	double out[3];
	qdb_tensor_to_f64(&t, out);
	ok(out[0] == 1.5 && out[1] == -2.25 && out[2] == 3.0, "to_f64 of unaligned f32");
	qdb_tensor_done(&t);
	ok(t.data == NULL && t.rank == 0 && t.q.n == 0, "done re-inits");

	/* Fault injection: a failing copy leaves dst untouched. */
	qdb_tensor_init(&t);
	ok(qdb_quant_set(&u.q, 0.5, 1, 0, -1, &e) == QDB_OK, "quant set on copy source");
	int fails = 0, good = 0;
	for (long k = 0; k < 4; k++) {
		qdb_alloc_fail_after(k);
		int rc = qdb_tensor_copy(&t, &u, &e);
		qdb_alloc_fail_after(-1);
		if (rc == QDB_ENOMEM && t.data == NULL && t.q.n == 0)
			fails++;
		else if (rc == QDB_OK && t.q.n == 1 && t.q.scale[0] == 0.5)
			good++;
		qdb_tensor_done(&t);
	}
	ok(fails == 3 && good == 1, "copy under allocation failure: 3 clean failures, then success");
	qdb_alloc_fail_after(0);
	struct qdb_tensor *h = qdb_tensor_new();
	qdb_alloc_fail_after(-1);
	ok(h == NULL, "tensor_new under failure");
	h = qdb_tensor_new();
	ok(h && qdb_tensor_alloc(h, QDB_U8, 1, s3, &e) == QDB_OK, "tensor_new + alloc");
	qdb_alloc_fail_after(0);
	ok(qdb_tensor_alloc(h, QDB_U8, 2, s, &e) == QDB_ENOMEM && h->nbytes == 3,
	   "alloc failure keeps the old buffer");
	qdb_alloc_fail_after(-1);
	qdb_tensor_delete(h);
	qdb_tensor_delete(NULL);
	qdb_tensor_done(&u);
}

static void test_quant(void)
{
	struct qdb_err e;
	struct qdb_quant q;
	qdb_quant_init(&q);
	int64_t nchw[4] = {1, 3, 2, 2};
	ok(qdb_quant_validate(&q, QDB_I8, 4, nchw, "x", &e) == QDB_OK, "no params is valid");
	ok(qdb_quant_set(&q, 0.1, 3, 0, -1, &e) == QDB_OK, "set per-tensor");
	int64_t lo, hi;
	qdb_quant_range(&q, QDB_I8, &lo, &hi);
	ok(lo == -128 && hi == 127, "default range is the dtype's");
	qdb_quant_range(&q, QDB_U8, &lo, &hi);
	ok(lo == 0 && hi == 255, "default range follows the dtype");
	ok(qdb_quant_validate(&q, QDB_I8, 4, nchw, "x", &e) == QDB_OK, "per-tensor valid");
	ok(qdb_quant_set(&q, 0.1, 0, -127, 127, &e) == QDB_OK, "set with range");
	qdb_quant_range(&q, QDB_I8, &lo, &hi);
	ok(lo == -127 && hi == 127, "explicit range kept");

	qdb_quant_set(&q, 0.0, 0, 0, -1, &e);
	ok(qdb_quant_validate(&q, QDB_I8, 4, nchw, "x", &e) == QDB_EFORMAT, "zero scale refused");
	ok(strcmp(e.msg, "x: scale[0] = 0 is not finite and positive") == 0, "zero scale message");
	qdb_quant_set(&q, -0.5, 0, 0, -1, &e);
	ok(qdb_quant_validate(&q, QDB_I8, 4, nchw, "x", &e) == QDB_EFORMAT, "negative scale refused");
	qdb_quant_set(&q, NAN, 0, 0, -1, &e);
	ok(qdb_quant_validate(&q, QDB_I8, 4, nchw, "x", &e) == QDB_EFORMAT, "NaN scale refused");
	qdb_quant_set(&q, INFINITY, 0, 0, -1, &e);
	ok(qdb_quant_validate(&q, QDB_I8, 4, nchw, "x", &e) == QDB_EFORMAT, "inf scale refused");
	qdb_quant_set(&q, 0.5, 300, 0, -1, &e);
	ok(qdb_quant_validate(&q, QDB_U8, 4, nchw, "x", &e) == QDB_EFORMAT,
	   "zero point outside u8 refused");
	qdb_quant_set(&q, 0.5, 0, -200, 100, &e);
	ok(qdb_quant_validate(&q, QDB_I8, 4, nchw, "x", &e) == QDB_EFORMAT,
	   "qmin outside i8 refused");

	double s3[3] = {0.5, 0.25, 2.0};
	int64_t z3[3] = {0, 1, -1};
	ok(qdb_quant_set_channels(&q, 3, 1, s3, z3, 0, -1, &e) == QDB_OK, "set per-channel");
	ok(qdb_quant_validate(&q, QDB_I8, 4, nchw, "x", &e) == QDB_OK, "per-channel axis 1 valid");
	q.axis = 4;
	ok(qdb_quant_validate(&q, QDB_I8, 4, nchw, "x", &e) == QDB_EFORMAT, "axis out of range");
	ok(strcmp(e.msg, "x: axis 4 out of range for rank 4") == 0, "axis message");
	q.axis = 0;
	ok(qdb_quant_validate(&q, QDB_I8, 4, nchw, "x", &e) == QDB_EFORMAT, "n != dim refused");
	ok(strcmp(e.msg, "x: 3 scales for dimension 1 of axis 0") == 0, "n != dim message");
	q.axis = -1;
	ok(qdb_quant_validate(&q, QDB_I8, 4, nchw, "x", &e) == QDB_EFORMAT,
	   "per-channel without axis refused");
	ok(qdb_quant_set_channels(&q, 0, 1, s3, z3, 0, -1, &e) == QDB_EINVAL, "0 channels refused");

	struct qdb_quant c;
	qdb_quant_init(&c);
	qdb_quant_set_channels(&q, 3, 1, s3, z3, -100, 100, &e);
	ok(qdb_quant_copy(&c, &q, &e) == QDB_OK && c.n == 3 && c.axis == 1 && c.scale[2] == 2.0 &&
	   c.zero_point[1] == 1 && c.qmin == -100 && c.qmax == 100 && c.scale != q.scale,
	   "quant copy");
	qdb_alloc_fail_after(0);
	ok(qdb_quant_copy(&c, &q, &e) == QDB_ENOMEM && c.n == 3, "quant copy failure keeps dst");
	qdb_alloc_fail_after(1);
	ok(qdb_quant_set(&c, 1.0, 0, 0, -1, &e) == QDB_ENOMEM, "second allocation failure");
	qdb_alloc_fail_after(-1);
	qdb_quant_done(&c);
	qdb_quant_done(&q);
}

static void test_dequant(void)
{
	struct qdb_err e;
	struct qdb_tensor t, d;
	qdb_tensor_init(&t);
	qdb_tensor_init(&d);
	/* u8 with zero point: real = (q - 128) * 0.5 */
	int64_t s4[1] = {4};
	uint8_t u[4] = {0, 128, 129, 255};
	qdb_tensor_view(&t, QDB_U8, 1, s4, u, 4, &e);
	qdb_quant_set(&t.q, 0.5, 128, 0, -1, &e);
	ok(qdb_tensor_get(&t, 0) == 0 && qdb_tensor_get_real(&t, 0) == -64, "u8 zp real of 0");
	ok(qdb_tensor_get_real(&t, 2) == 0.5 && qdb_tensor_get_real(&t, 3) == 63.5, "u8 zp real");
	ok(qdb_tensor_dequantize(&d, &t, &e) == QDB_OK, "dequantize");
	float *f = d.data;
	ok(d.dtype == QDB_F32 && d.q.n == 0 && f[0] == -64 && f[1] == 0 && f[3] == 63.5f,
	   "dequantized values");
	ok(qdb_tensor_dequantize(&d, &d, &e) == QDB_EINVAL, "in place refused");

	/* Per-channel along axis 1 of NCHW [2,3,1,2]: channel = (i / 2) % 3. */
	int64_t nchw[4] = {2, 3, 1, 2};
	int8_t q[12] = {1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6};
	double sc[3] = {0.5, 0.25, 2.0};
	int64_t zp[3] = {0, 1, -1};
	qdb_tensor_view(&t, QDB_I8, 4, nchw, q, 12, &e);
	qdb_quant_set_channels(&t.q, 3, 1, sc, zp, 0, -1, &e);
	double want[12];
	for (int i = 0; i < 12; i++) {
		int c = (i / 2) % 3;
		want[i] = (q[i] - zp[c]) * sc[c];
	}
	ok(want[2] == 0.5 && want[4] == 12 && want[11] == -10, "hand values of per-channel");
	int good = 1;
	for (int i = 0; i < 12; i++)
		good &= qdb_tensor_get_real(&t, i) == want[i] &&
			qdb_tensor_channel_of(&t, i) == (i / 2) % 3;
	ok(good, "get_real and channel_of per channel");
	double out[12];
	qdb_tensor_to_f64(&t, out);
	ok(memcmp(out, want, sizeof out) == 0, "to_f64 per channel");
	/* A block starting mid-run. */
	qdb_tensor_load_real(&t, 3, 6, out);
	ok(memcmp(out, want + 3, 6 * sizeof *out) == 0, "load_real from the middle of a run");
	qdb_alloc_fail_after(0);
	ok(qdb_tensor_dequantize(&d, &t, &e) == QDB_ENOMEM && d.nbytes == 16,
	   "dequantize failure keeps dst");
	qdb_alloc_fail_after(-1);
	ok(qdb_tensor_dequantize(&d, &t, &e) == QDB_OK, "dequantize per channel");
	f = d.data;
	good = 1;
	for (int i = 0; i < 12; i++)
		good &= f[i] == (float)want[i];
	ok(good, "dequantized per-channel values");

	/* Float tensors with params keep their values (fake-quantized data). */
	float ff[2] = {0.3f, -1.0f};
	int64_t s2[1] = {2};
	qdb_tensor_view(&t, QDB_F32, 1, s2, ff, sizeof ff, &e);
	qdb_quant_set(&t.q, 0.1, 5, 0, -1, &e);
	ok(qdb_tensor_get_real(&t, 0) == (double)0.3f, "float with params is not dequantized");

	/* Saturation counting on the effective range. */
	int8_t sat[40];
	for (int i = 0; i < 40; i++)
		sat[i] = (int8_t)(i % 5 == 0 ? -128 : i % 7 == 0 ? 127 : i);
	int64_t s40[1] = {40};
	qdb_tensor_view(&t, QDB_I8, 1, s40, sat, 40, &e);
	qdb_quant_set(&t.q, 1.0, 0, 0, -1, &e);
	int64_t want_sat = 0;
	for (int i = 0; i < 40; i++)
		want_sat += sat[i] == -128 || sat[i] == 127;
	ok_int(qdb_tensor_count_saturated(&t, 0, 40), want_sat, "saturation count, dtype range");
	ok_int(qdb_tensor_count_saturated(&t, 1, 39), want_sat - 1, "saturation from offset 1");
	qdb_quant_set(&t.q, 1.0, 0, 1, 11, &e);
	want_sat = 0;
	for (int i = 0; i < 40; i++)
		want_sat += sat[i] == 1 || sat[i] == 11;
	ok_int(qdb_tensor_count_saturated(&t, 0, 40), want_sat, "saturation count, [1,11]");
	qdb_tensor_done(&t);
	qdb_tensor_done(&d);
}

int main(void)
{
	test_dtypes();
	test_shapes();
	test_alloc_view_copy();
	test_quant();
	test_dequant();
	return tap_done();
}
