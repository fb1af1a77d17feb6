/* gemm.h - the f32 matrix product under conv2d.
 *
 * C[M x N] += A[M x K] * B[K x N], all row-major with row strides lda, ldb,
 * ldc. Accumulation is f32 in a fixed order (k ascending within blocks of
 * QDB_GEMM_KC, blocks added to C in order), with no FMA contraction, so
 * every CPU path gives bit-identical results. On x86-64 AVX2 and AVX-512
 * builds of the same code are picked at run time. B is read in place (columns beyond
 * the last full block of QDB_GEMM_NR go through a small stack copy), so a
 * 1x1 convolution multiplies straight out of its input. Nothing allocates.
 */
#ifndef QDB_GEMM_H
#define QDB_GEMM_H

#include <stdint.h>

#define QDB_GEMM_MR 6
#define QDB_GEMM_NR 16
#define QDB_GEMM_KC 256
/* Output columns per im2col chunk of the conv kernel. */
#define QDB_GEMM_NC 256

void qdb_gemm(int64_t M, int64_t N, int64_t K, const float *a, int64_t lda, const float *b,
	      int64_t ldb, float *c, int64_t ldc);

/* Test hook: the widest instruction set used (0 generic, 1 AVX2, 2
 * AVX-512; default 2, still limited by the CPU). Global, not thread-safe:
 * set it before running anything. */
void qdb_gemm_set_isa(int level);

#endif
