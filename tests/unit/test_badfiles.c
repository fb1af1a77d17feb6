/* test_badfiles.c - every file in testdata/bad/ is refused by its loader
 * with the status and message piece testdata/bad/MANIFEST gives (written by
 * scripts/make-bad-corpus), as one line "FILE: where: what", from the file
 * and from memory alike; a directory or a missing file is an i/o error. */
#include "config.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "io/dataset.h"
#include "io/npy.h"
#include "io/qbc.h"
#include "io/trace.h"
#include "io_util.h"
#include "tap.h"

/* Loads `path` with the loader of `kind` ("trace", "dataset", "graph",
 * "npy"); from memory when data != NULL. Frees whatever was loaded. */
static int load(const char *kind, const char *path, const void *data, size_t len,
		struct qdb_err *err)
{
	int rc;
	if (!strcmp(kind, "trace")) {
		struct qdb_trace *t;
		rc = data ? qdb_trace_parse(data, len, path, &t, err) : qdb_trace_open(path, &t, err);
		qdb_trace_close(t);
	} else if (!strcmp(kind, "dataset")) {
		struct qdb_dataset *d;
		rc = data ? qdb_dataset_parse(data, len, path, &d, err) : qdb_dataset_open(path, &d, err);
		qdb_dataset_close(d);
	} else if (!strcmp(kind, "graph")) {
		struct qdb_graph *g;
		rc = data ? qdb_graph_parse(data, len, path, &g, err) : qdb_graph_load(path, &g, err);
		qdb_graph_delete(g);
	} else {
		struct qdb_tensor t;
		qdb_tensor_init(&t);
		rc = data ? qdb_npy_parse(data, len, path, &t, err) : qdb_npy_load(path, &t, err);
		qdb_tensor_done(&t);
	}
	return rc;
}

/* One line, "PATH: where: what". */
static int well_formed(const char *msg, const char *path)
{
	size_t n = strlen(path);
	if (strchr(msg, '\n') || strncmp(msg, path, n) || strncmp(msg + n, ": ", 2))
		return 0;
	const char *rest = msg + n + 2;
	return strstr(rest, ": ") != NULL && strstr(rest, ": ") > rest;
}

static int status_of(const char *name)
{
	return !strcmp(name, "EFORMAT") ? QDB_EFORMAT : !strcmp(name, "EIO") ? QDB_EIO : -1;
}

static const char *const kinds[] = {"trace", "dataset", "graph", "npy"};
static const char *const exts[] = {"qtr", "qds", "qbc", "npy"};

int main(void)
{
	const char *src = getenv("QDB_SRCDIR") ? getenv("QDB_SRCDIR") : ".";
	char mpath[4096], line[1024];
	snprintf(mpath, sizeof mpath, "%s/testdata/bad/MANIFEST", src);
	FILE *mf = fopen(mpath, "r");
	if (!ok(mf != NULL, "open %s", mpath))
		return tap_done();

	char **listed = NULL;
	int n_listed = 0;
	while (fgets(line, sizeof line, mf)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[strcspn(line, "\n")] = '\0';
		char *file = strtok(line, "\t"), *status = strtok(NULL, "\t"), *want = strtok(NULL, "\t");
		if (!ok(file && status && want && status_of(status) >= 0, "manifest line well formed"))
			continue;
		listed = realloc(listed, sizeof *listed * (size_t)(n_listed + 1));
		listed[n_listed++] = strdup(file);
		char path[4096], kind[16];
		snprintf(path, sizeof path, "%s/testdata/bad/%s", src, file);
		snprintf(kind, sizeof kind, "%.*s", (int)strcspn(file, "/"), file);

		struct qdb_err e1, e2;
		qdb_err_clear(&e1);
		qdb_err_clear(&e2);
		int rc = load(kind, path, NULL, 0, &e1);
		int good = rc == status_of(status) && e1.code == rc && well_formed(e1.msg, path) &&
			   strstr(e1.msg, want);
		if (!ok(good, "%s refused", file))
			tap_diag("  status %d, message: %s\n#   want %s: %s", rc, e1.msg, status, want);

		size_t len;
		char *data = slurp(path, &len);
		rc = load(kind, path, data ? data : "", data ? len : 0, &e2);
		if (!ok(rc == status_of(status) && !strcmp(e1.msg, e2.msg), "%s from memory: same error",
			file))
			tap_diag("  %s", e2.msg);
		free(data);
	}
	fclose(mf);
	ok(n_listed > 300, "manifest lists %d files", n_listed);

	/* Every file in testdata/bad/<kind>/ is checked. */
	int unlisted = 0;
	for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
		char dir[4096];
		snprintf(dir, sizeof dir, "%s/testdata/bad/%s", src, kinds[k]);
		DIR *d = opendir(dir);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char rel[512];
			snprintf(rel, sizeof rel, "%s/%s", kinds[k], de->d_name);
			int found = 0;
			for (int i = 0; i < n_listed && !found; i++)
				found = !strcmp(listed[i], rel);
			if (!found) {
				unlisted++;
				tap_diag("not in MANIFEST: %s", rel);
			}
		}
		if (d)
			closedir(d);
	}
	ok(unlisted == 0, "every bad file is in the manifest");
	for (int i = 0; i < n_listed; i++)
		free(listed[i]);
	free(listed);

	/* A directory where a file is expected, and a missing file. */
	char tmp[] = "/tmp/qdb-badfiles-XXXXXX";
	if (ok(mkdtemp(tmp) != NULL, "temp dir")) {
		for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
			char path[256];
			struct qdb_err e;
			snprintf(path, sizeof path, "%s/dir.%s", tmp, exts[k]);
			mkdir(path, 0755);
			int rc = load(kinds[k], path, NULL, 0, &e);
			ok(rc == QDB_EIO && well_formed(e.msg, path) && strstr(e.msg, "is a directory"),
			   "%s loader refuses a directory: %s", kinds[k], e.msg);
			rmdir(path);
			snprintf(path, sizeof path, "%s/missing.%s", tmp, exts[k]);
			rc = load(kinds[k], path, NULL, 0, &e);
			ok(rc == QDB_EIO && well_formed(e.msg, path) && strstr(e.msg, "No such file"),
			   "%s loader reports a missing file: %s", kinds[k], e.msg);
		}
		rmdir(tmp);
	}
	return tap_done();
}
