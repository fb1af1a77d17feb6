/* align.c - aligning layers by name, rename rules and fused groups.
 *
 * Order of matching, each step only among layers still unmatched:
 *   1. fused groups: an explicit statement by the user, so it wins over an
 *      exact name (a fused conv usually keeps the conv's name, yet must be
 *      compared with the group's last layer);
 *   2. exact names (a name used several times pairs occurrences in order);
 *   3. regex rules on B's names, first matching rule only.
 * Nothing is ever paired by position. A group whose target is not among B's
 * layers, or whose last member is not among A's, does not apply.
 */
#include "config.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/align.h"
#include "base/alloc.h"
#include "base/str.h"

enum rule_kind { RULE_REGEX, RULE_FUSED };

struct qdb_rule {
	enum rule_kind kind;
	regex_t *re;      /* RULE_REGEX (heap: regex_t is not promised movable) */
	char *repl;
	char **members;   /* RULE_FUSED: NULL-terminated, A's names */
	char *target;     /* RULE_FUSED: B's name */
};

static void rule_done(struct qdb_rule *r)
{
	if (r->re) {
		regfree(r->re);
		qdb_free(r->re);
	}
	qdb_free(r->repl);
	if (r->members)
		qdb_strv_free(r->members);
	qdb_free(r->target);
	memset(r, 0, sizeof *r);
}

void qdb_rules_init(struct qdb_rules *r)
{
	r->v = NULL;
	r->n = r->cap = 0;
}

