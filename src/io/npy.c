/* npy.c - numpy .npy files, format versions 1.0, 2.0 and 3.0.
 *
 * Layout: "\x93NUMPY", major, minor, header length (u16 LE for 1.x, u32 LE
 * for 2.x/3.x), then a Python dict literal
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and ended by '\n', then the raw array bytes. Only the
 * literal forms numpy writes are accepted; the data length must match the
 * shape exactly.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "base/alloc.h"
#include "io/file.h"
#include "io/npy.h"

static const struct {
	const char *descr;
	enum qdb_dtype dtype;
} npy_types[] = {
	{"<f4", QDB_F32}, {"<f8", QDB_F64}, {"|i1", QDB_I8}, {"|u1", QDB_U8},
	{"<i2", QDB_I16}, {"<i4", QDB_I32}, {"<i8", QDB_I64},
};
#define N_NPY_TYPES (sizeof npy_types / sizeof npy_types[0])

struct lex {
	const char *p, *end;
	struct qdb_err *err;
};

static void skip_space(struct lex *l)
{
	while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
		l->p++;
}

static int expect(struct lex *l, char c)
{
	skip_space(l);
	if (l->p < l->end && *l->p == c) {
		l->p++;
		return 0;
	}
	return -1;
}

static int peek(struct lex *l, char c)
{
	skip_space(l);
	return l->p < l->end && *l->p == c;
}

/* A quoted string (no escapes: numpy never writes any) into dst. */
static int lex_string(struct lex *l, char *dst, size_t n)
{
	skip_space(l);
	if (l->p >= l->end || (*l->p != '\'' && *l->p != '"'))
		return -1;
	char q = *l->p++;
	const char *s = l->p;
	while (l->p < l->end && *l->p != q && *l->p != '\\')
		l->p++;
	if (l->p >= l->end || *l->p != q || (size_t)(l->p - s) >= n)
		return -1;
	memcpy(dst, s, (size_t)(l->p - s));
	dst[l->p - s] = '\0';
	l->p++;
	return 0;
}

static int lex_word(struct lex *l, const char *w)
{
	size_t n = strlen(w);
	skip_space(l);
	if ((size_t)(l->end - l->p) < n || memcmp(l->p, w, n))
		return -1;
	l->p += n;
	return 0;
}

static int lex_dim(struct lex *l, int64_t *out)
{
	skip_space(l);
	int64_t v = 0;
	const char *s = l->p;
	while (l->p < l->end && *l->p >= '0' && *l->p <= '9') {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*l->p++ - '0');
	}
	if (l->p == s)
		return -1;
	if (l->p < l->end && *l->p == 'L') /* Python 2 longs */
		l->p++;
	*out = v;
	return 0;
}

struct npy_header {
	char descr[32];
	int fortran, rank;
	int64_t shape[QDB_MAX_RANK];
};

static int parse_shape(struct lex *l, struct npy_header *h)
{
	if (expect(l, '('))
		return qdb_err_set(l->err, QDB_EFORMAT, "header: shape: expected a tuple");
	h->rank = 0;
	while (!peek(l, ')')) {
		int64_t d;
		if (h->rank == QDB_MAX_RANK)
			return qdb_err_set(l->err, QDB_EFORMAT, "header: shape: rank above %d",
					   QDB_MAX_RANK);
		if (lex_dim(l, &d))
			return qdb_err_set(l->err, QDB_EFORMAT,
					   "header: shape: expected a non-negative int");
		h->shape[h->rank++] = d;
		if (expect(l, ',') && !peek(l, ')'))
			return qdb_err_set(l->err, QDB_EFORMAT, "header: shape: expected , or )");
	}
	l->p++;
	if (qdb_shape_numel(h->rank, h->shape) < 0)
		return qdb_err_set(l->err, QDB_EFORMAT, "header: shape: element count overflows");
	return QDB_OK;
}

