/* requant.c - rounding modes, Q31 multipliers, torch profile constants
 * (see requant.h). */
#include "config.h"

#include <math.h>
#include <stdint.h>

#include "ops/requant.h"

int qdb_rq_from_double(double real, struct qdb_rq *out)
{
	out->mult = 0;
	out->shift = 0;
	if (!(real >= 0.0) || !isfinite(real))
		return QDB_RQ_INVALID;
	if (real == 0.0)
		return QDB_RQ_OK;
	int e;
	double q = frexp(real, &e); /* real = q * 2^e, q in [0.5, 1) */
	int64_t m = (int64_t)llround(q * 2147483648.0);
	if (m == ((int64_t)1 << 31)) {
		m /= 2;
		e++;
	}
	if (e < -31) {
		/* Below 2^-32: the multiplier is 0 (TFLite does the same). */
		return QDB_RQ_UNDERFLOW;
	}
	if (e > 30) {
		out->mult = INT32_MAX;
		out->shift = 30;
		return QDB_RQ_OVERFLOW;
	}
	out->mult = (int32_t)m;
	out->shift = e;
	return QDB_RQ_OK;
}

double qdb_rq_value(struct qdb_rq m)
{
	return ldexp((double)m.mult, m.shift - 31);
}

/* x / 2^s rounded, s in [1, 126], x a 128-bit signed value. */
static __int128 shift_round128(__int128 x, int s, enum qdb_rounding r)
{
	__int128 one = 1;
	__int128 half = one << (s - 1);
	__int128 fl = x >> s; /* floor */
	__int128 rem = x - fl * (one << s);
	switch (r) {
	case QDB_ROUND_HALF_UP:
		return fl + (rem >= half ? 1 : 0);
	case QDB_ROUND_HALF_EVEN:
		if (rem > half || (rem == half && (fl & 1)))
			return fl + 1;
		return fl;
	case QDB_ROUND_HALF_AWAY:
	default:
		if (rem > half || (rem == half && x >= 0))
			return fl + 1;
		return fl;
	}
}

static int32_t sat128(__int128 v)
{
	return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v;
}

int32_t qdb_rq_apply64(int64_t x, struct qdb_rq m, enum qdb_rounding r)
{
	if (m.mult == 0)
		return 0;
	if (r == QDB_ROUND_HALF_AWAY) {
		/* Double rounding as TFLite: high-mul (x * 2^left * mult / 2^31,
		 * half away), then divide by 2^right (half away). */
		int left = m.shift > 0 ? m.shift : 0, right = m.shift > 0 ? 0 : -m.shift;
		__int128 p = (__int128)x * ((__int128)1 << left) * m.mult;
		/* gemmlowp's nudge and truncating division, widened. */
		__int128 nudge = p >= 0 ? ((__int128)1 << 30) : 1 - ((__int128)1 << 30);
		__int128 hi = (p + nudge) / ((__int128)1 << 31);
		if (right > 0)
			hi = shift_round128(hi, right, QDB_ROUND_HALF_AWAY);
		return sat128(hi);
	}
	__int128 p = (__int128)x * m.mult;
	return sat128(shift_round128(p, 31 - m.shift, r));
}

int64_t qdb_rq_div_round(int64_t num, int64_t den, enum qdb_rounding r)
{
	/* floor division, then the remainder against den/2 (exact: 2*rem vs den). */
	int64_t q = num / den, rem = num % den;
	if (rem < 0) {
		q--;
		rem += den;
	}
	int64_t twice = 2 * rem;
	switch (r) {
	case QDB_ROUND_HALF_UP:
		return q + (twice >= den ? 1 : 0);
	case QDB_ROUND_HALF_EVEN:
		return q + ((twice > den || (twice == den && (q & 1))) ? 1 : 0);
	case QDB_ROUND_HALF_AWAY:
	default:
		return q + ((twice > den || (twice == den && num >= 0)) ? 1 : 0);
	}
}

double qdb_rq_round(double x, enum qdb_rounding r)
{
	switch (r) {
	case QDB_ROUND_HALF_UP: {
		double f = floor(x);
		return x - f >= 0.5 ? f + 1.0 : f;
	}
	case QDB_ROUND_HALF_EVEN:
		return nearbyint(x);
	case QDB_ROUND_HALF_AWAY:
	default:
		return round(x);
	}
}

void qdb_torch_rq_init(struct qdb_torch_rq *t, double s_x, double s_w, double s_y, float bias)
{
	/* ideep keeps scales as float reciprocals of torch's (double) scales. */
	float ss = (float)(1.0 / s_x), ws = (float)(1.0 / s_w), ds = (float)(1.0 / s_y);
	float bsc = ss * ws;
	t->osc = ds / bsc;
	t->bf = bias * bsc;
}
