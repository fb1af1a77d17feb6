/* align.h - aligning the layers of a reference (A) and a candidate (B).
 *
 * Layers align by exact name first, then through user rename rules, never by
 * position. Rules (one per line in a --map file; '#' at the start of a line
 * or after a blank starts a comment):
 *   regex => replacement     POSIX extended regex applied to B's names
 *                            (\1..\9 in the replacement); the first rule that
 *                            matches rewrites the name, which is then looked
 *                            up among A's names. Like sed's s///, only the
 *                            matched part is replaced (anchor with ^...$ to
 *                            rewrite whole names); \0 is the whole match,
 *                            \\ a backslash.
 *   a+b+... = c              fused group: A's layers a, b, ... were fused
 *                            into B's layer c; c is compared with the LAST
 *                            member of the group (the group's output)
 * Fused groups are applied before exact names (a fused conv usually keeps
 * the conv's name); a group whose c or last member is absent is skipped.
 * A name that occurs several times pairs with its occurrences in order.
 * struct qdb_align is embedded: qdb_align_init / qdb_align_done; it owns the
 * pair and unmatched arrays. struct qdb_rules likewise (qdb_rules_done).
 */
#ifndef QDB_ALIGN_H
#define QDB_ALIGN_H

#include "base/err.h"

struct qdb_rule;

struct qdb_rules {
	struct qdb_rule *v;
	int n, cap;
};

void qdb_rules_init(struct qdb_rules *r);
void qdb_rules_done(struct qdb_rules *r);
/* Parses one rule line; empty and comment lines are accepted and ignored.
 * `where` (e.g. "map.txt:3") prefixes messages. */
int qdb_rules_add_line(struct qdb_rules *r, const char *line, const char *where,
		       struct qdb_err *err);
int qdb_rules_load(struct qdb_rules *r, const char *path, struct qdb_err *err);

struct qdb_align_pair {
	int a, b;        /* layer indices in A and B */
	int via_rule;    /* 0 exact name, 1 regex rule, 2 fused group */
};

struct qdb_align {
	struct qdb_align_pair *pairs; /* in A's order */
	int n_pairs;
	int *only_a, n_only_a;        /* A layers without partner (fused-group
	                                 members other than the last are not
	                                 listed: they are covered by the group) */
	int *only_b, n_only_b;
};

void qdb_align_init(struct qdb_align *al);
void qdb_align_done(struct qdb_align *al);
/* rules may be NULL. Names are arrays of n strings in execution order. */
int qdb_align_layers(struct qdb_align *al, const char *const *a_names, int n_a,
		     const char *const *b_names, int n_b, const struct qdb_rules *rules,
		     struct qdb_err *err);

#endif
