/* test_align.c - layer alignment: exact names, regex rules, fused groups. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/align.h"
#include "base/alloc.h"
#include "tap.h"

static struct qdb_err e;

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int has_pair(const struct qdb_align *al, int a, int b, int via)
{
	for (int i = 0; i < al->n_pairs; i++)
		if (al->pairs[i].a == a && al->pairs[i].b == b && al->pairs[i].via_rule == via)
			return 1;
	return 0;
}

static void test_exact(void)
{
	struct qdb_align al;
	qdb_align_init(&al);
	const char *a[] = {"conv1", "relu1", "fc"}, *b[] = {"fc", "conv1", "extra"};
	ok(qdb_align_layers(&al, a, N(a), b, N(b), NULL, &e) == QDB_OK, "align by name");
	ok(al.n_pairs == 2 && al.pairs[0].a == 0 && al.pairs[0].b == 1 && al.pairs[1].a == 2 &&
	   al.pairs[1].b == 0 && al.pairs[0].via_rule == 0, "pairs in A's order");
	ok(al.n_only_a == 1 && al.only_a[0] == 1, "relu1 only in A");
	ok(al.n_only_b == 1 && al.only_b[0] == 2, "extra only in B");

	const char *x[] = {"x", "y"}, *y[] = {"p", "q"};
	qdb_align_layers(&al, x, 2, y, 2, NULL, &e);
	ok(al.n_pairs == 0 && al.n_only_a == 2 && al.n_only_b == 2, "never aligned by position");

	const char *d[] = {"add", "mul", "add", "add"}, *f[] = {"add", "add"};
	qdb_align_layers(&al, d, 4, f, 2, NULL, &e);
	ok(al.n_pairs == 2 && has_pair(&al, 0, 0, 0) && has_pair(&al, 2, 1, 0) &&
	   al.n_only_a == 2 && al.only_a[0] == 1 && al.only_a[1] == 3,
	   "repeated names pair in order of occurrence");

	qdb_align_layers(&al, a, 0, b, 0, NULL, &e);
	ok(al.n_pairs == 0 && al.n_only_a == 0 && al.n_only_b == 0, "empty sides");
	const char *bad[] = {"a", NULL};
	ok(qdb_align_layers(&al, a, 1, bad, 2, NULL, &e) == QDB_EINVAL, "NULL name refused");
	qdb_align_done(&al);
}

static void test_rules(void)
{
	struct qdb_rules r;
	struct qdb_align al;
	qdb_rules_init(&r);
	qdb_align_init(&al);

	ok(qdb_rules_add_line(&r, "^model\\.(.*)$ => \\1", "t:1", &e) == QDB_OK, "regex rule");
	ok(qdb_rules_add_line(&r, "_q([0-9]*)$ => \\1  # sed-like: keeps the rest", "t:2", &e) == QDB_OK,
	   "regex rule with comment");
	ok(qdb_rules_add_line(&r, "", "t:3", &e) == QDB_OK, "empty line");
	ok(qdb_rules_add_line(&r, "   # only a comment", "t:4", &e) == QDB_OK, "comment line");
	ok(r.n == 2, "two rules kept");
	const char *a[] = {"conv1", "fc", "head2", "pool"};
	const char *b[] = {"model.conv1", "fc", "head_q2", "model.fc", "other"};
	ok(qdb_align_layers(&al, a, N(a), b, N(b), &r, &e) == QDB_OK, "align with rules");
	ok(has_pair(&al, 0, 0, 1), "model.conv1 -> conv1 via rule");
	ok(has_pair(&al, 1, 1, 0), "fc exact, wins over model.fc -> fc");
	ok(has_pair(&al, 2, 2, 1), "head_q2 -> head2: only the match is replaced");
	ok(al.n_pairs == 3, "three pairs");
	ok(al.n_only_b == 2 && al.only_b[0] == 3 && al.only_b[1] == 4,
	   "model.fc and other unmatched");
	ok(al.n_only_a == 1 && al.only_a[0] == 3, "pool unmatched");
	qdb_rules_done(&r);

	/* The first rule that matches decides, even if its result is not found. */
	qdb_rules_init(&r);
	qdb_rules_add_line(&r, "conv => xxx", "t:1", &e);
	qdb_rules_add_line(&r, "conv(1) => layer\\1", "t:2", &e);
	const char *a2[] = {"layer1"}, *b2[] = {"conv1"};
	qdb_align_layers(&al, a2, 1, b2, 1, &r, &e);
	ok(al.n_pairs == 0 && al.n_only_a == 1 && al.n_only_b == 1, "first matching rule decides");
	qdb_rules_done(&r);

	/* Escapes: \\ is a backslash, \0 the whole match. */
	qdb_rules_init(&r);
	ok(qdb_rules_add_line(&r, "^b(.)$ => x\\\\\\0", "t:1", &e) == QDB_OK, "escapes in replacement");
	const char *a3[] = {"x\\b7"}, *b3[] = {"b7"};
	qdb_align_layers(&al, a3, 1, b3, 1, &r, &e);
	ok(al.n_pairs == 1 && al.pairs[0].via_rule == 1, "\\\\ and \\0 expanded");
	qdb_rules_done(&r);
	qdb_align_done(&al);
}

