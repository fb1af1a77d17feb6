/* view_detail.c - the selected layer, A and B side by side: shape, dtype,
 * quant params, statistics, the two value histograms over one range, the
 * error metrics and the error histogram in LSB. What it shows is computed
 * once per (sample, layer, edit generation) and kept until the selection
 * moves. Lines are dropped by priority when the pane is short. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "analysis/inspect.h"
#include "base/alloc.h"
#include "base/str.h"
#include "tensor/stats.h"
#include "tui/tui.h"

#define HBINS 48

/* What the pane shows for one (sample, layer, generation). */
struct detail {
	int sample, row, valid;
	unsigned gen;
	uint64_t used;
	int status;              /* QDB_OK or why there is nothing to show */
	char msg[QDB_ERR_MSG_MAX];
	char shape[2][64], dtype[2][16], qp[2][96];
	struct qdb_stats st[2];
	int st_ok[2];
	int64_t hist[2][HBINS];
	double hlo, hhi;
	int64_t ehist[HBINS];
	double erange;
	int e_in_lsb, e_ok;
	int64_t e_nonfinite;
};

/* The last few layers looked at, so moving back and forth over them does
 * not rescan their tensors. */
#define DETAIL_CACHE 32
struct detail_view {
	struct detail e[DETAIL_CACHE];
	uint64_t clock;
};

static int detail_open(struct view *v)
{
	struct detail_view *dv = qdb_calloc(1, sizeof *dv);
	if (!dv)
		return -1;
	v->priv = dv;
	return 0;
}

static void detail_done(struct view *v)
{
	qdb_free(v->priv);
	v->priv = NULL;
}

static void fmt_qparams(char *dst, size_t n, const struct qdb_tensor *x)
{
	char s[32], z[32];
	if (x->q.n == 0) {
		snprintf(dst, n, "none");
		return;
	}
	if (x->q.n == 1) {
		snprintf(dst, n, "s=%s zp=%lld", qdb_fmt_double(s, sizeof s, x->q.scale[0], 4),
			 (long long)x->q.zero_point[0]);
		return;
	}
	double lo = x->q.scale[0], hi = lo;
	for (int i = 1; i < x->q.n; i++) {
		if (x->q.scale[i] < lo)
			lo = x->q.scale[i];
		if (x->q.scale[i] > hi)
			hi = x->q.scale[i];
	}
	qdb_fmt_double(s, sizeof s, lo, 3);
	qdb_fmt_double(z, sizeof z, hi, 3);
	snprintf(dst, n, "%d ch (axis %d) s=%s..%s", x->q.n, x->q.axis, s, z);
}

static void compute(struct tui *t, struct detail *d);

static struct detail *lookup(struct tui *t, struct detail_view *dv)
{
	struct detail *lru = &dv->e[0];
	for (int i = 0; i < DETAIL_CACHE; i++) {
		struct detail *d = &dv->e[i];
		if (d->valid && d->sample == t->sample && d->row == t->row && d->gen == t->gen) {
			d->used = ++dv->clock;
			return d;
		}
		if (!d->valid || d->used < lru->used)
			lru = d;
		if (!d->valid)
			break;
	}
	compute(t, lru);
	lru->used = ++dv->clock;
	return lru;
}

