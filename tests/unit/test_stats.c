/* test_stats.c - tensor statistics and histograms against hand-computed values. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "tensor/stats.h"
#include "tap.h"

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* GSL's definition on a sorted copy, for comparison with the selection. */
static double sorted_quantile(const double *v, size_t n, double f)
{
	double index = f * (double)(n - 1);
	size_t lhs = (size_t)index;
	double delta = index - (double)lhs;
	if (lhs == n - 1)
		return v[lhs];
	return (1 - delta) * v[lhs] + delta * v[lhs + 1];
}

static void test_known_array(void)
{
	struct qdb_err e;
	struct qdb_tensor t;
	struct qdb_stats s;
	qdb_tensor_init(&t);
	/* 1..100 in a scrambled order (37 is prime to 100), plus 2 NaN and 2 Inf. */
	float v[104];
	for (int i = 0; i < 100; i++)
		v[i] = (float)((i * 37) % 100 + 1);
	v[100] = NAN;
	v[101] = INFINITY;
	v[102] = -INFINITY;
	v[103] = NAN;
	int64_t shape[2] = {8, 13};
	qdb_tensor_view(&t, QDB_F32, 2, shape, v, sizeof v, &e);
	ok(qdb_tensor_stats(&t, &s, &e) == QDB_OK, "stats of 1..100 + NaN/Inf");
	ok_int(s.count, 104, "count");
	ok_int(s.finite, 100, "finite");
	ok_int(s.nan, 2, "nan count");
	ok_int(s.inf, 2, "inf count");
	ok(s.min == 1 && s.max == 100, "min/max exclude Inf");
	ok_near(s.mean, 50.5, 1e-12, "mean excludes NaN/Inf");
	ok_near(s.absmean, 50.5, 1e-12, "absmean");
	ok_near(s.std, sqrt((100.0 * 100.0 - 1) / 12), 1e-9, "population std");
	ok_near(s.p01, 1.99, 1e-12, "p01 = 1 + 0.99 (linear interpolation)");
	ok_near(s.p50, 50.5, 1e-12, "p50");
	ok_near(s.p99, 99.01, 1e-12, "p99 = 0.99*99 + 0.01*100");
	ok(s.zero_frac == 0 && s.sat_frac == 0, "no zeros, floats never saturate");
	ok(s.hist_lo == 1 && s.hist_hi == 100, "histogram range");
	int64_t sum = 0;
	for (int i = 0; i < QDB_HIST_BINS; i++)
		sum += s.hist[i];
	ok_int(sum, 100, "histogram counts the finite values");
	/* bin width 99/32 = 3.09375: bin 0 holds 1..4, bin 31 holds 97..100. */
	ok(s.hist[0] == 4 && s.hist[31] == 4 && s.hist[1] == 3, "edge bins");
	qdb_tensor_done(&t);
}

