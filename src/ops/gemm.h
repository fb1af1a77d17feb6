/* gemm.h - the f32 matrix product under conv2d (and large linear/matmul).
 *
 * C[M x N] += A[M x K] * B[K x N], A row-major with row stride lda, B given
 * as packed column panels (qdb_gemm_pack_*), C row-major with row stride
 * ldc. Accumulation is f32 in a fixed order (k ascending within blocks of
 * QDB_GEMM_KC), no FMA contraction, so every CPU path gives bit-identical
 * results. On x86-64 an AVX2 build of the same code is picked at run time.
 *
 * Packed layout: panel j holds columns [j*NR, j*NR + NR) for all K rows,
 * element (k, c) at panel_base(j) + k*NR + (c % NR); columns past N are 0.
 * The caller provides the packed buffer (qdb_gemm_packed_floats(K, n)
 * floats); nothing here allocates.
 */
#ifndef QDB_GEMM_H
#define QDB_GEMM_H

#include <stddef.h>
#include <stdint.h>

#define QDB_GEMM_MR 6
#define QDB_GEMM_NR 16
#define QDB_GEMM_KC 256
/* Columns packed per chunk by the conv kernel. */
#define QDB_GEMM_NC 128

static inline size_t qdb_gemm_packed_floats(int64_t K, int64_t ncols)
{
	int64_t panels = (ncols + QDB_GEMM_NR - 1) / QDB_GEMM_NR;
	return (size_t)(panels * K * QDB_GEMM_NR);
}

/* Packs columns [n0, n0 + nc) of a row-major B (row stride ldb) into bp. */
void qdb_gemm_pack_b(const float *b, int64_t ldb, int64_t K, int64_t n0, int64_t nc, float *bp);

/* C[M x nc] += A * Bp, where Bp holds nc packed columns and C points at the
 * first of those columns. */
void qdb_gemm_packed(int64_t M, int64_t nc, int64_t K, const float *a, int64_t lda,
		     const float *bp, float *c, int64_t ldc);

#endif
