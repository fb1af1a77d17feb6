/* file.c - read-only mappings and atomic (temp + fsync + rename) writers. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "io/file.h"

int qdb_map_open(struct qdb_map *m, const char *path, struct qdb_err *err)
{
	m->data = NULL;
	m->size = 0;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused
	 * below); it changes nothing for regular files. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return qdb_err_set(err, QDB_EIO, "%s: open: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return qdb_err_set(err, QDB_EIO, "%s: stat: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return qdb_err_set(err, QDB_EIO, "%s: open: %s", path,
				   S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
	}
	if (st.st_size == 0) {
		close(fd);
		return QDB_OK;
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		close(fd);
		return qdb_err_set(err, QDB_EIO, "%s: open: file too large to map", path);
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	int e = errno;
	close(fd); /* the mapping keeps the file open */
	if (p == MAP_FAILED)
		return qdb_err_set(err, QDB_EIO, "%s: mmap: %s", path, strerror(e));
	m->data = p;
	m->size = (size_t)st.st_size;
	return QDB_OK;
}

void qdb_map_close(struct qdb_map *m)
{
	if (m->data)
		munmap((void *)m->data, m->size);
	m->data = NULL;
	m->size = 0;
}

static void atomic_free(struct qdb_atomic *a)
{
	qdb_free(a->path);
	qdb_free(a->tmp);
	a->path = a->tmp = NULL;
	a->fp = NULL;
}

/* The temporary is created with O_EXCL and mode 0666 so the umask applies
 * as for any new file (mkstemp would force 0600); an existing target's
 * mode is kept. */
int qdb_atomic_open(struct qdb_atomic *a, const char *path, struct qdb_err *err)
{
	static unsigned counter;
	a->fp = NULL;
	a->path = qdb_strdup(path);
	size_t n = strlen(path) + 32;
	a->tmp = qdb_malloc(n);
	if (!a->path || !a->tmp) {
		atomic_free(a);
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", path);
	}
	int fd = -1;
	for (int tries = 0; tries < 100 && fd < 0; tries++) {
		unsigned r = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL) ^
			     (++counter * 40503u) ^ (unsigned)(uintptr_t)a;
		snprintf(a->tmp, n, "%s.tmp.%06x", path, r & 0xffffff);
		fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		int e = errno;
		qdb_err_set(err, QDB_EIO, "%s: create temporary: %s", path, strerror(e));
		atomic_free(a);
		return QDB_EIO;
	}
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		(void)fchmod(fd, st.st_mode & 07777);
	a->fp = fdopen(fd, "wb");
	if (!a->fp) {
		int e = errno;
		close(fd);
		unlink(a->tmp);
		qdb_err_set(err, QDB_EIO, "%s: fdopen: %s", path, strerror(e));
		atomic_free(a);
		return QDB_EIO;
	}
	return QDB_OK;
}

static void fsync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? qdb_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : qdb_strdup(".");
	if (!dir)
		return; /* the rename is done; a missed directory fsync only weakens durability */
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	qdb_free(dir);
}

int qdb_atomic_commit(struct qdb_atomic *a, struct qdb_err *err)
{
	int rc = QDB_OK, e = 0;
	const char *step = NULL;
	if (fflush(a->fp) != 0 || ferror(a->fp))
		step = "write", e = errno ? errno : EIO;
	else if (fsync(fileno(a->fp)) != 0)
		step = "fsync", e = errno;
	if (fclose(a->fp) != 0 && !step)
		step = "close", e = errno;
	a->fp = NULL;
	if (!step && rename(a->tmp, a->path) != 0)
		step = "rename", e = errno;
	if (step) {
		unlink(a->tmp);
		rc = qdb_err_set(err, QDB_EIO, "%s: %s: %s", a->path, step, strerror(e));
	} else {
		fsync_dir_of(a->path);
	}
	atomic_free(a);
	return rc;
}

int qdb_atomic_write_error(const struct qdb_atomic *a, struct qdb_err *err)
{
	int e = errno ? errno : EIO;
	return qdb_err_set(err, QDB_EIO, "%s: write: %s", a->path, strerror(e));
}

void qdb_atomic_abort(struct qdb_atomic *a)
{
	if (a->fp)
		fclose(a->fp);
	if (a->tmp)
		unlink(a->tmp);
	atomic_free(a);
}
