/* test_requant.c - rounding modes, Q31 multipliers and the torch profile's
 * requantization (src/ops/requant.h) against hand-computed values. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "ops/requant.h"
#include "tap.h"

static const enum qdb_rounding AWAY = QDB_ROUND_HALF_AWAY, UP = QDB_ROUND_HALF_UP,
			       EVEN = QDB_ROUND_HALF_EVEN;

static struct qdb_rq rq(int32_t mult, int32_t shift)
{
	struct qdb_rq m = {mult, shift};
	return m;
}

/* Exact round(x * mult * 2^(shift-31)) by a mode, in long double-free
 * integer arithmetic (the reference for random checks). */
static int64_t ref_apply(int64_t x, struct qdb_rq m, enum qdb_rounding r)
{
	__int128 p = (__int128)x * m.mult;
	int s = 31 - m.shift;
	__int128 one = 1, q = p / (one << s), rem = p % (one << s);
	if (rem < 0) {
		q -= 1;
		rem += one << s;
	}
	__int128 half = one << (s - 1);
	if (rem > half || (rem == half && (r == UP || (r == AWAY && p >= 0) || (r == EVEN && (q & 1)))))
		q += 1;
	if (q > INT32_MAX)
		return INT32_MAX;
	if (q < INT32_MIN)
		return INT32_MIN;
	return (int64_t)q;
}

static void test_from_double(void)
{
	struct qdb_rq m;
	ok_int(qdb_rq_from_double(0.5, &m), QDB_RQ_OK, "0.5: ok");
	ok(m.mult == (1 << 30) && m.shift == 0, "0.5 = 2^30 * 2^(0-31)");
	ok_int(qdb_rq_from_double(1.0, &m), QDB_RQ_OK, "1.0: ok");
	ok(m.mult == (1 << 30) && m.shift == 1, "1.0 = 2^30 * 2^(1-31)");
	ok_int(qdb_rq_from_double(0.0, &m), QDB_RQ_OK, "0: ok");
	ok(m.mult == 0, "0 -> multiplier 0");
	ok_int(qdb_rq_from_double(1e-12, &m), QDB_RQ_UNDERFLOW, "1e-12 underflows");
	ok(m.mult == 0, "underflow -> 0");
	ok_int(qdb_rq_from_double(ldexp(1.0, 31), &m), QDB_RQ_OVERFLOW, "2^31 overflows");
	ok(m.mult == INT32_MAX && m.shift == 30, "overflow saturates");
	ok_int(qdb_rq_from_double(-1.0, &m), QDB_RQ_INVALID, "negative is invalid");
	ok_int(qdb_rq_from_double(NAN, &m), QDB_RQ_INVALID, "NaN is invalid");
	ok_int(qdb_rq_from_double(INFINITY, &m), QDB_RQ_INVALID, "inf is invalid");
	/* A mantissa that rounds up to 2^31 moves to the next exponent. */
	ok_int(qdb_rq_from_double(1.0 - ldexp(1.0, -40), &m), QDB_RQ_OK, "just below 1: ok");
	ok(m.mult == (1 << 30) && m.shift == 1, "just below 1 rounds to 2^30 * 2^-30");
	/* Exactness: relative error below 2^-31 over many magnitudes. */
	double worst = 0;
	srand(7);
	for (int i = 0; i < 10000; i++) {
		double real = ldexp((double)rand() / RAND_MAX + 0.5, rand() % 50 - 35);
		if (qdb_rq_from_double(real, &m) != QDB_RQ_OK)
			continue;
		double rel = fabs(qdb_rq_value(m) - real) / real;
		worst = rel > worst ? rel : worst;
		if (m.mult < (1 << 30)) {
			ok(0, "mantissa %d below 2^30 for %g", m.mult, real);
			break;
		}
	}
	ok(worst <= ldexp(1.0, -31), "multipliers within 2^-31 relative (worst %g)", worst);
}

