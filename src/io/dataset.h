/* dataset.h - .qds dataset files: a header, then {id, inputs:{name: tensor}, label}.
 *
 * Reading mmaps and indexes like traces: qdb_dataset_open validates every
 * record, qdb_dataset_input returns a view into the mapping (valid until
 * qdb_dataset_close). Labels: class index (kind "class"), a tensor (kind
 * "tensor"), or none. The caller owns struct qdb_dataset * (qdb_dataset_close).
 * Writing streams records to a temp file and renames on commit.
 */
#ifndef QDB_DATASET_H
#define QDB_DATASET_H

#include <stdint.h>

#include "base/err.h"
#include "io/trace.h"
#include "tensor/tensor.h"

enum qdb_label_kind { QDB_LABEL_NONE, QDB_LABEL_CLASS, QDB_LABEL_TENSOR };

struct qdb_dataset_input {
	char *name;
	enum qdb_dtype dtype;
	int rank;
	int64_t shape[QDB_MAX_RANK];
};

struct qdb_dataset;

int qdb_dataset_open(const char *path, struct qdb_dataset **out, struct qdb_err *err);
/* Parses a dataset held in memory; the bytes must outlive it. */
int qdb_dataset_parse(const void *data, size_t len, const char *name,
		      struct qdb_dataset **out, struct qdb_err *err);
void qdb_dataset_close(struct qdb_dataset *d);

const char *qdb_dataset_path(const struct qdb_dataset *d);
const char *qdb_dataset_name(const struct qdb_dataset *d);
int qdb_dataset_n_inputs(const struct qdb_dataset *d);
const struct qdb_dataset_input *qdb_dataset_input_info(const struct qdb_dataset *d, int i);
enum qdb_label_kind qdb_dataset_label_kind(const struct qdb_dataset *d);
int qdb_dataset_n_classes(const struct qdb_dataset *d);          /* 0 if not given */
const char *qdb_dataset_class_name(const struct qdb_dataset *d, int c); /* NULL if none */

int64_t qdb_dataset_count(const struct qdb_dataset *d);
const struct qdb_sample_id *qdb_dataset_id(const struct qdb_dataset *d, int64_t i);
int64_t qdb_dataset_find(const struct qdb_dataset *d, const struct qdb_sample_id *id);
/* "17" finds the int id 17 when there is one, else the string id "17". */
int64_t qdb_dataset_find_str(const struct qdb_dataset *d, const char *s);
/* Index of the input called name, or -1. */
int qdb_dataset_find_input(const struct qdb_dataset *d, const char *name);
/* View of input `name` (or input index) of record i; quant params owned by out. */
int qdb_dataset_input(const struct qdb_dataset *d, int64_t i, int input,
		      struct qdb_tensor *out, struct qdb_err *err);
/* Class label of record i (QDB_LABEL_CLASS), -1 if the record has none. */
int64_t qdb_dataset_label_class(const struct qdb_dataset *d, int64_t i);
/* Tensor label view (QDB_LABEL_TENSOR). */
int qdb_dataset_label_tensor(const struct qdb_dataset *d, int64_t i,
			     struct qdb_tensor *out, struct qdb_err *err);

/* Writer. `classes` may be NULL. */
struct qdb_dataset_writer;
struct qdb_dataset_header {
	const char *name;
	int n_inputs;
	const struct qdb_dataset_input *inputs;
	enum qdb_label_kind label_kind;
	int n_classes;
	const char *const *classes;
};
int qdb_dataset_writer_open(const char *path, const struct qdb_dataset_header *h,
			    struct qdb_dataset_writer **out, struct qdb_err *err);
/* inputs: n_inputs tensors in header order; label_class used for CLASS,
 * label_tensor for TENSOR (may be NULL = no label). */
int qdb_dataset_writer_add(struct qdb_dataset_writer *w, const struct qdb_sample_id *id,
			   const struct qdb_tensor *const *inputs, int64_t label_class,
			   const struct qdb_tensor *label_tensor, struct qdb_err *err);
int qdb_dataset_writer_commit(struct qdb_dataset_writer *w, struct qdb_err *err);
void qdb_dataset_writer_abort(struct qdb_dataset_writer *w);

/* Writes records recs[0..n) of d (0-based; inputs, label and id as stored)
 * to a new dataset at path, atomically, with d's inputs and classes and
 * `name` as its header name. */
int qdb_dataset_write_records(const struct qdb_dataset *d, const char *path, const char *name,
			      const int64_t *recs, int64_t n, struct qdb_err *err);

#endif
