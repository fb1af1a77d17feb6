/* test_io.c - files (mapping, atomic writer), MessagePack helpers, traces,
 * datasets and .npy: contents of the committed good files, zero-copy views,
 * round trips (byte for byte where the writer's encoding is canonical),
 * append mode, memory independent of payload size, truncation at every
 * byte, and allocation failure injected at every step of every open path. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
/* from <sanitizer/allocator_interface.h>, which gcc does not install */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif

#include "base/alloc.h"
#include "io/dataset.h"
#include "io/file.h"
#include "io/mp.h"
#include "io/npy.h"
#include "io/trace.h"
#include "io_util.h"
#include "tap.h"

static char src_good[2048], tmpdir[256];

static const char *good(const char *name) { return path_in(src_good, name); }
static const char *tmp(const char *name) { return path_in(tmpdir, name); }

/* Files in tmpdir whose name contains ".tmp." (leftover temporaries). */
static int count_temps(void)
{
	int n = 0;
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		n += strstr(de->d_name, ".tmp.") != NULL;
	if (d)
		closedir(d);
	return n;
}

static size_t heap_bytes(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
#endif
}

/* ---- file.c ---- */

static void test_files(void)
{
	struct qdb_err e;
	struct qdb_map m;
	FILE *f = fopen(tmp("empty"), "wb");
	fclose(f);
	ok(qdb_map_open(&m, tmp("empty"), &e) == QDB_OK && m.data == NULL && m.size == 0,
	   "empty file maps to NULL, 0");
	qdb_map_close(&m);
	ok(qdb_map_open(&m, tmpdir, &e) == QDB_EIO && strstr(e.msg, "is a directory"), "directory refused");
	ok(qdb_map_open(&m, "/dev/null", &e) == QDB_EIO && strstr(e.msg, "not a regular file"),
	   "device refused");
	ok(mkfifo(tmp("fifo"), 0600) == 0 && qdb_map_open(&m, tmp("fifo"), &e) == QDB_EIO &&
	   strstr(e.msg, "not a regular file"), "FIFO refused without waiting for a writer");
	unlink(tmp("fifo"));

	struct qdb_atomic a;
	ok(qdb_atomic_open(&a, tmp("out"), &e) == QDB_OK && count_temps() == 1, "temp file created");
	fputs("hello", a.fp);
	ok(qdb_atomic_commit(&a, &e) == QDB_OK && count_temps() == 0, "commit leaves no temp");
	ok(qdb_map_open(&m, tmp("out"), &e) == QDB_OK && m.size == 5 && !memcmp(m.data, "hello", 5),
	   "committed content");
	qdb_map_close(&m);

	ok(qdb_atomic_open(&a, tmp("out"), &e) == QDB_OK, "second writer");
	fputs("replaced", a.fp);
	qdb_atomic_abort(&a);
	ok(count_temps() == 0, "abort removes the temp");
	ok(qdb_map_open(&m, tmp("out"), &e) == QDB_OK && m.size == 5, "abort leaves the target alone");
	qdb_map_close(&m);

	/* A write error (file size limit) fails the commit; the target keeps
	 * its old content and the temporary goes away. */
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 4096;
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &lim);
	ok(qdb_atomic_open(&a, tmp("out"), &e) == QDB_OK, "writer under a size limit");
	for (int i = 0; i < 10000; i++)
		fputs("0123456789", a.fp);
	int rc = qdb_atomic_commit(&a, &e);
	setrlimit(RLIMIT_FSIZE, &old);
	ok(rc == QDB_EIO && strstr(e.msg, tmp("out")) && strstr(e.msg, "File too large"),
	   "write error reported at commit: %s", e.msg);
	ok(count_temps() == 0, "failed commit removes the temp");
	ok(qdb_map_open(&m, tmp("out"), &e) == QDB_OK && m.size == 5 && !memcmp(m.data, "hello", 5),
	   "failed commit never touches the target");
	qdb_map_close(&m);

	/* rename over a directory fails: the directory stays, no temp stays */
	mkdir(tmp("adir"), 0755);
	ok(qdb_atomic_open(&a, tmp("adir"), &e) == QDB_OK, "writer aimed at a directory");
	fputs("x", a.fp);
	ok(qdb_atomic_commit(&a, &e) == QDB_EIO && strstr(e.msg, "rename"), "rename failure: %s", e.msg);
	struct stat st;
	ok(stat(tmp("adir"), &st) == 0 && S_ISDIR(st.st_mode) && count_temps() == 0,
	   "directory untouched, temp removed");
	rmdir(tmp("adir"));
	ok(qdb_atomic_open(&a, "/nonexistent-dir/x", &e) == QDB_EIO && strstr(e.msg, "/nonexistent-dir/x"),
	   "unwritable directory: %s", e.msg);

	/* a new file gets the umask's mode, an existing one keeps its mode */
	chmod(tmp("out"), 0640);
	qdb_atomic_open(&a, tmp("out"), &e);
	qdb_atomic_commit(&a, &e);
	ok(stat(tmp("out"), &st) == 0 && (st.st_mode & 0777) == 0640, "existing mode kept");

	FAULT_LOOP("atomic open", qdb_atomic_open(&a, tmp("fault"), &e_));
	qdb_atomic_abort(&a);
	ok(count_temps() == 0, "no temp left by the fault loop");
}