static void test_tflite_primitives(void)
{
	ok_int(qdb_rq_srdhm(INT32_MIN, INT32_MIN), INT32_MAX, "srdhm saturates MIN*MIN");
	ok_int(qdb_rq_srdhm(1 << 30, 1 << 30), 1 << 29, "srdhm 2^30*2^30/2^31");
	ok_int(qdb_rq_srdhm(1, 1 << 30), 1, "srdhm tie 0.5 -> 1 (away)");
	ok_int(qdb_rq_srdhm(-1, 1 << 30), 0, "srdhm tie -0.5 -> 0 (gemmlowp's nudge)");
	ok_int(qdb_rq_srdhm(-3, 1 << 30), -1, "srdhm tie -1.5 -> -1");
	ok_int(qdb_rq_srdhm(3, 1 << 29), 1, "srdhm 0.75 -> 1");
	ok_int(qdb_rq_rdbpot(5, 1), 3, "rdbpot 2.5 -> 3");
	ok_int(qdb_rq_rdbpot(-5, 1), -3, "rdbpot -2.5 -> -3");
	ok_int(qdb_rq_rdbpot(3, 1), 2, "rdbpot 1.5 -> 2");
	ok_int(qdb_rq_rdbpot(-3, 1), -2, "rdbpot -1.5 -> -2");
	ok_int(qdb_rq_rdbpot(-4, 2), -1, "rdbpot -1 exact");
	ok_int(qdb_rq_rdbpot(-6, 2), -2, "rdbpot -1.5 -> -2");
	ok_int(qdb_rq_rdbpot(17, 0), 17, "rdbpot by 0 is identity");
}

static void test_ties(void)
{
	struct qdb_rq half = rq(1 << 30, 0), quarter = rq(1 << 30, -1);
	/* x * 0.5 */
	int32_t xs[] = {3, 5, -5, -3, 4, -4};
	/* shift 0: only the high multiply rounds (negative ties toward 0) */
	int32_t away[] = {2, 3, -2, -1, 2, -2}, up[] = {2, 3, -2, -1, 2, -2}, even[] = {2, 2, -2, -2, 2, -2};
	for (int i = 0; i < 6; i++) {
		ok_int(qdb_rq_apply(xs[i], half, AWAY), away[i], "x*0.5 half_away");
		ok_int(qdb_rq_apply(xs[i], half, UP), up[i], "x*0.5 half_up");
		ok_int(qdb_rq_apply(xs[i], half, EVEN), even[i], "x*0.5 half_even");
		ok_int(qdb_rq_apply64(xs[i], half, AWAY), away[i], "x*0.5 half_away (64)");
		ok_int(qdb_rq_apply64(xs[i], half, UP), up[i], "x*0.5 half_up (64)");
		ok_int(qdb_rq_apply64(xs[i], half, EVEN), even[i], "x*0.5 half_even (64)");
	}
	/* x * 0.25 (a right shift after the high multiply) */
	int32_t xq[] = {2, -2, 6, 10, -10};
	int32_t qa[] = {1, -1, 2, 3, -3}, qu[] = {1, 0, 2, 3, -2}, qe[] = {0, 0, 2, 2, -2};
	for (int i = 0; i < 5; i++) {
		ok_int(qdb_rq_apply(xq[i], quarter, AWAY), qa[i], "x*0.25 half_away");
		ok_int(qdb_rq_apply(xq[i], quarter, UP), qu[i], "x*0.25 half_up");
		ok_int(qdb_rq_apply(xq[i], quarter, EVEN), qe[i], "x*0.25 half_even");
	}
	/* TFLite's double rounding: M = (2^30+1)/2^32 ~ 0.25, x = 1: the high
	 * multiply rounds 0.5000000005 to 1, the shift rounds 0.5 up: 1, while
	 * one rounding of 0.25... gives 0. */
	struct qdb_rq m = rq((1 << 30) + 1, -1);
	ok_int(qdb_rq_apply(1, m, AWAY), 1, "half_away rounds twice (TFLite)");
	ok_int(qdb_rq_apply(1, m, UP), 0, "half_up rounds once");
	ok_int(qdb_rq_apply(1, m, EVEN), 0, "half_even rounds once");
}

