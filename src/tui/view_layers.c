/* view_layers.c - the layer list: one row per aligned layer, in execution
 * (or sorted) order, with the metrics of the current sample (or the worst
 * over all samples) coloured by threshold, the first divergent layer
 * marked, and a cosine bar. Columns that do not fit are dropped, lowest
 * priority first, so the list stays readable at any width. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "graph/graph.h"
#include "tui/tui.h"

enum col_id { C_MARK, C_IDX, C_NAME, C_OP, C_DEV, C_COS, C_STEPS, C_SQNR, C_MISM,
	      C_FLAGS, C_DELTA, C_BAR, C_LUA0 };

struct col {
	int id, width, prio, right;
	const char *title;
};

/* Lower prio is dropped first. NAME is flexible (its width is a minimum). */
static const struct col base_cols[] = {
	{C_MARK, 1, 100, 0, ""},
	{C_IDX, 4, 20, 1, "#"},
	{C_NAME, 12, 99, 0, "layer"},
	{C_OP, 12, 30, 0, "op"},
	{C_DEV, 3, 35, 0, "dev"},
	{C_COS, 8, 90, 1, "cosine"},
	{C_STEPS, 6, 80, 1, "steps"},
	{C_SQNR, 6, 60, 1, "sqnr"},
	{C_MISM, 7, 50, 1, "mism"},
	{C_FLAGS, 5, 55, 0, "flag"},
	{C_DELTA, 9, 70, 1, "dcos"},
	{C_BAR, 8, 40, 0, "cos"},
};

struct layers {
	int top;
	int last_rows;   /* list height at the last draw */
};

static int layers_open(struct view *v)
{
	v->priv = qdb_calloc(1, sizeof(struct layers));
	return v->priv ? 0 : -1;
}

static void layers_done(struct view *v)
{
	qdb_free(v->priv);
	v->priv = NULL;
}

/* Rows visible in the list (the first line holds the column titles). */
static int list_rows(const struct view *v)
{
	return v->h > 1 ? v->h - 1 : 0;
}

static void scroll_to(struct view *v)
{
	struct layers *l = v->priv;
	struct tui *t = v->t;
	int n = qdb_session_n_rows(t->s), rows = list_rows(v);
	int pos = t->row >= 0 ? t->pos_of[t->row] : 0;

	if (rows <= 0)
		return;
	/* When the pane changes height (resize, console focus) the selection
	 * is centred: the view then depends on where the user is, not on the
	 * sizes the terminal went through. Otherwise scroll as little as
	 * possible. */
	if (rows != l->last_rows) {
		l->top = pos - rows / 2;
		l->last_rows = rows;
	}
	if (pos < l->top)
		l->top = pos;
	else if (pos >= l->top + rows)
		l->top = pos - rows + 1;
	if (l->top > n - rows)
		l->top = n - rows;
	if (l->top < 0)
		l->top = 0;
}

/* A cell-like record of the worst values over all samples, so aggregates
 * are graded and formatted like single cells. */
static int agg_cell(struct tui *t, int row, struct qdb_compare_cell *c)
{
	const struct qdb_compare_row *a = qdb_session_agg(t->s, row);
	memset(c, 0, sizeof *c);
	if (!a)
		return 0;
	c->state = a->n_ok ? QDB_CELL_OK : a->n_numel ? QDB_CELL_NUMEL : QDB_CELL_MISSING;
	c->flags = (unsigned short)a->flags;
	c->diverged = a->n_diverged > 0;
	c->m.top1 = -1;
	c->m.b_quantized = !(a->flags & QDB_CF_BFLOAT);
	c->m.cosine = a->agg[QDB_M_COSINE].worst;
	c->m.max_abs = a->agg[QDB_M_MAX_ABS].worst;
	c->m.mean_abs = a->agg[QDB_M_MEAN_ABS].worst;
	c->m.mse = a->agg[QDB_M_MSE].worst;
	c->m.sqnr_db = a->agg[QDB_M_SQNR_DB].worst;
	c->m.rel_l2 = a->agg[QDB_M_REL_L2].worst;
	c->m.max_steps = a->agg[QDB_M_MAX_STEPS].worst;
	c->m.mismatch = a->agg[QDB_M_MISMATCH].worst;
	return 1;
}