static void compute(struct tui *t, struct detail *d)
{
	struct qdb_tensor x[2];
	struct qdb_err err;

	d->sample = t->sample;
	d->row = t->row;
	d->gen = t->gen;
	d->valid = 1;
	d->st_ok[0] = d->st_ok[1] = d->e_ok = 0;
	qdb_err_clear(&err);
	qdb_tensor_init(&x[0]);
	qdb_tensor_init(&x[1]);
	d->status = qdb_session_tensors(t->s, t->sample, t->row, &x[0], &x[1], &err);
	if (d->status) {
		snprintf(d->msg, sizeof d->msg, "%s", err.msg);
		return;
	}
	for (int k = 0; k < 2; k++) {
		qdb_shape_str(d->shape[k], sizeof d->shape[k], x[k].rank, x[k].shape);
		snprintf(d->dtype[k], sizeof d->dtype[k], "%s", qdb_dtype_name(x[k].dtype));
		fmt_qparams(d->qp[k], sizeof d->qp[k], &x[k]);
		d->st_ok[k] = qdb_tensor_stats(&x[k], &d->st[k], NULL) == QDB_OK;
	}
	d->hlo = INFINITY;
	d->hhi = -INFINITY;
	for (int k = 0; k < 2; k++)
		if (d->st_ok[k] && d->st[k].finite > 0) {
			d->hlo = fmin(d->hlo, d->st[k].min);
			d->hhi = fmax(d->hhi, d->st[k].max);
		}
	qdb_inspect_hist_pair(&x[0], &x[1], d->hlo, d->hhi, d->hist[0], d->hist[1], HBINS);
	d->e_ok = qdb_inspect_error_hist(&x[0], &x[1], d->ehist, HBINS, &d->erange,
					 &d->e_in_lsb, &d->e_nonfinite, NULL) == QDB_OK;
	qdb_tensor_done(&x[0]);
	qdb_tensor_done(&x[1]);
}

static const char *num(char *dst, size_t n, double v)
{
	return qdb_fmt_double(dst, n, v, 4);
}

/* One line of the pane: a label and what goes in the A and B columns. */
enum line_id { L_SHAPE, L_QP, L_RANGE, L_MEAN, L_PCT, L_ZERO, L_HIST, L_ERR, L_ERR2,
	       L_EHIST, L_DELTA, L_COUNT };
/* Priority order: the first ones stay when the pane is short. */
static const enum line_id prio[L_COUNT] = {
	L_SHAPE, L_ERR, L_HIST, L_EHIST, L_QP, L_DELTA, L_RANGE, L_ERR2, L_MEAN, L_ZERO, L_PCT,
};

static void draw_pair(WINDOW *w, int y, int cx[2], int cw, const char *a, const char *b,
		      enum tui_color c)
{
	tui_put(w, y, cx[0], cw, c, a);
	tui_put(w, y, cx[1], cw, c, b);
}