static void test_saturation_and_shifts(void)
{
	struct qdb_rq two = rq(INT32_MAX, 1); /* ~2 */
	for (int r = 0; r < QDB_ROUND_COUNT; r++) {
		ok_int(qdb_rq_apply(INT32_MAX, two, (enum qdb_rounding)r), INT32_MAX, "saturates high");
		ok_int(qdb_rq_apply(INT32_MIN, two, (enum qdb_rounding)r), INT32_MIN, "saturates low");
		ok_int(qdb_rq_apply64((int64_t)1 << 40, rq(1 << 30, 0), (enum qdb_rounding)r), INT32_MAX,
		       "64-bit input saturates");
	}
	/* Largest left shift: M = 2^30 (mult 2^30, shift 31 is out of range;
	 * 30 is the largest: 2^30 * 2^-1 = 2^29). */
	ok_int(qdb_rq_apply(2, rq(1 << 30, 30), AWAY), 1 << 30, "shift 30: 2 * 2^29");
	ok_int(qdb_rq_apply(5, rq(1 << 30, 30), EVEN), INT32_MAX, "shift 30: 5 * 2^29 saturates");
	ok_int(qdb_rq_apply(5, rq(1 << 30, 30), AWAY), INT32_MAX, "shift 30: saturates (away)");
	/* Smallest: shift -31, M = 2^30 * 2^-62 = 2^-32. (2^31-1) * 2^-32 is
	 * just below a half: one rounding gives 0, TFLite's two give 1. */
	ok_int(qdb_rq_apply(INT32_MAX, rq(1 << 30, -31), AWAY), 1, "shift -31: double rounding -> 1");
	ok_int(qdb_rq_apply(INT32_MAX, rq(1 << 30, -31), EVEN), 0, "shift -31: single rounding -> 0");
	ok_int(qdb_rq_apply(INT32_MIN, rq(1 << 30, -31), AWAY), -1, "shift -31: -0.5 -> -1 (away)");
	ok_int(qdb_rq_apply(INT32_MIN, rq(1 << 30, -31), EVEN), 0, "shift -31: -0.5 -> 0 (even)");
	ok_int(qdb_rq_apply(5, rq(0, 0), AWAY), 0, "multiplier 0 gives 0");
	/* Random agreement of the int32 and 64-bit paths with the exact
	 * single rounding (half_up, half_even) and with each other (away). */
	int bad = 0, bad_away = 0;
	srand(11);
	for (int i = 0; i < 200000; i++) {
		int32_t x = (int32_t)((uint32_t)rand() * 65599u + (uint32_t)rand());
		x >>= rand() % 31;
		struct qdb_rq m = rq((1 << 30) + (rand() % (1 << 30)), rand() % 40 - 31);
		for (enum qdb_rounding r = 0; r < QDB_ROUND_COUNT; r++) {
			int32_t a = qdb_rq_apply(x, m, r);
			int32_t b = qdb_rq_apply64(x, m, r);
			if (a != b)
				bad_away++;
			if (r != AWAY && a != ref_apply(x, m, r))
				bad++;
			if (r == AWAY && llabs((long long)a - ref_apply(x, m, AWAY)) > 1)
				bad++;
		}
	}
	ok_int(bad, 0, "single rounding exact; double rounding within 1 of exact");
	ok_int(bad_away, 0, "int32 and 64-bit paths agree");
	/* 64-bit inputs against the exact reference. */
	bad = 0;
	for (int i = 0; i < 100000; i++) {
		int64_t x = ((int64_t)rand() << 20) ^ rand();
		if (rand() & 1)
			x = -x;
		struct qdb_rq m = rq((1 << 30) + (rand() % (1 << 30)), -(rand() % 31) - 1);
		if (qdb_rq_apply64(x, m, EVEN) != ref_apply(x, m, EVEN) ||
		    qdb_rq_apply64(x, m, UP) != ref_apply(x, m, UP))
			bad++;
	}
	ok_int(bad, 0, "64-bit inputs: exact single rounding");
}

