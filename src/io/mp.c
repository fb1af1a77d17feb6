/* mp.c - MessagePack structure skim, typed reads with path-aware errors,
 * and packing shortcuts. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "io/mp.h"

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* What follows a type byte: h header bytes holding a length (lenbytes of
 * them, or a fixed payload `fixed`), and whether the length counts items. */
struct mp_kind {
	const char *name;
	int hdr;      /* bytes after the type byte before the payload */
	int lenbytes; /* how many of them are the big-endian length, 0: none */
	int64_t fixed; /* payload size when lenbytes == 0 and not a container */
	int items;    /* 0: bytes; 1: array items; 2: map (2 items per entry) */
	uint32_t fixcount; /* count carried by the type byte (fix types) */
};

static int classify(unsigned b, struct mp_kind *k)
{
	memset(k, 0, sizeof *k);
	if (b <= 0x7f || b >= 0xe0) {
		k->name = "int";
	} else if (b <= 0x8f) {
		k->name = "map", k->items = 2, k->fixcount = b & 0x0f;
	} else if (b <= 0x9f) {
		k->name = "array", k->items = 1, k->fixcount = b & 0x0f;
	} else if (b <= 0xbf) {
		k->name = "str", k->fixed = b & 0x1f;
	} else {
		switch (b) {
		case 0xc0: k->name = "nil"; break;
		case 0xc1: return -1;
		case 0xc2: case 0xc3: k->name = "bool"; break;
		case 0xc4: k->name = "bin", k->hdr = k->lenbytes = 1; break;
		case 0xc5: k->name = "bin", k->hdr = k->lenbytes = 2; break;
		case 0xc6: k->name = "bin", k->hdr = k->lenbytes = 4; break;
		case 0xc7: k->name = "ext", k->hdr = 2, k->lenbytes = 1; break;
		case 0xc8: k->name = "ext", k->hdr = 3, k->lenbytes = 2; break;
		case 0xc9: k->name = "ext", k->hdr = 5, k->lenbytes = 4; break;
		case 0xca: k->name = "float", k->fixed = 4; break;
		case 0xcb: k->name = "float", k->fixed = 8; break;
		case 0xcc: case 0xd0: k->name = "int", k->fixed = 1; break;
		case 0xcd: case 0xd1: k->name = "int", k->fixed = 2; break;
		case 0xce: case 0xd2: k->name = "int", k->fixed = 4; break;
		case 0xcf: case 0xd3: k->name = "int", k->fixed = 8; break;
		case 0xd4: k->name = "ext", k->fixed = 2; break;
		case 0xd5: k->name = "ext", k->fixed = 3; break;
		case 0xd6: k->name = "ext", k->fixed = 5; break;
		case 0xd7: k->name = "ext", k->fixed = 9; break;
		case 0xd8: k->name = "ext", k->fixed = 17; break;
		case 0xd9: k->name = "str", k->hdr = k->lenbytes = 1; break;
		case 0xda: k->name = "str", k->hdr = k->lenbytes = 2; break;
		case 0xdb: k->name = "str", k->hdr = k->lenbytes = 4; break;
		case 0xdc: k->name = "array", k->items = 1, k->hdr = k->lenbytes = 2; break;
		case 0xdd: k->name = "array", k->items = 1, k->hdr = k->lenbytes = 4; break;
		case 0xde: k->name = "map", k->items = 2, k->hdr = k->lenbytes = 2; break;
		case 0xdf: k->name = "map", k->items = 2, k->hdr = k->lenbytes = 4; break;
		}
	}
	return 0;
}

