/* tui.c - `qdb A B` / `qdb tui`: the full-screen debugger's life cycle, the
 * layout, the header and status line, and the requests that are not a
 * view's own (samples, divergence, edits, prompts). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/str.h"
#include "cli/cli.h"
#include "graph/graph.h"
#include "lua/repl.h"
#include "tui/tui.h"

static struct tui *g_tui; /* for readline's prompt callback */
static WINDOW *w_header, *w_status;
static int header_h;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* ---- messages -------------------------------------------------------- */

void tui_message(struct tui *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->status, sizeof t->status, fmt, ap);
	va_end(ap);
	t->status_error = 0;
}

void tui_error(struct tui *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->status, sizeof t->status, fmt, ap);
	va_end(ap);
	t->status_error = 1;
}

/* ---- cells, selection ---------------------------------------------------- */

const struct qdb_compare_cell *tui_cell(struct tui *t, int sample, int row)
{
	const struct qdb_compare_cell *c = qdb_session_cached(t->s, sample, row);
	struct qdb_err err;

	if (c)
		return c;
	qdb_err_clear(&err);
	if (qdb_session_cell(t->s, sample, row, &c, &err)) {
		tui_error(t, "%s", err.msg);
		return NULL;
	}
	return c;
}

static void reset_fill(struct tui *t)
{
	t->fill_next = 0;
	if (t->first_div[t->sample] != -1)
		t->first_div[t->sample] = -2;
}

/* Background work: compute the current sample's cells in order, a few
 * milliseconds at a time between keys, to find its first divergent layer. */
static int fill_pending(const struct tui *t)
{
	return t->fill_next < qdb_session_n_rows(t->s);
}

static void fill_step(struct tui *t, double budget_ms)
{
	double t0 = now_ms();
	int n = qdb_session_n_rows(t->s);
	while (t->fill_next < n) {
		const struct qdb_compare_cell *c = tui_cell(t, t->sample, t->fill_next);
		if (!c) {
			t->fill_next = n; /* the sample cannot be produced: stop */
			break;
		}
		if (t->first_div[t->sample] == -2 && qdb_session_divergent(t->s, c, NULL))
			t->first_div[t->sample] = t->fill_next;
		t->fill_next++;
		if (now_ms() - t0 > budget_ms)
			break;
	}
	if (t->fill_next >= n && t->first_div[t->sample] == -2)
		t->first_div[t->sample] = -1;
}

/* Computes every cell of the current sample, with progress (for sorting). */
static int fill_all(struct tui *t)
{
	int n = qdb_session_n_rows(t->s);
	double t0 = now_ms();
	while (fill_pending(t)) {
		fill_step(t, 20);
		if (now_ms() - t0 > 100 && tui_progress(t, t->fill_next, n))
			return -1;
	}
	return 0;
}

static double sort_key(struct tui *t, int row)
{
	enum qdb_metric_id id;
	switch (t->sort) {
	case SORT_COSINE: id = QDB_M_COSINE; break;
	case SORT_MAX_STEPS: id = QDB_M_MAX_STEPS; break;
	case SORT_SQNR: id = QDB_M_SQNR_DB; break;
	case SORT_MISMATCH: id = QDB_M_MISMATCH; break;
	default: return row;
	}
	double v;
	if (t->aggregate) {
		const struct qdb_compare_row *a = qdb_session_agg(t->s, row);
		v = a ? a->agg[id].worst : NAN;
	} else {
		const struct qdb_compare_cell *c = qdb_session_cached(t->s, t->sample, row);
		if (!c || c->state != QDB_CELL_OK || !qdb_compare_metric_applies(c->flags, &c->m, id))
			v = NAN;
		else
			v = qdb_metric_value(&c->m, id);
	}
	/* Worst first: ascending for higher-is-better metrics; NaN first
	 * (it is the worst there is), n/a last. */
	if (isnan(v))
		return -INFINITY;
	return qdb_metric_higher_is_better(id) ? v : -v;
}

static struct tui *sort_tui;
static int cmp_rows(const void *x, const void *y)
{
	int a = *(const int *)x, b = *(const int *)y;
	double ka = sort_key(sort_tui, a), kb = sort_key(sort_tui, b);
	if (ka != kb)
		return ka < kb ? -1 : 1;
	return a - b;
}

static void apply_sort(struct tui *t)
{
	int n = qdb_session_n_rows(t->s);
	for (int i = 0; i < n; i++)
		t->order[i] = i;
	if (t->sort != SORT_ORDER && (t->aggregate || fill_all(t) == 0)) {
		sort_tui = t;
		qsort(t->order, (size_t)n, sizeof *t->order, cmp_rows);
	} else if (t->sort != SORT_ORDER) {
		t->sort = SORT_ORDER;
		tui_message(t, "sorting cancelled");
	}
	for (int i = 0; i < n; i++)
		t->pos_of[t->order[i]] = i;
}

void tui_select_row(struct tui *t, int row)
{
	if (row >= 0 && row < qdb_session_n_rows(t->s))
		t->row = row;
}

void tui_select_sample(struct tui *t, int sample)
{
	if (sample < 0 || sample >= qdb_session_n_samples(t->s) || sample == t->sample)
		return;
	t->sample = sample;
	reset_fill(t);
	if (t->sort != SORT_ORDER && !t->aggregate)
		apply_sort(t);
}

void tui_cells_changed(struct tui *t)
{
	t->gen++;
	for (int i = 0; i < qdb_session_n_samples(t->s); i++)
		t->first_div[i] = -2;
	t->fill_next = 0;
	t->aggregate = t->aggregate && qdb_session_agg(t->s, 0) != NULL;
	if (t->sort != SORT_ORDER)
		apply_sort(t);
}

/* ---- layout ---------------------------------------------------------------- */

static void place(struct view *v, int y, int x, int h, int w)
{
	if (v->win)
		delwin(v->win);
	v->win = NULL;
	v->y = y, v->x = x, v->h = h > 0 ? h : 0, v->w = w > 0 ? w : 0;
	if (h > 0 && w > 0)
		v->win = newwin(h, w, y, x);
}

static WINDOW *place_win(WINDOW *old, int y, int x, int h, int w)
{
	if (old)
		delwin(old);
	return h > 0 && w > 0 ? newwin(h, w, y, x) : NULL;
}

