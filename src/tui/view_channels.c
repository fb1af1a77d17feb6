/* view_channels.c - per-channel comparison of the selected layer, worst
 * channel first (inspect.h). Opened with Enter over the list and detail
 * panes; follows the selection (n/p, ]/[ keep working underneath). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analysis/inspect.h"
#include "base/alloc.h"
#include "base/str.h"
#include "tui/tui.h"

struct channels {
	int sample, row, valid;
	unsigned gen;
	int axis, status;
	char msg[QDB_ERR_MSG_MAX];
	struct qdb_channel_cmp *ch;
	int64_t n;
	int64_t top;
};

static int channels_open(struct view *v)
{
	struct channels *c = qdb_calloc(1, sizeof *c);
	if (!c)
		return -1;
	c->sample = c->row = -1;
	v->priv = c;
	return 0;
}

static void channels_done(struct view *v)
{
	struct channels *c = v->priv;
	if (c)
		qdb_free(c->ch);
	qdb_free(c);
	v->priv = NULL;
}

static void compute(struct tui *t, struct channels *c)
{
	struct qdb_tensor a, b;
	struct qdb_err err;

	qdb_free(c->ch);
	c->ch = NULL;
	c->n = 0;
	c->top = 0;
	c->sample = t->sample;
	c->row = t->row;
	c->gen = t->gen;
	c->valid = 1;
	qdb_err_clear(&err);
	qdb_tensor_init(&a);
	qdb_tensor_init(&b);
	c->status = qdb_session_tensors(t->s, t->sample, t->row, &a, &b, &err);
	if (!c->status) {
		c->axis = qdb_inspect_channel_axis(&a, &b);
		c->status = qdb_inspect_channels(&a, &b, c->axis, 1e-5, &c->ch, &c->n, &err);
	}
	if (c->status)
		snprintf(c->msg, sizeof c->msg, "%s", err.msg);
	qdb_tensor_done(&a);
	qdb_tensor_done(&b);
}

static void channels_draw(struct view *v)
{
	struct channels *c = v->priv;
	struct tui *t = v->t;
	WINDOW *w = v->win;
	const struct qdb_session_row *r = qdb_session_row(t->s, t->row);
	char buf[256], n1[32];

	if (!w || !r)
		return;
	if (!c->valid || c->sample != t->sample || c->row != t->row || c->gen != t->gen)
		compute(t, c);
	tui_fill(w, 0, 0, v->w, COL_TITLE);
	snprintf(buf, sizeof buf, "channels of %s (axis %d), worst first, sample %s",
		 r->name, c->axis, qdb_session_sample_name(t->s, t->sample));
	tui_put(w, 0, 0, v->w, COL_TITLE, buf);
	if (c->status) {
		tui_put(w, 1, 0, v->w, COL_ERROR, c->msg);
		return;
	}
	static const struct {
		const char *title;
		int width;
	} cols[] = {{"ch", 6}, {"cosine", 9}, {"max_abs", 10}, {"steps", 7}, {"mism", 7},
		    {"mean A", 10}, {"mean B", 10}, {"", 10}};
	int x = 0;
	for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) {
		tui_put_right(w, 1, x, cols[i].width, COL_LABEL, cols[i].title);
		x += cols[i].width + 1;
	}
	int rows = v->h - 2;
	if (c->top > c->n - rows)
		c->top = c->n - rows;
	if (c->top < 0)
		c->top = 0;
	for (int i = 0; i < rows && c->top + i < c->n; i++) {
		const struct qdb_channel_cmp *e = &c->ch[c->top + i];
		int y = i + 2;
		struct qdb_compare_cell cell;
		memset(&cell, 0, sizeof cell);
		cell.state = QDB_CELL_OK;
		cell.m.cosine = e->cosine;
		cell.m.max_steps = e->max_steps;
		cell.m.mismatch = e->mismatch;
		cell.m.b_quantized = !isnan(e->max_steps);
		cell.m.top1 = -1;
		cell.flags = cell.m.b_quantized ? 0 : QDB_CF_BFLOAT;
		x = 0;
		snprintf(buf, sizeof buf, "%lld", (long long)e->channel);
		tui_put_right(w, y, x, 6, COL_DEFAULT, buf);
		x += 7;
		tui_fmt_metric(buf, sizeof buf, QDB_M_COSINE, e->cosine, 9);
		tui_put_right(w, y, x, 9, tui_grade_color(qdb_session_grade(t->s, &cell, QDB_M_COSINE)), buf);
		x += 10;
		tui_put_right(w, y, x, 10, COL_DEFAULT, qdb_fmt_double(n1, sizeof n1, e->max_abs, 4));
		x += 11;
		tui_fmt_metric(buf, sizeof buf, QDB_M_MAX_STEPS, e->max_steps, 7);
		tui_put_right(w, y, x, 7, tui_grade_color(qdb_session_grade(t->s, &cell, QDB_M_MAX_STEPS)), buf);
		x += 8;
		tui_fmt_metric(buf, sizeof buf, QDB_M_MISMATCH, e->mismatch, 7);
		tui_put_right(w, y, x, 7, tui_grade_color(qdb_session_grade(t->s, &cell, QDB_M_MISMATCH)), buf);
		x += 8;
		tui_put_right(w, y, x, 10, COL_DEFAULT, qdb_fmt_double(n1, sizeof n1, e->mean_a, 4));
		x += 11;
		tui_put_right(w, y, x, 10, COL_DEFAULT, qdb_fmt_double(n1, sizeof n1, e->mean_b, 4));
		x += 11;
		if (e->nonfinite)
			tui_putf(w, y, x, v->w - x, COL_BAD, "%lld non-finite", (long long)e->nonfinite);
	}
	if (c->n == 0)
		tui_put(w, 2, 0, v->w, COL_DIM, "no channels");
}

static int channels_request(struct view *v, enum tui_request req)
{
	struct channels *c = v->priv;
	int rows = v->h - 2 > 1 ? v->h - 2 : 1;

	switch (req) {
	case REQ_MOVE_DOWN:
		c->top++;
		break;
	case REQ_MOVE_UP:
		c->top--;
		break;
	case REQ_PAGE_DOWN:
		c->top += rows;
		break;
	case REQ_PAGE_UP:
		c->top -= rows;
		break;
	case REQ_MOVE_FIRST:
		c->top = 0;
		break;
	case REQ_MOVE_LAST:
		c->top = c->n;
		break;
	case REQ_CHANNELS:
	case REQ_CLOSE:
	case REQ_QUIT:
		v->t->overlay = NULL;
		return TUI_HANDLED | TUI_REDRAW | TUI_LAYOUT;
	default:
		return TUI_UNHANDLED;
	}
	if (c->top < 0)
		c->top = 0;
	return TUI_HANDLED | TUI_REDRAW;
}

static int channels_mouse(struct view *v, int y, int x, mmask_t b)
{
	(void)y, (void)x;
	if (b & BUTTON4_PRESSED)
		return channels_request(v, REQ_MOVE_UP);
	if (b & BUTTON5_PRESSED)
		return channels_request(v, REQ_MOVE_DOWN);
	return 0;
}

const struct view_ops tui_channels_ops = {
	"channels", channels_open, channels_draw, channels_request, channels_mouse, channels_done,
};
