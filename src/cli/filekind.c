/* filekind.c - telling traces, datasets, graphs and .npy files apart. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "cli/filekind.h"
#include "io/file.h"

const char *qdb_file_kind_name(enum qdb_file_kind k)
{
	switch (k) {
	case QDB_KIND_TRACE: return "trace";
	case QDB_KIND_DATASET: return "dataset";
	case QDB_KIND_GRAPH: return "graph";
	case QDB_KIND_NPY: return "npy";
	}
	return "?";
}

struct rd {
	const unsigned char *p;
	size_t n, off;
};

static int need(struct rd *r, size_t k)
{
	return r->n - r->off >= k;
}

static uint64_t be(const unsigned char *p, int k)
{
	uint64_t v = 0;
	for (int i = 0; i < k; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Reads a header byte and its length field. kind: 's' str, 'b' bin/ext
 * (payload to skip), 'a' array, 'm' map, 'x' scalar (already skipped).
 * Returns -1 on truncation or an invalid byte. */
static int head(struct rd *r, int *kind, uint64_t *len)
{
	if (!need(r, 1))
		return -1;
	unsigned c = r->p[r->off++];
	int k = 0;
	*len = 0;
	if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
		*kind = 'x';
		return 0;
	}
	if ((c & 0xe0) == 0xa0) {
		*kind = 's';
		*len = c & 0x1f;
		return 0;
	}
	if ((c & 0xf0) == 0x90) {
		*kind = 'a';
		*len = c & 0x0f;
		return 0;
	}
	if ((c & 0xf0) == 0x80) {
		*kind = 'm';
		*len = c & 0x0f;
		return 0;
	}
	switch (c) {
	case 0xcc: case 0xd0: k = 1; goto fixed;
	case 0xcd: case 0xd1: k = 2; goto fixed;
	case 0xca: case 0xce: case 0xd2: k = 4; goto fixed;
	case 0xcb: case 0xcf: case 0xd3: k = 8; goto fixed;
	case 0xd4: k = 2; goto fixed; /* fixext 1: type + 1 */
	case 0xd5: k = 3; goto fixed;
	case 0xd6: k = 5; goto fixed;
	case 0xd7: k = 9; goto fixed;
	case 0xd8: k = 17; goto fixed;
	case 0xd9: *kind = 's'; k = 1; break;
	case 0xda: *kind = 's'; k = 2; break;
	case 0xdb: *kind = 's'; k = 4; break;
	case 0xc4: *kind = 'b'; k = 1; break;
	case 0xc5: *kind = 'b'; k = 2; break;
	case 0xc6: *kind = 'b'; k = 4; break;
	case 0xc7: *kind = 'e'; k = 1; break;
	case 0xc8: *kind = 'e'; k = 2; break;
	case 0xc9: *kind = 'e'; k = 4; break;
	case 0xdc: *kind = 'a'; k = 2; break;
	case 0xdd: *kind = 'a'; k = 4; break;
	case 0xde: *kind = 'm'; k = 2; break;
	case 0xdf: *kind = 'm'; k = 4; break;
	default: return -1; /* 0xc1 is never used */
	}
	if (!need(r, (size_t)k))
		return -1;
	*len = be(r->p + r->off, k);
	r->off += (size_t)k;
	if (*kind == 'e') { /* ext: type byte, then payload */
		*kind = 'b';
		*len += 1;
	}
	return 0;
fixed:
	if (!need(r, (size_t)k))
		return -1;
	r->off += (size_t)k;
	*kind = 'x';
	return 0;
}

/* Skips one object without recursion: `pending` counts objects still to
 * skip (a map of n adds 2n). */
static int skip(struct rd *r)
{
	uint64_t pending = 1;
	while (pending > 0) {
		int kind;
		uint64_t len;
		pending--;
		if (head(r, &kind, &len))
			return -1;
		switch (kind) {
		case 's': case 'b':
			if (!need(r, len))
				return -1;
			r->off += len;
			break;
		case 'a':
			if (len > r->n - r->off)
				return -1; /* every element takes at least a byte */
			pending += len;
			break;
		case 'm':
			if (len > (r->n - r->off) / 2)
				return -1;
			pending += 2 * len;
			break;
		default:
			break;
		}
	}
	return 0;
}

int qdb_file_kind_mem(const unsigned char *p, size_t n, const char *path,
		      enum qdb_file_kind *out, struct qdb_err *err)
{
	static const char npy[] = "\x93NUMPY";
	struct rd r = {p, n, 0};
	int kind;
	uint64_t len;

	if (n == 0)
		return qdb_err_set(err, QDB_EFORMAT, "%s: empty file", path);
	if (n >= 6 && !memcmp(p, npy, 6)) {
		*out = QDB_KIND_NPY;
		return QDB_OK;
	}
	if (head(&r, &kind, &len) || kind != 'm')
		return qdb_err_set(err, QDB_EFORMAT,
				   "%s: not a qdb file (trace, dataset, graph) nor .npy", path);
	for (uint64_t i = 0; i < len; i++) {
		size_t koff = r.off;
		int kk;
		uint64_t kl;
		if (head(&r, &kk, &kl))
			goto trunc;
		if (kk == 's' && kl == 6 && need(&r, 6) && !memcmp(p + r.off, "format", 6)) {
			r.off += 6;
			int vk;
			uint64_t vl;
			if (head(&r, &vk, &vl) || (vk == 's' && !need(&r, vl)))
				goto trunc;
			const char *v = (const char *)p + r.off;
			if (vk == 's' && vl == 9 && !memcmp(v, "qdb.trace", 9))
				*out = QDB_KIND_TRACE;
			else if (vk == 's' && vl == 11 && !memcmp(v, "qdb.dataset", 11))
				*out = QDB_KIND_DATASET;
			else if (vk == 's' && vl == 9 && !memcmp(v, "qdb.graph", 9))
				*out = QDB_KIND_GRAPH;
			else if (vk == 's')
				return qdb_err_set(err, QDB_EFORMAT, "%s: header: format: unknown '%.*s'",
						   path, vl > 40 ? 40 : (int)vl, v);
			else
				return qdb_err_set(err, QDB_EFORMAT,
						   "%s: header: format: expected a string", path);
			return QDB_OK;
		}
		r.off = koff;
		if (skip(&r) || skip(&r))
			goto trunc;
	}
	return qdb_err_set(err, QDB_EFORMAT, "%s: header: format: missing (not a qdb file)", path);
trunc:
	return qdb_err_set(err, QDB_EFORMAT, "%s: header: truncated or malformed MessagePack", path);
}

int qdb_file_kind(const char *path, enum qdb_file_kind *out, struct qdb_err *err)
{
	struct qdb_map m;
	int rc = qdb_map_open(&m, path, err);
	if (rc)
		return rc;
	rc = qdb_file_kind_mem(m.data, m.size, path, out, err);
	qdb_map_close(&m);
	return rc;
}