static void layout(struct tui *t)
{
	int H, W;
	getmaxyx(stdscr, H, W);
	t->lines = H;
	t->cols = W;
	header_h = H >= 16 ? 2 : H >= 3 ? 1 : 0;
	int status_h = H >= 2 ? 1 : 0;
	int console_h;
	if (t->focus == FOCUS_CONSOLE) {
		console_h = H / 3;
		if (console_h < 3)
			console_h = 3;
		if (console_h > 14)
			console_h = 14;
	} else {
		console_h = H >= 28 ? 6 : H >= 20 ? 4 : H >= 14 ? 2 : 0;
	}
	int rest = H - header_h - status_h - console_h;
	if (rest < 2 && console_h > 1) {
		/* Tiny terminals: the console keeps one line when focused. */
		console_h = t->focus == FOCUS_CONSOLE ? (H - header_h - status_h > 1 ? 1 : 0) : 0;
		rest = H - header_h - status_h - console_h;
	}
	if (rest < 0)
		rest = 0;
	int side = W >= 150 && rest >= 8;
	int detail_h, list_w, detail_w;
	if (side) {
		list_w = W * 55 / 100;
		detail_w = W - list_w - 1;
		detail_h = rest;
	} else {
		list_w = detail_w = W;
		detail_h = rest >= 21 ? 11 : rest >= 15 ? 8 : rest >= 12 ? 5 : 0;
	}
	int list_h = side ? rest : rest - detail_h;

	w_header = place_win(w_header, 0, 0, header_h, W);
	place(&t->layers, header_h, 0, list_h, list_w);
	if (side)
		place(&t->detail, header_h, list_w + 1, detail_h, detail_w);
	else
		place(&t->detail, header_h + list_h, 0, detail_h, W);
	place(&t->help, header_h, 0, rest, W);
	place(&t->channels, header_h, 0, rest, W);
	place(&t->console, header_h + rest, 0, console_h, W);
	w_status = place_win(w_status, H - status_h, 0, status_h, W);
	/* stdscr is never drawn into; clear it once so no stale text shows
	 * through gaps, and so wgetch(stdscr) finds nothing to refresh. */
	werase(stdscr);
	wnoutrefresh(stdscr);
}

/* ---- header and status ----------------------------------------------------- */

static const char *exec_mode(struct tui *t, int side)
{
	if (qdb_session_kind(t->s, side) == QDB_SOURCE_TRACE)
		return "trace";
	const char *st = qdb_session_stage(t->s, side);
	if (!strcmp(st, "quantized"))
		return "integer run";
	if (!strcmp(st, "qat"))
		return "fake-quant run";
	return "float run";
}

static void draw_header(struct tui *t)
{
	WINDOW *w = w_header;
	char buf[512], thr[64];
	int W = t->cols;

	if (!w)
		return;
	werase(w);
	tui_fill(w, 0, 0, W, COL_HEADER);
	const struct qdb_threshold *th = qdb_session_threshold(t->s, 0);
	snprintf(thr, sizeof thr, "%s%c%g", qdb_metric_name(th->metric), th->less ? '<' : '>',
		 th->value);
	int n_s = qdb_session_n_samples(t->s), edits = qdb_session_n_edits(t->s);
	char edit_s[64] = "";
	if (edits)
		snprintf(edit_s, sizeof edit_s, "  edits %d%s", edits,
			 qdb_session_unsaved(t->s) ? " (unsaved)" : "");
	char sample_s[160];
	if (t->aggregate) {
		const struct qdb_compare_row *o = qdb_session_agg(t->s, qdb_session_output_row(t->s));
		if (o && o->agg[QDB_M_TOP1].n > 0)
			snprintf(sample_s, sizeof sample_s, "worst of %d samples (top1 agrees on %.1f%%)",
				 n_s, 100 * o->agg[QDB_M_TOP1].mean);
		else
			snprintf(sample_s, sizeof sample_s, "worst of %d samples", n_s);
	} else {
		snprintf(sample_s, sizeof sample_s, "sample %s (%d/%d)",
			 qdb_session_sample_name(t->s, t->sample), t->sample + 1, n_s);
	}
	const char *mode = qdb_session_mode(t->s) == QDB_MODE_ISOLATED ? "isolated" : "cumulative";
	if (header_h >= 2) {
		int x = 0;
		for (int k = 0; k < 2; k++) {
			snprintf(buf, sizeof buf, "%s %s [%s, %s]", k ? "B" : "A",
				 base_name(qdb_session_path(t->s, k)), qdb_session_stage(t->s, k),
				 exec_mode(t, k));
			x += tui_put(w, 0, x, W - x, COL_HEADER, buf);
			x += tui_put(w, 0, x, W - x, COL_HEADER, k ? "" : "  vs  ");
		}
		tui_fill(w, 1, 0, W, COL_HEADER);
		snprintf(buf, sizeof buf, "%s  %s  %s%s", sample_s, mode, thr, edit_s);
		tui_put(w, 1, 0, W, COL_HEADER, buf);
	} else if (header_h == 1) {
		snprintf(buf, sizeof buf, "%s|%s %s %s%s", base_name(qdb_session_path(t->s, 0)),
			 base_name(qdb_session_path(t->s, 1)), sample_s, mode, edit_s);
		tui_put(w, 0, 0, W, COL_HEADER, buf);
	}
	wnoutrefresh(w);
}

static void draw_status(struct tui *t)
{
	WINDOW *w = w_status;
	int W = t->cols;
	if (!w)
		return;
	werase(w);
	if (t->focus == FOCUS_PROMPT && !t->prompt_yesno) {
		const char *p = tui_rl_prompt(), *b = tui_rl_buffer();
		int x = tui_put(w, 0, 0, W, COL_TITLE, p);
		int avail = W - x - 1;
		int cols;
		/* Keep the cursor visible: show the tail when the answer is long. */
		char head[1024];
		size_t hp = (size_t)tui_rl_point() < sizeof head - 1 ? (size_t)tui_rl_point() : sizeof head - 1;
		memcpy(head, b, hp);
		head[hp] = 0;
		int cur = tui_text_width(head);
		const char *start = b;
		while (cur > avail && *start) {
			size_t n = tui_fit(start, 1, &cols);
			start += n ? n : 1;
			cur -= cols ? cols : 1;
		}
		tui_put(w, 0, x, avail, COL_DEFAULT, start);
		t->cursor_win = w;
		t->cursor_y = 0;
		t->cursor_x = x + cur;
	} else if (t->focus == FOCUS_PROMPT) {
		tui_put(w, 0, 0, W, COL_TITLE, t->prompt ? t->prompt : "");
	} else if (t->status[0]) {
		tui_put(w, 0, 0, W, t->status_error ? COL_ERROR : COL_STATUS, t->status);
	} else {
		const struct qdb_session_row *r = qdb_session_row(t->s, t->row);
		char buf[256];
		snprintf(buf, sizeof buf, "%s  [%d/%d]", r ? r->name : "", t->row + 1,
			 qdb_session_n_rows(t->s));
		int x = tui_put(w, 0, 0, W, COL_STATUS, buf);
		const char *hint = "? help  ] next divergent  c cpu  : lua  q quit";
		int hw = tui_text_width(hint);
		if (W - x - 2 > hw)
			tui_put(w, 0, W - hw, hw, COL_DIM, hint);
	}
	wnoutrefresh(w);
}

