/* draw.c - clipped drawing in the locale's charset, colours from one list. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "tui/tui.h"

static int g_utf8, g_colors;

static const struct {
	short fg, bg;
	attr_t attr, mono;
} color_def[COL_COUNT] = {
#define TUI_X_(id, fg, bg, attr, mono) {fg, bg, attr, mono},
	TUI_COLORS(TUI_X_)
#undef TUI_X_
};

static const struct {
	const char *utf8, *ascii;
} glyph_def[GL_COUNT] = {
#define TUI_X_(id, u, a) {u, a},
	TUI_GLYPHS(TUI_X_)
#undef TUI_X_
};

void tui_colors_init(struct tui *t)
{
	g_utf8 = t->utf8;
	g_colors = 0;
	/* NO_COLOR (no-color.org) asks for plain attributes. */
	if (has_colors() && !getenv("NO_COLOR") && start_color() == OK) {
		use_default_colors();
		g_colors = COLOR_PAIRS > COL_COUNT;
		for (int i = 0; g_colors && i < COL_COUNT; i++)
			init_pair((short)(i + 1), color_def[i].fg, color_def[i].bg);
	}
	t->colors = g_colors;
}

attr_t tui_attr(enum tui_color c)
{
	if ((unsigned)c >= COL_COUNT)
		c = COL_DEFAULT;
	if (g_colors)
		return (attr_t)COLOR_PAIR(c + 1) | color_def[c].attr;
	return color_def[c].mono;
}

const char *tui_glyph(enum tui_glyph g)
{
	return g_utf8 ? glyph_def[g].utf8 : glyph_def[g].ascii;
}

size_t tui_fit(const char *s, int width, int *cols)
{
	size_t i = 0, len = strlen(s);
	int c = 0;
	mbstate_t st;

	memset(&st, 0, sizeof st);
	while (i < len) {
		int w = 1;
		size_t k = 1;
		if ((unsigned char)s[i] >= 0x80 && g_utf8) {
			wchar_t wc;
			k = mbrtowc(&wc, s + i, len - i, &st);
			if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
				memset(&st, 0, sizeof st);
				k = 1;
			} else {
				w = wcwidth(wc);
				if (w < 0)
					w = 1;
			}
		}
		if (c + w > width)
			break;
		c += w;
		i += k;
	}
	*cols = c;
	return i;
}

int tui_text_width(const char *s)
{
	int c;
	tui_fit(s, 1 << 30, &c);
	return c;
}

/* Writes n bytes of s, replacing what the terminal cannot show. */
static void put_bytes(WINDOW *w, const char *s, size_t n)
{
	char buf[512];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f)
			ch = '?';
		else if (ch >= 0x80 && !g_utf8)
			ch = '?';
		buf[k++] = (char)ch;
		if (k == sizeof buf - 1) {
			buf[k] = 0;
			waddstr(w, buf);
			k = 0;
		}
	}
	buf[k] = 0;
	if (k)
		waddstr(w, buf);
}

int tui_put(WINDOW *w, int y, int x, int width, enum tui_color c, const char *s)
{
	int maxy, maxx, cols;

	if (!w || !s)
		return 0;
	getmaxyx(w, maxy, maxx);
	if (y < 0 || y >= maxy || x < 0 || x >= maxx)
		return 0;
	if (width > maxx - x)
		width = maxx - x;
	if (width <= 0)
		return 0;
	size_t n = tui_fit(s, width, &cols);
	wattrset(w, tui_attr(c));
	wmove(w, y, x);
	if (s[n] && width >= 2) {
		/* Truncated: end with an ellipsis. */
		const char *el = tui_glyph(GL_ELLIPSIS);
		int ew = tui_text_width(el);
		n = tui_fit(s, width - ew, &cols);
		put_bytes(w, s, n);
		waddstr(w, el);
		return cols + ew;
	}
	put_bytes(w, s, n);
	return cols;
}

int tui_putf(WINDOW *w, int y, int x, int width, enum tui_color c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return tui_put(w, y, x, width, c, buf);
}

int tui_put_right(WINDOW *w, int y, int x, int width, enum tui_color c, const char *s)
{
	int tw = tui_text_width(s);
	if (tw < width)
		x += width - tw;
	return tui_put(w, y, x, width, c, s);
}

void tui_fill(WINDOW *w, int y, int x, int width, enum tui_color c)
{
	int maxy, maxx;
	if (!w)
		return;
	getmaxyx(w, maxy, maxx);
	if (y < 0 || y >= maxy || x < 0 || x >= maxx)
		return;
	if (width > maxx - x)
		width = maxx - x;
	wattrset(w, tui_attr(c));
	wmove(w, y, x);
	for (int i = 0; i < width; i++)
		waddch(w, ' ');
}

static const char *const spark_utf8[] = {
	" ", "\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
	"\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88",
};
static const char spark_ascii[] = " .:-=+*#%@";

