/* table.h - output for the CLI: aligned text tables, CSV and JSON.
 *
 * struct qdb_table collects cells as strings, then prints them aligned.
 * Fitting: the table is made to fit opts.width columns (80 when stdout is
 * not a terminal, else the terminal's width; 0 = no limit, --wide). First
 * shrinkable columns (QDB_COL_SHRINK: layer names, shapes) lose characters
 * from the middle ("backbone...conv2"), down to their soft width; if that
 * is not enough, columns with the highest priority number are hidden (a
 * note below the table names them), and only then do shrinkable columns go
 * down to their minimum width. Priority 0 columns are never hidden.
 * Two text columns are separated by two spaces, a number (QDB_COL_RIGHT)
 * from its neighbours by one.
 * Widths count UTF-8 code points. Colour (ANSI) only when opts.color, which
 * qdb_color_wanted() decides: a tty and NO_COLOR unset (or empty).
 *
 * The table owns copies of every string; qdb_table_delete frees them.
 *
 * CSV (RFC 4180): a field is quoted when it holds a comma, a quote, CR, LF
 * or leading/trailing space; quotes are doubled; lines end in "\n".
 *
 * JSON: struct qdb_json streams well-formed JSON (commas and nesting kept by
 * the writer, pretty-printed with two-space indents). Strings are escaped
 * (quote, backslash, control characters; invalid UTF-8 bytes become
 * U+FFFD). Non-finite numbers, which JSON cannot hold, are written as the
 * strings "inf", "-inf" and "nan": consumers that want numbers map those.
 * The writer never fails itself; stdio errors are caught by the caller with
 * ferror()/fflush() at the end.
 */
#ifndef QDB_CLI_TABLE_H
#define QDB_CLI_TABLE_H

#include <stdint.h>
#include <stdio.h>

enum qdb_format { QDB_FORMAT_TABLE, QDB_FORMAT_CSV, QDB_FORMAT_JSON };
/* "table", "csv", "json"; 0 on success, -1 otherwise. */
int qdb_format_parse(const char *s, enum qdb_format *out);

/* 1 when colour should be used on stream f. */
int qdb_color_wanted(FILE *f);
/* Width to fit on f: the terminal's columns if f is a tty, else 80. */
int qdb_term_width(FILE *f);

enum { QDB_COL_RIGHT = 1, QDB_COL_SHRINK = 2 };
enum qdb_style { QDB_STYLE_NONE, QDB_STYLE_BOLD, QDB_STYLE_RED, QDB_STYLE_BOLDRED,
		 QDB_STYLE_YELLOW, QDB_STYLE_GREEN, QDB_STYLE_DIM };

struct qdb_table;

struct qdb_table *qdb_table_new(void);
void qdb_table_delete(struct qdb_table *t);
/* Adds a column; returns its index, -1 on allocation failure. min_width
 * matters for QDB_COL_SHRINK columns; priority 0 = never hidden. */
int qdb_table_add_col(struct qdb_table *t, const char *title, unsigned flags,
		      int min_width, int priority);
/* A QDB_COL_SHRINK column is first shrunk only down to soft_width (>=
 * min_width); hiding other columns comes before shrinking it further. */
void qdb_table_col_soft(struct qdb_table *t, int col, int soft_width);
/* Adds an empty row; returns its index, -1 on allocation failure. */
int qdb_table_add_row(struct qdb_table *t);
/* Sets a cell (text copied; NULL = empty). Returns 0, -1 on failure. */
int qdb_table_set(struct qdb_table *t, int row, int col, const char *text,
		  enum qdb_style style);
int qdb_table_setf(struct qdb_table *t, int row, int col, enum qdb_style style,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int qdb_table_n_rows(const struct qdb_table *t);

struct qdb_table_opts {
	int width;      /* 0: no limit */
	int color;
	int indent;     /* spaces before every line */
	int header;     /* print the titles (default 1) */
};
void qdb_table_opts_init(struct qdb_table_opts *o, FILE *f, int wide);
void qdb_table_print(const struct qdb_table *t, FILE *f, const struct qdb_table_opts *o);

/* Copies s into dst truncated to at most w code points with a middle
 * "..." (w < 4: the head only). Returns dst. */
char *qdb_ellipsize(char *dst, size_t n, const char *s, int w);
/* Number of UTF-8 code points in s. */
int qdb_utf8_width(const char *s);

/* Text of style (ANSI escape), "" for NONE; qdb_style_end() resets. */
const char *qdb_style_begin(enum qdb_style s);
const char *qdb_style_end(void);

/* A double as the shortest text that reads back exactly ("0.1", not
 * "0.10000000000000001"); "inf", "-inf", "nan" for the non-finite. */
const char *qdb_fmt_exact(char *dst, size_t n, double v);

/* CSV. */
void qdb_csv_field(FILE *f, const char *s, int first);
void qdb_csv_row(FILE *f, const char *const *fields, int n);

/* JSON. */
#define QDB_JSON_MAX_DEPTH 32
struct qdb_json {
	FILE *f;
	int depth;
	int count[QDB_JSON_MAX_DEPTH]; /* items written at each level */
	char close[QDB_JSON_MAX_DEPTH]; /* '}' or ']' for each open level */
	int after_key;
};
void qdb_json_init(struct qdb_json *j, FILE *f);
void qdb_json_begin_object(struct qdb_json *j);
void qdb_json_end_object(struct qdb_json *j);
void qdb_json_begin_array(struct qdb_json *j);
void qdb_json_end_array(struct qdb_json *j);
void qdb_json_key(struct qdb_json *j, const char *key);
void qdb_json_string(struct qdb_json *j, const char *s); /* NULL -> null */
void qdb_json_number(struct qdb_json *j, double v);     /* see above for inf/nan */
void qdb_json_int(struct qdb_json *j, int64_t v);
void qdb_json_bool(struct qdb_json *j, int v);
void qdb_json_null(struct qdb_json *j);
/* Closes whatever is still open and ends the document with a newline. */
void qdb_json_finish(struct qdb_json *j);

#endif
