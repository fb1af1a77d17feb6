/* table.c - aligned text tables, CSV and JSON writers (see table.h). */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/str.h"
#include "cli/table.h"

int qdb_format_parse(const char *s, enum qdb_format *out)
{
	if (!strcmp(s, "table"))
		*out = QDB_FORMAT_TABLE;
	else if (!strcmp(s, "csv"))
		*out = QDB_FORMAT_CSV;
	else if (!strcmp(s, "json"))
		*out = QDB_FORMAT_JSON;
	else
		return -1;
	return 0;
}

int qdb_color_wanted(FILE *f)
{
	const char *nc = getenv("NO_COLOR");
	if (nc && *nc)
		return 0;
	return isatty(fileno(f));
}

int qdb_term_width(FILE *f)
{
	struct winsize ws;
	if (isatty(fileno(f)) && ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

const char *qdb_style_begin(enum qdb_style s)
{
	switch (s) {
	case QDB_STYLE_BOLD: return "\033[1m";
	case QDB_STYLE_RED: return "\033[31m";
	case QDB_STYLE_BOLDRED: return "\033[1;31m";
	case QDB_STYLE_YELLOW: return "\033[33m";
	case QDB_STYLE_GREEN: return "\033[32m";
	case QDB_STYLE_DIM: return "\033[2m";
	default: return "";
	}
}

const char *qdb_style_end(void)
{
	return "\033[0m";
}

/* ---- UTF-8 helpers ------------------------------------------------------- */

int qdb_utf8_width(const char *s)
{
	int n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* Byte offset of the k-th code point (or the end). */
static size_t utf8_offset(const char *s, int k)
{
	size_t i = 0;
	int n = 0;
	for (; s[i]; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80) {
			if (n == k)
				return i;
			n++;
		}
	}
	return i;
}

char *qdb_ellipsize(char *dst, size_t n, const char *s, int w)
{
	int len = qdb_utf8_width(s);
	if (n == 0)
		return dst;
	if (w < 0)
		w = 0;
	if (len <= w) {
		snprintf(dst, n, "%s", s);
		return dst;
	}
	if (w < 4) {
		size_t e = utf8_offset(s, w);
		snprintf(dst, n, "%.*s", (int)e, s);
		return dst;
	}
	int keep = w - 3, head = (keep + 1) / 2, tail = keep - head;
	size_t he = utf8_offset(s, head), ts = utf8_offset(s, len - tail);
	snprintf(dst, n, "%.*s...%s", (int)he, s, s + ts);
	return dst;
}

/* ---- tables -------------------------------------------------------------- */

struct cell {
	char *text;
	enum qdb_style style;
};

struct col {
	char *title;
	unsigned flags;
	int min_width, priority;
	int soft_width; /* shrink this far before hiding other columns */
};

struct qdb_table {
	struct col *cols;
	int n_cols, cap_cols;
	struct cell **rows; /* n_rows arrays of cap_cols cells */
	int n_rows, cap_rows;
	int row_cap_cols;   /* cells allocated per row */
};

struct qdb_table *qdb_table_new(void)
{
	return qdb_calloc(1, sizeof(struct qdb_table));
}

void qdb_table_delete(struct qdb_table *t)
{
	if (!t)
		return;
	for (int r = 0; r < t->n_rows; r++) {
		for (int c = 0; c < t->row_cap_cols; c++)
			qdb_free(t->rows[r][c].text);
		qdb_free(t->rows[r]);
	}
	for (int c = 0; c < t->n_cols; c++)
		qdb_free(t->cols[c].title);
	qdb_free(t->rows);
	qdb_free(t->cols);
	qdb_free(t);
}

int qdb_table_add_col(struct qdb_table *t, const char *title, unsigned flags,
		      int min_width, int priority)
{
	if (t->n_rows > 0)
		return -1; /* columns come first: rows are sized by them */
	if (t->n_cols == t->cap_cols) {
		int cap = t->cap_cols ? 2 * t->cap_cols : 16;
		struct col *v = qdb_realloc(t->cols, (size_t)cap * sizeof *v);
		if (!v)
			return -1;
		t->cols = v;
		t->cap_cols = cap;
	}
	char *dup = qdb_strdup(title ? title : "");
	if (!dup)
		return -1;
	min_width = min_width > 0 ? min_width : 1;
	t->cols[t->n_cols] = (struct col){dup, flags, min_width, priority, min_width};
	return t->n_cols++;
}

void qdb_table_col_soft(struct qdb_table *t, int col, int soft_width)
{
	if (col >= 0 && col < t->n_cols && soft_width > t->cols[col].min_width)
		t->cols[col].soft_width = soft_width;
}

int qdb_table_add_row(struct qdb_table *t)
{
	if (t->n_rows == t->cap_rows) {
		int cap = t->cap_rows ? 2 * t->cap_rows : 32;
		struct cell **v = qdb_realloc(t->rows, (size_t)cap * sizeof *v);
		if (!v)
			return -1;
		t->rows = v;
		t->cap_rows = cap;
	}
	t->row_cap_cols = t->n_cols;
	struct cell *row = qdb_calloc((size_t)(t->n_cols ? t->n_cols : 1), sizeof *row);
	if (!row)
		return -1;
	t->rows[t->n_rows] = row;
	return t->n_rows++;
}

int qdb_table_n_rows(const struct qdb_table *t)
{
	return t->n_rows;
}

int qdb_table_set(struct qdb_table *t, int row, int col, const char *text,
		  enum qdb_style style)
{
	if (row < 0 || row >= t->n_rows || col < 0 || col >= t->n_cols)
		return -1;
	char *dup = qdb_strdup(text ? text : "");
	if (!dup)
		return -1;
	struct cell *c = &t->rows[row][col];
	qdb_free(c->text);
	c->text = dup;
	c->style = style;
	return 0;
}

int qdb_table_setf(struct qdb_table *t, int row, int col, enum qdb_style style,
		   const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return qdb_table_set(t, row, col, buf, style);
}

void qdb_table_opts_init(struct qdb_table_opts *o, FILE *f, int wide)
{
	o->width = wide ? 0 : qdb_term_width(f);
	o->color = qdb_color_wanted(f);
	o->indent = 0;
	o->header = 1;
}

static const char *cell_text(const struct qdb_table *t, int r, int c)
{
	const char *s = t->rows[r][c].text;
	return s ? s : "";
}

/* Spaces between columns prev and c: two between two text columns, else
 * one (right-aligned numbers are kept apart by their titles). */
static int gap(const struct qdb_table *t, int prev, int c)
{
	return ((t->cols[c].flags | t->cols[prev].flags) & QDB_COL_RIGHT) ? 1 : 2;
}

/* Shrinks the widest shrinkable column (relative to its floor) one step at
 * a time until the table fits or every column is at its floor. */
static int shrink(const struct qdb_table *t, const int *visible, int *width, int total,
		  int limit, int soft)
{
	while (total > limit) {
		int best = -1, best_excess = 0;
		for (int c = 0; c < t->n_cols; c++) {
			if (!visible[c] || !(t->cols[c].flags & QDB_COL_SHRINK))
				continue;
			int floor = soft ? t->cols[c].soft_width : t->cols[c].min_width;
			if (width[c] - floor > best_excess) {
				best = c;
				best_excess = width[c] - floor;
			}
		}
		if (best < 0)
			break;
		width[best]--;
		total--;
	}
	return total;
}

/* Decides widths and visibility: shrink to the soft widths, hide columns
 * by priority, and only when nothing more can be hidden shrink down to the
 * minimum widths. */
static void fit(const struct qdb_table *t, const struct qdb_table_opts *o, int *width,
		int *visible, int *natural)
{
	for (int c = 0; c < t->n_cols; c++) {
		int w = o->header ? qdb_utf8_width(t->cols[c].title) : 0;
		for (int r = 0; r < t->n_rows; r++) {
			int cw = qdb_utf8_width(cell_text(t, r, c));
			if (cw > w)
				w = cw;
		}
		natural[c] = w;
		visible[c] = 1;
	}
	for (;;) {
		int total = o->indent, prev = -1;
		for (int c = 0; c < t->n_cols; c++) {
			width[c] = natural[c];
			if (visible[c]) {
				total += width[c] + (prev >= 0 ? gap(t, prev, c) : 0);
				prev = c;
			}
		}
		if (o->width <= 0 || total <= o->width)
			return;
		total = shrink(t, visible, width, total, o->width, 1);
		if (total <= o->width)
			return;
		/* hide the hideable column with the highest priority number (the
		 * rightmost among equals) and start over */
		int hide = -1;
		for (int c = 0; c < t->n_cols; c++)
			if (visible[c] && t->cols[c].priority > 0 &&
			    (hide < 0 || t->cols[c].priority >= t->cols[hide].priority))
				hide = c;
		if (hide < 0) {
			shrink(t, visible, width, total, o->width, 0);
			return; /* as narrow as it gets */
		}
		visible[hide] = 0;
	}
}

static void put_cell(struct qdb_buf *line, const char *text, enum qdb_style style, int w,
		     int right, int color)
{
	char buf[1024];
	qdb_ellipsize(buf, sizeof buf, text, w);
	int pad = w - qdb_utf8_width(buf);
	if (right)
		qdb_buf_printf(line, "%*s", pad, "");
	if (color && style != QDB_STYLE_NONE && buf[0])
		qdb_buf_printf(line, "%s%s%s", qdb_style_begin(style), buf, qdb_style_end());
	else
		qdb_buf_puts(line, buf);
	if (!right)
		qdb_buf_printf(line, "%*s", pad, "");
}

void qdb_table_print(const struct qdb_table *t, FILE *f, const struct qdb_table_opts *o)
{
	if (t->n_cols == 0)
		return;
	int *width = qdb_alloc_array((size_t)t->n_cols, sizeof *width);
	int *visible = qdb_alloc_array((size_t)t->n_cols, sizeof *visible);
	int *natural = qdb_alloc_array((size_t)t->n_cols, sizeof *natural);
	struct qdb_buf line;
	qdb_buf_init(&line);
	if (!width || !visible || !natural) {
		fprintf(f, "(out of memory printing a table)\n");
		goto out;
	}
	fit(t, o, width, visible, natural);
	for (int r = o->header ? -1 : 0; r < t->n_rows; r++) {
		qdb_buf_reset(&line);
		qdb_buf_printf(&line, "%*s", o->indent, "");
		int prev = -1;
		for (int c = 0; c < t->n_cols; c++) {
			if (!visible[c])
				continue;
			if (prev >= 0)
				qdb_buf_printf(&line, "%*s", gap(t, prev, c), "");
			prev = c;
			if (r < 0)
				put_cell(&line, t->cols[c].title, QDB_STYLE_BOLD, width[c],
					 t->cols[c].flags & QDB_COL_RIGHT, o->color);
			else
				put_cell(&line, cell_text(t, r, c), t->rows[r][c].style, width[c],
					 t->cols[c].flags & QDB_COL_RIGHT, o->color);
		}
		while (line.len > 0 && line.s[line.len - 1] == ' ')
			line.s[--line.len] = '\0'; /* no trailing blanks (empty last cells) */
		fprintf(f, "%s\n", line.s);
	}
	struct qdb_buf note;
	qdb_buf_init(&note);
	for (int c = 0; c < t->n_cols; c++)
		if (!visible[c])
			qdb_buf_printf(&note, "%s%s", note.len ? ", " : "", t->cols[c].title);
	if (note.len) {
		char msg[1024];
		snprintf(msg, sizeof msg, "(not shown to fit %d columns: %s; --wide shows all)",
			 o->width, note.s);
		char fitted[1024];
		int w = o->width - o->indent;
		qdb_ellipsize(fitted, sizeof fitted, msg, w > 20 ? w : 20);
		fprintf(f, "%*s%s\n", o->indent, "", fitted);
	}
	qdb_buf_done(&note);
out:
	qdb_buf_done(&line);
	qdb_free(width);
	qdb_free(visible);
	qdb_free(natural);
}

/* ---- CSV ----------------------------------------------------------------- */

const char *qdb_fmt_exact(char *dst, size_t n, double v)
{
	if (isnan(v))
		snprintf(dst, n, "nan");
	else if (isinf(v))
		snprintf(dst, n, "%s", v > 0 ? "inf" : "-inf");
	else
		/* the shortest of %.15g..%.17g that reads back as the same double */
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(dst, n, "%.*g", prec, v);
			if (strtod(dst, NULL) == v)
				break;
		}
	return dst;
}

void qdb_csv_field(FILE *f, const char *s, int first)
{
	if (!first)
		fputc(',', f);
	if (!s)
		return;
	size_t n = strlen(s);
	int quote = n > 0 && (s[0] == ' ' || s[n - 1] == ' ');
	if (!quote && strpbrk(s, ",\"\r\n"))
		quote = 1;
	if (!quote) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

void qdb_csv_row(FILE *f, const char *const *fields, int n)
{
	for (int i = 0; i < n; i++)
		qdb_csv_field(f, fields[i], i == 0);
	fputc('\n', f);
}

/* ---- JSON ---------------------------------------------------------------- */

void qdb_json_init(struct qdb_json *j, FILE *f)
{
	memset(j, 0, sizeof *j);
	j->f = f;
}

static void json_indent(struct qdb_json *j)
{
	fputc('\n', j->f);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

/* Separator and indentation before a value or a key. */
static void json_pre(struct qdb_json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->depth > 0) {
		if (j->count[j->depth - 1]++ > 0)
			fputc(',', j->f);
		json_indent(j);
	}
}

static void json_open(struct qdb_json *j, char ch)
{
	json_pre(j);
	fputc(ch, j->f);
	if (j->depth < QDB_JSON_MAX_DEPTH) {
		j->count[j->depth] = 0;
		j->close[j->depth] = ch == '{' ? '}' : ']';
	}
	j->depth++;
}

static void json_close(struct qdb_json *j, char ch)
{
	if (j->depth <= 0)
		return;
	j->depth--;
	if (j->depth < QDB_JSON_MAX_DEPTH && j->count[j->depth] > 0)
		json_indent(j);
	fputc(ch, j->f);
}

void qdb_json_begin_object(struct qdb_json *j) { json_open(j, '{'); }
void qdb_json_end_object(struct qdb_json *j) { json_close(j, '}'); }
void qdb_json_begin_array(struct qdb_json *j) { json_open(j, '['); }
void qdb_json_end_array(struct qdb_json *j) { json_close(j, ']'); }

/* Length of a valid UTF-8 sequence at s (1..4), 0 if invalid. */
static int utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];
	int n;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, min = 0x10000;
	else
		return 0;
	unsigned cp = c & (0x3F >> (n - 1));
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

static void json_raw_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	fputc('"', f);
	while (*s) {
		unsigned c = *s;
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc((int)c, f);
			s++;
		} else if (c < 0x20 || c == 0x7F) {
			switch (c) {
			case '\n': fputs("\\n", f); break;
			case '\t': fputs("\\t", f); break;
			case '\r': fputs("\\r", f); break;
			default: fprintf(f, "\\u%04x", c); break;
			}
			s++;
		} else if (c < 0x80) {
			fputc((int)c, f);
			s++;
		} else {
			int n = utf8_seq(s);
			if (n == 0) {
				fputs("\\ufffd", f);
				s++;
			} else {
				fwrite(s, 1, (size_t)n, f);
				s += n;
			}
		}
	}
	fputc('"', f);
}