void tui_spark(WINDOW *w, int y, int x, int width, enum tui_color c,
	       const int64_t *v, int n)
{
	int maxy, maxx;
	if (!w || width <= 0 || n <= 0)
		return;
	getmaxyx(w, maxy, maxx);
	if (y < 0 || y >= maxy || x < 0 || x >= maxx)
		return;
	if (width > maxx - x)
		width = maxx - x;
	/* Resample the n bins onto width cells (each cell sums the bins whose
	 * centre falls in it), so wide panes do not stretch gaps. */
	int64_t cell[256];
	if (width > 256)
		width = 256;
	memset(cell, 0, sizeof cell);
	for (int i = 0; i < n; i++) {
		int k = (int)(((double)i + 0.5) * width / n);
		if (k >= width)
			k = width - 1;
		cell[k] += v[i];
	}
	/* Cells that got no bin (width > n) repeat their left neighbour. */
	if (width > n)
		for (int k = 0; k < width; k++) {
			int i = (int)((double)k * n / width);
			cell[k] = v[i];
		}
	int64_t mx = 0;
	for (int k = 0; k < width; k++)
		if (cell[k] > mx)
			mx = cell[k];
	wattrset(w, tui_attr(c));
	wmove(w, y, x);
	int levels = g_utf8 ? 8 : 9;
	for (int k = 0; k < width; k++) {
		int lv = 0;
		if (mx > 0 && cell[k] > 0) {
			lv = (int)ceil((double)cell[k] * levels / (double)mx);
			if (lv < 1)
				lv = 1;
			if (lv > levels)
				lv = levels;
		}
		if (g_utf8)
			waddstr(w, spark_utf8[lv]);
		else
			waddch(w, (chtype)(unsigned char)spark_ascii[lv]);
	}
}

static const char *const bar_utf8[] = {
	"", "\xe2\x96\x8f", "\xe2\x96\x8e", "\xe2\x96\x8d", "\xe2\x96\x8c",
	"\xe2\x96\x8b", "\xe2\x96\x8a", "\xe2\x96\x89", "\xe2\x96\x88",
};

void tui_bar(WINDOW *w, int y, int x, int width, enum tui_color c, double fill)
{
	int maxy, maxx;
	if (!w || width <= 0)
		return;
	getmaxyx(w, maxy, maxx);
	if (y < 0 || y >= maxy || x < 0 || x >= maxx)
		return;
	if (width > maxx - x)
		width = maxx - x;
	if (!(fill > 0))
		fill = 0;
	if (fill > 1)
		fill = 1;
	int eighths = (int)lround(fill * width * 8);
	wattrset(w, tui_attr(c));
	wmove(w, y, x);
	for (int k = 0; k < width; k++) {
		int e = eighths - k * 8;
		if (e > 8)
			e = 8;
		if (e <= 0) {
			waddch(w, ' ');
		} else if (g_utf8) {
			waddstr(w, bar_utf8[e]);
		} else {
			waddch(w, e >= 6 ? '#' : e >= 3 ? '=' : '-');
		}
	}
}

const char *tui_fmt_metric(char *dst, size_t n, enum qdb_metric_id id, double v, int width)
{
	if (isnan(v)) {
		snprintf(dst, n, "-");
		return dst;
	}
	if (isinf(v)) {
		snprintf(dst, n, v > 0 ? "inf" : "-inf");
		return dst;
	}
	switch (id) {
	case QDB_M_COSINE:
		snprintf(dst, n, "%.*f", width >= 8 ? 6 : width >= 6 ? 4 : 3, v);
		break;
	case QDB_M_MAX_STEPS:
		/* Whole steps print as integers even after the rounding noise of
		 * dequantization (1.0000001 LSB is one step). */
		if (fabs(v - nearbyint(v)) < 0.005 || fabs(v) >= 1e6)
			snprintf(dst, n, "%.0f", v);
		else
			snprintf(dst, n, v < 10 ? "%.2f" : "%.1f", v);
		break;
	case QDB_M_SQNR_DB:
		snprintf(dst, n, "%.1f", v);
		break;
	case QDB_M_MISMATCH:
		if (v == 0)
			snprintf(dst, n, "0");
		else
			snprintf(dst, n, "%.*f%%", v * 100 < 10 ? 2 : 1, v * 100);
		break;
	case QDB_M_TOP1:
		snprintf(dst, n, v > 0.5 ? "same" : "DIFF");
		break;
	default:
		snprintf(dst, n, "%.3g", v);
		break;
	}
	return dst;
}

enum tui_color tui_grade_color(int grade)
{
	switch (grade) {
	case 0:
		return COL_GOOD;
	case 1:
		return COL_WARN;
	case 2:
		return COL_BAD;
	default:
		return COL_DEFAULT;
	}
}
