/* qbc_checked.c - load a graph and validate it (shape inference, op and
 * attr checks: qdb_graph_validate in src/graph/validate.c). Kept apart from
 * qbc.c so the container code links without the validator. */
#include "config.h"

#include "io/mp.h"
#include "io/qbc.h"

int qdb_graph_load_checked(const char *path, struct qdb_graph **out, struct qdb_err *err)
{
	int rc = qdb_graph_load(path, out, err);
	if (rc)
		return rc;
	if ((rc = qdb_graph_validate(*out, err))) {
		qdb_mp_fail(rc, err, "%s", path);
		qdb_graph_delete(*out);
		*out = NULL;
	}
	return rc;
}