/* The cell shown for a row: the current sample's (computed on demand) or
 * the aggregate. */
static const struct qdb_compare_cell *row_cell(struct tui *t, int row, struct qdb_compare_cell *tmp)
{
	if (t->aggregate)
		return agg_cell(t, row, tmp) ? tmp : NULL;
	return tui_cell(t, t->sample, row);
}

struct plan {
	struct col c[16];
	int n, name_w;
};

static void make_plan(struct tui *t, int width, struct plan *p)
{
	int have_delta = !t->aggregate && qdb_session_before_sample(t->s) == t->sample;
	p->n = 0;
	for (size_t i = 0; i < sizeof base_cols / sizeof *base_cols; i++) {
		if (base_cols[i].id == C_DELTA && !have_delta)
			continue;
		if (base_cols[i].id == C_DEV && !qdb_session_editable(t->s))
			continue;
		p->c[p->n] = base_cols[i];
		if (base_cols[i].id == C_BAR && t->aggregate) {
			p->c[p->n].title = "div";
			p->c[p->n].right = 1;
			p->c[p->n].width = 7;
		}
		p->n++;
	}
	for (int k = 0; k < t->n_columns && p->n < 16; k++)
		p->c[p->n++] = (struct col){C_LUA0 + k, 10, 45, 1, t->columns[k].title};
	/* Drop the lowest-priority columns until the fixed ones fit. */
	for (;;) {
		int total = 0, worst = -1;
		for (int i = 0; i < p->n; i++)
			total += p->c[i].width + (i ? 1 : 0);
		if (total <= width)
			break;
		for (int i = 0; i < p->n; i++)
			if (p->c[i].id != C_NAME && p->c[i].id != C_MARK &&
			    (worst < 0 || p->c[i].prio < p->c[worst].prio))
				worst = i;
		if (worst < 0)
			break;
		memmove(&p->c[worst], &p->c[worst + 1], (size_t)(p->n - worst - 1) * sizeof p->c[0]);
		p->n--;
	}
	int fixed = 0;
	for (int i = 0; i < p->n; i++)
		if (p->c[i].id != C_NAME)
			fixed += p->c[i].width + (i ? 1 : 0);
	p->name_w = width - fixed - 1;
	if (p->name_w < 1)
		p->name_w = 1;
	/* Do not let the name column grow absurdly wide on big terminals. */
	if (p->name_w > 48) {
		p->name_w = 48;
	}
	for (int i = 0; i < p->n; i++)
		if (p->c[i].id == C_NAME)
			p->c[i].width = p->name_w;
}

/* Bar length for a cosine: the number of nines (1 - cos = 10^-k), 0..6. */
static double cos_fill(double c)
{
	if (isnan(c))
		return 0;
	if (c >= 1)
		return 1;
	double k = -log10(1 - c);
	if (k < 0)
		k = 0;
	return k / 6;
}

