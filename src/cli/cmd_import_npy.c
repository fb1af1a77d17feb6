/* cmd_import_npy.c - `qdb import-npy DIR -o OUT.qtr`: per-layer .npy dumps
 * (as device runtimes and other toolchains write them) become a trace.
 *
 * Which file holds which (layer, sample) comes from one of:
 *  - a manifest (--manifest FILE): one line per file,
 *        FILE LAYER SAMPLE [SCALE ZERO_POINT]
 *    fields separated by blanks, '#' starts a comment; FILE is relative to
 *    DIR unless absolute; SCALE/ZERO_POINT quantize an integer array.
 *  - file-name rules: every *.npy under DIR (recursively, paths relative to
 *    DIR with '/') is matched against a POSIX extended regex; capture group
 *    --layer-group names the layer, --sample-group the sample. The default
 *    pattern is DEFAULT_PATTERN below ("conv1_0003.npy" -> layer conv1,
 *    sample 3); files are taken in version-sort order.
 * A sample that is all digits becomes an integer id (so it matches dataset
 * ids), anything else a string id. Layers come in manifest / file order,
 * or in the node order of --graph QBC, which also supplies each layer's op
 * and, for integer arrays, the qparams of the value the node produces.
 * Everything is checked before the output is written (atomically).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/str.h"
#include "cli/cli.h"
#include "graph/graph.h"
#include "io/npy.h"
#include "io/qbc.h"
#include "io/trace.h"

#define DEFAULT_PATTERN "^(.+)[_.-]([0-9]+)\\.npy$"
#define CMD "qdb import-npy"

static const char usage_text[] =
	"usage: qdb import-npy DIR -o OUT.qtr [OPTIONS]\n"
	"Turns a directory of per-layer .npy dumps into a trace.\n"
	"  -o, --output FILE       the trace to write (required)\n"
	"  -m, --manifest FILE     lines \"FILE LAYER SAMPLE [SCALE ZERO_POINT]\"\n"
	"  -p, --pattern REGEX     POSIX extended regex on each .npy path under DIR\n"
	"                          (default '" DEFAULT_PATTERN "')\n"
	"      --layer-group N     capture group holding the layer name (default 1)\n"
	"      --sample-group N    capture group holding the sample id (default 2)\n"
	"      --ignore-unmatched  skip .npy files the pattern does not match\n"
	"  -g, --graph QBC         layer order, ops and qparams of integer arrays\n"
	"                          from this graph (layer = node name)\n"
	"  -s, --stage S           stage label of the trace (default device)\n"
	"      --model NAME        model name (default: DIR's base name)\n"
	"  -h, --help              this text\n"
	"Exit status: 0 written, 2 bad input or usage, 3 resource failure.\n";

struct entry {
	char *path;  /* as opened */
	char *layer;
	char *sample;
	int has_q;
	double scale;
	int64_t zp;
	int layer_ix, sample_ix;
};

struct job {
	const char *dir, *out, *manifest, *pattern, *graph_path, *stage, *model;
	int layer_group, sample_group, ignore_unmatched;
	struct entry *e;
	int n, cap;
	char **layers; /* unique names, in output order */
	int n_layers;
	char **samples;
	int n_samples;
	struct qdb_graph *g;
};

/* ---- small string sets ------------------------------------------------------ */