static void test_quantized(void)
{
	struct qdb_err e;
	struct qdb_tensor t;
	struct qdb_stats s;
	qdb_tensor_init(&t);
	/* i8, scale 0.5, zero point -1: reals (q + 1) * 0.5 */
	int8_t q[10] = {-128, -1, -1, 0, 3, 127, 127, 5, -1, 9};
	int64_t shape[1] = {10};
	qdb_tensor_view(&t, QDB_I8, 1, shape, q, sizeof q, &e);
	qdb_quant_set(&t.q, 0.5, -1, 0, -1, &e);
	ok(qdb_tensor_stats(&t, &s, &e) == QDB_OK, "stats of quantized i8");
	ok_near(s.min, -63.5, 0, "min dequantized");
	ok_near(s.max, 64, 0, "max dequantized");
	ok_near(s.zero_frac, 0.3, 1e-15, "zero fraction counts q == zero point");
	ok_near(s.sat_frac, 0.3, 1e-15, "saturation at -128 and 127");
	/* sum of (q+1)*0.5 = 0.5 * (sum q + 10) = 0.5 * (140 + 10), over 10 */
	ok_near(s.mean, 7.5, 1e-12, "mean dequantized");
	qdb_quant_set(&t.q, 0.5, -1, -1, 5, &e);
	ok(qdb_tensor_stats(&t, &s, &e) == QDB_OK, "stats with a narrowed range");
	ok_near(s.sat_frac, 0.4, 1e-15, "saturation at qmin -1 and qmax 5");

	/* Stats reject params that do not fit. */
	qdb_quant_set(&t.q, -1.0, 0, 0, -1, &e);
	ok(qdb_tensor_stats(&t, &s, &e) == QDB_EFORMAT, "bad scale refused by stats");

	/* All NaN: no finite figure. */
	float n3[3] = {NAN, NAN, INFINITY};
	int64_t s3[1] = {3};
	qdb_tensor_done(&t);
	qdb_tensor_view(&t, QDB_F32, 1, s3, n3, sizeof n3, &e);
	ok(qdb_tensor_stats(&t, &s, &e) == QDB_OK, "stats of all non-finite");
	ok(s.finite == 0 && s.nan == 2 && s.inf == 1 && isnan(s.mean) && isnan(s.p50) &&
	   isnan(s.min) && s.hist[0] == 0, "no finite values: NaN figures");

	/* Empty tensor. */
	int64_t s0[1] = {0};
	qdb_tensor_view(&t, QDB_F32, 1, s0, NULL, 0, &e);
	ok(qdb_tensor_stats(&t, &s, &e) == QDB_OK && s.count == 0 && s.finite == 0,
	   "stats of an empty tensor");
	qdb_tensor_done(&t);
}

static void test_selection_vs_sort(void)
{
	struct qdb_err e;
	struct qdb_tensor t;
	struct qdb_stats s;
	qdb_tensor_init(&t);
	/* Many duplicates (the quantized case) and an odd count. */
	enum { N = 100003 };
	int64_t shape[1] = {N};
	qdb_tensor_alloc(&t, QDB_I8, 1, shape, &e);
	qdb_quant_set(&t.q, 0.125, 3, 0, -1, &e);
	int8_t *q = t.data;
	unsigned x = 12345;
	for (int i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		q[i] = (int8_t)((x >> 16) % 41 - 20);
	}
	double *v = malloc(N * sizeof *v);
	qdb_tensor_to_f64(&t, v);
	qsort(v, N, sizeof *v, cmp_double);
	ok(qdb_tensor_stats(&t, &s, &e) == QDB_OK, "stats of 100003 i8 values");
	ok(s.p01 == sorted_quantile(v, N, 0.01), "p01 matches the sorted definition");
	ok(s.p50 == sorted_quantile(v, N, 0.50), "p50 matches the sorted definition");
	ok(s.p99 == sorted_quantile(v, N, 0.99), "p99 matches the sorted definition");
	ok(s.min == v[0] && s.max == v[N - 1], "min/max");
	free(v);

	qdb_alloc_fail_after(0);
	ok(qdb_tensor_stats(&t, &s, &e) == QDB_ENOMEM, "stats report allocation failure");
	qdb_alloc_fail_after(-1);
	ok(strstr(e.msg, "out of memory") != NULL, "allocation failure message");
	qdb_tensor_done(&t);
}

static void test_histogram(void)
{
	int64_t b[4];
	double v[7] = {-1, 0, 0.5, 1, 2, NAN, INFINITY};
	memset(b, 0x55, sizeof b);
	qdb_histogram(v, 7, 0, 1, b, 4);
	ok(b[0] == 2 && b[1] == 0 && b[2] == 1 && b[3] == 3, "clamped edges, NaN skipped");
	double w[4] = {0.24, 0.25, 0.5, 0.74};
	qdb_histogram(w, 4, 0, 1, b, 4);
	ok(b[0] == 1 && b[1] == 1 && b[2] == 2 && b[3] == 0, "bin boundaries are closed below");
	qdb_histogram(w, 4, 2, 2, b, 4);
	ok(b[0] == 4 && b[1] == 0 && b[3] == 0, "empty range: all in bin 0");
	qdb_histogram(w, 4, 0, INFINITY, b, 4);
	ok(b[0] == 4, "infinite range: all in bin 0");
}

int main(void)
{
	test_known_array();
	test_quantized();
	test_selection_vs_sort();
	test_histogram();
	return tap_done();
}
