/* ids.h - a table of sample ids (int or string) with a hash index, shared
 * by the trace and dataset readers and writers (internal to io).
 *
 * The table owns copies of the string ids it holds (qdb_idtab_done frees
 * them). Lookups take a struct qdb_id_key, which can point into a file's
 * bytes, so finding an id never allocates.
 */
#ifndef QDB_IDS_H
#define QDB_IDS_H

#include <msgpack.h>
#include <stddef.h>

#include "base/err.h"
#include "io/trace.h"

struct qdb_id_key {
	int is_str;
	int64_t num;
	const char *s; /* not NUL-terminated */
	size_t len;
};

struct qdb_idtab {
	struct qdb_sample_id *ids;
	int n, cap;
	int *slot, slot_cap;
};

void qdb_idtab_init(struct qdb_idtab *t);
void qdb_idtab_done(struct qdb_idtab *t);
int qdb_idtab_find(const struct qdb_idtab *t, const struct qdb_id_key *k);
/* Adds a copy of k (the caller checked it is absent): its index, or -1 when
 * out of memory. */
int qdb_idtab_add(struct qdb_idtab *t, const struct qdb_id_key *k);
/* Finds k, adding it when absent; index or -1 (out of memory). */
int qdb_idtab_intern(struct qdb_idtab *t, const struct qdb_id_key *k);

/* Finds "17" as the int id 17 when there is one, else as the string id. */
int qdb_sample_find_str(const struct qdb_idtab *tab, const char *s);

void qdb_id_key_of(struct qdb_id_key *k, const struct qdb_sample_id *id);
/* Reads an int or str object as a key (pointing into the buffer). */
int qdb_id_key_read(const msgpack_object *o, const char *what, struct qdb_id_key *k,
		    struct qdb_err *err);
/* Bounded printable form for messages. */
const char *qdb_id_key_str(const struct qdb_id_key *k, char *dst, size_t n);
int qdb_id_pack(msgpack_packer *pk, const struct qdb_sample_id *id);

#endif
