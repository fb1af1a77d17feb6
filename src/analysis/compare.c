/* compare.c - the comparison engine: aligned layers x shared samples -> cells. */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "analysis/compare.h"
#include "base/alloc.h"

struct qdb_compare {
	struct qdb_trace *a, *b;
	struct qdb_compare_opts opts;
	struct qdb_align al;
	int n_samples;
	int *sa, *sb;         /* shared sample -> index in A / B */
	int *a2s;             /* A sample index -> shared index or -1 */
	int top1_layer;
	/* cells[pair] is NULL until that row is first needed, then n_samples
	 * cells: rows of layers nobody looks at cost nothing. */
	struct qdb_compare_cell **cells;
};

void qdb_compare_opts_init(struct qdb_compare_opts *o)
{
	memset(o, 0, sizeof *o);
	o->rules = NULL;
	o->threshold.metric = QDB_M_COSINE;
	o->threshold.less = 1;
	o->threshold.value = 0.99;
	o->atol = 1e-5;
	o->sat_flag = 0.01;
	o->top1_layer = -1;
	o->release_pages = 0;
}

const char *qdb_compare_flags_str(unsigned flags, char *dst, size_t n)
{
	static const struct { unsigned bit; const char *word; } words[] = {
		{QDB_CF_SHAPE, "shape"}, {QDB_CF_NUMEL, "numel"}, {QDB_CF_NAN, "nan"},
		{QDB_CF_INF, "inf"}, {QDB_CF_SAT, "sat"}, {QDB_CF_MISSING, "miss"},
		{QDB_CF_ERROR, "error"},
	};
	size_t len = 0;
	if (n == 0)
		return dst;
	dst[0] = '\0';
	for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
		if (!(flags & words[i].bit))
			continue;
		int w = snprintf(dst + len, n - len, "%s%s", len ? "," : "", words[i].word);
		if (w < 0 || (size_t)w >= n - len)
			break;
		len += (size_t)w;
	}
	return dst;
}

int qdb_compare_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

void qdb_compare_delete(struct qdb_compare *c)
{
	if (!c)
		return;
	if (c->cells)
		for (int i = 0; i < c->al.n_pairs; i++)
			qdb_free(c->cells[i]);
	qdb_free(c->cells);
	qdb_align_done(&c->al);
	qdb_free(c->sa);
	qdb_free(c->sb);
	qdb_free(c->a2s);
	qdb_free(c);
}

static int align_layers(struct qdb_compare *c, struct qdb_err *err)
{
	int na = qdb_trace_n_layers(c->a), nb = qdb_trace_n_layers(c->b);
	const char **an = qdb_alloc_array((size_t)na + 1, sizeof *an);
	const char **bn = qdb_alloc_array((size_t)nb + 1, sizeof *bn);
	int rc;
	if (!an || !bn) {
		rc = qdb_err_set(err, QDB_ENOMEM, "compare: out of memory");
		goto out;
	}
	for (int i = 0; i < na; i++)
		an[i] = qdb_trace_layer(c->a, i)->name;
	for (int i = 0; i < nb; i++)
		bn[i] = qdb_trace_layer(c->b, i)->name;
	rc = qdb_align_layers(&c->al, an, na, bn, nb, c->opts.rules, err);
out:
	qdb_free(an);
	qdb_free(bn);
	return rc;
}

int qdb_compare_new(struct qdb_trace *a, struct qdb_trace *b,
		    const struct qdb_compare_opts *opts, struct qdb_compare **out,
		    struct qdb_err *err)
{
	struct qdb_compare *c = qdb_calloc(1, sizeof *c);
	int rc;
	*out = NULL;
	if (!c)
		return qdb_err_set(err, QDB_ENOMEM, "compare: out of memory");
	c->a = a;
	c->b = b;
	if (opts)
		c->opts = *opts;
	else
		qdb_compare_opts_init(&c->opts);
	qdb_align_init(&c->al);
	rc = align_layers(c, err);
	if (rc)
		goto fail;