static void test_fused(void)
{
	struct qdb_rules r;
	struct qdb_align al;
	qdb_rules_init(&r);
	qdb_align_init(&al);
	ok(qdb_rules_add_line(&r, " conv1 + bn1+relu1 =conv1 ", "t:1", &e) == QDB_OK, "fused group");
	ok(qdb_rules_add_line(&r, "a+b = missing", "t:2", &e) == QDB_OK, "group with absent target");
	const char *a[] = {"conv1", "bn1", "relu1", "fc", "a", "b"};
	const char *b[] = {"conv1", "fc"};
	ok(qdb_align_layers(&al, a, N(a), b, N(b), &r, &e) == QDB_OK, "align with a group");
	ok(has_pair(&al, 2, 0, 2), "B's conv1 is compared with relu1 (the group's output)");
	ok(has_pair(&al, 3, 1, 0), "fc exact");
	ok(al.n_pairs == 2, "two pairs");
	ok(al.n_only_a == 2 && al.only_a[0] == 4 && al.only_a[1] == 5,
	   "group members are covered; a, b of the absent group stay unmatched");
	ok(al.n_only_b == 0, "nothing only in B");
	qdb_rules_done(&r);
	qdb_align_done(&al);
}

static void test_bad_rules(void)
{
	struct qdb_rules r;
	qdb_rules_init(&r);
	ok(qdb_rules_add_line(&r, "conv(1 => x", "map.txt:3", &e) == QDB_EINVAL, "unbalanced regex");
	ok(strncmp(e.msg, "map.txt:3: bad regex: ", 22) == 0, "bad regex message: %s", e.msg);
	ok(qdb_rules_add_line(&r, "a(b) => \\2", "map.txt:4", &e) == QDB_EINVAL, "group out of range");
	ok(strcmp(e.msg, "map.txt:4: replacement uses \\2 but the regex has 1 group") == 0,
	   "group message: %s", e.msg);
	ok(qdb_rules_add_line(&r, "a => b\\", "m:1", &e) == QDB_EINVAL, "trailing backslash");
	ok(qdb_rules_add_line(&r, " => b", "m:1", &e) == QDB_EINVAL && strstr(e.msg, "empty regex"),
	   "empty regex");
	ok(qdb_rules_add_line(&r, "just words", "m:5", &e) == QDB_EINVAL, "no operator");
	ok(strcmp(e.msg, "m:5: expected 'regex => replacement' or 'a+b = c', got 'just words'") == 0,
	   "no operator message");
	ok(qdb_rules_add_line(&r, "a++b = c", "m:1", &e) == QDB_EINVAL &&
	   strstr(e.msg, "empty layer name"), "empty group member");
	ok(qdb_rules_add_line(&r, " = c", "m:1", &e) == QDB_EINVAL, "group without members");
	ok(qdb_rules_add_line(&r, "a+b = ", "m:1", &e) == QDB_EINVAL, "group without target");
	ok(qdb_rules_add_line(&r, "a+b = c = d", "m:1", &e) == QDB_EINVAL, "two '='");
	ok(r.n == 0, "no rule added by bad lines");
	qdb_rules_done(&r);
}

static void test_load(void)
{
	char path[] = "/tmp/qdb-align-XXXXXX";
	int fd = mkstemp(path);
	ok(fd >= 0, "temp file");
	FILE *f = fdopen(fd, "w");
	fputs("# rename rules\n^m\\.(.*) => \\1\n\nconv+bn = conv\nx[ => y\n", f);
	fclose(f);
	struct qdb_rules r;
	qdb_rules_init(&r);
	ok(qdb_rules_load(&r, path, &e) == QDB_EINVAL, "bad line 5 stops loading");
	char want[64];
	snprintf(want, sizeof want, "%s:5: bad regex: ", path);
	ok(strncmp(e.msg, want, strlen(want)) == 0, "message names file and line: %s", e.msg);
	qdb_rules_done(&r);
	f = fopen(path, "w");
	fputs("# rename rules\n^m\\.(.*) => \\1\n\nconv+bn = conv", f);
	fclose(f);
	ok(qdb_rules_load(&r, path, &e) == QDB_OK && r.n == 2, "load two rules (no final newline)");
	qdb_rules_done(&r);

	/* Allocation failures while loading and aligning: clean errors, no leaks. */
	int fails = 0, okay = 0;
	for (long k = 0; k < 40 && !okay; k++) {
		qdb_rules_init(&r);
		qdb_alloc_fail_after(k);
		int rc = qdb_rules_load(&r, path, &e);
		qdb_alloc_fail_after(-1);
		if (rc == QDB_ENOMEM)
			fails++;
		else if (rc == QDB_OK && r.n == 2)
			okay = 1;
		qdb_rules_done(&r);
	}
	ok(okay && fails > 3, "load under allocation failure (%d failures, then success)", fails);
	qdb_rules_init(&r);
	qdb_rules_load(&r, path, &e);
	const char *a[] = {"conv", "bn", "x1", "y"}, *b[] = {"conv", "m.x1", "z"};
	struct qdb_align al;
	qdb_align_init(&al);
	fails = okay = 0;
	for (long k = 0; k < 40 && !okay; k++) {
		qdb_alloc_fail_after(k);
		int rc = qdb_align_layers(&al, a, 4, b, 3, &r, &e);
		qdb_alloc_fail_after(-1);
		if (rc == QDB_ENOMEM && al.pairs == NULL)
			fails++;
		else if (rc == QDB_OK && al.n_pairs == 2 && has_pair(&al, 1, 0, 2) &&
			 has_pair(&al, 2, 1, 1) && al.n_only_a == 1 && al.only_a[0] == 3 &&
			 al.n_only_b == 1)
			okay = 1;
	}
	ok(okay && fails > 3, "align under allocation failure (%d failures, then success)", fails);
	qdb_align_done(&al);
	qdb_rules_done(&r);
	unlink(path);
	ok(qdb_rules_load(&r, path, &e) == QDB_EIO && strstr(e.msg, "cannot open"), "missing file");
}

int main(void)
{
	test_exact();
	test_rules();
	test_fused();
	test_bad_rules();
	test_load();
	return tap_done();
}
