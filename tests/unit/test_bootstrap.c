/* test_bootstrap.c - bootstrap CIs: coverage of the estimate, width close
 * to the normal approximation, reproducible by seed, paired differences. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "analysis/bootstrap.h"
#include "tap.h"

int main(void)
{
	static double a[1000], b[1000];
	struct qdb_ci ci, ci2;
	struct qdb_err e;
	for (int i = 0; i < 1000; i++) {
		a[i] = i % 10 != 0; /* 90% correct */
		b[i] = 1;
	}
	ok(qdb_bootstrap_mean(a, NULL, 1000, 2000, 0.95, 1, &ci, &e) == QDB_OK, "mean CI");
	ok_near(ci.estimate, 0.9, 1e-12, "estimate is the sample mean");
	ok(ci.lo < 0.9 && ci.hi > 0.9, "interval [%g, %g] holds the estimate", ci.lo, ci.hi);
	/* normal approximation: 2 * 1.96 * sqrt(0.9 * 0.1 / 1000) = 0.0372 */
	ok(ci.hi - ci.lo > 0.030 && ci.hi - ci.lo < 0.045, "width %g near 0.037", ci.hi - ci.lo);
	ok_near(ci.se, sqrt(0.09 / 1000), 0.002, "se near sqrt(p(1-p)/n)");
	ok(ci.reps == 2000 && ci.n == 1000 && ci.level == 0.95, "reps, n and level recorded");

	ok(qdb_bootstrap_mean(a, NULL, 1000, 2000, 0.95, 1, &ci2, &e) == QDB_OK &&
		   ci2.lo == ci.lo && ci2.hi == ci.hi && ci2.se == ci.se,
	   "same seed, same interval");
	ok(qdb_bootstrap_mean(a, NULL, 1000, 2000, 0.95, 2, &ci2, &e) == QDB_OK &&
		   (ci2.se != ci.se),
	   "another seed, other replicates");

	ok(qdb_bootstrap_mean(a, a, 1000, 200, 0.95, 7, &ci, &e) == QDB_OK && ci.estimate == 0 &&
		   ci.lo == 0 && ci.hi == 0,
	   "paired difference of identical outcomes is exactly 0");
	ok(qdb_bootstrap_mean(b, a, 1000, 2000, 0.9, 3, &ci, &e) == QDB_OK, "paired CI");
	ok_near(ci.estimate, 0.1, 1e-12, "paired estimate mean(b) - mean(a)");
	ok(ci.lo > 0.08 && ci.hi < 0.12 && ci.lo < 0.1 && ci.hi > 0.1, "90%% interval [%g, %g]",
	   ci.lo, ci.hi);

	ok(qdb_bootstrap_mean(a, NULL, 0, 100, 0.95, 1, &ci, &e) == QDB_EINVAL, "n = 0 refused");
	ok(qdb_bootstrap_mean(a, NULL, 10, 5, 0.95, 1, &ci, &e) == QDB_EINVAL, "too few reps refused");
	ok(qdb_bootstrap_mean(a, NULL, 10, 100, 1.0, 1, &ci, &e) == QDB_EINVAL &&
		   strstr(e.msg, "level"),
	   "level 1 refused: %s", e.msg);
	return tap_done();
}