/* ---- mp.c ---- */

static void test_mp(void)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	struct qdb_err e;
	size_t off = 0;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	qdb_mp_pack_str(&pk, "data");
	msgpack_pack_bin_with_body(&pk, "0123456789", 10);
	qdb_mp_pack_kv_str(&pk, "name", "conv1");
	msgpack_unpacked_init(&u);
	ok(qdb_mp_next(&u, sb.data, sb.size, &off, &e) == QDB_OK && off == sb.size, "unpack one object");
	const msgpack_object *bin = qdb_mp_find(&u.data, "data"), *str = qdb_mp_find(&u.data, "name");
	ok(bin && bin->via.bin.ptr >= sb.data && bin->via.bin.ptr + 10 <= sb.data + sb.size,
	   "msgpack-c bin points into the input buffer (zero copy)");
	ok(str && str->via.str.ptr >= sb.data && str->via.str.ptr < sb.data + sb.size,
	   "msgpack-c str points into the input buffer");
	ok(qdb_mp_next(&u, sb.data, sb.size, &off, &e) == QDB_EFORMAT && strstr(e.msg, "no object"),
	   "no object at the end");
	for (size_t cut = 1; cut < sb.size; cut++) {
		off = 0;
		if (qdb_mp_next(&u, sb.data, cut, &off, &e) != QDB_EFORMAT || !strstr(e.msg, "truncated")) {
			ok(0, "cut at %zu refused", cut);
			break;
		}
	}
	ok(1, "every cut of an object is refused as truncated");
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);

	size_t end;
	ok(qdb_mp_skim("\xdd\xff\xff\xff\xff", 5, 0, &end, &e) == QDB_EFORMAT &&
	   strstr(e.msg, "array of 4294967295 items, 0 bytes left"), "huge array count refused: %s", e.msg);
	ok(qdb_mp_skim("\x92\x01", 2, 0, &end, &e) == QDB_EFORMAT &&
	   strstr(e.msg, "array of 2 items, 1 bytes left"), "short array refused");
	ok(qdb_mp_skim("\x92\x01\x02\x03", 4, 0, &end, &e) == QDB_OK && end == 3, "skim stops at the object end");
	ok(qdb_mp_skim("\x80", 1, 0, &end, &e) == QDB_OK && end == 1, "empty map");
	char deep[40];
	memset(deep, 0x91, 32);
	deep[32] = 0;
	ok(qdb_mp_skim(deep, 33, 0, &end, &e) == QDB_OK, "32 levels of nesting accepted");
	memset(deep, 0x91, 33);
	deep[33] = 0;
	ok(qdb_mp_skim(deep, 34, 0, &end, &e) == QDB_EFORMAT && strstr(e.msg, "nesting deeper than 32"),
	   "33 levels refused");
	msgpack_unpacked_init(&u);
	off = 0;
	memset(deep, 0x91, 32);
	deep[32] = 0;
	ok(qdb_mp_next(&u, deep, 33, &off, &e) == QDB_OK, "msgpack-c unpacks the deepest skimmable object");
	msgpack_unpacked_destroy(&u);

	char ex[8];
	ok(!strcmp(qdb_mp_printable("ab\ncdefghijk", 12, ex, sizeof ex), "ab?c..."), "printable excerpt");
}

/* ---- traces ---- */

static int get_f(const struct qdb_tensor *t, int64_t i, float *out)
{
	memcpy(out, (const char *)t->data + 4 * i, 4);
	return 0;
}

/* The mapping of a file in /proc/self/maps: 1 and its range when found. */
static int mapping_of(const char *path, uintptr_t *lo, uintptr_t *hi)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4608];
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	int found = 0;
	while (f && !found && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		size_t n = strlen(line), b = strlen(base);
		if (n > b && !strcmp(line + n - b, base) && line[n - b - 1] == '/') {
			unsigned long a, z;
			if (sscanf(line, "%lx-%lx", &a, &z) == 2) {
				*lo = a;
				*hi = z;
				found = 1;
			}
		}
	}
	if (f)
		fclose(f);
	return found;
}