static int parse_dict(struct lex *l, struct npy_header *h)
{
	int seen = 0; /* bits: descr, fortran_order, shape */
	if (expect(l, '{'))
		return qdb_err_set(l->err, QDB_EFORMAT, "header: expected a dict");
	while (!peek(l, '}')) {
		char key[32];
		int bit;
		if (lex_string(l, key, sizeof key) || expect(l, ':'))
			return qdb_err_set(l->err, QDB_EFORMAT, "header: expected 'key':");
		if (!strcmp(key, "descr")) {
			bit = 1;
			if (peek(l, '['))
				return qdb_err_set(l->err, QDB_EFORMAT,
						   "header: descr: structured dtypes are not supported");
			if (lex_string(l, h->descr, sizeof h->descr))
				return qdb_err_set(l->err, QDB_EFORMAT, "header: descr: expected a string");
		} else if (!strcmp(key, "fortran_order")) {
			bit = 2;
			if (!lex_word(l, "True"))
				h->fortran = 1;
			else if (!lex_word(l, "False"))
				h->fortran = 0;
			else
				return qdb_err_set(l->err, QDB_EFORMAT,
						   "header: fortran_order: expected True or False");
		} else if (!strcmp(key, "shape")) {
			bit = 4;
			int rc = parse_shape(l, h);
			if (rc)
				return rc;
		} else {
			return qdb_err_set(l->err, QDB_EFORMAT, "header: unexpected key '%s'", key);
		}
		if (seen & bit)
			return qdb_err_set(l->err, QDB_EFORMAT, "header: key '%s' given twice", key);
		seen |= bit;
		if (expect(l, ',') && !peek(l, '}'))
			return qdb_err_set(l->err, QDB_EFORMAT, "header: expected , or }");
	}
	l->p++;
	if (seen != 7)
		return qdb_err_set(l->err, QDB_EFORMAT, "header: missing %s",
				   !(seen & 1) ? "descr" : !(seen & 2) ? "fortran_order" : "shape");
	skip_space(l);
	if (l->p != l->end)
		return qdb_err_set(l->err, QDB_EFORMAT, "header: garbage after the dict");
	return QDB_OK;
}

static int descr_dtype(const char *d, enum qdb_dtype *out, struct qdb_err *err)
{
	for (size_t i = 0; i < N_NPY_TYPES; i++) {
		const char *want = npy_types[i].descr;
		/* One-byte types have no byte order: accept any marker. */
		int one = want[0] == '|';
		if (!strcmp(d, want) || (one && d[0] && strchr("<>=|", d[0]) && !strcmp(d + 1, want + 1))) {
			*out = npy_types[i].dtype;
			return QDB_OK;
		}
	}
	if (d[0] == '>')
		return qdb_err_set(err, QDB_EFORMAT, "header: descr: big-endian '%s' is not supported", d);
	return qdb_err_set(err, QDB_EFORMAT,
			   "header: descr: '%s' is not supported (want <f4 <f8 |i1 |u1 <i2 <i4 <i8)", d);
}