void qdb_json_key(struct qdb_json *j, const char *key)
{
	json_pre(j);
	json_raw_string(j->f, key);
	fputs(": ", j->f);
	j->after_key = 1;
}

void qdb_json_string(struct qdb_json *j, const char *s)
{
	json_pre(j);
	if (s)
		json_raw_string(j->f, s);
	else
		fputs("null", j->f);
}

void qdb_json_number(struct qdb_json *j, double v)
{
	json_pre(j);
	if (isnan(v))
		fputs("\"nan\"", j->f);
	else if (isinf(v))
		fputs(v > 0 ? "\"inf\"" : "\"-inf\"", j->f);
	else {
		char buf[40];
		fputs(qdb_fmt_exact(buf, sizeof buf, v), j->f);
	}
}

void qdb_json_int(struct qdb_json *j, int64_t v)
{
	json_pre(j);
	fprintf(j->f, "%lld", (long long)v);
}

void qdb_json_bool(struct qdb_json *j, int v)
{
	json_pre(j);
	fputs(v ? "true" : "false", j->f);
}

void qdb_json_null(struct qdb_json *j)
{
	json_pre(j);
	fputs("null", j->f);
}

void qdb_json_finish(struct qdb_json *j)
{
	while (j->depth > 0)
		json_close(j, j->depth <= QDB_JSON_MAX_DEPTH ? j->close[j->depth - 1] : '}');
	fputc('\n', j->f);
}