static void check_small_trace(const struct qdb_trace *t, const char *what)
{
	struct qdb_err e;
	ok(!strcmp(qdb_trace_stage(t), "qat.pt") && !strcmp(qdb_trace_model(t), "tiny") &&
	   !strcmp(qdb_trace_producer(t), "make-bad-corpus"), "%s: header strings", what);
	ok(qdb_trace_n_layers(t) == 3 && !strcmp(qdb_trace_layer(t, 1)->name, "relu1") &&
	   !strcmp(qdb_trace_layer(t, 2)->op, "linear") && qdb_trace_find_layer(t, "fc") == 2 &&
	   qdb_trace_find_layer(t, "nope") == -1, "%s: layers", what);
	const struct qdb_trace_layer *c = qdb_trace_layer(t, 0);
	ok(c->has_qstate && c->fake_quant == 1 && c->observer == 0 && c->qs_scale == 0.05 &&
	   c->qs_zero_point == 0 && c->qs_nscale == 1 && !qdb_trace_layer(t, 1)->has_qstate,
	   "%s: qstate", what);
	ok(qdb_trace_n_samples(t) == 3 && qdb_trace_n_records(t) == 9, "%s: 3 samples, 9 records", what);
	ok(qdb_trace_find_sample_str(t, "1") == 1 && qdb_trace_find_sample_str(t, "frame_2") == 2 &&
	   qdb_trace_find_sample_str(t, "7") == -1, "%s: find samples by string", what);
	char buf[32];
	ok(!strcmp(qdb_sample_id_str(qdb_trace_sample(t, 2), buf, sizeof buf), "frame_2") &&
	   !strcmp(qdb_sample_id_str(qdb_trace_sample(t, 1), buf, sizeof buf), "1"), "%s: sample names", what);

	struct qdb_tensor v;
	qdb_tensor_init(&v);
	float x;
	int rc = qdb_trace_get(t, 1, 0, &v, &e);
	ok(rc == QDB_OK && v.dtype == QDB_F32 && v.rank == 4 && v.shape[1] == 3 && v.nbytes == 192 &&
	   !v.owns_data && v.q.n == 1 && v.q.scale[0] == 0.05 && !get_f(&v, 5, &x) && x == 3.5f,
	   "%s: conv1 of sample 1", what);
	qdb_tensor_done(&v);
	rc = qdb_trace_get(t, 2, 1, &v, &e);
	ok(rc == QDB_OK && v.dtype == QDB_I8 && v.q.n == 3 && v.q.axis == 1 && v.q.scale[2] == 0.4 &&
	   v.q.zero_point[1] == 1 && ((const int8_t *)v.data)[0] == -8, "%s: relu1 per-channel", what);
	qdb_tensor_done(&v);
	rc = qdb_trace_get(t, 0, 2, &v, &e);
	int64_t i64;
	if (rc == QDB_OK)
		memcpy(&i64, v.data, 8);
	ok(rc == QDB_OK && v.dtype == QDB_I64 && v.rank == 0 && i64 == 1000, "%s: fc scalar", what);
	qdb_tensor_done(&v);
	ok(qdb_trace_has(t, 0, 0) && !qdb_trace_has(t, 5, 0), "%s: has", what);
}

static void write_trace_like(const struct qdb_trace *t, const char *path, int flags)
{
	struct qdb_err e;
	const char *names[8], *ops[8];
	struct qdb_trace_layer qs[8];
	int n = qdb_trace_n_layers(t);
	for (int i = 0; i < n; i++) {
		names[i] = qdb_trace_layer(t, i)->name;
		ops[i] = qdb_trace_layer(t, i)->op;
		qs[i] = *qdb_trace_layer(t, i);
	}
	struct qdb_trace_header h = {qdb_trace_stage(t), qdb_trace_model(t), qdb_trace_producer(t),
				     n, names, ops, qs};
	struct qdb_trace_writer *w;
	int rc = qdb_trace_writer_open(path, &h, flags, &w, &e);
	for (int s = 0; !rc && s < qdb_trace_n_samples(t); s++)
		for (int l = 0; !rc && l < n; l++) {
			struct qdb_tensor v;
			qdb_tensor_init(&v);
			if (!(rc = qdb_trace_get(t, s, l, &v, &e)))
				rc = qdb_trace_writer_add(w, qdb_trace_sample(t, s), names[l], &v, &e);
			qdb_tensor_done(&v);
		}
	if (!rc)
		rc = qdb_trace_writer_commit(w, &e);
	ok(rc == QDB_OK, "write %s: %s", path, rc ? e.msg : "ok");
}