static void draw_view(struct view *v)
{
	if (!v->win)
		return;
	werase(v->win);
	v->ops->draw(v);
	wnoutrefresh(v->win);
}

void tui_redraw(struct tui *t)
{
	/* A Lua column that calls tui.refresh() must not draw recursively. */
	static int drawing;
	if (drawing)
		return;
	drawing = 1;
	t->cursor_win = NULL;
	draw_header(t);
	if (t->overlay) {
		draw_view(t->overlay);
	} else {
		draw_view(&t->layers);
		draw_view(&t->detail);
		/* The gap column of the side-by-side layout. */
		if (t->detail.win && t->detail.x > t->layers.w)
			for (int y = t->detail.y; y < t->detail.y + t->detail.h; y++)
				mvwaddstr(stdscr, y, t->layers.w, " ");
	}
	draw_view(&t->console);
	draw_status(t);
	if (t->cursor_win) {
		wmove(t->cursor_win, t->cursor_y, t->cursor_x);
		wnoutrefresh(t->cursor_win);
		curs_set(1);
	} else {
		curs_set(0);
	}
	doupdate();
	drawing = 0;
}

/* ---- progress for long work -------------------------------------------- */

static const char *busy_label = "working";

/* Esc (or C-g) typed during long work cancels it; other keys typed
 * meanwhile are dropped; a resize is followed at once. */
static int poll_cancel(struct tui *t)
{
	int c, cancel = 0;
	nodelay(stdscr, TRUE);
	while ((c = getch()) != ERR) {
		if (c == 27 || c == 7)
			cancel = 1;
		if (c == KEY_RESIZE) {
			layout(t);
			tui_redraw(t);
		}
	}
	nodelay(stdscr, FALSE);
	return cancel;
}

static void status_now(struct tui *t, const char *text, double fill)
{
	if (!w_status)
		return;
	werase(w_status);
	int x = tui_put(w_status, 0, 0, t->cols, COL_TITLE, text);
	if (fill >= 0 && t->cols - x > 10)
		tui_bar(w_status, 0, x, t->cols - x - 1 > 40 ? 40 : t->cols - x - 1, COL_HIST_A, fill);
	wnoutrefresh(w_status);
	doupdate();
}

int tui_progress(void *user, int64_t done, int64_t total)
{
	struct tui *t = user;
	static double last;
	double now = now_ms();

	if (done == 0 || now - last > 50 || done == total) {
		char buf[160];
		last = now;
		snprintf(buf, sizeof buf, "%s %lld/%lld  (Esc cancels) ", busy_label,
			 (long long)done, (long long)total);
		status_now(t, buf, total > 0 ? (double)done / (double)total : 0);
	}
	return poll_cancel(t);
}

int tui_busy(struct tui *t, const char *what, double since_ms)
{
	static double last;
	double now = now_ms();
	if (now - last > 200) {
		char buf[160];
		last = now;
		snprintf(buf, sizeof buf, "%s: %.1f s  (Esc or C-c stops it)", what,
			 (now - since_ms) / 1e3);
		status_now(t, buf, -1);
	}
	return poll_cancel(t);
}

double tui_now_ms(void)
{
	return now_ms();
}

/* ---- prompts ----------------------------------------------------------------- */

static void prompt_line(char *line)
{
	struct tui *t = g_tui;
	tui_answer_fn fn = t->on_answer;
	t->focus = FOCUS_LIST;
	t->prompt = NULL;
	t->on_answer = NULL;
	t->status[0] = 0;
	if (fn)
		fn(t, line);
}

void tui_prompt(struct tui *t, const char *prompt, const char *initial, tui_answer_fn fn)
{
	t->focus = FOCUS_PROMPT;
	t->prompt = prompt;
	t->prompt_yesno = 0;
	t->on_answer = fn;
	tui_rl_begin(prompt, initial, prompt_line, 0);
}

void tui_ask_yesno(struct tui *t, const char *question, tui_answer_fn fn)
{
	t->focus = FOCUS_PROMPT;
	t->prompt = question;
	t->prompt_yesno = 1;
	t->on_answer = fn;
}

void tui_open_overlay(struct tui *t, struct view *v)
{
	t->overlay = v;
}

/* ---- requests -------------------------------------------------------------- */

static void say_divergent(struct tui *t, int row, const char *how)
{
	const struct qdb_compare_cell *c = tui_cell(t, t->sample, row);
	char v[32];
	const struct qdb_threshold *th = qdb_session_threshold(t->s, 0);
	if (c && c->state == QDB_CELL_OK)
		tui_fmt_metric(v, sizeof v, th->metric, qdb_metric_value(&c->m, th->metric), 8);
	else
		snprintf(v, sizeof v, "%s", c && c->state == QDB_CELL_NUMEL ? "numel differs" : "-");
	tui_message(t, "%s: %s (%s %s) at sample %s", how, qdb_session_row(t->s, row)->name,
		    qdb_metric_name(th->metric), v, qdb_session_sample_name(t->s, t->sample));
}

static void jump_divergent(struct tui *t, int from, int dir, const char *how)
{
	struct qdb_err err;
	qdb_err_clear(&err);
	int r = qdb_session_find_divergent(t->s, t->sample, from, dir, NULL, &err);
	if (r < -1) {
		tui_error(t, "%s", err.msg);
		return;
	}
	if (r < 0) {
		tui_message(t, "no divergent layer %s in sample %s",
			    dir > 0 ? (from == 0 ? "at all" : "below") : "above",
			    qdb_session_sample_name(t->s, t->sample));
		return;
	}
	if (from == 0 && dir > 0)
		t->first_div[t->sample] = r;
	tui_select_row(t, r);
	say_divergent(t, r, how);
}

