/* ids.c - sample ids: formatting, equality, and the id table. */
#include "config.h"

#include <inttypes.h>
#include <string.h>

#include "base/alloc.h"
#include "base/str.h"
#include "io/hidx.h"
#include "io/ids.h"
#include "io/mp.h"

const char *qdb_sample_id_str(const struct qdb_sample_id *id, char *dst, size_t n)
{
	if (id->is_str)
		snprintf(dst, n, "%s", id->str);
	else
		snprintf(dst, n, "%" PRId64, id->num);
	return dst;
}

int qdb_sample_id_equal(const struct qdb_sample_id *a, const struct qdb_sample_id *b)
{
	if (a->is_str != b->is_str)
		return 0;
	return a->is_str ? strcmp(a->str, b->str) == 0 : a->num == b->num;
}

void qdb_id_key_of(struct qdb_id_key *k, const struct qdb_sample_id *id)
{
	k->is_str = id->is_str;
	k->num = id->num;
	k->s = id->is_str ? id->str : NULL;
	k->len = id->is_str ? strlen(id->str) : 0;
}

static uint64_t key_hash(const struct qdb_id_key *k)
{
	return k->is_str ? qdb_hash_bytes(k->s, k->len) : qdb_hash_u64((uint64_t)k->num ^ 0x5bd1e995u);
}

static uint64_t item_hash(const void *ctx, int i)
{
	struct qdb_id_key k;
	qdb_id_key_of(&k, &((const struct qdb_idtab *)ctx)->ids[i]);
	return key_hash(&k);
}

static int item_eq(const void *ctx, int i, const void *key)
{
	const struct qdb_sample_id *id = &((const struct qdb_idtab *)ctx)->ids[i];
	const struct qdb_id_key *k = key;
	if (id->is_str != k->is_str)
		return 0;
	if (!k->is_str)
		return id->num == k->num;
	return strlen(id->str) == k->len && memcmp(id->str, k->s, k->len) == 0;
}

void qdb_idtab_init(struct qdb_idtab *t) { memset(t, 0, sizeof *t); }

void qdb_idtab_done(struct qdb_idtab *t)
{
	for (int i = 0; i < t->n; i++)
		qdb_free(t->ids[i].str);
	qdb_free(t->ids);
	qdb_free(t->slot);
	qdb_idtab_init(t);
}

int qdb_idtab_find(const struct qdb_idtab *t, const struct qdb_id_key *k)
{
	return qdb_hidx_find(t->slot, t->slot_cap, key_hash(k), item_eq, t, k);
}

int qdb_idtab_add(struct qdb_idtab *t, const struct qdb_id_key *k)
{
	if (qdb_grow(&t->ids, t->n, &t->cap, sizeof *t->ids))
		return -1;
	struct qdb_sample_id *id = &t->ids[t->n];
	id->is_str = k->is_str;
	id->num = k->num;
	id->str = NULL;
	if (k->is_str && !(id->str = qdb_strndup(k->s, k->len)))
		return -1;
	t->n++;
	if (qdb_hidx_add(&t->slot, &t->slot_cap, t->n, key_hash(k), item_hash, t) < 0) {
		t->n--;
		qdb_free(id->str);
		return -1;
	}
	return t->n - 1;
}

int qdb_idtab_intern(struct qdb_idtab *t, const struct qdb_id_key *k)
{
	int i = qdb_idtab_find(t, k);
	return i >= 0 ? i : qdb_idtab_add(t, k);
}

int qdb_id_key_read(const msgpack_object *o, const char *what, struct qdb_id_key *k,
		    struct qdb_err *err)
{
	memset(k, 0, sizeof *k);
	if (o->type == MSGPACK_OBJECT_STR) {
		k->is_str = 1;
		return qdb_mp_as_str(o, what, &k->s, &k->len, err);
	}
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return qdb_mp_as_int(o, what, &k->num, err);
	return qdb_err_set(err, QDB_EFORMAT, "%s: expected int or str, got %s", what,
			   qdb_mp_type_name(o));
}

int qdb_sample_find_str(const struct qdb_idtab *tab, const char *s)
{
	struct qdb_id_key k = {1, 0, s, strlen(s)};
	long v;
	if (qdb_parse_long(s, &v) == 0) {
		struct qdb_id_key ik = {0, v, NULL, 0};
		int i = qdb_idtab_find(tab, &ik);
		if (i >= 0)
			return i;
	}
	return qdb_idtab_find(tab, &k);
}

const char *qdb_id_key_str(const struct qdb_id_key *k, char *dst, size_t n)
{
	if (!k->is_str) {
		snprintf(dst, n, "%" PRId64, k->num);
		return dst;
	}
	return qdb_mp_printable(k->s, k->len, dst, n);
}

int qdb_id_pack(msgpack_packer *pk, const struct qdb_sample_id *id)
{
	return id->is_str ? qdb_mp_pack_str(pk, id->str) : msgpack_pack_int64(pk, id->num);
}