	int na = qdb_trace_n_samples(a);
	c->sa = qdb_alloc_array((size_t)na + 1, sizeof *c->sa);
	c->sb = qdb_alloc_array((size_t)na + 1, sizeof *c->sb);
	c->a2s = qdb_alloc_array((size_t)na + 1, sizeof *c->a2s);
	c->cells = qdb_calloc((size_t)c->al.n_pairs + 1, sizeof *c->cells);
	if (!c->sa || !c->sb || !c->a2s || !c->cells) {
		rc = qdb_err_set(err, QDB_ENOMEM, "compare: out of memory");
		goto fail;
	}
	for (int i = 0; i < na; i++) {
		int j = qdb_trace_find_sample(b, qdb_trace_sample(a, i));
		c->a2s[i] = -1;
		if (j < 0)
			continue;
		c->a2s[i] = c->n_samples;
		c->sa[c->n_samples] = i;
		c->sb[c->n_samples] = j;
		c->n_samples++;
	}
	if (c->n_samples == 0) {
		rc = qdb_err_set(err, QDB_EINVAL, "%s, %s: no sample id in common",
				 qdb_trace_path(a), qdb_trace_path(b));
		goto fail;
	}
	c->top1_layer = c->opts.top1_layer >= 0 ? c->opts.top1_layer : qdb_trace_n_layers(a) - 1;
	*out = c;
	return QDB_OK;
fail:
	qdb_compare_delete(c);
	return rc;
}

const struct qdb_compare_opts *qdb_compare_get_opts(const struct qdb_compare *c) { return &c->opts; }
struct qdb_trace *qdb_compare_trace_a(const struct qdb_compare *c) { return c->a; }
struct qdb_trace *qdb_compare_trace_b(const struct qdb_compare *c) { return c->b; }
const struct qdb_align *qdb_compare_align(const struct qdb_compare *c) { return &c->al; }
int qdb_compare_n_pairs(const struct qdb_compare *c) { return c->al.n_pairs; }
int qdb_compare_n_samples(const struct qdb_compare *c) { return c->n_samples; }
int qdb_compare_sample_a(const struct qdb_compare *c, int i) { return c->sa[i]; }
int qdb_compare_sample_b(const struct qdb_compare *c, int i) { return c->sb[i]; }

const struct qdb_sample_id *qdb_compare_sample_id(const struct qdb_compare *c, int i)
{
	return qdb_trace_sample(c->a, c->sa[i]);
}

int qdb_compare_find_sample(const struct qdb_compare *c, const char *id)
{
	int i = qdb_trace_find_sample_str(c->a, id);
	return i < 0 ? -1 : c->a2s[i];
}

int qdb_compare_metric_applies(unsigned flags, const struct qdb_metrics *m,
			       enum qdb_metric_id id)
{
	if (id == QDB_M_MAX_STEPS)
		return !(flags & QDB_CF_BFLOAT) && m->b_quantized;
	if (id == QDB_M_TOP1)
		return m->top1 >= 0;
	return 1;
}

/* Giving pages back. The mapping is a read-only file mapping (trace.h), so
 * MADV_DONTNEED only drops our page-table entries: the next touch faults
 * the page in again from the page cache, and nothing is lost even if
 * another thread is reading the page at that moment. With several threads
 * every madvise call costs a TLB shootdown on the other CPUs, so the
 * threaded fill collects ranges and releases them in large merged batches
 * (records are processed roughly in file order, so neighbours merge). */
struct range {
	uintptr_t lo, hi;
};

struct releaser {
	pthread_mutex_t mu;
	struct range *v;
	size_t n, cap, bytes;
};

#define RELEASE_BATCH ((size_t)32 << 20)

static long page_size(void)
{
	static long page;
	if (!page)
		page = sysconf(_SC_PAGESIZE);
	return page;
}

