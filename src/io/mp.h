/* mp.h - MessagePack helpers over msgpack-c, internal to the io module.
 *
 * Reading: qdb_mp_next() first skims one object without allocating: every
 * container count and str/bin/ext length is checked against the bytes left
 * and nesting is bounded, so a corrupt length can neither read past the
 * buffer nor make msgpack-c allocate for elements that are not there. Only
 * then msgpack-c unpacks it. msgpack_unpack_next() makes str and bin
 * objects point into the input buffer (it references, never copies, them;
 * tests/unit/test_io.c checks it), so tensor views are zero-copy: the
 * msgpack_unpacked owns only the small object tree, the caller the bytes.
 *
 * Typed getters fail with QDB_EFORMAT and a message naming the field
 * ("shape: expected array, got str"). Callers prefix their position with
 * qdb_err_prefix as an error bubbles up, so the final message reads
 * "FILE: record 12 (sample 3, layer conv1): tensor: data: ...".
 *
 * Writing: thin wrappers over msgpack_packer that take C strings; they
 * return msgpack's status (0 = ok), so a writer can OR them together.
 */
#ifndef QDB_MP_H
#define QDB_MP_H

#include <msgpack.h>
#include <msgpack/fbuffer.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define QDB_MP_MAX_DEPTH 32 /* msgpack-c's own unpack stack is 32 deep */

/* Checks the structure of the object at buf[off..len) and sets *end just
 * past it. No allocation. QDB_EFORMAT with "truncated ..." etc. */
int qdb_mp_skim(const void *buf, size_t len, size_t off, size_t *end, struct qdb_err *err);
/* Skims and unpacks the object at *off into u, advancing *off. */
int qdb_mp_next(msgpack_unpacked *u, const void *buf, size_t len, size_t *off,
		struct qdb_err *err);

/* Prefixes err's message with a formatted position ("record 3") and
 * returns rc (also when err is NULL, unlike qdb_err_prefix). */
int qdb_mp_fail(int rc, struct qdb_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "int", "str", "map", ... for messages. */
const char *qdb_mp_type_name(const msgpack_object *o);
/* 1 if o is a str equal to s. */
int qdb_mp_str_eq(const msgpack_object *o, const char *s);

/* Checks that o is a map whose keys are unique strings. what == NULL for
 * the top-level object (no prefix in messages). */
int qdb_mp_check_map(const msgpack_object *o, const char *what, struct qdb_err *err);
/* Checks a file's top-level map (`what` as for qdb_mp_check_map): format
 * == `format`, version == 1. */
int qdb_mp_check_format(const msgpack_object *h, const char *format, const char *what,
			struct qdb_err *err);
/* Value of `key` in a checked map, or NULL. */
const msgpack_object *qdb_mp_find(const msgpack_object *map, const char *key);
/* Like qdb_mp_find, but "KEY: missing" when absent and required; *out is
 * NULL when absent (or nil) and optional. */
int qdb_mp_get(const msgpack_object *map, const char *key, int required,
	       const msgpack_object **out, struct qdb_err *err);

/* Typed reads of one object; `what` names it in messages. */
int qdb_mp_as_int(const msgpack_object *o, const char *what, int64_t *out, struct qdb_err *err);
int qdb_mp_as_double(const msgpack_object *o, const char *what, double *out,
		     struct qdb_err *err); /* float or int */
int qdb_mp_as_bool(const msgpack_object *o, const char *what, int *out, struct qdb_err *err);
/* A str without NUL bytes: pointer into the buffer and length. */
int qdb_mp_as_str(const msgpack_object *o, const char *what, const char **p, size_t *n,
		  struct qdb_err *err);
/* The same, copied into a new NUL-terminated string (qdb_free). */
int qdb_mp_as_strdup(const msgpack_object *o, const char *what, char **out,
		     struct qdb_err *err);
int qdb_mp_as_array(const msgpack_object *o, const char *what, struct qdb_err *err);
/* A str as a printable, bounded excerpt for messages ("conv1"); other
 * types as "<int>". */
const char *qdb_mp_excerpt(const msgpack_object *o, char *dst, size_t n);
/* Bytes as a printable excerpt: non-printable bytes become '?', and a cut
 * ends in "...". */
const char *qdb_mp_printable(const char *s, size_t len, char *dst, size_t n);

/* Field shortcuts: get + typed read. Optional absent fields leave *out
 * untouched (strdup: sets *out to a copy of def, or NULL when def is NULL). */
int qdb_mp_get_int(const msgpack_object *map, const char *key, int required, int64_t *out,
		   struct qdb_err *err);
int qdb_mp_get_strdup(const msgpack_object *map, const char *key, int required,
		      const char *def, char **out, struct qdb_err *err);

/* Writing. */
int qdb_mp_pack_str(msgpack_packer *pk, const char *s);
int qdb_mp_pack_kv_str(msgpack_packer *pk, const char *key, const char *val);
int qdb_mp_pack_kv_int(msgpack_packer *pk, const char *key, int64_t val);

#endif
