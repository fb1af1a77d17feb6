/* ops.c - the operator name and arity tables generated from QDB_OPS. */
#include "config.h"

#include <string.h>

#include "ops/ops.h"

static const struct {
	const char *name;
	int lo, hi;
} op_table[] = {
#define X(e, name, lo, hi) {name, lo, hi},
	QDB_OPS(X)
#undef X
};
_Static_assert(sizeof op_table / sizeof op_table[0] == QDB_OP_COUNT, "op table size");

const char *qdb_op_name(int op)
{
	return op >= 0 && op < QDB_OP_COUNT ? op_table[op].name : "?";
}

int qdb_op_lookup(const char *name)
{
	for (int i = 0; i < QDB_OP_COUNT; i++)
		if (!strcmp(op_table[i].name, name))
			return i;
	return -1;
}

int qdb_op_min_inputs(int op) { return op >= 0 && op < QDB_OP_COUNT ? op_table[op].lo : 0; }
int qdb_op_max_inputs(int op) { return op >= 0 && op < QDB_OP_COUNT ? op_table[op].hi : 0; }
