/* edit.c - node devices of a quantized graph (see edit.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "graph/edit.h"
#include "ops/kernel.h"

/* Levenshtein distance, capped (names are short; O(n*m) is fine). */
static int distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	if (n > 200 || m > 200)
		return 1000;
	int row[201];
	for (size_t j = 0; j <= m; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= n; i++) {
		int prev = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= m; j++) {
			int cur = row[j];
			int sub = prev + (a[i - 1] != b[j - 1]);
			int del = row[j] + 1, ins = row[j - 1] + 1;
			row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
			prev = cur;
		}
	}
	return row[m];
}

int qdb_graph_close_nodes(const struct qdb_graph *g, const char *name, const char **out, int max)
{
	int count = 0, scores[16];
	if (max > 16)
		max = 16;
	size_t len = strlen(name);
	int limit = len < 6 ? 2 : (int)len / 3;
	for (int i = 0; i < g->n_nodes; i++) {
		const char *cand = g->nodes[i].name;
		int d = distance(name, cand);
		/* A substring either way counts as a small typo. */
		if (d > limit && (strstr(cand, name) || (*cand && strstr(name, cand))))
			d = limit;
		if (d > limit || max <= 0)
			continue;
		if (count == max && scores[count - 1] <= d)
			continue;
		int k = count < max ? count++ : max - 1;
		/* Insertion: keep the list sorted by distance, stable. */
		while (k > 0 && scores[k - 1] > d) {
			scores[k] = scores[k - 1];
			out[k] = out[k - 1];
			k--;
		}
		scores[k] = d;
		out[k] = cand;
	}
	return count;
}

static int unknown(const struct qdb_graph *g, const char *name, struct qdb_err *err)
{
	const char *close[5];
	int n = qdb_graph_close_nodes(g, name, close, 5);
	char buf[200] = "";
	size_t used = 0;
	for (int i = 0; i < n && used < sizeof buf; i++)
		used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? ", " : "", close[i]);
	if (n)
		return qdb_err_set(err, QDB_ENOTFOUND, "no node '%s' (close: %s)", name, buf);
	return qdb_err_set(err, QDB_ENOTFOUND, "no node '%s' (qdb info lists the nodes)", name);
}

static const char *dev_name(enum qdb_device d) { return d == QDB_DEV_CPU ? "cpu" : "bpu"; }

int qdb_graph_edit_devices(struct qdb_graph *g, char *const *cpu, int n_cpu, char *const *bpu,
			   int n_bpu, int *changed, struct qdb_err *err)
{
	int n = 0, rc;
	if (changed)
		*changed = 0;
	if (g->stage != QDB_STAGE_QUANTIZED)
		return qdb_err_set(err, QDB_EINVAL, "devices only matter in a quantized graph (this one is %s)",
				   qdb_stage_name(g->stage));
	for (int pass = 0; pass < 2; pass++) {
		char *const *names = pass ? bpu : cpu;
		int count = pass ? n_bpu : n_cpu;
		for (int i = 0; i < count; i++) {
			int ni = qdb_graph_find_node(g, names[i]);
			if (ni < 0)
				return unknown(g, names[i], err);
			if (pass)
				for (int j = 0; j < n_cpu; j++)
					if (!strcmp(cpu[j], names[i]))
						return qdb_err_set(err, QDB_EINVAL, "node '%s' named for both cpu and bpu",
								   names[i]);
			if (pass && g->nodes[ni].device != QDB_DEV_BPU) {
				/* bpu needs a working integer kernel. */
				const struct qdb_kernel *k = qdb_kernel_for(g->nodes[ni].op, QDB_EXEC_INT);
				void *prep = NULL;
				struct qdb_err e;
				qdb_err_clear(&e);
				if (!k)
					return qdb_err_set(err, QDB_EINVAL, "node '%s': op %s has no integer kernel",
							   names[i], g->nodes[ni].op_name);
				if (k->prepare && k->prepare(g, ni, &prep, &e))
					return qdb_err_set(err, QDB_EINVAL, "node '%s' cannot run on bpu: %s",
							   names[i], e.msg);
				if (prep && k->release)
					k->release(prep);
			}
		}
	}
	for (int pass = 0; pass < 2; pass++) {
		char *const *names = pass ? bpu : cpu;
		int count = pass ? n_bpu : n_cpu;
		enum qdb_device to = pass ? QDB_DEV_BPU : QDB_DEV_CPU;
		for (int i = 0; i < count; i++) {
			struct qdb_node *nd = &g->nodes[qdb_graph_find_node(g, names[i])];
			if (nd->device == to)
				continue;
			if ((rc = qdb_graph_add_edit(g, nd->name, "device", dev_name(nd->device),
						     dev_name(to), err)))
				return rc;
			nd->device = to;
			n++;
		}
	}
	if (changed)
		*changed = n;
	return QDB_OK;
}