int qdb_mp_skim(const void *buf, size_t len, size_t off, size_t *end, struct qdb_err *err)
{
	const unsigned char *s = buf;
	uint64_t left[QDB_MP_MAX_DEPTH + 1];
	int sp = 0;
	size_t p = off;
	left[0] = 1;
	if (p >= len)
		return qdb_err_set(err, QDB_EFORMAT, "truncated at byte %zu: no object", p);
	for (;;) {
		while (left[sp] == 0) {
			if (sp == 0) {
				*end = p;
				return QDB_OK;
			}
			sp--;
		}
		left[sp]--;
		if (p >= len)
			return qdb_err_set(err, QDB_EFORMAT,
					   "truncated at byte %zu: container ends early", p);
		size_t at = p;
		unsigned b = s[p++];
		if (b <= 0x7f || b >= 0xe0)
			continue; /* fixint: the most common objects, no payload */
		if (b >= 0xa0 && b <= 0xbf && (size_t)(b & 0x1f) <= len - p) {
			p += b & 0x1f; /* fixstr that fits (keys): the next most common */
			continue;
		}
		struct mp_kind k;
		if (classify(b, &k) < 0)
			return qdb_err_set(err, QDB_EFORMAT, "invalid byte 0xc1 at byte %zu", at);
		if ((size_t)k.hdr > len - p)
			return qdb_err_set(err, QDB_EFORMAT, "truncated at byte %zu: %s header", at,
					   k.name);
		uint64_t n = k.lenbytes ? be(s + p, k.lenbytes) : (k.items ? k.fixcount : (uint64_t)k.fixed);
		p += (size_t)k.hdr;
		if (!k.items) {
			if (n > len - p)
				return qdb_err_set(err, QDB_EFORMAT,
						   "truncated at byte %zu: %s needs %llu bytes, %zu left",
						   at, k.name, (unsigned long long)n, len - p);
			p += (size_t)n;
			continue;
		}
		uint64_t items = n * (uint64_t)k.items; /* n < 2^32: no overflow */
		if (items > len - p) /* every item takes at least one byte */
			return qdb_err_set(err, QDB_EFORMAT,
					   "truncated at byte %zu: %s of %llu %s, %zu bytes left", at,
					   k.name, (unsigned long long)n, k.items == 2 ? "entries" : "items",
					   len - p);
		if (items == 0)
			continue;
		if (sp == QDB_MP_MAX_DEPTH)
			return qdb_err_set(err, QDB_EFORMAT, "nesting deeper than %d at byte %zu",
					   QDB_MP_MAX_DEPTH, at);
		left[++sp] = items;
	}
}

int qdb_mp_next(msgpack_unpacked *u, const void *buf, size_t len, size_t *off,
		struct qdb_err *err)
{
	size_t end, o = 0;
	int rc = qdb_mp_skim(buf, len, *off, &end, err);
	if (rc)
		return rc;
	/* One zone per msgpack_unpacked, cleared for each object:
	 * msgpack_unpack_next would free and allocate one per object.
	 * msgpack_unpack (msgpack-c's older entry point) takes the zone and
	 * references str and bin bytes in the input just the same. */
	if (!u->zone) {
		if (!(u->zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE)))
			return qdb_err_set(err, QDB_ENOMEM, "at byte %zu: out of memory", *off);
	} else {
		msgpack_zone_clear(u->zone);
	}
	/* msgpack-c sees exactly the skimmed object, nothing beyond it. */
	switch (msgpack_unpack((const char *)buf + *off, end - *off, &o, u->zone, &u->data)) {
	case MSGPACK_UNPACK_SUCCESS:
		if (o != end - *off)
			break;
		*off = end;
		return QDB_OK;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		return qdb_err_set(err, QDB_ENOMEM, "at byte %zu: out of memory", *off);
	default:
		break;
	}
	return qdb_err_set(err, QDB_EFORMAT, "invalid MessagePack at byte %zu", *off);
}

int qdb_mp_fail(int rc, struct qdb_err *err, const char *fmt, ...)
{
	if (err) {
		char where[QDB_ERR_MSG_MAX];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(where, sizeof where, fmt, ap);
		va_end(ap);
		qdb_err_prefix(err, "%s", where);
	}
	return rc;
}

const char *qdb_mp_type_name(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return "nil";
	case MSGPACK_OBJECT_BOOLEAN: return "bool";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "int";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return "float";
	case MSGPACK_OBJECT_STR: return "str";
	case MSGPACK_OBJECT_ARRAY: return "array";
	case MSGPACK_OBJECT_MAP: return "map";
	case MSGPACK_OBJECT_BIN: return "bin";
	case MSGPACK_OBJECT_EXT: return "ext";
	}
	return "?";
}

static int wrong_type(const msgpack_object *o, const char *what, const char *want,
		      struct qdb_err *err)
{
	return qdb_err_set(err, QDB_EFORMAT, "%s: expected %s, got %s", what, want,
			   qdb_mp_type_name(o));
}

int qdb_mp_str_eq(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	/* msgpack-c gives empty strings a NULL pointer: never memcmp those */
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	       (n == 0 || memcmp(o->via.str.ptr, s, n) == 0);
}