static void draw_line(struct tui *t, struct detail *d, WINDOW *w, int y, enum line_id id,
		      int lw, int cx[2], int cw, int width)
{
	char a[160], b[160], n1[32], n2[32], n3[32];
	const struct qdb_compare_cell *c = tui_cell(t, t->sample, t->row);
	static const char *const label[L_COUNT] = {
		"shape", "qparams", "min..max", "mean/std", "p1/50/99", "zero/sat", "values",
		"error", "error", "err hist", "edit",
	};

	tui_put(w, y, 0, lw, COL_LABEL, label[id]);
	switch (id) {
	case L_SHAPE:
		snprintf(a, sizeof a, "%s %s", d->shape[0], d->dtype[0]);
		snprintf(b, sizeof b, "%s %s", d->shape[1], d->dtype[1]);
		draw_pair(w, y, cx, cw, a, b, COL_DEFAULT);
		break;
	case L_QP:
		draw_pair(w, y, cx, cw, d->qp[0], d->qp[1], COL_DEFAULT);
		break;
	case L_RANGE:
	case L_MEAN:
	case L_PCT:
	case L_ZERO:
		for (int k = 0; k < 2; k++) {
			char *o = k ? b : a;
			const struct qdb_stats *s = &d->st[k];
			if (!d->st_ok[k]) {
				snprintf(o, sizeof a, "-");
				continue;
			}
			if (id == L_RANGE)
				snprintf(o, sizeof a, "%s .. %s", num(n1, sizeof n1, s->min),
					 num(n2, sizeof n2, s->max));
			else if (id == L_MEAN)
				snprintf(o, sizeof a, "%s / %s", num(n1, sizeof n1, s->mean),
					 num(n2, sizeof n2, s->std));
			else if (id == L_PCT)
				snprintf(o, sizeof a, "%s / %s / %s", num(n1, sizeof n1, s->p01),
					 num(n2, sizeof n2, s->p50), num(n3, sizeof n3, s->p99));
			else if (s->nan || s->inf)
				snprintf(o, sizeof a, "%.1f%% / %.1f%%  NaN %lld Inf %lld",
					 100 * s->zero_frac, 100 * s->sat_frac, (long long)s->nan,
					 (long long)s->inf);
			else
				snprintf(o, sizeof a, "%.1f%% / %.1f%%", 100 * s->zero_frac,
					 100 * s->sat_frac);
		}
		draw_pair(w, y, cx, cw, a, b,
			  id == L_ZERO && (d->st[0].nan || d->st[0].inf || d->st[1].nan || d->st[1].inf)
			  ? COL_BAD : COL_DEFAULT);
		break;
	case L_HIST:
		tui_spark(w, y, cx[0], cw - 1, COL_HIST_A, d->hist[0], HBINS);
		tui_spark(w, y, cx[1], cw - 1, COL_HIST_B, d->hist[1], HBINS);
		break;
	case L_ERR:
	case L_ERR2:
		if (!c || c->state != QDB_CELL_OK) {
			tui_put(w, y, lw, width - lw, COL_DIM, c ? "no metrics" : "");
			break;
		}
		if (id == L_ERR) {
			int x = lw;
			static const enum qdb_metric_id ms[] = {QDB_M_COSINE, QDB_M_MAX_STEPS,
								QDB_M_SQNR_DB, QDB_M_MISMATCH};
			static const char *const names[] = {"cos", "steps", "sqnr", "mism"};
			for (int i = 0; i < 4 && x < width; i++) {
				double v = qdb_compare_metric_applies(c->flags, &c->m, ms[i]) ?
					qdb_metric_value(&c->m, ms[i]) : NAN;
				x += tui_putf(w, y, x, width - x, COL_DIM, "%s ", names[i]);
				tui_fmt_metric(n1, sizeof n1, ms[i], v, 8);
				x += tui_put(w, y, x, width - x,
					     tui_grade_color(qdb_session_grade(t->s, c, ms[i])), n1);
				x += tui_put(w, y, x, width - x, COL_DEFAULT, "  ");
			}
			if (c->m.top1 >= 0)
				tui_putf(w, y, x, width - x, c->m.top1 ? COL_GOOD : COL_BAD, "top1 %s",
					 c->m.top1 ? "same" : "DIFF");
		} else {
			tui_putf(w, y, lw, width - lw, COL_DEFAULT,
				 "max_abs %s  mean_abs %s  rel_l2 %s  mse %s",
				 num(n1, sizeof n1, c->m.max_abs), num(n2, sizeof n2, c->m.mean_abs),
				 num(n3, sizeof n3, c->m.rel_l2), num(a, 32, c->m.mse));
		}
		break;
	case L_EHIST:
		if (!d->e_ok) {
			tui_put(w, y, lw, width - lw, COL_DIM, "-");
			break;
		}
		if (!d->e_in_lsb && d->erange < 1e-20) {
			tui_putf(w, y, lw, width - lw, COL_GOOD, "no difference%s",
				 d->e_nonfinite ? "" : " at all");
			if (d->e_nonfinite)
				tui_putf(w, y, lw + 14, width - lw - 14, COL_BAD,
					 "in the finite values; %lld non-finite", (long long)d->e_nonfinite);
			break;
		}
		{
			char lo[32], hi[32];
			snprintf(lo, sizeof lo, "-%s", num(n1, sizeof n1, d->erange));
			snprintf(hi, sizeof hi, "+%s %s", num(n2, sizeof n2, d->erange),
				 d->e_in_lsb ? "LSB" : "(abs)");
			int x = lw;
			x += tui_put(w, y, x, width - x, COL_DIM, lo);
			x += 1;
			int sw = width - x - tui_text_width(hi) - 1;
			if (sw > HBINS)
				sw = HBINS;
			if (sw > 4) {
				tui_spark(w, y, x, sw, COL_HIST_E, d->ehist, HBINS);
				x += sw + 1;
			}
			x += tui_put(w, y, x, width - x, COL_DIM, hi);
			if (d->e_nonfinite)
				tui_putf(w, y, x + 1, width - x - 1, COL_BAD, "%lld non-finite",
					 (long long)d->e_nonfinite);
		}
		break;
	case L_DELTA: {
		const struct qdb_compare_cell *bc = qdb_session_before(t->s, t->row);
		if (!bc || !c || bc->state != QDB_CELL_OK || c->state != QDB_CELL_OK)
			break;
		snprintf(a, sizeof a, "before %s after: cos %s %s %s  steps %s %s %s",
			 tui_glyph(GL_ARROW),
			 tui_fmt_metric(n1, sizeof n1, QDB_M_COSINE, bc->m.cosine, 8),
			 tui_glyph(GL_ARROW),
			 tui_fmt_metric(n2, sizeof n2, QDB_M_COSINE, c->m.cosine, 8),
			 tui_fmt_metric(n3, sizeof n3, QDB_M_MAX_STEPS,
					bc->m.b_quantized ? bc->m.max_steps : NAN, 6),
			 tui_glyph(GL_ARROW),
			 tui_fmt_metric(b, 32, QDB_M_MAX_STEPS,
					c->m.b_quantized ? c->m.max_steps : NAN, 6));
		tui_put(w, y, lw, width - lw, c->m.cosine >= bc->m.cosine ? COL_GOOD : COL_BAD, a);
		break;
	}
	default:
		break;
	}
}