/* Writes a trace of n_samples x 2 layers whose records hold `elems` floats. */
static int write_sized_trace(const char *path, int n_samples, int64_t elems, struct qdb_err *e)
{
	const char *names[] = {"a", "b"};
	struct qdb_trace_header h = {"float", "m", "test", 2, names, NULL, NULL};
	struct qdb_trace_writer *w;
	int rc = qdb_trace_writer_open(path, &h, 0, &w, e);
	if (rc)
		return rc;
	struct qdb_tensor t;
	qdb_tensor_init(&t);
	rc = qdb_tensor_alloc(&t, QDB_F32, 1, &elems, e);
	for (int s = 0; !rc && s < n_samples; s++)
		for (int l = 0; !rc && l < 2; l++) {
			struct qdb_sample_id id = {0, s, NULL};
			rc = qdb_trace_writer_add(w, &id, names[l], &t, e);
		}
	qdb_tensor_done(&t);
	if (rc) {
		qdb_trace_writer_abort(w);
		return rc;
	}
	return qdb_trace_writer_commit(w, e);
}

/* Opens app.qtr for appending, adds one record, aborts. */
static int append_once(const struct qdb_trace_header *h, const struct qdb_tensor *v, struct qdb_err *e)
{
	struct qdb_trace_writer *w;
	struct qdb_sample_id sx = {1, 0, "x"};
	int rc = qdb_trace_writer_open(tmp("app.qtr"), h, QDB_TRACE_APPEND, &w, e);
	if (rc)
		return rc;
	rc = qdb_trace_writer_add(w, &sx, "fc", v, e);
	qdb_trace_writer_abort(w);
	return rc;
}