static int range_cmp(const void *x, const void *y)
{
	const struct range *a = x, *b = y;
	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/* Sorts, merges ranges that are less than two pages apart (the gap holds
 * record headers), and releases them. Called with r->mu held or alone. */
static void release_flush(struct releaser *r)
{
	uintptr_t slack = 2 * (uintptr_t)page_size();
	if (r->n == 0)
		return;
	qsort(r->v, r->n, sizeof *r->v, range_cmp);
	struct range cur = r->v[0];
	for (size_t i = 1; i <= r->n; i++) {
		if (i < r->n && r->v[i].lo <= cur.hi + slack) {
			if (r->v[i].hi > cur.hi)
				cur.hi = r->v[i].hi;
			continue;
		}
		(void)madvise((void *)cur.lo, cur.hi - cur.lo, MADV_DONTNEED);
		if (i < r->n)
			cur = r->v[i];
	}
	r->n = 0;
	r->bytes = 0;
}

/* The whole pages inside a payload: released now (r == NULL) or queued. */
static void release_pages(const struct qdb_tensor *t, struct releaser *r)
{
	long page = page_size();
	if (!t->data || t->nbytes == 0 || page <= 0)
		return;
	uintptr_t lo = ((uintptr_t)t->data + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	uintptr_t hi = ((uintptr_t)t->data + t->nbytes) & ~((uintptr_t)page - 1);
	if (hi <= lo)
		return;
	if (!r) {
		(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
		return;
	}
	pthread_mutex_lock(&r->mu);
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 256;
		struct range *v = qdb_realloc(r->v, cap * sizeof *v);
		if (!v) { /* no room to queue: release right away */
			pthread_mutex_unlock(&r->mu);
			(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
			return;
		}
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = (struct range){lo, hi};
	r->bytes += hi - lo;
	if (r->bytes >= RELEASE_BATCH)
		release_flush(r);
	pthread_mutex_unlock(&r->mu);
}

/* Computes one cell; thread-safe as long as no two threads work on the
 * same cell (the traces are only read). */
static int compute_cell(const struct qdb_compare *c, int pair, int sample,
			struct qdb_compare_cell *cell, struct releaser *rel, struct qdb_err *err)
{
	const struct qdb_align_pair *p = &c->al.pairs[pair];
	int ia = c->sa[sample], ib = c->sb[sample];
	struct qdb_tensor ta, tb;
	int rc = QDB_OK;

	memset(cell, 0, sizeof *cell);
	if (!qdb_trace_has(c->a, ia, p->a) || !qdb_trace_has(c->b, ib, p->b)) {
		cell->state = QDB_CELL_MISSING;
		cell->flags = QDB_CF_MISSING;
		return QDB_OK;
	}
	qdb_tensor_init(&ta);
	qdb_tensor_init(&tb);
	rc = qdb_trace_get(c->a, ia, p->a, &ta, err);
	if (!rc)
		rc = qdb_trace_get(c->b, ib, p->b, &tb, err);
	if (rc)
		goto fail;
	if (tb.q.n == 0)
		cell->flags |= QDB_CF_BFLOAT;
	if (qdb_tensor_numel(&ta) != qdb_tensor_numel(&tb)) {
		cell->state = QDB_CELL_NUMEL;
		cell->flags |= QDB_CF_NUMEL | QDB_CF_SHAPE;
		cell->diverged = 1;
		goto out;
	}
	if (!qdb_shape_equal(&ta, &tb))
		cell->flags |= QDB_CF_SHAPE;
	rc = qdb_metrics_compute(&ta, &tb, c->opts.atol, p->a == c->top1_layer, &cell->m, err);
	if (rc)
		goto fail;
	cell->state = QDB_CELL_OK;
	const struct qdb_metrics *m = &cell->m;
	cell->flags &= (unsigned short)~QDB_CF_BFLOAT;
	if (!m->b_quantized)
		cell->flags |= QDB_CF_BFLOAT;
	if (m->nan_a || m->nan_b)
		cell->flags |= QDB_CF_NAN;
	if (m->inf_a || m->inf_b)
		cell->flags |= QDB_CF_INF;
	if ((m->sat_a > 0 && m->sat_a >= c->opts.sat_flag) ||
	    (m->sat_b > 0 && m->sat_b >= c->opts.sat_flag))
		cell->flags |= QDB_CF_SAT;
	if (qdb_threshold_crossed(&c->opts.threshold, m))
		cell->diverged = 1;
out:
	if (c->opts.release_pages) {
		release_pages(&ta, rel);
		release_pages(&tb, rel);
	}
	qdb_tensor_done(&ta);
	qdb_tensor_done(&tb);
	return QDB_OK;
fail:
	qdb_tensor_done(&ta);
	qdb_tensor_done(&tb);
	memset(cell, 0, sizeof *cell);
	cell->state = QDB_CELL_ERROR;
	cell->flags = QDB_CF_ERROR;
	return rc;
}

static int ensure_row(struct qdb_compare *c, int pair, struct qdb_err *err)
{
	if (c->cells[pair])
		return QDB_OK;
	c->cells[pair] = qdb_calloc((size_t)c->n_samples, sizeof **c->cells);
	if (!c->cells[pair])
		return qdb_err_set(err, QDB_ENOMEM, "compare: out of memory for %d cells",
				   c->n_samples);
	return QDB_OK;
}

static int check_index(const struct qdb_compare *c, int pair, int sample, struct qdb_err *err)
{
	if (pair < 0 || pair >= c->al.n_pairs)
		return qdb_err_set(err, QDB_EINVAL, "compare: no aligned layer %d", pair);
	if (sample < 0 || sample >= c->n_samples)
		return qdb_err_set(err, QDB_EINVAL, "compare: no shared sample %d", sample);
	return QDB_OK;
}

int qdb_compare_cell(struct qdb_compare *c, int pair, int sample,
		     const struct qdb_compare_cell **out, struct qdb_err *err)
{
	int rc = check_index(c, pair, sample, err);
	*out = NULL;
	if (rc || (rc = ensure_row(c, pair, err)))
		return rc;
	struct qdb_compare_cell *cell = &c->cells[pair][sample];
	if (cell->state == QDB_CELL_EMPTY || cell->state == QDB_CELL_ERROR)
		rc = compute_cell(c, pair, sample, cell, NULL, err);
	*out = cell;
	return rc;
}

const struct qdb_compare_cell *qdb_compare_peek(const struct qdb_compare *c, int pair,
						int sample)
{
	if (check_index(c, pair, sample, NULL) || !c->cells[pair])
		return NULL;
	const struct qdb_compare_cell *cell = &c->cells[pair][sample];
	return cell->state == QDB_CELL_EMPTY ? NULL : cell;
}

/* ---- parallel fill ------------------------------------------------------ */

struct fill_job {
	struct qdb_compare *c;
	const int *samples;
	int n_pairs;
	long total;
	atomic_long next;
	pthread_mutex_t mu;
	int status;
	struct qdb_err err;
	struct releaser rel;
};

/* Queues the payload pages of an uncomputed cell for release. */
static void prerelease(const struct qdb_compare *c, int pair, int sample, struct releaser *rel)
{
	const struct qdb_align_pair *p = &c->al.pairs[pair];
	const struct qdb_compare_cell *cell = &c->cells[pair][sample];
	if (cell->state != QDB_CELL_EMPTY)
		return;
	for (int side = 0; side < 2; side++) {
		struct qdb_trace *t = side ? c->b : c->a;
		int s = side ? c->sb[sample] : c->sa[sample], l = side ? p->b : p->a;
		struct qdb_tensor x;
		if (!qdb_trace_has(t, s, l))
			continue;
		qdb_tensor_init(&x);
		if (!qdb_trace_get(t, s, l, &x, NULL))
			release_pages(&x, rel);
		qdb_tensor_done(&x);
	}
}

/* Items run sample-major (all layers of one sample, then the next), the
 * order traces are written in, so a cold file is read mostly forward. */
static void *fill_worker(void *arg)
{
	struct fill_job *j = arg;
	struct qdb_err err;
	for (;;) {
		long i = atomic_fetch_add(&j->next, 1);
		if (i >= j->total)
			break;
		int s = (int)(i / j->n_pairs), p = (int)(i % j->n_pairs);
		if (j->samples)
			s = j->samples[s];
		struct qdb_compare_cell *cell = &j->c->cells[p][s];
		if (cell->state != QDB_CELL_EMPTY && cell->state != QDB_CELL_ERROR)
			continue;
		qdb_err_clear(&err);
		int rc = compute_cell(j->c, p, s, cell, &j->rel, &err);
		if (rc) {
			pthread_mutex_lock(&j->mu);
			if (!j->status) {
				j->status = rc;
				j->err = err;
			}
			pthread_mutex_unlock(&j->mu);
		}
	}
	return NULL;
}

int qdb_compare_fill(struct qdb_compare *c, const int *samples, int n, int threads,
		     struct qdb_err *err)
{
	int rc;
	if (!samples || n < 0) {
		samples = NULL;
		n = c->n_samples;
	}
	for (int i = 0; samples && i < n; i++)
		if (samples[i] < 0 || samples[i] >= c->n_samples)
			return qdb_err_set(err, QDB_EINVAL, "compare: no shared sample %d",
					   samples[i]);
	if (c->al.n_pairs == 0 || n == 0)
		return QDB_OK;
	for (int p = 0; p < c->al.n_pairs; p++)
		if ((rc = ensure_row(c, p, err)))
			return rc;

	struct fill_job j;
	memset(&j, 0, sizeof j);
	j.c = c;
	j.samples = samples;
	j.n_pairs = c->al.n_pairs;
	j.total = (long)n * c->al.n_pairs;
	atomic_init(&j.next, 0);
	pthread_mutex_init(&j.mu, NULL);
	pthread_mutex_init(&j.rel.mu, NULL);
	qdb_err_clear(&j.err);

	/* Opening a trace walked every record header, and the kernel's fault
	 * around mapped the pages near each one: give those back before the
	 * threads start (one merged batch, no other thread to interrupt). */
	if (c->opts.release_pages)
		for (long i = 0; i < j.total; i++) {
			int s = (int)(i / j.n_pairs), p = (int)(i % j.n_pairs);
			if (samples)
				s = samples[s];
			prerelease(c, p, s, &j.rel);
		}
	release_flush(&j.rel);

	if (threads <= 0)
		threads = qdb_compare_default_threads();
	if (threads > j.total)
		threads = (int)j.total;
	pthread_t *tid = threads > 1 ? qdb_alloc_array((size_t)threads, sizeof *tid) : NULL;
	int started = 0;
	for (int t = 0; tid && t < threads - 1; t++) {
		if (pthread_create(&tid[t], NULL, fill_worker, &j))
			break; /* fewer threads is still correct */
		started++;
	}
	fill_worker(&j);
	for (int t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
	qdb_free(tid);
	release_flush(&j.rel);
	qdb_free(j.rel.v);
	pthread_mutex_destroy(&j.rel.mu);
	pthread_mutex_destroy(&j.mu);
	if (j.status) {
		if (err)
			*err = j.err;
		return j.status;
	}
	return QDB_OK;
}

/* ---- aggregation -------------------------------------------------------- */

int qdb_compare_row(struct qdb_compare *c, int pair, const int *samples, int n,
		    struct qdb_compare_row *row, struct qdb_err *err)
{
	double sum[QDB_M_COUNT];
	int nsum[QDB_M_COUNT], has_nan[QDB_M_COUNT];
	int all_bfloat = 1, status = QDB_OK;
	struct qdb_err e1;

	memset(row, 0, sizeof *row);
	row->pair = pair;
	row->first_diverged_sample = -1;
	if (pair < 0 || pair >= c->al.n_pairs)
		return qdb_err_set(err, QDB_EINVAL, "compare: no aligned layer %d", pair);
	row->layer_a = c->al.pairs[pair].a;
	row->layer_b = c->al.pairs[pair].b;
	if (!samples || n < 0) {
		samples = NULL;
		n = c->n_samples;
	}
	row->n_samples = n;
	for (int k = 0; k < QDB_M_COUNT; k++) {
		sum[k] = 0;
		nsum[k] = has_nan[k] = 0;
		row->agg[k].mean = NAN;
		row->agg[k].worst = NAN;
		row->agg[k].worst_sample = -1;
	}
	for (int i = 0; i < n; i++) {
		int s = samples ? samples[i] : i;
		const struct qdb_compare_cell *cell;
		qdb_err_clear(&e1);
		int rc = qdb_compare_cell(c, pair, s, &cell, &e1);
		if (rc && !status) {
			status = rc;
			if (err)
				*err = e1;
		}
		if (!cell)
			continue;
		row->flags |= cell->flags & ~(unsigned)QDB_CF_BFLOAT;
		if (cell->diverged) {
			row->n_diverged++;
			if (row->first_diverged_sample < 0)
				row->first_diverged_sample = s;
		}
		switch (cell->state) {
		case QDB_CELL_MISSING: row->n_missing++; continue;
		case QDB_CELL_NUMEL: row->n_numel++; continue;
		case QDB_CELL_ERROR: row->n_error++; continue;
		default: break;
		}
		row->n_ok++;
		if (!(cell->flags & QDB_CF_BFLOAT))
			all_bfloat = 0;
		const struct qdb_metrics *m = &cell->m;
		row->nan_a += m->nan_a;
		row->inf_a += m->inf_a;
		row->nan_b += m->nan_b;
		row->inf_b += m->inf_b;
		if (m->sat_a > row->sat_a)
			row->sat_a = m->sat_a;
		if (m->sat_b > row->sat_b)
			row->sat_b = m->sat_b;
		for (int k = 0; k < QDB_M_COUNT; k++) {
			struct qdb_compare_agg *g = &row->agg[k];
			if (!qdb_compare_metric_applies(cell->flags, m, (enum qdb_metric_id)k))
				continue;
			double v = qdb_metric_value(m, (enum qdb_metric_id)k);
			g->n++;
			if (isnan(v)) {
				if (!has_nan[k]) {
					has_nan[k] = 1;
					g->worst = NAN;
					g->worst_sample = s;
				}
				continue;
			}
			sum[k] += v;
			nsum[k]++;
			if (has_nan[k])
				continue;
			int hib = qdb_metric_higher_is_better((enum qdb_metric_id)k);
			if (g->worst_sample < 0 || (hib ? v < g->worst : v > g->worst)) {
				g->worst = v;
				g->worst_sample = s;
			}
		}
	}
	if (row->n_ok > 0 && all_bfloat)
		row->flags |= QDB_CF_BFLOAT;
	for (int k = 0; k < QDB_M_COUNT; k++)
		if (nsum[k] > 0)
			row->agg[k].mean = sum[k] / nsum[k];
	return status;
}

int qdb_compare_first_divergent(struct qdb_compare *c, const int *samples, int n,
				struct qdb_err *err)
{
	if (!samples || n < 0) {
		samples = NULL;
		n = c->n_samples;
	}
	for (int p = 0; p < c->al.n_pairs; p++)
		for (int i = 0; i < n; i++) {
			const struct qdb_compare_cell *cell;
			int rc = qdb_compare_cell(c, p, samples ? samples[i] : i, &cell, err);
			if (rc)
				return -rc;
			if (cell->diverged)
				return p;
		}
	return -1;
}
