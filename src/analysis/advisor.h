/* advisor.h - rules that flag what usually breaks QAT/integer consistency.
 *
 * qdb_advise looks at a graph (.qbc) and, optionally, a trace of that model
 * (.qtr: the values its layers produced on real data, and the fake-quant /
 * observer state of a QAT trace) and reports findings. Each rule is a row of
 * one table (id, default severity, what it measures, the general remedy);
 * each finding carries the measured evidence, a suggestion for that place,
 * and the figure that was judged with its limit, so a front end (qdb check,
 * triage, Lua) can show or re-judge it.
 *
 * Trace layers are matched to the graph by name: a layer is the node of
 * that name (its first output value), or else the value of that name.
 * Records are read in chunks (no copy of the payload); quantiles come from a
 * fixed-size, deterministically seeded sample of each layer's values, so
 * memory does not grow with the trace.
 *
 * Ownership: struct qdb_advice is embedded by the caller
 * (qdb_advice_init/qdb_advice_done) and owns its findings' strings. The
 * rule table is static. qdb_advise borrows the graph and the trace.
 */
#ifndef QDB_ADVISOR_H
#define QDB_ADVISOR_H

#include <stdint.h>

#include "base/err.h"
#include "graph/graph.h"
#include "io/trace.h"

enum qdb_severity { QDB_SEV_INFO, QDB_SEV_WARNING, QDB_SEV_ERROR, QDB_SEV_COUNT };
/* "info", "warning", "error". */
const char *qdb_severity_name(enum qdb_severity s);

struct qdb_advisor_rule {
	const char *id;              /* "range-int8", ... */
	enum qdb_severity severity;  /* default; a finding may be raised to error */
	int needs_trace;             /* 1: only judged with a trace */
	const char *measures;        /* what the evidence measures, one line */
	const char *suggestion;      /* the general remedy, one line */
};

int qdb_advisor_n_rules(void);
const struct qdb_advisor_rule *qdb_advisor_rule(int i);
int qdb_advisor_find_rule(const char *id); /* index or -1 */

struct qdb_advisor_opts {
	double range_ratio;   /* range-int8: max|x| / median nonzero |x| above this (64) */
	double beyond_share;  /* scale-coverage: share of values beyond the range (1e-4) */
	double sat_share;     /* scale-coverage: share at qmin/qmax (0.01) */
	double asym;          /* asymmetric: |p99 + p01| / (p99 - p01) above this (0.6) */
	int pow2;             /* scale-pow2: the target expects power-of-two scales (0) */
	double lut_jump;      /* lut-coarse: output change between adjacent LUT inputs,
	                         in output LSB, above this (4) */
	double margin_share;  /* output-precision: share of output rows whose top-2
	                         margin is below 1 LSB, above this (0.01) */
	double scale_rtol;    /* qstate-scale: relative scale difference (0.01) */
	int max_samples;      /* trace samples read per layer (0: all) */
	uint64_t skip;        /* bit i set: rule i is not run */
	/* Called after each trace layer; non-zero stops (QDB_ESTOPPED). */
	int (*progress)(void *user, int64_t done, int64_t total);
	void *user;
};
void qdb_advisor_opts_init(struct qdb_advisor_opts *o);
/* Comma-separated rule ids: `only` keeps just those, `skip` drops those
 * (either may be NULL). Unknown ids fail with QDB_EINVAL. */
int qdb_advisor_select(struct qdb_advisor_opts *o, const char *only, const char *skip,
		       struct qdb_err *err);

struct qdb_finding {
	int rule;                    /* index into the rule table */
	enum qdb_severity severity;
	char *where;                 /* value, layer or node name */
	char *evidence;              /* what was measured, with the numbers */
	char *suggestion;            /* what to do about it here */
	double measure, limit;       /* the judged figure and its threshold (NAN: none) */
};

struct qdb_advice {
	struct qdb_finding *findings; /* sorted: severity (worst first), rule, graph order */
	int n, cap;
	int has_trace;
	int layers_scanned;          /* trace layers with records that were read */
	int layers_unmatched;        /* trace layers with no graph value of that name */
	int samples;                 /* trace samples read per layer (at most) */
	int64_t values_read;         /* tensor elements read from the trace */
	int counts[QDB_SEV_COUNT];
};
void qdb_advice_init(struct qdb_advice *a);
void qdb_advice_done(struct qdb_advice *a);
/* Findings at or above `sev`. */
int qdb_advice_count(const struct qdb_advice *a, enum qdb_severity sev);

/* Runs every selected rule; trace may be NULL. out (initialised) receives
 * the findings (appended, then the whole list is sorted). Fails only on
 * allocation or read errors (the message names the trace and layer). */
int qdb_advise(const struct qdb_graph *g, const struct qdb_trace *trace,
	       const struct qdb_advisor_opts *o, struct qdb_advice *out, struct qdb_err *err);

#endif