static void test_traces(void)
{
	struct qdb_err e;
	struct qdb_trace *t;
	int rc = qdb_trace_open(good("small.qtr"), &t, &e);
	if (!ok(rc == QDB_OK, "open small.qtr: %s", rc ? e.msg : "ok"))
		return;
	check_small_trace(t, "small.qtr");
	struct qdb_tensor v;
	qdb_tensor_init(&v);
	uintptr_t lo = 0, hi = 0;
	ok(qdb_trace_get(t, 0, 0, &v, &e) == QDB_OK && mapping_of(good("small.qtr"), &lo, &hi) &&
	   (uintptr_t)v.data >= lo && (uintptr_t)v.data + v.nbytes <= hi,
	   "view data lies inside the file's mapping (zero copy)");
	qdb_tensor_done(&v);
	ok(qdb_trace_get(t, 0, 7, &v, &e) == QDB_ENOTFOUND && strstr(e.msg, "small.qtr: no record"),
	   "missing record: %s", e.msg);

	write_trace_like(t, tmp("copy.qtr"), 0);
	ok(same_bytes(good("small.qtr"), tmp("copy.qtr")), "writer reproduces small.qtr byte for byte");
	qdb_trace_close(t);

	size_t len;
	char *buf = slurp(good("small.qtr"), &len);
	ok(qdb_trace_parse(buf, len, "mem", &t, &e) == QDB_OK, "parse from memory");
	check_small_trace(t, "memory");
	qdb_tensor_init(&v);
	ok(qdb_trace_get(t, 1, 1, &v, &e) == QDB_OK && (char *)v.data > buf &&
	   (char *)v.data + v.nbytes <= buf + len, "memory view points into the caller's buffer");
	qdb_tensor_done(&v);
	qdb_trace_close(t);

	/* every cut is refused, or (at a record boundary) a shorter trace */
	int bad = 0;
	for (size_t cut = 0; cut < len; cut++) {
		rc = qdb_trace_parse(buf, cut, "cut", &t, &e);
		if (rc == QDB_OK)
			bad += qdb_trace_n_records(t) >= 9;
		else
			bad += rc != QDB_EFORMAT || strncmp(e.msg, "cut: ", 5) || strchr(e.msg, '\n');
		qdb_trace_close(t);
	}
	ok(bad == 0, "small.qtr cut at each of %zu bytes: refused or shorter", len);
	free(buf);
	t = NULL;

	FAULT_LOOP("trace open", (qdb_trace_close(t), qdb_trace_open(good("small.qtr"), &t, &e_)));
	qdb_trace_close(t);
	t = NULL;
	qdb_trace_open(good("small.qtr"), &t, &e);
	FAULT_LOOP("trace get", (qdb_tensor_done(&v), qdb_trace_get(t, 1, 1, &v, &e_)));
	qdb_tensor_done(&v);

	/* append: a second run adds samples; the original stays until commit */
	const char *names[] = {"conv1", "relu1", "fc"};
	struct qdb_trace_header h = {"qat.pt", "tiny", "test", 3, names, NULL, NULL};
	struct qdb_trace_writer *w;
	qdb_tensor_init(&v);
	qdb_trace_get(t, 0, 2, &v, &e);
	struct qdb_sample_id s9 = {0, 9, NULL}, s0 = {0, 0, NULL}, sx = {1, 0, "x"};
	write_trace_like(t, tmp("app.qtr"), 0);
	ok(qdb_trace_writer_open(tmp("app.qtr"), &h, QDB_TRACE_APPEND, &w, &e) == QDB_OK, "append open");
	ok(qdb_trace_writer_add(w, &s0, "fc", &v, &e) == QDB_EINVAL && strstr(e.msg, "already written"),
	   "append refuses a record the file has: %s", e.msg);
	ok(qdb_trace_writer_add(w, &s9, "fc", &v, &e) == QDB_OK, "append a new record");
	ok(qdb_trace_writer_add(w, &s9, "fc", &v, &e) == QDB_EINVAL, "duplicate refused");
	ok(qdb_trace_writer_add(w, &sx, "nope", &v, &e) == QDB_EINVAL && strstr(e.msg, "not in the trace header"),
	   "unknown layer refused: %s", e.msg);
	struct qdb_tensor broken = v;
	broken.nbytes = 3;
	ok(qdb_trace_writer_add(w, &sx, "fc", &broken, &e) == QDB_EINVAL, "tensor with wrong nbytes refused: %s",
	   e.msg);
	ok(same_bytes(good("small.qtr"), tmp("app.qtr")), "target untouched before commit");
	ok(qdb_trace_writer_commit(w, &e) == QDB_OK, "append commit");
	struct qdb_trace *t2;
	ok(qdb_trace_open(tmp("app.qtr"), &t2, &e) == QDB_OK && qdb_trace_n_records(t2) == 10 &&
	   qdb_trace_n_samples(t2) == 4 && qdb_trace_find_sample_str(t2, "9") == 3, "appended trace reads back");
	qdb_trace_close(t2);
	const char *other[] = {"conv1", "relu2", "fc"};
	struct qdb_trace_header h2 = {"qat.pt", "tiny", "test", 3, other, NULL, NULL};
	ok(qdb_trace_writer_open(tmp("app.qtr"), &h2, QDB_TRACE_APPEND, &w, &e) == QDB_EINVAL &&
	   strstr(e.msg, "relu2"), "append with other layers refused: %s", e.msg);
	ok(qdb_trace_writer_open(tmp("new.qtr"), NULL, QDB_TRACE_APPEND, &w, &e) == QDB_EINVAL,
	   "appending to nothing needs a header");
	ok(qdb_trace_writer_open(tmp("new.qtr"), &h, QDB_TRACE_APPEND, &w, &e) == QDB_OK &&
	   qdb_trace_writer_add(w, &s0, "conv1", &v, &e) == QDB_OK, "append creates a missing trace");
	qdb_trace_writer_abort(w);
	ok(access(tmp("new.qtr"), F_OK) != 0 && count_temps() == 0, "abort leaves nothing");
	const char *dup[] = {"a", "a"};
	struct qdb_trace_header h3 = {"x", NULL, NULL, 2, dup, NULL, NULL};
	ok(qdb_trace_writer_open(tmp("d.qtr"), &h3, 0, &w, &e) == QDB_EINVAL && strstr(e.msg, "duplicate layer"),
	   "writer refuses duplicate layers");
	FAULT_LOOP("trace append", append_once(&h, &v, &e_));
	ok(count_temps() == 0, "no temp left by failed appends");
	qdb_tensor_done(&v);
	qdb_trace_close(t);

	/* memory follows the record count, not the payload: same structure,
	 * 16 bytes vs 256 KiB per record */
	ok(write_sized_trace(tmp("small_payload.qtr"), 32, 4, &e) == QDB_OK &&
	   write_sized_trace(tmp("big_payload.qtr"), 32, 65536, &e) == QDB_OK, "sized traces written");
	size_t h0 = heap_bytes();
	rc = qdb_trace_open(tmp("small_payload.qtr"), &t, &e);
	size_t d_small = heap_bytes() - h0;
	h0 = heap_bytes();
	rc |= qdb_trace_open(tmp("big_payload.qtr"), &t2, &e);
	size_t d_big = heap_bytes() - h0;
	ok(rc == QDB_OK && d_big <= d_small + 4096,
	   "open uses %zu heap bytes for 64 x 256 KiB records, %zu for 64 x 16 B", d_big, d_small);
	qdb_tensor_init(&v);
	h0 = heap_bytes();
	rc = qdb_trace_get(t2, 31, 1, &v, &e);
	ok(rc == QDB_OK && v.nbytes == 262144 && heap_bytes() - h0 < 4096, "a 256 KiB view costs %zu heap bytes",
	   heap_bytes() - h0);
	qdb_tensor_done(&v);
	qdb_trace_close(t);
	qdb_trace_close(t2);
	unlink(tmp("small_payload.qtr"));
	unlink(tmp("big_payload.qtr"));
}