static uint32_t le(const unsigned char *p, int n)
{
	uint32_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int parse_npy(const unsigned char *s, size_t len, struct qdb_tensor *out, struct qdb_err *err)
{
	if (len == 0)
		return qdb_err_set(err, QDB_EFORMAT, "header: empty file");
	if (len < 8 || memcmp(s, "\x93NUMPY", 6))
		return qdb_err_set(err, QDB_EFORMAT, "magic: not a .npy file");
	int major = s[6];
	if (major < 1 || major > 3 || s[7] != 0)
		return qdb_err_set(err, QDB_EFORMAT, "version: %d.%d is not supported (want 1.0, 2.0 or 3.0)",
				   major, s[7]);
	size_t lenbytes = major == 1 ? 2 : 4, hstart = 8 + lenbytes;
	if (len < hstart)
		return qdb_err_set(err, QDB_EFORMAT, "header length: truncated");
	size_t hlen = le(s + 8, (int)lenbytes);
	if (hlen > len - hstart)
		return qdb_err_set(err, QDB_EFORMAT, "header: %zu bytes declared, %zu left", hlen,
				   len - hstart);
	struct npy_header h;
	memset(&h, 0, sizeof h);
	struct lex l = {(const char *)s + hstart, (const char *)s + hstart + hlen, err};
	int rc = parse_dict(&l, &h);
	if (rc)
		return rc;
	enum qdb_dtype dt = QDB_F32;
	if ((rc = descr_dtype(h.descr, &dt, err)))
		return rc;
	if (h.fortran)
		return qdb_err_set(err, QDB_EFORMAT,
				   "header: fortran_order: Fortran order is not supported (save a C-order array)");
	size_t have = len - hstart - hlen, need;
	int overflow = qdb_mul_size((size_t)qdb_shape_numel(h.rank, h.shape), qdb_dtype_size(dt), &need);
	if (overflow || need != have) {
		char sh[128], nb[32];
		if (overflow)
			snprintf(nb, sizeof nb, "more than 2^64");
		else
			snprintf(nb, sizeof nb, "%zu", need);
		return qdb_err_set(err, QDB_EFORMAT, "data: %zu bytes, shape %s %s needs %s", have,
				   qdb_shape_str(sh, sizeof sh, h.rank, h.shape), qdb_dtype_name(dt), nb);
	}
	struct qdb_tensor t;
	qdb_tensor_init(&t);
	if ((rc = qdb_tensor_alloc(&t, dt, h.rank, h.shape, err)))
		return rc;
	if (need)
		memcpy(t.data, s + hstart + hlen, need);
	qdb_tensor_done(out);
	*out = t;
	return QDB_OK;
}

int qdb_npy_parse(const void *data, size_t len, const char *name, struct qdb_tensor *out,
		  struct qdb_err *err)
{
	int rc = parse_npy(data, len, out, err);
	if (rc)
		qdb_err_prefix(err, "%s", name);
	return rc;
}

int qdb_npy_load(const char *path, struct qdb_tensor *out, struct qdb_err *err)
{
	struct qdb_map m;
	int rc = qdb_map_open(&m, path, err);
	if (rc)
		return rc;
	rc = qdb_npy_parse(m.data, m.size, path, out, err);
	qdb_map_close(&m);
	return rc;
}

int qdb_npy_save(const struct qdb_tensor *t, const char *path, struct qdb_err *err)
{
	const char *descr = NULL;
	for (size_t i = 0; i < N_NPY_TYPES; i++)
		if (npy_types[i].dtype == t->dtype)
			descr = npy_types[i].descr;
	int64_t numel = qdb_tensor_numel(t);
	size_t need;
	if (!descr || numel < 0 || qdb_mul_size((size_t)numel, qdb_dtype_size(t->dtype), &need) ||
	    need != t->nbytes || (need && !t->data))
		return qdb_err_set(err, QDB_EINVAL, "%s: invalid tensor (dtype, shape or data size)", path);
	/* Header: dict, spaces, '\n', with the data 64-byte aligned as numpy does. */
	char hdr[512];
	int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
	for (int i = 0; i < t->rank; i++)
		n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%lld%s", (long long)t->shape[i],
			      t->rank == 1 ? "," : i + 1 < t->rank ? ", " : "");
	n += snprintf(hdr + n, sizeof hdr - (size_t)n, "), }");
	size_t total = 10 + (size_t)n + 1;
	size_t pad = (64 - total % 64) % 64;
	memset(hdr + n, ' ', pad);
	hdr[(size_t)n + pad] = '\n';
	size_t hlen = (size_t)n + pad + 1;
	unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
				 (unsigned char)(hlen >> 8)};

	struct qdb_atomic a;
	int rc = qdb_atomic_open(&a, path, err);
	if (rc)
		return rc;
	errno = 0;
	if (fwrite(pre, 1, sizeof pre, a.fp) != sizeof pre || fwrite(hdr, 1, hlen, a.fp) != hlen ||
	    (need && fwrite(t->data, 1, need, a.fp) != need)) {
		rc = qdb_atomic_write_error(&a, err);
		qdb_atomic_abort(&a);
		return rc;
	}
	return qdb_atomic_commit(&a, err);
}