static int key_cmp(const msgpack_object *a, const msgpack_object *b)
{
	uint32_t na = a->via.str.size, nb = b->via.str.size;
	int c = na && nb ? memcmp(a->via.str.ptr, b->via.str.ptr, na < nb ? na : nb) : 0;
	return c ? c : (na > nb) - (na < nb);
}

static int kvp_cmp(const void *a, const void *b)
{
	const msgpack_object_kv *x = *(const msgpack_object_kv *const *)a;
	const msgpack_object_kv *y = *(const msgpack_object_kv *const *)b;
	return key_cmp(&x->key, &y->key);
}

/* what == NULL: the object is the top level; messages get no prefix. */
static int dup_key(const msgpack_object_kv *kv, const char *what, struct qdb_err *err)
{
	char ex[64];
	return qdb_err_set(err, QDB_EFORMAT, "%s%sduplicate key \"%s\"", what ? what : "",
			   what ? ": " : "", qdb_mp_excerpt(&kv->key, ex, sizeof ex));
}

int qdb_mp_check_map(const msgpack_object *o, const char *what, struct qdb_err *err)
{
	const char *w = what ? what : "", *sep = what ? ": " : "";
	if (o->type != MSGPACK_OBJECT_MAP)
		return qdb_err_set(err, QDB_EFORMAT, "%s%sexpected map, got %s", w, sep,
				   qdb_mp_type_name(o));
	uint32_t n = o->via.map.size;
	const msgpack_object_kv *kv = o->via.map.ptr;
	for (uint32_t i = 0; i < n; i++)
		if (kv[i].key.type != MSGPACK_OBJECT_STR)
			return qdb_err_set(err, QDB_EFORMAT, "%s%skey %u is %s, not str", w, sep, i,
					   qdb_mp_type_name(&kv[i].key));
	if (n <= 16) {
		for (uint32_t i = 1; i < n; i++)
			for (uint32_t j = 0; j < i; j++)
				if (!key_cmp(&kv[i].key, &kv[j].key))
					return dup_key(&kv[i], what, err);
		return QDB_OK;
	}
	const msgpack_object_kv **v = qdb_alloc_array(n, sizeof *v);
	if (!v)
		return qdb_err_set(err, QDB_ENOMEM, "%s%sout of memory", w, sep);
	for (uint32_t i = 0; i < n; i++)
		v[i] = &kv[i];
	qsort(v, n, sizeof *v, kvp_cmp);
	int rc = QDB_OK;
	for (uint32_t i = 1; i < n && !rc; i++)
		if (!key_cmp(&v[i]->key, &v[i - 1]->key))
			rc = dup_key(v[i], what, err);
	qdb_free(v);
	return rc;
}

int qdb_mp_check_format(const msgpack_object *h, const char *format, const char *what,
			struct qdb_err *err)
{
	const msgpack_object *v;
	int64_t version;
	int rc = qdb_mp_check_map(h, what, err);
	if (rc || (rc = qdb_mp_get(h, "format", 1, &v, err)))
		return rc;
	if (!qdb_mp_str_eq(v, format)) {
		char ex[48];
		return qdb_err_set(err, QDB_EFORMAT, "format: \"%s\" is not \"%s\"",
				   qdb_mp_excerpt(v, ex, sizeof ex), format);
	}
	if ((rc = qdb_mp_get_int(h, "version", 1, &version, err)))
		return rc;
	if (version != 1)
		return qdb_err_set(err, QDB_EFORMAT, "version: %lld is not supported (want 1)",
				   (long long)version);
	return QDB_OK;
}

const msgpack_object *qdb_mp_find(const msgpack_object *map, const char *key)
{
	size_t n = strlen(key);
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		/* as qdb_mp_str_eq, with the key's length taken once */
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
		    (n == 0 || memcmp(k->via.str.ptr, key, n) == 0))
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

int qdb_mp_get(const msgpack_object *map, const char *key, int required,
	       const msgpack_object **out, struct qdb_err *err)
{
	const msgpack_object *v = qdb_mp_find(map, key);
	*out = NULL;
	if (v && v->type == MSGPACK_OBJECT_NIL && !required)
		v = NULL;
	if (!v && required)
		return qdb_err_set(err, QDB_EFORMAT, "%s: missing", key);
	*out = v;
	return QDB_OK;
}