/* ---- datasets ---- */

/* Writes f.qds with one record. */
static int write_one(const struct qdb_dataset_header *h, const struct qdb_tensor *const *inputs,
		     struct qdb_err *e)
{
	struct qdb_dataset_writer *w;
	struct qdb_sample_id id = {0, 0, NULL};
	int rc = qdb_dataset_writer_open(tmp("f.qds"), h, &w, e);
	if (rc)
		return rc;
	if ((rc = qdb_dataset_writer_add(w, &id, inputs, -1, NULL, e))) {
		qdb_dataset_writer_abort(w);
		return rc;
	}
	return qdb_dataset_writer_commit(w, e);
}

static void test_datasets(void)
{
	struct qdb_err e;
	struct qdb_dataset *d;
	int rc = qdb_dataset_open(good("small.qds"), &d, &e);
	if (!ok(rc == QDB_OK, "open small.qds: %s", rc ? e.msg : "ok"))
		return;
	ok(!strcmp(qdb_dataset_name(d), "tiny-set") && qdb_dataset_n_inputs(d) == 2 &&
	   qdb_dataset_find_input(d, "aux") == 1, "header");
	const struct qdb_dataset_input *in = qdb_dataset_input_info(d, 0);
	ok(!strcmp(in->name, "image") && in->dtype == QDB_U8 && in->rank == 4 && in->shape[1] == 3, "input info");
	ok(qdb_dataset_label_kind(d) == QDB_LABEL_CLASS && qdb_dataset_n_classes(d) == 3 &&
	   !strcmp(qdb_dataset_class_name(d, 2), "bird") && !qdb_dataset_class_name(d, 3), "classes");
	ok(qdb_dataset_count(d) == 3 && qdb_dataset_label_class(d, 0) == 0 && qdb_dataset_label_class(d, 1) == 2 &&
	   qdb_dataset_label_class(d, 2) == -1, "labels 0, 2, none");
	ok(qdb_dataset_find_str(d, "2") == 2 && qdb_dataset_id(d, 1)->num == 1, "ids");
	struct qdb_tensor v;
	qdb_tensor_init(&v);
	float x;
	ok(qdb_dataset_input(d, 2, 1, &v, &e) == QDB_OK && v.dtype == QDB_F32 && !get_f(&v, 0, &x) && x == 0.5f,
	   "aux of record 2");
	qdb_tensor_done(&v);
	ok(qdb_dataset_input(d, 1, 0, &v, &e) == QDB_OK && ((const uint8_t *)v.data)[3] == 16 && v.q.n == 1,
	   "image of record 1");
	qdb_tensor_done(&v);
	ok(qdb_dataset_input(d, 5, 0, &v, &e) == QDB_ENOTFOUND, "record out of range");
	ok(qdb_dataset_label_tensor(d, 0, &v, &e) == QDB_ENOTFOUND, "class labels are no tensors");

	/* write it again: byte for byte (input info copied: d is reopened below) */
	struct qdb_dataset_input ins[2] = {*qdb_dataset_input_info(d, 0), *qdb_dataset_input_info(d, 1)};
	char name0[] = "image", name1[] = "aux";
	ins[0].name = name0;
	ins[1].name = name1;
	const char *classes[] = {"cat", "dog", "bird"};
	struct qdb_dataset_header h = {"tiny-set", 2, ins, QDB_LABEL_CLASS, 3, classes};
	struct qdb_dataset_writer *w;
	rc = qdb_dataset_writer_open(tmp("copy.qds"), &h, &w, &e);
	for (int64_t i = 0; !rc && i < qdb_dataset_count(d); i++) {
		struct qdb_tensor a, b;
		qdb_tensor_init(&a);
		qdb_tensor_init(&b);
		const struct qdb_tensor *both[2] = {&a, &b};
		if (!(rc = qdb_dataset_input(d, i, 0, &a, &e)) && !(rc = qdb_dataset_input(d, i, 1, &b, &e)))
			rc = qdb_dataset_writer_add(w, qdb_dataset_id(d, i), both, qdb_dataset_label_class(d, i),
						    NULL, &e);
		qdb_tensor_done(&a);
		qdb_tensor_done(&b);
	}
	ok(rc == QDB_OK && qdb_dataset_writer_commit(w, &e) == QDB_OK, "dataset written: %s", rc ? e.msg : "ok");
	ok(same_bytes(good("small.qds"), tmp("copy.qds")), "writer reproduces small.qds byte for byte");

	/* writer checks */
	struct qdb_tensor a, b;
	qdb_tensor_init(&a);
	qdb_tensor_init(&b);
	qdb_dataset_input(d, 0, 0, &a, &e);
	qdb_dataset_input(d, 0, 1, &b, &e);
	const struct qdb_tensor *swapped[2] = {&b, &a}, *right[2] = {&a, &b};
	struct qdb_sample_id id = {1, 0, "s"};
	rc = qdb_dataset_writer_open(tmp("w.qds"), &h, &w, &e);
	ok(qdb_dataset_writer_add(w, &id, swapped, 0, NULL, &e) == QDB_EINVAL && strstr(e.msg, "header says"),
	   "input mismatch refused: %s", e.msg);
	ok(qdb_dataset_writer_add(w, &id, right, 3, NULL, &e) == QDB_EINVAL && strstr(e.msg, "out of range"),
	   "class out of range refused");
	ok(qdb_dataset_writer_add(w, &id, right, 1, NULL, &e) == QDB_OK &&
	   qdb_dataset_writer_add(w, &id, right, 1, NULL, &e) == QDB_EINVAL, "duplicate id refused");
	qdb_dataset_writer_abort(w);
	ok(access(tmp("w.qds"), F_OK) != 0 && count_temps() == 0, "aborted dataset leaves nothing");

	/* tensor labels */
	struct qdb_dataset_header ht = {"t", 1, ins + 1, QDB_LABEL_TENSOR, 0, NULL};
	struct qdb_tensor bc; /* owned: b is a view into d, which is reopened below */
	qdb_tensor_init(&bc);
	qdb_tensor_copy(&bc, &b, &e);
	const struct qdb_tensor *one[1] = {&bc};
	rc = qdb_dataset_writer_open(tmp("t.qds"), &ht, &w, &e);
	struct qdb_sample_id i0 = {0, 0, NULL}, i1 = {0, 1, NULL};
	rc |= qdb_dataset_writer_add(w, &i0, one, -1, &a, &e);
	rc |= qdb_dataset_writer_add(w, &i1, one, -1, NULL, &e);
	rc |= qdb_dataset_writer_commit(w, &e);
	struct qdb_dataset *dt;
	ok(rc == QDB_OK && qdb_dataset_open(tmp("t.qds"), &dt, &e) == QDB_OK, "tensor-label dataset");
	ok(qdb_dataset_label_tensor(dt, 0, &v, &e) == QDB_OK && v.dtype == QDB_U8 && v.nbytes == 48 &&
	   qdb_dataset_label_class(dt, 0) == -1, "tensor label read back");
	qdb_tensor_done(&v);
	ok(qdb_dataset_label_tensor(dt, 1, &v, &e) == QDB_ENOTFOUND, "record without a label");
	qdb_dataset_close(dt);

	size_t len;
	char *buf = slurp(good("small_count.qds"), &len);
	int bad = 0;
	for (size_t cut = 0; cut < len; cut++) {
		struct qdb_dataset *c;
		rc = qdb_dataset_parse(buf, cut, "cut", &c, &e);
		bad += rc != QDB_EFORMAT || strncmp(e.msg, "cut: ", 5);
		qdb_dataset_close(c);
	}
	ok(bad == 0, "small_count.qds cut at each of %zu bytes: refused", len);
	free(buf);

	FAULT_LOOP("dataset open", (qdb_dataset_close(d), qdb_dataset_open(good("small.qds"), &d, &e_)));
	FAULT_LOOP("dataset input", (qdb_tensor_done(&v), qdb_dataset_input(d, 1, 0, &v, &e_)));
	qdb_tensor_done(&v);
	qdb_dataset_close(d);
	FAULT_LOOP("dataset write", write_one(&ht, one, &e_));
	ok(count_temps() == 0, "no temp left by failed dataset writes");
	qdb_tensor_done(&a);
	qdb_tensor_done(&b);
	qdb_tensor_done(&bc);
}