static void detail_draw(struct view *v)
{
	struct detail_view *dv = v->priv;
	struct tui *t = v->t;
	WINDOW *w = v->win;
	const struct qdb_session_row *r;

	if (!w)
		return;
	r = qdb_session_row(t->s, t->row);
	if (!r) {
		tui_put(w, 0, 0, v->w, COL_DIM, "no layer selected");
		return;
	}
	struct detail *d = lookup(t, dv);

	int lw = v->w >= 60 ? 10 : 9;
	int cw = (v->w - lw) / 2;
	int cx[2] = {lw, lw + cw};
	char title[256];
	/* Title: layer and op, then which column is A and which is B. */
	tui_fill(w, 0, 0, v->w, COL_TITLE);
	snprintf(title, sizeof title, "%s (%s)", r->name, r->op ? r->op : "");
	int end = tui_put(w, 0, 0, cx[1] - 1, COL_TITLE, title);
	snprintf(title, sizeof title, "B %s", qdb_session_stage(t->s, QDB_SIDE_B));
	tui_put(w, 0, cx[1], cw, COL_TITLE, title);
	snprintf(title, sizeof title, "A %s", qdb_session_stage(t->s, QDB_SIDE_A));
	int ax = end + 2 > cx[0] ? end + 2 : cx[0];
	if (ax + tui_text_width(title) < cx[1])
		tui_put(w, 0, ax, cx[1] - ax - 1, COL_TITLE, title);
	if (d->status) {
		tui_put(w, 1, 0, v->w, COL_ERROR, d->msg);
		return;
	}
	/* Pick lines by priority, draw them in their natural order. */
	int room = v->h - 1, want[L_COUNT] = {0};
	int have_delta = qdb_session_before(t->s, t->row) != NULL &&
		qdb_session_before_sample(t->s) == t->sample;
	for (int i = 0; i < L_COUNT && room > 0; i++) {
		if (prio[i] == L_DELTA && !have_delta)
			continue;
		want[prio[i]] = 1;
		room--;
	}
	int y = 1;
	for (int id = 0; id < L_COUNT; id++)
		if (want[id])
			draw_line(t, d, w, y++, (enum line_id)id, lw, cx, cw, v->w);
}

static int detail_request(struct view *v, enum tui_request req)
{
	(void)v;
	(void)req;
	return TUI_UNHANDLED;
}

static int detail_mouse(struct view *v, int y, int x, mmask_t b)
{
	(void)y, (void)x;
	if (b & BUTTON1_DOUBLE_CLICKED)
		return tui_request(v->t, REQ_CHANNELS);
	return 0;
}

const struct view_ops tui_detail_ops = {
	"detail", detail_open, detail_draw, detail_request, detail_mouse, detail_done,
};