static int search_from(struct tui *t, const char *text)
{
	int n = qdb_session_n_rows(t->s);
	int pos = t->row >= 0 ? t->pos_of[t->row] : -1;
	for (int k = 1; k <= n; k++) {
		int row = t->order[(pos + k) % n];
		const struct qdb_session_row *r = qdb_session_row(t->s, row);
		if (strcasestr(r->name, text) || strcasestr(r->name_b, text) ||
		    (r->op && strcasestr(r->op, text)))
			return row;
	}
	return -1;
}

static void search_answer(struct tui *t, const char *ans)
{
	if (!ans)
		return;
	if (*ans)
		snprintf(t->last_search, sizeof t->last_search, "%s", ans);
	if (!t->last_search[0])
		return;
	int row = search_from(t, t->last_search);
	if (row < 0) {
		tui_error(t, "no layer matches '%s'", t->last_search);
		return;
	}
	tui_select_row(t, row);
	tui_message(t, "/%s: %s", t->last_search, qdb_session_row(t->s, row)->name);
}

static void sample_answer(struct tui *t, const char *ans)
{
	if (!ans || !*ans)
		return;
	int s = qdb_session_find_sample(t->s, ans);
	long pos;
	if (s < 0 && ans[0] == '#' && qdb_parse_long(ans + 1, &pos) == 0)
		s = pos >= 1 && pos <= qdb_session_n_samples(t->s) ? (int)pos - 1 : -1;
	if (s < 0) {
		tui_error(t, "no sample '%s' (ids as shown in the header; #N for the N-th)", ans);
		return;
	}
	tui_select_sample(t, s);
	tui_message(t, "sample %s", qdb_session_sample_name(t->s, s));
}

static void threshold_answer(struct tui *t, const char *ans)
{
	struct qdb_threshold th;
	struct qdb_err err;
	if (!ans || !*ans)
		return;
	qdb_err_clear(&err);
	if (qdb_threshold_parse(ans, &th, &err)) {
		tui_error(t, "%s", err.msg);
		return;
	}
	qdb_session_set_threshold(t->s, &th);
	t->aggregate = 0;
	for (int i = 0; i < qdb_session_n_samples(t->s); i++)
		t->first_div[i] = -2;
	t->fill_next = 0;
	tui_message(t, "threshold %s", ans);
}

/* The breakpoint: from the next layer on, through the following samples,
 * stop at the first cell where the condition holds. */
static void run_to_breakpoint(struct tui *t)
{
	struct qdb_err err;
	int sample = t->sample, row = t->row + 1;
	char cond[64];

	snprintf(cond, sizeof cond, "%s%c%g", qdb_metric_name(t->brk.metric),
		 t->brk.less ? '<' : '>', t->brk.value);
	busy_label = "breakpoint: sample";
	qdb_err_clear(&err);
	int rc = qdb_session_find_next(t->s, &sample, &row, &t->brk, tui_progress, t, &err);
	if (rc == -QDB_ESTOPPED)
		tui_message(t, "breakpoint %s: %s", cond, err.msg);
	else if (rc < 0)
		tui_error(t, "%s", err.msg);
	else if (rc == 0)
		tui_message(t, "breakpoint %s: no further hit up to the last sample", cond);
	else {
		tui_select_sample(t, sample);
		tui_select_row(t, row);
		tui_message(t, "breakpoint %s hit: %s at sample %s (b Enter: next hit)", cond,
			    qdb_session_row(t->s, row)->name, qdb_session_sample_name(t->s, sample));
	}
}

static void breakpoint_answer(struct tui *t, const char *ans)
{
	struct qdb_err err;
	if (!ans)
		return;
	if (*ans) {
		qdb_err_clear(&err);
		if (qdb_threshold_parse(ans, &t->brk, &err)) {
			tui_error(t, "%s", err.msg);
			return;
		}
		t->have_brk = 1;
	}
	if (!t->have_brk) {
		tui_error(t, "no breakpoint: give a condition such as max_steps>8");
		return;
	}
	run_to_breakpoint(t);
}

static void write_answer(struct tui *t, const char *ans)
{
	struct qdb_err err;
	if (!ans || !*ans)
		return;
	qdb_err_clear(&err);
	if (qdb_session_save(t->s, ans, &err)) {
		tui_error(t, "%s", err.msg);
		return;
	}
	tui_message(t, "wrote %s (%d edits)", ans, qdb_session_n_edits(t->s));
	tui_console_printf(t, COL_DIM, "wrote %s", ans);
}

static void quit_answer(struct tui *t, const char *ans)
{
	if (ans)
		t->want_quit = 1;
	else
		tui_message(t, "not quitting (w writes the edited model)");
}

/* After an edit or undo: what changed for the current sample, in the
 * console (every metric of the edited layer and of the output). */