int qdb_mp_as_int(const msgpack_object *o, const char *what, int64_t *out, struct qdb_err *err)
{
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*out = o->via.i64;
		return QDB_OK;
	}
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return wrong_type(o, what, "int", err);
	if (o->via.u64 > (uint64_t)INT64_MAX)
		return qdb_err_set(err, QDB_EFORMAT, "%s: %llu is too large", what,
				   (unsigned long long)o->via.u64);
	*out = (int64_t)o->via.u64;
	return QDB_OK;
}

int qdb_mp_as_double(const msgpack_object *o, const char *what, double *out,
		     struct qdb_err *err)
{
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*out = o->via.f64;
		return QDB_OK;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*out = (double)o->via.u64;
		return QDB_OK;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*out = (double)o->via.i64;
		return QDB_OK;
	default:
		return wrong_type(o, what, "number", err);
	}
}

int qdb_mp_as_bool(const msgpack_object *o, const char *what, int *out, struct qdb_err *err)
{
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return wrong_type(o, what, "bool", err);
	*out = o->via.boolean ? 1 : 0;
	return QDB_OK;
}

int qdb_mp_as_str(const msgpack_object *o, const char *what, const char **p, size_t *n,
		  struct qdb_err *err)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return wrong_type(o, what, "str", err);
	*n = o->via.str.size;
	*p = *n ? o->via.str.ptr : ""; /* msgpack-c: NULL for empty strings */
	if (memchr(*p, 0, *n))
		return qdb_err_set(err, QDB_EFORMAT, "%s: string contains a NUL byte", what);
	return QDB_OK;
}

int qdb_mp_as_strdup(const msgpack_object *o, const char *what, char **out,
		     struct qdb_err *err)
{
	const char *p = NULL;
	size_t n = 0;
	int rc = qdb_mp_as_str(o, what, &p, &n, err);
	if (rc)
		return rc;
	if (!(*out = qdb_strndup(p, n)))
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", what);
	return QDB_OK;
}

int qdb_mp_as_array(const msgpack_object *o, const char *what, struct qdb_err *err)
{
	return o->type == MSGPACK_OBJECT_ARRAY ? QDB_OK : wrong_type(o, what, "array", err);
}

const char *qdb_mp_printable(const char *s, size_t len, char *dst, size_t n)
{
	size_t i;
	for (i = 0; i < len && i + 1 < n; i++)
		dst[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	dst[i] = '\0';
	if (i < len && n >= 4)
		memcpy(dst + n - 4, "...", 4);
	return dst;
}

const char *qdb_mp_excerpt(const msgpack_object *o, char *dst, size_t n)
{
	if (o->type != MSGPACK_OBJECT_STR) {
		snprintf(dst, n, "<%s>", qdb_mp_type_name(o));
		return dst;
	}
	return qdb_mp_printable(o->via.str.ptr, o->via.str.size, dst, n);
}

int qdb_mp_get_int(const msgpack_object *map, const char *key, int required, int64_t *out,
		   struct qdb_err *err)
{
	const msgpack_object *v;
	int rc = qdb_mp_get(map, key, required, &v, err);
	if (rc || !v)
		return rc;
	return qdb_mp_as_int(v, key, out, err);
}

int qdb_mp_get_strdup(const msgpack_object *map, const char *key, int required,
		      const char *def, char **out, struct qdb_err *err)
{
	const msgpack_object *v;
	int rc = qdb_mp_get(map, key, required, &v, err);
	if (rc)
		return rc;
	if (v)
		return qdb_mp_as_strdup(v, key, out, err);
	*out = NULL;
	if (def && !(*out = qdb_strdup(def)))
		return qdb_err_set(err, QDB_ENOMEM, "%s: out of memory", key);
	return QDB_OK;
}

int qdb_mp_pack_str(msgpack_packer *pk, const char *s)
{
	/* msgpack_fbuffer_write fails on a zero-length write, so an empty
	 * string is written as a bare header. */
	size_t n = strlen(s);
	return n ? msgpack_pack_str_with_body(pk, s, n) : msgpack_pack_str(pk, 0);
}

int qdb_mp_pack_kv_str(msgpack_packer *pk, const char *key, const char *val)
{
	return qdb_mp_pack_str(pk, key) | qdb_mp_pack_str(pk, val);
}

int qdb_mp_pack_kv_int(msgpack_packer *pk, const char *key, int64_t val)
{
	return qdb_mp_pack_str(pk, key) | msgpack_pack_int64(pk, val);
}
