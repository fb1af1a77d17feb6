/* tap.h - minimal TAP producer for C unit tests (header-only).
 *
 * Each check prints "ok N - desc" or "not ok N - desc"; tap_done() prints the
 * plan and returns the exit status. The automake TAP driver counts every
 * check, so the suite summary counts assertions, not programs.
 */
#ifndef QDB_TAP_H
#define QDB_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

static int tap_ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;
	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

static void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void tap_diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void tap_skip(int n, const char *why) __attribute__((unused));
static void tap_skip(int n, const char *why)
{
	for (int i = 0; i < n; i++)
		printf("ok %d # SKIP %s\n", ++tap_n, why);
}

static int tap_done(void) __attribute__((unused));
static int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)
/* Doubles equal within tol (absolute); NaN equals NaN, inf equals inf. */
#define ok_near(got, want, tol, desc)                                              \
	do {                                                                           \
		double g_ = (got), w_ = (want);                                            \
		int c_ = (isnan(g_) && isnan(w_)) || (g_ == w_) || fabs(g_ - w_) <= (tol); \
		if (!tap_ok(c_, "%s", desc))                                               \
			tap_diag("  got %.17g, want %.17g", g_, w_);                           \
	} while (0)
#define ok_int(got, want, desc)                                                    \
	do {                                                                           \
		long long g_ = (long long)(got), w_ = (long long)(want);                   \
		if (!tap_ok(g_ == w_, "%s", desc))                                         \
			tap_diag("  got %lld, want %lld", g_, w_);                             \
	} while (0)

#endif