static void report_edit(struct tui *t, int row, const char *what)
{
	int out = qdb_session_output_row(t->s);
	int rows[2] = {row, out};
	char a[32], b[32];
	int changed = 0, n = qdb_session_n_rows(t->s);

	tui_console_printf(t, COL_ECHO, "%s (sample %s)", what,
			   qdb_session_sample_name(t->s, t->sample));
	for (int r = 0; r < n; r++) {
		const struct qdb_compare_cell *bc = qdb_session_before(t->s, r);
		const struct qdb_compare_cell *c = tui_cell(t, t->sample, r);
		if (bc && c && bc->state == QDB_CELL_OK && c->state == QDB_CELL_OK &&
		    (bc->m.cosine != c->m.cosine || bc->m.max_abs != c->m.max_abs))
			changed++;
	}
	for (int k = 0; k < 2; k++) {
		if (rows[k] < 0 || (k == 1 && rows[1] == rows[0]))
			continue;
		const struct qdb_compare_cell *bc = qdb_session_before(t->s, rows[k]);
		const struct qdb_compare_cell *c = tui_cell(t, t->sample, rows[k]);
		if (!bc || !c || bc->state != QDB_CELL_OK || c->state != QDB_CELL_OK)
			continue;
		/* Every metric, before -> after: the headline ones on one line,
		 * the error magnitudes on the next. */
		static const enum qdb_metric_id lines[2][5] = {
			{QDB_M_COSINE, QDB_M_SQNR_DB, QDB_M_MAX_STEPS, QDB_M_MISMATCH, QDB_M_TOP1},
			{QDB_M_MAX_ABS, QDB_M_MEAN_ABS, QDB_M_MSE, QDB_M_REL_L2, QDB_M_COUNT},
		};
		for (int l = 0; l < 2; l++) {
			struct qdb_buf line;
			qdb_buf_init(&line);
			if (l == 0)
				qdb_buf_printf(&line, "  %s%s:", k ? "output " : "",
					       qdb_session_row(t->s, rows[k])->name);
			else
				qdb_buf_puts(&line, "   ");
			for (int i = 0; i < 5 && lines[l][i] != QDB_M_COUNT; i++) {
				enum qdb_metric_id m = lines[l][i];
				if (!qdb_compare_metric_applies(c->flags, &c->m, m) ||
				    !qdb_compare_metric_applies(bc->flags, &bc->m, m))
					continue;
				tui_fmt_metric(a, sizeof a, m, qdb_metric_value(&bc->m, m), 8);
				tui_fmt_metric(b, sizeof b, m, qdb_metric_value(&c->m, m), 8);
				qdb_buf_printf(&line, " %s %s%s%s", qdb_metric_name(m), a,
					       tui_glyph(GL_ARROW), b);
			}
			tui_console_print(t, COL_DEFAULT, line.s);
			qdb_buf_done(&line);
		}
	}
	tui_console_printf(t, COL_DIM, "  %d of %d layers changed", changed, n);
	const struct qdb_compare_cell *bo = qdb_session_before(t->s, out);
	const struct qdb_compare_cell *co = tui_cell(t, t->sample, out);
	if (bo && co && bo->state == QDB_CELL_OK && co->state == QDB_CELL_OK) {
		tui_fmt_metric(a, sizeof a, QDB_M_COSINE, bo->m.cosine, 8);
		tui_fmt_metric(b, sizeof b, QDB_M_COSINE, co->m.cosine, 8);
		tui_message(t, "%s: output cosine %s %s %s%s", what, a, tui_glyph(GL_ARROW), b,
			    co->m.top1 >= 0 && bo->m.top1 >= 0 ?
			    (co->m.top1 == bo->m.top1 ? ", top1 unchanged" :
			     co->m.top1 ? ", top1 now agrees" : ", top1 now differs") : "");
	} else {
		tui_message(t, "%s", what);
	}
}

static void toggle_cpu(struct tui *t)
{
	struct qdb_err err;
	const struct qdb_session_row *r = qdb_session_row(t->s, t->row);
	if (!r)
		return;
	if (!qdb_session_editable(t->s)) {
		tui_error(t, "c needs B to be a quantized graph (.qbc) run on --data");
		return;
	}
	int before = qdb_session_device(t->s, t->row);
	qdb_err_clear(&err);
	busy_label = "re-running";
	if (qdb_session_toggle_cpu(t->s, t->row, t->sample, &err)) {
		tui_error(t, "%s", err.msg);
		return;
	}
	tui_cells_changed(t);
	char what[256];
	snprintf(what, sizeof what, "%s: %s %s %s", r->name_b, before == QDB_DEV_CPU ? "cpu" : "bpu",
		 tui_glyph(GL_ARROW), before == QDB_DEV_CPU ? "bpu" : "cpu");
	report_edit(t, t->row, what);
}

static void undo(struct tui *t)
{
	struct qdb_err err;
	char what[256];
	int n = qdb_session_n_edits(t->s);
	if (n == 0) {
		tui_message(t, "nothing to undo");
		return;
	}
	qdb_session_edit_str(t->s, n - 1, what, sizeof what);
	/* Undoing acts on the edited node's row: show that one. */
	char node[256];
	snprintf(node, sizeof node, "%s", what);
	char *colon = strchr(node, ':');
	if (colon)
		*colon = 0;
	qdb_err_clear(&err);
	if (qdb_session_undo(t->s, t->sample, &err)) {
		tui_error(t, "%s", err.msg);
		return;
	}
	tui_cells_changed(t);
	int row = qdb_session_find_row(t->s, node);
	if (row >= 0)
		tui_select_row(t, row);
	char msg[300];
	snprintf(msg, sizeof msg, "undone: %s", what);
	report_edit(t, row >= 0 ? row : t->row, msg);
}

static void toggle_aggregate(struct tui *t)
{
	struct qdb_err err;
	if (t->aggregate) {
		t->aggregate = 0;
		tui_message(t, "per-sample view: sample %s", qdb_session_sample_name(t->s, t->sample));
	} else {
		if (!qdb_session_agg(t->s, 0)) {
			qdb_err_clear(&err);
			busy_label = "aggregating: sample";
			if (qdb_session_aggregate(t->s, tui_progress, t, &err)) {
				if (err.code == QDB_ESTOPPED)
					tui_message(t, "aggregate %s", err.msg);
				else
					tui_error(t, "%s", err.msg);
				return;
			}
		}
		t->aggregate = 1;
		tui_message(t, "worst value over %d samples per layer; a returns to one sample",
			    qdb_session_n_samples(t->s));
	}
	if (t->sort != SORT_ORDER)
		apply_sort(t);
}