static void test_div_and_round(void)
{
	int64_t nums[] = {5, -5, 7, -7, 1, 2, -2, 6};
	int64_t dens[] = {2, 2, 2, 2, 3, 3, 3, 4};
	int64_t away[] = {3, -3, 4, -4, 0, 1, -1, 2}, up[] = {3, -2, 4, -3, 0, 1, -1, 2},
		even[] = {2, -2, 4, -4, 0, 1, -1, 2};
	for (int i = 0; i < 8; i++) {
		ok_int(qdb_rq_div_round(nums[i], dens[i], AWAY), away[i], "div half_away");
		ok_int(qdb_rq_div_round(nums[i], dens[i], UP), up[i], "div half_up");
		ok_int(qdb_rq_div_round(nums[i], dens[i], EVEN), even[i], "div half_even");
	}
	ok_near(qdb_rq_round(2.5, AWAY), 3, 0, "round 2.5 away");
	ok_near(qdb_rq_round(2.5, UP), 3, 0, "round 2.5 up");
	ok_near(qdb_rq_round(2.5, EVEN), 2, 0, "round 2.5 even");
	ok_near(qdb_rq_round(-2.5, AWAY), -3, 0, "round -2.5 away");
	ok_near(qdb_rq_round(-2.5, UP), -2, 0, "round -2.5 up");
	ok_near(qdb_rq_round(-2.5, EVEN), -2, 0, "round -2.5 even");
	ok_near(qdb_rq_round(0.49999999999999994, UP), 0, 0, "just below a half rounds down");
}

static void test_torch(void)
{
	/* Power-of-two scales make every float step exact: s_x 0.5, s_w 0.25,
	 * s_y 0.125 -> bsc = 2 * 4 = 8, osc = 8 / 8 = 1, bf = bias * 8. */
	struct qdb_torch_rq t;
	qdb_torch_rq_init(&t, 0.5, 0.25, 0.125, 0.25f);
	ok_near(t.osc, 1.0, 0, "torch osc = ds / (ss * ws)");
	ok_near(t.bf, 2.0, 0, "torch bias at the accumulator scale");
	ok_int(qdb_torch_rq_apply(3, &t, 10.0f, 0, 255), 15, "(3 + 2) * 1 + 10");
	ok_int(qdb_torch_rq_apply(-100, &t, 10.0f, 0, 255), 0, "saturates at lo");
	ok_int(qdb_torch_rq_apply(1000, &t, 10.0f, 0, 255), 255, "saturates at hi");
	/* Ties are broken after the zero point is added, to even. */
	qdb_torch_rq_init(&t, 0.5, 0.25, 0.125, 0.0625f); /* bf = 0.5 */
	ok_int(qdb_torch_rq_apply(0, &t, 10.0f, 0, 255), 10, "0.5 + 10 -> 10 (even)");
	ok_int(qdb_torch_rq_apply(0, &t, 11.0f, 0, 255), 12, "0.5 + 11 -> 12 (even)");
	/* quantize: zp + rint(v * (1/s)). */
	ok_int(qdb_torch_quant(0.25f, 2.0f, 0, 0, 255), 0, "quant 0.5 -> 0");
	ok_int(qdb_torch_quant(0.75f, 2.0f, 0, 0, 255), 2, "quant 1.5 -> 2");
	ok_int(qdb_torch_quant(NAN, 2.0f, 3, 0, 255), 0, "quant NaN -> qmin");
	ok_int(qdb_torch_quant(1e30f, 2.0f, 3, 0, 255), 255, "quant huge -> qmax");
	struct qdb_torch_deq d;
	qdb_torch_deq_init(&d, 0.1, 3);
	ok_near(qdb_torch_deq(&d, 5), fmaf(0.1f, 5.0f, 0.1f * -3.0f), 0, "dequant is one FMA");
}

int main(void)
{
	test_from_double();
	test_tflite_primitives();
	test_ties();
	test_saturation_and_shifts();
	test_div_and_round();
	test_torch();
	return tap_done();
}