/* Open-addressing index over an array of strings; cap is a power of two. */
struct strset {
	int *slot; /* index into the names array, -1 empty */
	size_t cap;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int strset_init(struct strset *s, size_t n)
{
	s->cap = 16;
	while (s->cap < 2 * n + 1)
		s->cap *= 2;
	s->slot = qdb_alloc_array(s->cap, sizeof *s->slot);
	if (!s->slot)
		return -1;
	for (size_t i = 0; i < s->cap; i++)
		s->slot[i] = -1;
	return 0;
}

/* Index of name in names[], inserting it (as names[*n]) when absent; the
 * caller sized names and the set for every possible name. */
static int strset_intern(struct strset *s, char **names, int *n, const char *name)
{
	size_t i = hash_str(name) & (s->cap - 1);
	while (s->slot[i] >= 0) {
		if (!strcmp(names[s->slot[i]], name))
			return s->slot[i];
		i = (i + 1) & (s->cap - 1);
	}
	names[*n] = (char *)name;
	s->slot[i] = *n;
	return (*n)++;
}

/* ---- collecting entries --------------------------------------------------------- */

static int oom(void)
{
	fprintf(stderr, CMD ": out of memory\n");
	return QDB_EXIT_INTERNAL;
}

static int add_entry(struct job *j, char *path, char *layer, char *sample, int has_q,
		     double scale, int64_t zp)
{
	if (j->n == j->cap) {
		int cap = j->cap ? 2 * j->cap : 64;
		struct entry *e = qdb_realloc(j->e, (size_t)cap * sizeof *e);
		if (!e) {
			qdb_free(path);
			qdb_free(layer);
			qdb_free(sample);
			return oom();
		}
		j->e = e;
		j->cap = cap;
	}
	struct entry *e = &j->e[j->n++];
	memset(e, 0, sizeof *e);
	e->path = path;
	e->layer = layer;
	e->sample = sample;
	e->has_q = has_q;
	e->scale = scale;
	e->zp = zp;
	return 0;
}

static char *join_path(const char *dir, const char *rel)
{
	struct qdb_buf b;
	qdb_buf_init(&b);
	if (rel[0] == '/') {
		qdb_buf_puts(&b, rel);
	} else {
		qdb_buf_puts(&b, dir);
		if (b.len && b.s[b.len - 1] != '/')
			qdb_buf_puts(&b, "/");
		qdb_buf_puts(&b, rel);
	}
	if (b.oom) {
		qdb_buf_done(&b);
		return NULL;
	}
	return qdb_buf_steal(&b);
}

static int read_manifest(struct job *j)
{
	FILE *f = fopen(j->manifest, "r");
	if (!f) {
		fprintf(stderr, CMD ": %s: %s\n", j->manifest, strerror(errno));
		return QDB_EXIT_BADINPUT;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, rc = 0;
	while (!rc && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *fields[6];
		int nf = 0;
		char *save = NULL;
		for (char *tok = strtok_r(line, " \t\r\n", &save); tok;
		     tok = strtok_r(NULL, " \t\r\n", &save)) {
			if (nf == 6)
				break;
			fields[nf++] = tok;
		}
		if (nf == 0)
			continue;
		if (nf != 3 && nf != 5) {
			fprintf(stderr, CMD ": %s:%d: expected FILE LAYER SAMPLE [SCALE ZERO_POINT], "
					"got %d field%s\n", j->manifest, lineno, nf, nf == 1 ? "" : "s");
			rc = QDB_EXIT_BADINPUT;
			break;
		}
		double scale = 0;
		long zp = 0;
		if (nf == 5) {
			if (qdb_parse_double(fields[3], &scale) || !isfinite(scale) || scale <= 0) {
				fprintf(stderr, CMD ": %s:%d: scale '%s' is not a finite positive number\n",
					j->manifest, lineno, fields[3]);
				rc = QDB_EXIT_BADINPUT;
				break;
			}
			if (qdb_parse_long(fields[4], &zp)) {
				fprintf(stderr, CMD ": %s:%d: zero point '%s' is not an integer\n",
					j->manifest, lineno, fields[4]);
				rc = QDB_EXIT_BADINPUT;
				break;
			}
		}
		char *path = join_path(j->dir, fields[0]);
		char *layer = qdb_strdup(fields[1]);
		char *sample = qdb_strdup(fields[2]);
		if (!path || !layer || !sample) {
			qdb_free(path);
			qdb_free(layer);
			qdb_free(sample);
			rc = oom();
			break;
		}
		rc = add_entry(j, path, layer, sample, nf == 5, scale, zp);
	}
	free(line);
	if (!rc && ferror(f)) {
		fprintf(stderr, CMD ": %s: read error\n", j->manifest);
		rc = QDB_EXIT_BADINPUT;
	}
	fclose(f);
	if (!rc && j->n == 0) {
		fprintf(stderr, CMD ": %s: no entries\n", j->manifest);
		rc = QDB_EXIT_BADINPUT;
	}
	return rc;
}

struct pathlist {
	char **v;
	int n, cap;
};

static int pathlist_add(struct pathlist *p, const char *rel)
{
	if (p->n == p->cap) {
		int cap = p->cap ? 2 * p->cap : 64;
		char **v = qdb_realloc(p->v, (size_t)cap * sizeof *v);
		if (!v)
			return -1;
		p->v = v;
		p->cap = cap;
	}
	if (!(p->v[p->n] = qdb_strdup(rel)))
		return -1;
	p->n++;
	return 0;
}

static int has_npy_suffix(const char *s)
{
	size_t n = strlen(s);
	return n > 4 && !strcmp(s + n - 4, ".npy");
}

/* Collects the paths (relative to root) of regular *.npy files below
 * root/rel. Symbolic links to directories are not followed (no cycles). */
static int walk(const char *root, const char *rel, struct pathlist *out, int depth)
{
	char *dpath = rel[0] ? join_path(root, rel) : qdb_strdup(root);
	if (!dpath)
		return oom();
	DIR *d = opendir(dpath);
	if (!d) {
		fprintf(stderr, CMD ": %s: %s\n", dpath, strerror(errno));
		qdb_free(dpath);
		return QDB_EXIT_BADINPUT;
	}
	int rc = 0;
	struct dirent *de;
	while (!rc && (errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *r = rel[0] ? join_path(rel, de->d_name) : qdb_strdup(de->d_name);
		char *full = r ? join_path(root, r) : NULL;
		struct stat st;
		if (!r || !full) {
			rc = oom();
		} else if (lstat(full, &st)) {
			fprintf(stderr, CMD ": %s: %s\n", full, strerror(errno));
			rc = QDB_EXIT_BADINPUT;
		} else if (S_ISDIR(st.st_mode)) {
			if (depth >= 32) {
				fprintf(stderr, CMD ": %s: directories nested too deep\n", full);
				rc = QDB_EXIT_BADINPUT;
			} else {
				rc = walk(root, r, out, depth + 1);
			}
		} else if (has_npy_suffix(de->d_name) && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))) {
			if (pathlist_add(out, r))
				rc = oom();
		}
		qdb_free(r);
		qdb_free(full);
	}
	if (!rc && errno) {
		fprintf(stderr, CMD ": %s: %s\n", dpath, strerror(errno));
		rc = QDB_EXIT_BADINPUT;
	}
	closedir(d);
	qdb_free(dpath);
	return rc;
}

static int cmp_version(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

static char *group_str(const char *s, const regmatch_t *m)
{
	if (m->rm_so < 0)
		return NULL;
	return qdb_strndup(s + m->rm_so, (size_t)(m->rm_eo - m->rm_so));
}

static int scan_dir(struct job *j)
{
	regex_t re;
	int rc = regcomp(&re, j->pattern, REG_EXTENDED);
	if (rc) {
		char msg[256];
		regerror(rc, &re, msg, sizeof msg);
		fprintf(stderr, CMD ": --pattern: %s\n", msg);
		return QDB_EXIT_USAGE;
	}
	int need = j->layer_group > j->sample_group ? j->layer_group : j->sample_group;
	if ((size_t)need > re.re_nsub) {
		fprintf(stderr, CMD ": --pattern has %zu capture group%s, group %d was asked for\n",
			re.re_nsub, re.re_nsub == 1 ? "" : "s", need);
		regfree(&re);
		return QDB_EXIT_USAGE;
	}
	struct pathlist pl = {NULL, 0, 0};
	rc = walk(j->dir, "", &pl, 0);
	if (!rc)
		qsort(pl.v, (size_t)pl.n, sizeof *pl.v, cmp_version);
	regmatch_t m[10];
	int unmatched = 0;
	for (int i = 0; !rc && i < pl.n; i++) {
		if (regexec(&re, pl.v[i], 10, m, 0)) {
			if (!j->ignore_unmatched) {
				fprintf(stderr, CMD ": %s: does not match the pattern '%s' "
						"(--ignore-unmatched skips such files)\n", pl.v[i], j->pattern);
				rc = QDB_EXIT_BADINPUT;
			}
			unmatched++;
			continue;
		}
		if (m[j->layer_group].rm_so < 0 || m[j->sample_group].rm_so < 0) {
			fprintf(stderr, CMD ": %s: the layer or sample group did not take part "
					"in the match\n", pl.v[i]);
			rc = QDB_EXIT_BADINPUT;
			break;
		}
		char *layer = group_str(pl.v[i], &m[j->layer_group]);
		char *sample = group_str(pl.v[i], &m[j->sample_group]);
		char *path = join_path(j->dir, pl.v[i]);
		if (!layer || !sample || !path)
			rc = oom();
		else if (!*layer || !*sample) {
			fprintf(stderr, CMD ": %s: empty layer or sample name\n", pl.v[i]);
			rc = QDB_EXIT_BADINPUT;
		}
		if (rc) {
			qdb_free(layer);
			qdb_free(sample);
			qdb_free(path);
			break;
		}
		rc = add_entry(j, path, layer, sample, 0, 0, 0);
	}
	for (int i = 0; i < pl.n; i++)
		qdb_free(pl.v[i]);
	qdb_free(pl.v);
	regfree(&re);
	if (!rc && j->n == 0) {
		fprintf(stderr, CMD ": %s: no .npy file matches '%s'%s\n", j->dir, j->pattern,
			unmatched ? "" : " (no .npy files at all)");
		rc = QDB_EXIT_BADINPUT;
	}
	return rc;
}

/* ---- ordering, ids ---------------------------------------------------------------- */

static int number_id(const char *s, int64_t *out)
{
	const char *p = s;
	if (*p == '-')
		p++;
	if (!*p)
		return 0;
	for (const char *q = p; *q; q++)
		if (*q < '0' || *q > '9')
			return 0;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return 0;
	*out = v;
	return 1;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->sample_ix != y->sample_ix)
		return x->sample_ix < y->sample_ix ? -1 : 1;
	if (x->layer_ix != y->layer_ix)
		return x->layer_ix < y->layer_ix ? -1 : 1;
	return 0;
}

/* Assigns layer and sample indices (graph order first, then first
 * appearance) and sorts the entries sample-major; rejects duplicates. */
static int order_entries(struct job *j)
{
	int n_graph = j->g ? j->g->n_nodes : 0;
	struct strset ls, ss;
	j->layers = qdb_alloc_array((size_t)(j->n + n_graph), sizeof *j->layers);
	j->samples = qdb_alloc_array((size_t)j->n, sizeof *j->samples);
	if (!j->layers || !j->samples || strset_init(&ls, (size_t)(j->n + n_graph)))
		return oom();
	if (strset_init(&ss, (size_t)j->n)) {
		qdb_free(ls.slot);
		return oom();
	}
	/* Graph nodes reserve their positions; the unused ones are dropped below. */
	for (int i = 0; i < n_graph; i++)
		strset_intern(&ls, j->layers, &j->n_layers, j->g->nodes[i].name);
	for (int i = 0; i < j->n; i++) {
		/* "0003" and "3" are the same sample: key numbers by value */
		int64_t num;
		if (number_id(j->e[i].sample, &num)) {
			char buf[32];
			snprintf(buf, sizeof buf, "%lld", (long long)num);
			if (strcmp(buf, j->e[i].sample)) {
				char *c = qdb_strdup(buf);
				if (!c) {
					qdb_free(ls.slot);
					qdb_free(ss.slot);
					return oom();
				}
				qdb_free(j->e[i].sample);
				j->e[i].sample = c;
			}
		}
		j->e[i].layer_ix = strset_intern(&ls, j->layers, &j->n_layers, j->e[i].layer);
		j->e[i].sample_ix = strset_intern(&ss, j->samples, &j->n_samples, j->e[i].sample);
	}
	qdb_free(ls.slot);
	qdb_free(ss.slot);
	qsort(j->e, (size_t)j->n, sizeof *j->e, cmp_entry);
	for (int i = 1; i < j->n; i++)
		if (!cmp_entry(&j->e[i - 1], &j->e[i])) {
			fprintf(stderr, CMD ": layer %s, sample %s: given twice (%s and %s)\n",
				j->e[i].layer, j->e[i].sample, j->e[i - 1].path, j->e[i].path);
			return QDB_EXIT_BADINPUT;
		}
	/* Drop graph layers no file provides, renumbering the rest. */
	int *map = qdb_alloc_array((size_t)(j->n_layers ? j->n_layers : 1), sizeof *map);
	char *used = qdb_calloc((size_t)(j->n_layers ? j->n_layers : 1), 1);
	if (!map || !used) {
		qdb_free(map);
		qdb_free(used);
		return oom();
	}
	for (int i = 0; i < j->n; i++)
		used[j->e[i].layer_ix] = 1;
	int k = 0;
	for (int i = 0; i < j->n_layers; i++) {
		map[i] = used[i] ? k : -1;
		if (used[i])
			j->layers[k++] = j->layers[i];
	}
	j->n_layers = k;
	for (int i = 0; i < j->n; i++)
		j->e[i].layer_ix = map[j->e[i].layer_ix];
	qdb_free(map);
	qdb_free(used);
	return 0;
}

/* ---- writing ----------------------------------------------------------------------- */

/* The quantization an entry's array gets: explicit, from the graph, or none. */
static int set_quant(const struct job *j, const struct entry *e, struct qdb_tensor *t)
{
	struct qdb_err err;
	qdb_err_clear(&err);
	if (e->has_q) {
		if (!qdb_dtype_is_int(t->dtype)) {
			fprintf(stderr, CMD ": %s: a scale is given but the array is %s, "
					"not an integer type\n", e->path, qdb_dtype_name(t->dtype));
			return QDB_EXIT_BADINPUT;
		}
		if (qdb_quant_set(&t->q, e->scale, e->zp, 1, 0, &err) ||
		    qdb_quant_validate(&t->q, t->dtype, t->rank, t->shape, e->path, &err)) {
			fprintf(stderr, CMD ": %s\n", err.msg);
			return QDB_EXIT_BADINPUT;
		}
		return 0;
	}
	if (!j->g || !qdb_dtype_is_int(t->dtype))
		return 0;
	int v = qdb_graph_find_value(j->g, e->layer);
	if (v < 0 || j->g->values[v].q.n <= 0)
		return 0;
	const struct qdb_quant *q = &j->g->values[v].q;
	if (qdb_quant_copy(&t->q, q, &err)) {
		fprintf(stderr, CMD ": %s\n", err.msg);
		return QDB_EXIT_INTERNAL;
	}
	/* The graph's qmin/qmax may be for another dtype than the dump's. */
	t->q.qmin = qdb_dtype_min(t->dtype);
	t->q.qmax = qdb_dtype_max(t->dtype);
	if (qdb_quant_validate(&t->q, t->dtype, t->rank, t->shape, e->path, &err)) {
		fprintf(stderr, CMD ": %s (qparams of %s from %s)\n", err.msg, e->layer, j->graph_path);
		return QDB_EXIT_BADINPUT;
	}
	return 0;
}

static int write_trace(struct job *j)
{
	const char **ops = NULL;
	if (j->g) {
		ops = qdb_alloc_array((size_t)j->n_layers, sizeof *ops);
		if (!ops)
			return oom();
		for (int i = 0; i < j->n_layers; i++) {
			int nix = qdb_graph_find_node(j->g, j->layers[i]);
			ops[i] = nix >= 0 ? j->g->nodes[nix].op_name : "";
		}
	}
	struct qdb_trace_header h = {
		.stage = j->stage,
		.model = j->model,
		.producer = "qdb import-npy " PACKAGE_VERSION,
		.n_layers = j->n_layers,
		.layer_names = (const char *const *)j->layers,
		.layer_ops = ops,
		.qstate = NULL,
	};
	struct qdb_err err;
	qdb_err_clear(&err);
	struct qdb_trace_writer *w = NULL;
	if (qdb_trace_writer_open(j->out, &h, 0, &w, &err)) {
		fprintf(stderr, CMD ": %s\n", err.msg);
		qdb_free(ops);
		return err.code == QDB_ENOMEM ? QDB_EXIT_INTERNAL : QDB_EXIT_BADINPUT;
	}
	int rc = 0;
	for (int i = 0; !rc && i < j->n; i++) {
		const struct entry *e = &j->e[i];
		struct qdb_tensor t;
		qdb_tensor_init(&t);
		struct qdb_sample_id id = {0, 0, NULL};
		if (!number_id(e->sample, &id.num)) {
			id.is_str = 1;
			id.str = e->sample;
		}
		if (qdb_npy_load(e->path, &t, &err)) {
			fprintf(stderr, CMD ": %s\n", err.msg);
			rc = err.code == QDB_ENOMEM ? QDB_EXIT_INTERNAL : QDB_EXIT_BADINPUT;
		} else if (!(rc = set_quant(j, e, &t)) &&
			   qdb_trace_writer_add(w, &id, e->layer, &t, &err)) {
			fprintf(stderr, CMD ": %s\n", err.msg);
			rc = err.code == QDB_ENOMEM ? QDB_EXIT_INTERNAL : QDB_EXIT_BADINPUT;
		}
		qdb_tensor_done(&t);
	}
	qdb_free(ops);
	if (rc) {
		qdb_trace_writer_abort(w);
		return rc;
	}
	if (qdb_trace_writer_commit(w, &err)) {
		fprintf(stderr, CMD ": %s\n", err.msg);
		return QDB_EXIT_INTERNAL;
	}
	printf("%s: %d layer%s, %d sample%s, %d record%s\n", j->out, j->n_layers,
	       j->n_layers == 1 ? "" : "s", j->n_samples, j->n_samples == 1 ? "" : "s", j->n,
	       j->n == 1 ? "" : "s");
	return 0;
}

/* ---- command ------------------------------------------------------------------------ */

static int parse_group(const char *opt, const char *s, int *out)
{
	long v;
	if (qdb_parse_long(s, &v) || v < 1 || v > 9) {
		fprintf(stderr, CMD ": %s: expected a group number 1..9, not '%s'\n", opt, s);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static void job_done(struct job *j)
{
	for (int i = 0; i < j->n; i++) {
		qdb_free(j->e[i].path);
		qdb_free(j->e[i].layer);
		qdb_free(j->e[i].sample);
	}
	qdb_free(j->e);
	qdb_free(j->layers);
	qdb_free(j->samples);
	if (j->g)
		qdb_graph_delete(j->g);
}

enum { OPT_LAYER_GROUP = 256, OPT_SAMPLE_GROUP, OPT_IGNORE, OPT_MODEL };

int qdb_cmd_import_npy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"manifest", required_argument, NULL, 'm'},
		{"pattern", required_argument, NULL, 'p'},
		{"layer-group", required_argument, NULL, OPT_LAYER_GROUP},
		{"sample-group", required_argument, NULL, OPT_SAMPLE_GROUP},
		{"ignore-unmatched", no_argument, NULL, OPT_IGNORE},
		{"graph", required_argument, NULL, 'g'},
		{"stage", required_argument, NULL, 's'},
		{"model", required_argument, NULL, OPT_MODEL},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct job j;
	memset(&j, 0, sizeof j);
	j.stage = "device";
	j.layer_group = 1;
	j.sample_group = 2;
	int opt;
	while ((opt = getopt_long(argc, argv, ":o:m:p:g:s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o': j.out = optarg; break;
		case 'm': j.manifest = optarg; break;
		case 'p': j.pattern = optarg; break;
		case 'g': j.graph_path = optarg; break;
		case 's': j.stage = optarg; break;
		case OPT_MODEL: j.model = optarg; break;
		case OPT_IGNORE: j.ignore_unmatched = 1; break;
		case OPT_LAYER_GROUP:
			if (parse_group("--layer-group", optarg, &j.layer_group))
				return QDB_EXIT_USAGE;
			break;
		case OPT_SAMPLE_GROUP:
			if (parse_group("--sample-group", optarg, &j.sample_group))
				return QDB_EXIT_USAGE;
			break;
		case 'h': fputs(usage_text, stdout); return QDB_EXIT_OK;
		case ':':
			fprintf(stderr, CMD ": %s needs an argument (qdb import-npy --help)\n",
				argv[optind - 1]);
			return QDB_EXIT_USAGE;
		default:
			fprintf(stderr, CMD ": unknown option '%s' (qdb import-npy --help)\n",
				argv[optind - 1]);
			return QDB_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, CMD ": needs exactly one DIR (qdb import-npy --help)\n");
		return QDB_EXIT_USAGE;
	}
	j.dir = argv[optind];
	if (!j.out) {
		fprintf(stderr, CMD ": -o OUT.qtr is required (qdb import-npy --help)\n");
		return QDB_EXIT_USAGE;
	}
	if (j.manifest && j.pattern) {
		fprintf(stderr, CMD ": --manifest and --pattern exclude each other\n");
		return QDB_EXIT_USAGE;
	}
	if (j.layer_group == j.sample_group) {
		fprintf(stderr, CMD ": --layer-group and --sample-group must differ\n");
		return QDB_EXIT_USAGE;
	}
	if (!j.pattern)
		j.pattern = DEFAULT_PATTERN;
	char *model_buf = NULL;
	if (!j.model) {
		/* DIR's base name, trailing slashes ignored */
		size_t n = strlen(j.dir);
		while (n > 1 && j.dir[n - 1] == '/')
			n--;
		size_t b = n;
		while (b > 0 && j.dir[b - 1] != '/')
			b--;
		model_buf = qdb_strndup(j.dir + b, n - b);
		if (!model_buf)
			return oom();
		j.model = model_buf;
	}
	struct stat st;
	int rc = 0;
	if (stat(j.dir, &st)) {
		fprintf(stderr, CMD ": %s: %s\n", j.dir, strerror(errno));
		rc = QDB_EXIT_BADINPUT;
	} else if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, CMD ": %s: not a directory\n", j.dir);
		rc = QDB_EXIT_BADINPUT;
	}
	if (!rc && j.graph_path) {
		struct qdb_err err;
		qdb_err_clear(&err);
		if (qdb_graph_load(j.graph_path, &j.g, &err)) {
			fprintf(stderr, CMD ": %s\n", err.msg);
			rc = err.code == QDB_ENOMEM ? QDB_EXIT_INTERNAL : QDB_EXIT_BADINPUT;
		}
	}
	if (!rc)
		rc = j.manifest ? read_manifest(&j) : scan_dir(&j);
	if (!rc)
		rc = order_entries(&j);
	if (!rc)
		rc = write_trace(&j);
	job_done(&j);
	qdb_free(model_buf);
	return rc;
}