int tui_request(struct tui *t, enum tui_request req)
{
	int r;
	struct qdb_err err;
	static const char *const sort_names[SORT_COUNT] = {
		"execution order", "cosine", "max_steps", "sqnr", "mismatch",
	};

	t->status[0] = 0;
	if (t->overlay && (r = t->overlay->ops->request(t->overlay, req)))
		return r;
	if ((r = t->layers.ops->request(&t->layers, req)))
		return r;
	switch (req) {
	case REQ_NEXT_DIVERGENT:
		jump_divergent(t, t->row + 1, 1, "next divergent");
		break;
	case REQ_PREV_DIVERGENT:
		jump_divergent(t, t->row - 1, -1, "previous divergent");
		break;
	case REQ_FIRST_DIVERGENT:
		jump_divergent(t, 0, 1, "first divergent");
		break;
	case REQ_SEARCH:
		tui_prompt(t, "search layer: ", NULL, search_answer);
		break;
	case REQ_NEXT_SAMPLE:
	case REQ_PREV_SAMPLE: {
		int d = req == REQ_NEXT_SAMPLE ? 1 : -1, s = t->sample + d;
		if (s < 0 || s >= qdb_session_n_samples(t->s)) {
			tui_message(t, "%s sample", d > 0 ? "last" : "first");
			break;
		}
		tui_select_sample(t, s);
		if (t->aggregate)
			tui_message(t, "sample %s (the list shows the worst over all; a toggles)",
				    qdb_session_sample_name(t->s, s));
		break;
	}
	case REQ_GOTO_SAMPLE:
		tui_prompt(t, "sample id (or #position): ", NULL, sample_answer);
		break;
	case REQ_BREAKPOINT:
		tui_prompt(t, t->have_brk ? "break when (Enter: same again): " :
			   "break when (e.g. max_steps>8, cosine<0.95): ", NULL, breakpoint_answer);
		break;
	case REQ_AGGREGATE:
		toggle_aggregate(t);
		break;
	case REQ_SORT:
		t->sort = (t->sort + 1) % SORT_COUNT;
		busy_label = "sorting: layer";
		apply_sort(t);
		if (t->sort != SORT_ORDER || !t->status[0])
			tui_message(t, "sorted by %s%s", sort_names[t->sort],
				    t->sort == SORT_ORDER ? "" : ", worst first");
		break;
	case REQ_MODE: {
		enum qdb_session_mode m = qdb_session_mode(t->s) == QDB_MODE_CUMULATIVE ?
			QDB_MODE_ISOLATED : QDB_MODE_CUMULATIVE;
		qdb_err_clear(&err);
		if (qdb_session_set_mode(t->s, m, &err)) {
			tui_error(t, "%s", err.msg);
			break;
		}
		t->aggregate = 0;
		tui_cells_changed(t);
		tui_message(t, m == QDB_MODE_ISOLATED ?
			    "isolated: each B node on A's inputs (its own error)" :
			    "cumulative: both models end to end");
		break;
	}
	case REQ_THRESHOLD: {
		char cur[64];
		const struct qdb_threshold *th = qdb_session_threshold(t->s, 0);
		snprintf(cur, sizeof cur, "%s%c%g", qdb_metric_name(th->metric),
			 th->less ? '<' : '>', th->value);
		tui_prompt(t, "threshold: ", cur, threshold_answer);
		break;
	}
	case REQ_CHANNELS:
		if (t->row >= 0)
			tui_open_overlay(t, &t->channels);
		return TUI_HANDLED | TUI_REDRAW | TUI_LAYOUT;
	case REQ_TOGGLE_CPU:
		toggle_cpu(t);
		break;
	case REQ_UNDO:
		undo(t);
		break;
	case REQ_WRITE:
		if (!qdb_session_editable(t->s)) {
			tui_error(t, "nothing to write: B is not an editable graph");
			break;
		}
		tui_prompt(t, "write B to: ", t->write_default, write_answer);
		break;
	case REQ_CONSOLE:
		tui_console_focus(t, 1);
		return TUI_HANDLED | TUI_REDRAW | TUI_LAYOUT;
	case REQ_HELP:
		tui_open_overlay(t, &t->help);
		return TUI_HANDLED | TUI_REDRAW | TUI_LAYOUT;
	case REQ_REDRAW:
		clearok(curscr, TRUE);
		return TUI_HANDLED | TUI_REDRAW | TUI_LAYOUT;
	case REQ_CLOSE:
		break;
	case REQ_QUIT:
		if (qdb_session_unsaved(t->s)) {
			static char q[128];
			snprintf(q, sizeof q, "%d unsaved edit%s of B. Quit anyway? (y/n)",
				 qdb_session_n_edits(t->s), qdb_session_n_edits(t->s) == 1 ? "" : "s");
			tui_ask_yesno(t, q, quit_answer);
			break;
		}
		t->want_quit = 1;
		return TUI_HANDLED | TUI_QUIT;
	default:
		return TUI_UNHANDLED;
	}
	return TUI_HANDLED | TUI_REDRAW;
}

/* ---- start-up --------------------------------------------------------------- */

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The bundled demo, digits/ under: $QDB_DATADIR, the current directory,
 * the binary's directory and its parent (a build tree inside the source
 * tree), the installed data directory; each as is or with testdata/. */
static int find_demo(char *dir, size_t n)
{
	const char *roots[6];
	int k = 0;
	char exe[PATH_MAX], up[PATH_MAX];
	const char *env = getenv("QDB_DATADIR");

	if (env && *env)
		roots[k++] = env;
	roots[k++] = ".";
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len > 0) {
		exe[len] = 0;
		char *s = strrchr(exe, '/');
		if (s) {
			*s = 0;
			roots[k++] = exe;
			snprintf(up, sizeof up, "%s", exe);
			s = strrchr(up, '/');
			if (s) {
				*s = 0;
				roots[k++] = up;
			}
		}
	}
	roots[k++] = QDB_DATADIR;
	for (int i = 0; i < k; i++) {
		snprintf(dir, n, "%s/digits", roots[i]);
		if (is_dir(dir))
			return 0;
		snprintf(dir, n, "%s/testdata/digits", roots[i]);
		if (is_dir(dir))
			return 0;
	}
	return -1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: qdb [tui] [A B] [--data DS.qds] [--map FILE] [--threshold COND]...\n"
		"              [--script FILE.lua] [--samples N] [--select LAYER] [--sample ID]\n"
		"  A, B       reference and candidate: traces (.qtr) or graphs (.qbc, need --data)\n"
		"  no files   the bundled digits demo (quantized-bad.qbc against qat.qbc)\n"
		"  --select LAYER, --sample ID   start on that layer (A or B name) and sample\n"
		"  --keys     list the keys and exit\n"
		"Keys: press ? inside. man qdb, section TUI.\n");
}

/* --keys: the key table the help screen shows, for docs and tests. */
static void print_keys(void)
{
	struct tui t;
	char keys[64];
	const char *group = NULL;

	memset(&t, 0, sizeof t);
	if (tui_keymap_init(&t))
		return;
	for (int r = 1; r < REQ_COUNT; r++) {
		const char *g = tui_request_group((enum tui_request)r);
		if (!group || strcmp(g, group))
			printf("%s%s\n", group ? "\n" : "", g);
		group = g;
		tui_request_keys(&t, (enum tui_request)r, keys, sizeof keys);
		printf("  %-16s %s\n", keys, tui_request_help((enum tui_request)r));
	}
	tui_keymap_done(&t);
}

struct tui_args {
	struct qdb_session_opts so;
	const char *script;
	const char *select, *sample; /* --select LAYER, --sample ID: where to start */
	char demo[PATH_MAX];
	char da[PATH_MAX + 32], db[PATH_MAX + 32], dd[PATH_MAX + 32];
};

