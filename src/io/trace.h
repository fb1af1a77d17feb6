/* trace.h - .qtr trace files: a header, then {sample, layer, tensor} records.
 *
 * Reading: qdb_trace_open mmaps the file, validates the header and every
 * record's structure, and builds an index (sample, layer) -> record. Tensor
 * payloads are not copied: qdb_trace_get returns a view into the mapping,
 * valid until qdb_trace_close. Memory use grows with the number of records,
 * never with payload bytes. The caller owns the struct qdb_trace * and
 * frees it with qdb_trace_close.
 *
 * Writing: qdb_trace_writer_open writes to a temporary file beside the
 * target; records are appended one by one (streaming); qdb_trace_writer_commit
 * fsyncs and renames it into place; qdb_trace_writer_abort removes it. An
 * existing trace can be appended to with QDB_TRACE_APPEND (copy + rename, so
 * the original is never half-written).
 */
#ifndef QDB_TRACE_H
#define QDB_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "tensor/tensor.h"

/* A sample id is an int or a string (stored as given). */
struct qdb_sample_id {
	int is_str;
	int64_t num;
	char *str; /* owned by whoever owns the id (the trace for trace ids) */
};
/* Formats as the user wrote it ("17" or "frame_0003"). */
const char *qdb_sample_id_str(const struct qdb_sample_id *id, char *dst, size_t n);
int qdb_sample_id_equal(const struct qdb_sample_id *a, const struct qdb_sample_id *b);

struct qdb_trace_layer {
	char *name;
	char *op;              /* may be "" */
	/* qstate (QAT traces): has_qstate = 0 when absent */
	int has_qstate, fake_quant, observer;
	double qs_scale;       /* first scale (per-channel: see qs_nscale) */
	int64_t qs_zero_point;
	int qs_nscale;
};

struct qdb_trace;

int qdb_trace_open(const char *path, struct qdb_trace **out, struct qdb_err *err);
/* Parses a trace held in memory (fuzzing, tests); `name` is used in
 * messages. The bytes are not copied: they must outlive the trace. */
int qdb_trace_parse(const void *data, size_t len, const char *name, struct qdb_trace **out,
		    struct qdb_err *err);
void qdb_trace_close(struct qdb_trace *t);

const char *qdb_trace_path(const struct qdb_trace *t);
const char *qdb_trace_stage(const struct qdb_trace *t);
const char *qdb_trace_model(const struct qdb_trace *t);
const char *qdb_trace_producer(const struct qdb_trace *t);

/* Layers in execution order (header order). */
int qdb_trace_n_layers(const struct qdb_trace *t);
const struct qdb_trace_layer *qdb_trace_layer(const struct qdb_trace *t, int i);
int qdb_trace_find_layer(const struct qdb_trace *t, const char *name); /* -1 if absent */

/* Samples in order of first appearance. */
int qdb_trace_n_samples(const struct qdb_trace *t);
const struct qdb_sample_id *qdb_trace_sample(const struct qdb_trace *t, int i);
int qdb_trace_find_sample(const struct qdb_trace *t, const struct qdb_sample_id *id);
/* Parses "17" as int id if it is a number, else a string id, and finds it. */
int qdb_trace_find_sample_str(const struct qdb_trace *t, const char *s);
int64_t qdb_trace_n_records(const struct qdb_trace *t);

/* Tensor view of record (sample index, layer index). Returns QDB_ENOTFOUND
 * when that pair has no record. The view's quant params are owned by `out`
 * (call qdb_tensor_done on it); its data points into the mapping. */
int qdb_trace_get(const struct qdb_trace *t, int sample, int layer,
		  struct qdb_tensor *out, struct qdb_err *err);
/* 1 if the record exists. */
int qdb_trace_has(const struct qdb_trace *t, int sample, int layer);

/* Writer. */
struct qdb_trace_writer;
struct qdb_trace_header {
	const char *stage, *model, *producer;
	int n_layers;
	const char *const *layer_names;
	const char *const *layer_ops;            /* may be NULL */
	const struct qdb_trace_layer *qstate;    /* may be NULL: n_layers entries */
};
enum { QDB_TRACE_APPEND = 1 };
int qdb_trace_writer_open(const char *path, const struct qdb_trace_header *h,
			  int flags, struct qdb_trace_writer **out, struct qdb_err *err);
int qdb_trace_writer_add(struct qdb_trace_writer *w, const struct qdb_sample_id *sample,
			 const char *layer, const struct qdb_tensor *t, struct qdb_err *err);
int qdb_trace_writer_commit(struct qdb_trace_writer *w, struct qdb_err *err); /* frees w */
void qdb_trace_writer_abort(struct qdb_trace_writer *w);                     /* frees w */

#endif