void qdb_rules_done(struct qdb_rules *r)
{
	for (int i = 0; i < r->n; i++)
		rule_done(&r->v[i]);
	qdb_free(r->v);
	qdb_rules_init(r);
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Copies s[0..n) without surrounding blanks. */
static char *trim_dup(const char *s, size_t n)
{
	while (n && is_blank(*s)) {
		s++;
		n--;
	}
	while (n && is_blank(s[n - 1]))
		n--;
	return qdb_strndup(s, n);
}

/* Checks the replacement's escapes: \1..\9 within the regex's groups, \\
 * for a backslash; any other escaped character stands for itself. */
static int check_repl(const char *repl, size_t ngroups, const char *where, struct qdb_err *err)
{
	for (const char *p = repl; *p; p++) {
		if (*p != '\\')
			continue;
		p++;
		if (!*p)
			return qdb_err_set(err, QDB_EINVAL, "%s: replacement ends with a backslash",
					   where);
		if (*p >= '1' && *p <= '9' && (size_t)(*p - '0') > ngroups)
			return qdb_err_set(err, QDB_EINVAL,
					   "%s: replacement uses \\%c but the regex has %zu group%s",
					   where, *p, ngroups, ngroups == 1 ? "" : "s");
	}
	return QDB_OK;
}

static int push_rule(struct qdb_rules *r, struct qdb_rule *rule, const char *where,
		     struct qdb_err *err)
{
	if (r->n == r->cap) {
		int cap = r->cap ? 2 * r->cap : 8;
		struct qdb_rule *v = qdb_realloc(r->v, (size_t)cap * sizeof *v);
		if (!v) {
			rule_done(rule);
			return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", where);
		}
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = *rule;
	return QDB_OK;
}

static int add_regex(struct qdb_rules *r, const char *s, const char *arrow, const char *where,
		     struct qdb_err *err)
{
	struct qdb_rule rule = {.kind = RULE_REGEX};
	char *pat = trim_dup(s, (size_t)(arrow - s));
	rule.repl = trim_dup(arrow + 2, strlen(arrow + 2));
	rule.re = qdb_malloc(sizeof *rule.re);
	if (!pat || !rule.repl || !rule.re) {
		qdb_free(pat);
		qdb_free(rule.re);
		rule.re = NULL;
		rule_done(&rule);
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", where);
	}
	if (!*pat) {
		qdb_free(pat);
		qdb_free(rule.re);
		rule.re = NULL;
		rule_done(&rule);
		return qdb_err_set(err, QDB_EINVAL, "%s: empty regex before '=>'", where);
	}
	int rc = regcomp(rule.re, pat, REG_EXTENDED);
	qdb_free(pat);
	if (rc) {
		char msg[128];
		regerror(rc, rule.re, msg, sizeof msg);
		qdb_free(rule.re);
		rule.re = NULL;
		rule_done(&rule);
		return qdb_err_set(err, QDB_EINVAL, "%s: bad regex: %s", where, msg);
	}
	if ((rc = check_repl(rule.repl, rule.re->re_nsub, where, err))) {
		rule_done(&rule);
		return rc;
	}
	return push_rule(r, &rule, where, err);
}

static int add_fused(struct qdb_rules *r, const char *s, const char *eq, const char *where,
		     struct qdb_err *err)
{
	struct qdb_rule rule = {.kind = RULE_FUSED};
	char *lhs = qdb_strndup(s, (size_t)(eq - s));
	rule.target = trim_dup(eq + 1, strlen(eq + 1));
	if (lhs)
		rule.members = qdb_split(lhs, '+');
	qdb_free(lhs);
	if (!rule.target || !rule.members) {
		rule_done(&rule);
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", where);
	}
	for (char **m = rule.members; *m; m++) {
		char *t = trim_dup(*m, strlen(*m));
		if (!t) {
			rule_done(&rule);
			return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", where);
		}
		qdb_free(*m);
		*m = t;
		if (!*t) {
			rule_done(&rule);
			return qdb_err_set(err, QDB_EINVAL, "%s: empty layer name in fused group",
					   where);
		}
	}
	if (!*rule.target || strchr(rule.target, '=')) {
		rule_done(&rule);
		return qdb_err_set(err, QDB_EINVAL,
				   "%s: fused group needs one layer name after '='", where);
	}
	return push_rule(r, &rule, where, err);
}

int qdb_rules_add_line(struct qdb_rules *r, const char *line, const char *where,
		       struct qdb_err *err)
{
	if (!where)
		where = "rule";
	/* '#' starts a comment at the start of a line or after a blank (a '#'
	 * inside a regex or name is kept). */
	size_t n = strlen(line);
	for (size_t i = 0; i < n; i++) {
		if (line[i] == '#' && (i == 0 || is_blank(line[i - 1]))) {
			n = i;
			break;
		}
	}
	char *s = trim_dup(line, n);
	if (!s)
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", where);
	int rc = QDB_OK;
	const char *arrow = strstr(s, "=>"), *eq = strchr(s, '=');
	if (!*s)
		rc = QDB_OK;
	else if (arrow)
		rc = add_regex(r, s, arrow, where, err);
	else if (eq)
		rc = add_fused(r, s, eq, where, err);
	else
		rc = qdb_err_set(err, QDB_EINVAL,
				 "%s: expected 'regex => replacement' or 'a+b = c', got '%s'", where,
				 s);
	qdb_free(s);
	return rc;
}

int qdb_rules_load(struct qdb_rules *r, const char *path, struct qdb_err *err)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return qdb_err_set(err, QDB_EIO, "%s: cannot open: %s", path, strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	int rc = QDB_OK;
	long lineno = 0;
	char where[512];
	ssize_t len;
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		snprintf(where, sizeof where, "%s:%ld", path, lineno);
		if (strlen(line) != (size_t)len) {
			rc = qdb_err_set(err, QDB_EFORMAT, "%s: NUL byte in line", where);
			break;
		}
		if ((rc = qdb_rules_add_line(r, line, where, err)))
			break;
	}
	if (!rc && ferror(f))
		rc = qdb_err_set(err, QDB_EIO, "%s: read error", path);
	free(line);
	fclose(f);
	return rc;
}

/* ---- alignment ---- */

/* Name -> occurrences, as an open-addressing table of first indices plus a
 * chain of later occurrences in order. */
struct name_index {
	const char *const *names;
	int *slot;   /* cap entries, -1 empty */
	int *next;   /* per name: next index with the same name, -1 */
	size_t cap;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void index_done(struct name_index *x)
{
	qdb_free(x->slot);
	qdb_free(x->next);
	x->slot = x->next = NULL;
}

static int index_build(struct name_index *x, const char *const *names, int n)
{
	size_t cap = 16;
	while (cap < 2 * (size_t)n)
		cap *= 2;
	x->names = names;
	x->cap = cap;
	x->slot = qdb_alloc_array(cap, sizeof *x->slot);
	x->next = qdb_alloc_array(n ? (size_t)n : 1, sizeof *x->next);
	if (!x->slot || !x->next) {
		index_done(x);
		return -1;
	}
	for (size_t i = 0; i < cap; i++)
		x->slot[i] = -1;
	int *last = qdb_alloc_array(cap, sizeof *last); /* tail of each chain */
	if (!last) {
		index_done(x);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		x->next[i] = -1;
		size_t h = (size_t)hash_str(names[i]) & (cap - 1);
		while (x->slot[h] >= 0 && strcmp(names[x->slot[h]], names[i]) != 0)
			h = (h + 1) & (cap - 1);
		if (x->slot[h] < 0)
			x->slot[h] = i;
		else
			x->next[last[h]] = i;
		last[h] = i;
	}
	qdb_free(last);
	return 0;
}

/* First occurrence of name that is still free (taken[i] == 0), or -1. */
static int index_find_free(const struct name_index *x, const char *name, const char *taken)
{
	size_t h = (size_t)hash_str(name) & (x->cap - 1);
	while (x->slot[h] >= 0) {
		if (strcmp(x->names[x->slot[h]], name) == 0) {
			for (int i = x->slot[h]; i >= 0; i = x->next[i])
				if (!taken[i])
					return i;
			return -1;
		}
		h = (h + 1) & (x->cap - 1);
	}
	return -1;
}

void qdb_align_init(struct qdb_align *al) { memset(al, 0, sizeof *al); }

void qdb_align_done(struct qdb_align *al)
{
	qdb_free(al->pairs);
	qdb_free(al->only_a);
	qdb_free(al->only_b);
	qdb_align_init(al);
}

/* Applies a regex rule with sed semantics (the first match is replaced,
 * the rest of the name kept). Returns 1 and fills out on a match, 0 if the
 * rule does not match, -1 on allocation failure. */
static int apply_regex(const struct qdb_rule *r, const char *name, struct qdb_buf *out)
{
	regmatch_t m[10];
	if (regexec(r->re, name, 10, m, 0) != 0)
		return 0;
	qdb_buf_reset(out);
	qdb_buf_append(out, name, (size_t)m[0].rm_so);
	for (const char *p = r->repl; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			if (*p >= '0' && *p <= '9') {
				const regmatch_t *g = &m[*p - '0'];
				if (g->rm_so >= 0)
					qdb_buf_append(out, name + g->rm_so, (size_t)(g->rm_eo - g->rm_so));
				continue;
			}
		}
		qdb_buf_append(out, p, 1);
	}
	qdb_buf_puts(out, name + m[0].rm_eo);
	return out->oom ? -1 : 1;
}

int qdb_align_layers(struct qdb_align *al, const char *const *a_names, int n_a,
		     const char *const *b_names, int n_b, const struct qdb_rules *rules,
		     struct qdb_err *err)
{
	qdb_align_done(al);
	if (n_a < 0 || n_b < 0)
		return qdb_err_set(err, QDB_EINVAL, "align: negative layer count");
	for (int i = 0; i < n_a; i++)
		if (!a_names[i])
			return qdb_err_set(err, QDB_EINVAL, "align: reference layer %d has no name", i);
	for (int i = 0; i < n_b; i++)
		if (!b_names[i])
			return qdb_err_set(err, QDB_EINVAL, "align: candidate layer %d has no name", i);

	int rc = QDB_OK;
	struct name_index ia = {0}, ib = {0};
	struct qdb_buf name;
	qdb_buf_init(&name);
	int *a_partner = qdb_alloc_array(n_a ? (size_t)n_a : 1, sizeof(int));
	int *a_via = qdb_alloc_array(n_a ? (size_t)n_a : 1, sizeof(int));
	char *a_taken = qdb_calloc(n_a ? (size_t)n_a : 1, 1); /* paired or covered */
	char *b_taken = qdb_calloc(n_b ? (size_t)n_b : 1, 1);
	if (!a_partner || !a_via || !a_taken || !b_taken || index_build(&ia, a_names, n_a) ||
	    index_build(&ib, b_names, n_b)) {
		rc = qdb_err_set(err, QDB_ENOMEM, "align: out of memory");
		goto out;
	}
	for (int i = 0; i < n_a; i++)
		a_partner[i] = -1;

	/* 1. fused groups */
	for (int k = 0; rules && k < rules->n; k++) {
		const struct qdb_rule *r = &rules->v[k];
		if (r->kind != RULE_FUSED)
			continue;
		size_t nm = qdb_strv_len(r->members);
		int b = index_find_free(&ib, r->target, b_taken);
		int a = index_find_free(&ia, r->members[nm - 1], a_taken);
		if (a < 0 || b < 0)
			continue;
		a_partner[a] = b;
		a_via[a] = 2;
		a_taken[a] = b_taken[b] = 1;
		for (size_t j = 0; j + 1 < nm; j++) {
			int c = index_find_free(&ia, r->members[j], a_taken);
			if (c >= 0)
				a_taken[c] = 1;
		}
	}
	/* 2. exact names */
	for (int b = 0; b < n_b; b++) {
		if (b_taken[b])
			continue;
		int a = index_find_free(&ia, b_names[b], a_taken);
		if (a < 0)
			continue;
		a_partner[a] = b;
		a_via[a] = 0;
		a_taken[a] = b_taken[b] = 1;
	}
	/* 3. regex rules: the first rule that matches decides */
	for (int b = 0; rules && b < n_b; b++) {
		if (b_taken[b])
			continue;
		for (int k = 0; k < rules->n; k++) {
			const struct qdb_rule *r = &rules->v[k];
			if (r->kind != RULE_REGEX)
				continue;
			int m = apply_regex(r, b_names[b], &name);
			if (m < 0) {
				rc = qdb_err_set(err, QDB_ENOMEM, "align: out of memory");
				goto out;
			}
			if (!m)
				continue;
			int a = index_find_free(&ia, name.s, a_taken);
			if (a >= 0) {
				a_partner[a] = b;
				a_via[a] = 1;
				a_taken[a] = b_taken[b] = 1;
			}
			break;
		}
	}

	/* Results: pairs in A's order, then the unmatched of each side. */
	int np = 0, noa = 0, nob = 0;
	for (int a = 0; a < n_a; a++) {
		np += a_partner[a] >= 0;
		noa += !a_taken[a];
	}
	for (int b = 0; b < n_b; b++)
		nob += !b_taken[b];
	al->pairs = qdb_alloc_array(np ? (size_t)np : 1, sizeof *al->pairs);
	al->only_a = qdb_alloc_array(noa ? (size_t)noa : 1, sizeof(int));
	al->only_b = qdb_alloc_array(nob ? (size_t)nob : 1, sizeof(int));
	if (!al->pairs || !al->only_a || !al->only_b) {
		qdb_align_done(al);
		rc = qdb_err_set(err, QDB_ENOMEM, "align: out of memory");
		goto out;
	}
	for (int a = 0; a < n_a; a++) {
		if (a_partner[a] >= 0)
			al->pairs[al->n_pairs++] = (struct qdb_align_pair){a, a_partner[a], a_via[a]};
		else if (!a_taken[a])
			al->only_a[al->n_only_a++] = a;
	}
	for (int b = 0; b < n_b; b++)
		if (!b_taken[b])
			al->only_b[al->n_only_b++] = b;
out:
	qdb_buf_done(&name);
	index_done(&ia);
	index_done(&ib);
	qdb_free(a_partner);
	qdb_free(a_via);
	qdb_free(a_taken);
	qdb_free(b_taken);
	return rc;
}