static void draw_cell(struct tui *t, WINDOW *w, int y, int x, const struct col *col, int row,
		      const struct qdb_compare_cell *c, int cursor)
{
	char buf[64];
	const struct qdb_session_row *r = qdb_session_row(t->s, row);
	enum tui_color base = cursor ? COL_CURSOR : COL_DEFAULT;
	enum tui_color color = base;
	int mid = -1;

	switch (col->id) {
	case C_MARK:
		if (!t->aggregate && t->first_div[t->sample] == row)
			tui_put(w, y, x, 1, cursor ? COL_CURSOR : COL_MARK, tui_glyph(GL_MARK));
		return;
	case C_IDX:
		snprintf(buf, sizeof buf, "%d", row);
		tui_put_right(w, y, x, col->width, cursor ? base : COL_DIM, buf);
		return;
	case C_NAME:
		if (strcmp(r->name, r->name_b))
			snprintf(buf, sizeof buf, "%s=%s", r->name, r->name_b);
		else
			snprintf(buf, sizeof buf, "%s", r->name);
		if (!cursor && c && !t->aggregate && qdb_session_divergent(t->s, c, NULL))
			color = COL_BAD;
		tui_put(w, y, x, col->width, color, buf);
		return;
	case C_OP:
		tui_put(w, y, x, col->width, cursor ? base : COL_LABEL, r->op ? r->op : "");
		return;
	case C_DEV: {
		int d = qdb_session_device(t->s, row);
		tui_put(w, y, x, col->width, d == QDB_DEV_CPU && !cursor ? COL_CPU : base,
			d < 0 ? "-" : d == QDB_DEV_CPU ? "cpu" : "bpu");
		return;
	}
	case C_COS: mid = QDB_M_COSINE; break;
	case C_STEPS: mid = QDB_M_MAX_STEPS; break;
	case C_SQNR: mid = QDB_M_SQNR_DB; break;
	case C_MISM: mid = QDB_M_MISMATCH; break;
	case C_FLAGS: {
		/* The one flag that matters most (compare.h's words). */
		static const struct {
			unsigned bit;
			const char *word;
			enum tui_color c;
		} fl[] = {
			{QDB_CF_NAN, "nan", COL_BAD}, {QDB_CF_INF, "inf", COL_BAD},
			{QDB_CF_NUMEL, "numel", COL_BAD}, {QDB_CF_SHAPE, "shape", COL_WARN},
			{QDB_CF_SAT, "sat", COL_DIM}, {QDB_CF_MISSING, "miss", COL_DIM},
			{QDB_CF_ERROR, "err", COL_ERROR},
		};
		if (!c)
			return;
		for (size_t i = 0; i < sizeof fl / sizeof *fl; i++)
			if (c->flags & fl[i].bit) {
				tui_put(w, y, x, col->width, cursor ? base : fl[i].c, fl[i].word);
				return;
			}
		return;
	}
	case C_DELTA: {
		const struct qdb_compare_cell *b = qdb_session_before(t->s, row);
		if (!b || !c || b->state != QDB_CELL_OK || c->state != QDB_CELL_OK)
			return;
		double d = c->m.cosine - b->m.cosine;
		if (d == 0 || isnan(d))
			return;
		snprintf(buf, sizeof buf, "%+.4f", d);
		tui_put_right(w, y, x, col->width, cursor ? base : d > 0 ? COL_GOOD : COL_BAD, buf);
		return;
	}
	case C_BAR:
		if (t->aggregate) {
			const struct qdb_compare_row *a = qdb_session_agg(t->s, row);
			if (a) {
				snprintf(buf, sizeof buf, "%d", a->n_diverged);
				tui_put_right(w, y, x, col->width,
					      cursor ? base : a->n_diverged ? COL_BAD : COL_DIM, buf);
			}
			return;
		}
		if (c && c->state == QDB_CELL_OK) {
			int g = qdb_session_grade(t->s, c, QDB_M_COSINE);
			tui_bar(w, y, x, col->width, cursor ? base : tui_grade_color(g),
				cos_fill(c->m.cosine));
		}
		return;
	default:
		if (col->id >= C_LUA0) {
			const char *s = tui_lua_column(t, col->id - C_LUA0, row);
			tui_put_right(w, y, x, col->width, base, s ? s : "");
		}
		return;
	}
	if (!c)
		return;
	if (c->state == QDB_CELL_MISSING) {
		tui_put_right(w, y, x, col->width, cursor ? base : COL_DIM, "miss");
		return;
	}
	if (c->state == QDB_CELL_NUMEL) {
		tui_put_right(w, y, x, col->width, cursor ? base : COL_BAD, "numel");
		return;
	}
	if (c->state != QDB_CELL_OK) {
		tui_put_right(w, y, x, col->width, cursor ? base : COL_ERROR, "err");
		return;
	}
	double val = qdb_compare_metric_applies(c->flags, &c->m, mid) ?
		qdb_metric_value(&c->m, mid) : NAN;
	tui_fmt_metric(buf, sizeof buf, mid, val, col->width);
	if (!cursor)
		color = tui_grade_color(qdb_session_grade(t->s, c, mid));
	tui_put_right(w, y, x, col->width, color, buf);
}