static int parse_args(int argc, char **argv, struct tui_args *a)
{
	static const struct option opts[] = {
		{"data", required_argument, NULL, 'd'},
		{"map", required_argument, NULL, 'm'},
		{"threshold", required_argument, NULL, 't'},
		{"script", required_argument, NULL, 's'},
		{"samples", required_argument, NULL, 'n'},
		{"select", required_argument, NULL, 'L'},
		{"sample", required_argument, NULL, 'I'},
		{"help", no_argument, NULL, 'h'},
		{"keys", no_argument, NULL, 'k'},
		{NULL, 0, NULL, 0},
	};
	struct qdb_err err;
	int c;
	long v;

	qdb_session_opts_init(&a->so);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hkd:m:t:s:n:", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			a->so.data_path = optarg;
			break;
		case 'm':
			a->so.map_path = optarg;
			break;
		case 't':
			if (a->so.n_thresholds >= QDB_SESSION_MAX_THRESHOLDS) {
				fprintf(stderr, "qdb: at most %d --threshold options\n",
					QDB_SESSION_MAX_THRESHOLDS);
				return QDB_EXIT_USAGE;
			}
			qdb_err_clear(&err);
			if (qdb_threshold_parse(optarg, &a->so.thresholds[a->so.n_thresholds], &err)) {
				fprintf(stderr, "qdb: --threshold: %s\n", err.msg);
				return QDB_EXIT_USAGE;
			}
			a->so.n_thresholds++;
			break;
		case 's':
			a->script = optarg;
			break;
		case 'L':
			a->select = optarg;
			break;
		case 'I':
			a->sample = optarg;
			break;
		case 'n':
			if (qdb_parse_long(optarg, &v) || v <= 0) {
				fprintf(stderr, "qdb: --samples: expected a positive count, got '%s'\n", optarg);
				return QDB_EXIT_USAGE;
			}
			a->so.max_samples = v;
			break;
		case 'h':
			usage(stdout);
			return -1;
		case 'k':
			print_keys();
			return -1;
		default:
			fprintf(stderr, "qdb: %s: unknown option or missing value\n", argv[optind - 1]);
			usage(stderr);
			return QDB_EXIT_USAGE;
		}
	}
	int n = argc - optind;
	if (n == 0) {
		if (find_demo(a->demo, sizeof a->demo)) {
			fprintf(stderr, "qdb: the bundled demo (testdata/digits) was not found; "
				"set QDB_DATADIR or give two files\n");
			return QDB_EXIT_USAGE;
		}
		snprintf(a->da, sizeof a->da, "%s/qat.qbc", a->demo);
		snprintf(a->db, sizeof a->db, "%s/quantized-bad.qbc", a->demo);
		snprintf(a->dd, sizeof a->dd, "%s/digits.qds", a->demo);
		a->so.a_path = a->da;
		a->so.b_path = a->db;
		if (!a->so.data_path)
			a->so.data_path = a->dd;
		return 0;
	}
	if (n != 2) {
		fprintf(stderr, "qdb: the debugger takes two files (A and B), got %d\n", n);
		usage(stderr);
		return QDB_EXIT_USAGE;
	}
	a->so.a_path = argv[optind];
	a->so.b_path = argv[optind + 1];
	return 0;
}

static int locale_is_utf8(void)
{
	const char *cs = nl_langinfo(CODESET);
	return cs && (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "utf8"));
}

static char *default_write_path(const char *b)
{
	struct qdb_buf buf;
	size_t n = strlen(b);
	qdb_buf_init(&buf);
	if (n > 4 && !strcmp(b + n - 4, ".qbc"))
		qdb_buf_append(&buf, b, n - 4);
	else
		qdb_buf_puts(&buf, b);
	qdb_buf_puts(&buf, ".edited.qbc");
	return qdb_buf_steal(&buf);
}

static void greet(struct tui *t)
{
	int n_only[2] = {qdb_session_n_only(t->s, 0), qdb_session_n_only(t->s, 1)};
	tui_console_printf(t, COL_DIM, "%d aligned layers, %d samples. ? lists the keys.",
			   qdb_session_n_rows(t->s), qdb_session_n_samples(t->s));
	for (int k = 0; k < 2; k++) {
		if (!n_only[k])
			continue;
		struct qdb_buf b;
		qdb_buf_init(&b);
		qdb_buf_printf(&b, "%d layer%s only in %s:", n_only[k], n_only[k] == 1 ? "" : "s",
			       k ? "B" : "A");
		for (int i = 0; i < n_only[k] && i < 20; i++)
			qdb_buf_printf(&b, " %s", qdb_session_only_name(t->s, k, i));
		if (n_only[k] > 20)
			qdb_buf_puts(&b, " ...");
		tui_console_print(t, COL_WARN, b.s);
		qdb_buf_done(&b);
	}
	tui_message(t, "%d layers, %d samples: ] jumps to the first divergent layer, ? for help",
		    qdb_session_n_rows(t->s), qdb_session_n_samples(t->s));
}

static int run(struct tui *t)
{
	int flags = TUI_LAYOUT | TUI_REDRAW;
	const char *lat = getenv("QDB_TUI_LATENCY_LOG");
	double t0 = 0;
	int last_key = 0;

	if (lat && *lat)
		t->latency_log = fopen(lat, "w");
	while (!t->want_quit) {
		if (flags & TUI_LAYOUT)
			layout(t);
		if (flags & (TUI_REDRAW | TUI_LAYOUT))
			tui_redraw(t);
		if (t0 > 0 && t->latency_log) {
			fprintf(t->latency_log, "%.3f %d\n", now_ms() - t0, last_key);
			fflush(t->latency_log);
		}
		t0 = 0;
		if (t->want_quit || (flags & TUI_QUIT))
			break;
		int pending = fill_pending(t) && t->focus != FOCUS_PROMPT;
		timeout(pending ? 0 : -1);
		wint_t ch;
		int rc = get_wch(&ch);
		if (rc == ERR) {
			if (pending) {
				fill_step(t, 4);
				flags = TUI_REDRAW;
			} else {
				flags = 0;
			}
			continue;
		}
		t0 = now_ms();
		int key = rc == KEY_CODE_YES ? (int)ch : TUI_CHAR(ch);
		last_key = key;
		flags = tui_input(t, key);
	}
	if (t->latency_log)
		fclose(t->latency_log);
	t->latency_log = NULL;
	return 0;
}