/* ---- npy ---- */

static void test_npy(void)
{
	struct qdb_err e;
	struct qdb_tensor t;
	qdb_tensor_init(&t);
	float x;
	ok(qdb_npy_load(good("f32_2x3.npy"), &t, &e) == QDB_OK && t.dtype == QDB_F32 && t.rank == 2 &&
	   t.shape[1] == 3 && t.owns_data && !get_f(&t, 5, &x) && x == 2.5f, "f32 2x3");
	ok(qdb_npy_save(&t, tmp("f.npy"), &e) == QDB_OK && same_bytes(good("f32_2x3.npy"), tmp("f.npy")),
	   "saved f32 file equals numpy's byte for byte");
	ok(qdb_npy_load(good("i8_5.npy"), &t, &e) == QDB_OK && t.dtype == QDB_I8 &&
	   ((int8_t *)t.data)[0] == -128 && ((int8_t *)t.data)[4] == 127, "i8");
	ok(qdb_npy_save(&t, tmp("i8.npy"), &e) == QDB_OK && same_bytes(good("i8_5.npy"), tmp("i8.npy")),
	   "saved i8 file equals numpy's");
	ok(qdb_npy_load(good("u8_scalar.npy"), &t, &e) == QDB_OK && t.rank == 0 && ((uint8_t *)t.data)[0] == 200,
	   "u8 scalar");
	ok(qdb_npy_save(&t, tmp("u8.npy"), &e) == QDB_OK && same_bytes(good("u8_scalar.npy"), tmp("u8.npy")),
	   "saved scalar equals numpy's");
	ok(qdb_npy_load(good("i16_v2.npy"), &t, &e) == QDB_OK && t.dtype == QDB_I16 && t.rank == 3 &&
	   ((int16_t *)t.data)[0] == -3, "i16, format 2.0");
	ok(qdb_npy_load(good("i32_v3.npy"), &t, &e) == QDB_OK && t.dtype == QDB_I32 && ((int32_t *)t.data)[1] == -8,
	   "i32, format 3.0");
	ok(qdb_npy_load(good("i64_empty.npy"), &t, &e) == QDB_OK && t.dtype == QDB_I64 && t.shape[0] == 0 &&
	   t.nbytes == 0, "empty i64");
	ok(qdb_npy_save(&t, tmp("e.npy"), &e) == QDB_OK && same_bytes(good("i64_empty.npy"), tmp("e.npy")),
	   "saved empty array equals numpy's");
	double pi;
	ok(qdb_npy_load(good("f64_1x1.npy"), &t, &e) == QDB_OK && t.dtype == QDB_F64 &&
	   (memcpy(&pi, t.data, 8), pi > 3.14159 && pi < 3.1416), "f64");
	struct qdb_tensor u;
	qdb_tensor_init(&u);
	ok(qdb_npy_save(&t, tmp("pi.npy"), &e) == QDB_OK && qdb_npy_load(tmp("pi.npy"), &u, &e) == QDB_OK &&
	   u.nbytes == 8 && !memcmp(u.data, t.data, 8), "f64 round trip");
	qdb_tensor_done(&u);
	struct qdb_tensor bad = t;
	bad.nbytes = 4;
	ok(qdb_npy_save(&bad, tmp("bad.npy"), &e) == QDB_EINVAL && access(tmp("bad.npy"), F_OK) != 0,
	   "inconsistent tensor refused, nothing written");
	qdb_tensor_done(&t);

	size_t len;
	char *buf = slurp(good("f32_2x3.npy"), &len);
	int nbad = 0;
	for (size_t cut = 0; cut < len; cut++) {
		int rc = qdb_npy_parse(buf, cut, "cut", &t, &e);
		nbad += rc != QDB_EFORMAT || strncmp(e.msg, "cut: ", 5);
		qdb_tensor_done(&t);
	}
	ok(nbad == 0, "f32_2x3.npy cut at each of %zu bytes: refused", len);
	free(buf);
	FAULT_LOOP("npy load", (qdb_tensor_done(&t), qdb_npy_load(good("f32_2x3.npy"), &t, &e_)));
	FAULT_LOOP("npy save", qdb_npy_save(&t, tmp("fault.npy"), &e_));
	ok(count_temps() == 0, "no temp left by failed saves");
	qdb_tensor_done(&t);
}

int main(void)
{
	const char *src = getenv("QDB_SRCDIR") ? getenv("QDB_SRCDIR") : ".";
	snprintf(src_good, sizeof src_good, "%s/testdata/good", src);
	snprintf(tmpdir, sizeof tmpdir, "%s/qdb-io-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return tap_done();
	}
	test_files();
	test_mp();
	test_traces();
	test_datasets();
	test_npy();
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", tmpdir);
	return tap_done();
}