static void layers_draw(struct view *v)
{
	struct layers *l = v->priv;
	struct tui *t = v->t;
	WINDOW *w = v->win;
	struct plan p;
	int n = qdb_session_n_rows(t->s), rows = list_rows(v);

	if (!w)
		return;
	scroll_to(v);
	make_plan(t, v->w, &p);
	/* Column titles. */
	int x = 0;
	tui_fill(w, 0, 0, v->w, COL_TITLE);
	for (int i = 0; i < p.n; i++) {
		const char *title = p.c[i].title;
		char buf[32];
		if (p.c[i].id == C_COS && t->aggregate)
			title = "cos(min)";
		if (p.c[i].id == C_NAME && t->sort != SORT_ORDER) {
			static const char *const by[SORT_COUNT] = {"", "cosine", "max_steps", "sqnr", "mismatch"};
			snprintf(buf, sizeof buf, "layer (by %s)", by[t->sort]);
			title = buf;
		}
		if (p.c[i].right)
			tui_put_right(w, 0, x, p.c[i].width, COL_TITLE, title);
		else
			tui_put(w, 0, x, p.c[i].width, COL_TITLE, title);
		x += p.c[i].width + 1;
		if (i == 0)
			x--; /* the mark column has no gap after it */
	}
	if (n == 0) {
		tui_put(w, 1, 1, v->w - 1, COL_DIM, "no aligned layers (see the console)");
		return;
	}
	for (int i = 0; i < rows && l->top + i < n; i++) {
		int row = t->order[l->top + i];
		int cursor = row == t->row;
		struct qdb_compare_cell tmp;
		const struct qdb_compare_cell *c = row_cell(t, row, &tmp);
		if (cursor)
			tui_fill(w, i + 1, 0, v->w, COL_CURSOR);
		x = 0;
		for (int k = 0; k < p.n; k++) {
			draw_cell(t, w, i + 1, x, &p.c[k], row, c, cursor);
			x += p.c[k].width + 1;
			if (k == 0)
				x--;
		}
	}
}

static void move_to_pos(struct tui *t, int pos)
{
	int n = qdb_session_n_rows(t->s);
	if (n == 0)
		return;
	if (pos < 0)
		pos = 0;
	if (pos >= n)
		pos = n - 1;
	tui_select_row(t, t->order[pos]);
}

static int layers_request(struct view *v, enum tui_request req)
{
	struct tui *t = v->t;
	struct layers *l = v->priv;
	int n = qdb_session_n_rows(t->s), pos = t->row >= 0 ? t->pos_of[t->row] : 0;
	int page = list_rows(v) > 1 ? list_rows(v) - 1 : 1;

	switch (req) {
	case REQ_MOVE_DOWN:
		move_to_pos(t, pos + 1);
		break;
	case REQ_MOVE_UP:
		move_to_pos(t, pos - 1);
		break;
	case REQ_PAGE_DOWN:
		l->top += page;
		if (l->top > n - list_rows(v))
			l->top = n - list_rows(v) > 0 ? n - list_rows(v) : 0;
		move_to_pos(t, pos + page);
		break;
	case REQ_PAGE_UP:
		l->top -= page;
		if (l->top < 0)
			l->top = 0;
		move_to_pos(t, pos - page);
		break;
	case REQ_MOVE_FIRST:
		move_to_pos(t, 0);
		break;
	case REQ_MOVE_LAST:
		move_to_pos(t, n - 1);
		break;
	default:
		return TUI_UNHANDLED;
	}
	return TUI_HANDLED | TUI_REDRAW;
}

static int layers_mouse(struct view *v, int y, int x, mmask_t b)
{
	struct tui *t = v->t;
	struct layers *l = v->priv;
	(void)x;
	if (b & BUTTON4_PRESSED) {
		for (int i = 0; i < 3; i++)
			layers_request(v, REQ_MOVE_UP);
		return TUI_REDRAW;
	}
	if (b & (BUTTON5_PRESSED | REPORT_MOUSE_POSITION)) {
		if (b & BUTTON5_PRESSED)
			for (int i = 0; i < 3; i++)
				layers_request(v, REQ_MOVE_DOWN);
		return TUI_REDRAW;
	}
	if (y >= 1 && (b & (BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON1_DOUBLE_CLICKED))) {
		int pos = l->top + y - 1;
		if (pos < qdb_session_n_rows(t->s)) {
			tui_select_row(t, t->order[pos]);
			if (b & BUTTON1_DOUBLE_CLICKED)
				return tui_request(t, REQ_CHANNELS);
		}
		return TUI_REDRAW;
	}
	return 0;
}

const struct view_ops tui_layers_ops = {
	"layers", layers_open, layers_draw, layers_request, layers_mouse, layers_done,
};