int tui_main(int argc, char **argv)
{
	struct tui_args *a = qdb_calloc(1, sizeof *a);
	struct tui *t = qdb_calloc(1, sizeof *t);
	struct qdb_err err;
	int rc = QDB_EXIT_OK;

	if (!a || !t) {
		fprintf(stderr, "qdb: out of memory\n");
		qdb_free(a);
		qdb_free(t);
		return QDB_EXIT_INTERNAL;
	}
	rc = parse_args(argc, argv, a);
	if (rc) {
		qdb_free(a);
		qdb_free(t);
		return rc < 0 ? QDB_EXIT_OK : rc;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "qdb: the debugger needs a terminal (for tables: qdb compare)\n");
		qdb_free(a);
		qdb_free(t);
		return QDB_EXIT_USAGE;
	}
	qdb_err_clear(&err);
	if (qdb_session_open(&a->so, &t->s, &err)) {
		fprintf(stderr, "qdb: %s\n", err.msg);
		qdb_free(a);
		qdb_free(t);
		return err.code == QDB_ENOMEM ? QDB_EXIT_INTERNAL : QDB_EXIT_BADINPUT;
	}
	int n_rows = qdb_session_n_rows(t->s), n_s = qdb_session_n_samples(t->s);
	t->order = qdb_calloc(n_rows ? (size_t)n_rows : 1, sizeof *t->order);
	t->pos_of = qdb_calloc(n_rows ? (size_t)n_rows : 1, sizeof *t->pos_of);
	t->first_div = qdb_calloc(n_s ? (size_t)n_s : 1, sizeof *t->first_div);
	t->write_default = default_write_path(qdb_session_path(t->s, QDB_SIDE_B));
	if (!t->order || !t->pos_of || !t->first_div || !t->write_default ||
	    tui_keymap_init(t)) {
		fprintf(stderr, "qdb: out of memory\n");
		rc = QDB_EXIT_INTERNAL;
		goto out;
	}
	for (int i = 0; i < n_rows; i++)
		t->order[i] = t->pos_of[i] = i;
	for (int i = 0; i < n_s; i++)
		t->first_div[i] = -2;
	t->row = n_rows ? 0 : -1;
	/* --select / --sample (e.g. from qdb triage --open): checked before the
	 * screen is taken, so a bad name is a plain one-line error. */
	if (a->select && (t->row = qdb_session_find_row(t->s, a->select)) < 0) {
		fprintf(stderr, "qdb: --select: no aligned layer '%s'\n", a->select);
		rc = QDB_EXIT_BADINPUT;
		goto out;
	}
	if (a->sample && (t->sample = qdb_session_find_sample(t->s, a->sample)) < 0) {
		fprintf(stderr, "qdb: --sample: no shared sample '%s'\n", a->sample);
		rc = QDB_EXIT_BADINPUT;
		goto out;
	}

	setlocale(LC_ALL, "");
	t->utf8 = locale_is_utf8();
	g_tui = t;
	tui_rl_init(qdb_repl_history_path());
	if (!initscr()) {
		fprintf(stderr, "qdb: cannot initialise the terminal (TERM=%s)\n",
			getenv("TERM") ? getenv("TERM") : "");
		rc = QDB_EXIT_INTERNAL;
		goto out_rl;
	}
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	/* curses switches the terminal to "application" cursor keys only at
	 * the first blocking read; keys typed earlier (or on terminals that
	 * ignore smkx) come in normal mode. Know both forms. */
	static const struct {
		const char *seq;
		int key;
	} ansi_keys[] = {
		{"\033[A", KEY_UP}, {"\033[B", KEY_DOWN}, {"\033[C", KEY_RIGHT},
		{"\033[D", KEY_LEFT}, {"\033[H", KEY_HOME}, {"\033[F", KEY_END},
		{"\033OA", KEY_UP}, {"\033OB", KEY_DOWN}, {"\033OC", KEY_RIGHT},
		{"\033OD", KEY_LEFT}, {"\033OH", KEY_HOME}, {"\033OF", KEY_END},
		{"\033[1~", KEY_HOME}, {"\033[4~", KEY_END}, {"\033[5~", KEY_PPAGE},
		{"\033[6~", KEY_NPAGE}, {"\033[3~", KEY_DC}, {"\033[2~", KEY_IC},
		{"\033[Z", KEY_BTAB},
	};
	for (size_t i = 0; i < sizeof ansi_keys / sizeof *ansi_keys; i++)
		if (key_defined(ansi_keys[i].seq) <= 0)
			define_key(ansi_keys[i].seq, ansi_keys[i].key);
	set_escdelay(25);
	curs_set(0);
	t->mouse = mousemask(BUTTON1_CLICKED | BUTTON1_DOUBLE_CLICKED | BUTTON4_PRESSED |
			     BUTTON5_PRESSED, NULL) != 0;
	mouseinterval(200);
	tui_colors_init(t);
	refresh();

	struct {
		struct view *v;
		const struct view_ops *ops;
	} views[] = {
		{&t->layers, &tui_layers_ops}, {&t->detail, &tui_detail_ops},
		{&t->console, &tui_console_ops}, {&t->help, &tui_help_ops},
		{&t->channels, &tui_channels_ops},
	};
	size_t n_views = sizeof views / sizeof *views;
	for (size_t i = 0; i < n_views; i++) {
		views[i].v->ops = views[i].ops;
		views[i].v->t = t;
		if (views[i].ops->open(views[i].v)) {
			endwin();
			fprintf(stderr, "qdb: out of memory\n");
			rc = QDB_EXIT_INTERNAL;
			goto out_views;
		}
	}
	greet(t);
	if (tui_lua_init(t))
		tui_console_print(t, COL_ERROR, "Lua console unavailable (out of memory)");
	else if (a->script) {
		layout(t);
		tui_redraw(t);
		tui_lua_script(t, a->script);
	}
	run(t);
	endwin();

out_views:
	tui_console_done(t);
	tui_lua_done(t);
	for (size_t i = 0; i < n_views; i++) {
		if (views[i].v->ops && views[i].v->priv)
			views[i].ops->done(views[i].v);
		if (views[i].v->win)
			delwin(views[i].v->win);
	}
	if (w_header)
		delwin(w_header);
	if (w_status)
		delwin(w_status);
	w_header = w_status = NULL;
out_rl:
	tui_rl_done();
out:
	tui_keymap_done(t);
	qdb_session_close(t->s);
	qdb_free(t->order);
	qdb_free(t->pos_of);
	qdb_free(t->first_div);
	qdb_free(t->write_default);
	qdb_free(t);
	qdb_free(a);
	g_tui = NULL;
	return rc;
}

int qdb_cmd_tui(int argc, char **argv)
{
	return tui_main(argc, argv);
}
