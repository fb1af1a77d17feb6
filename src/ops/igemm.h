/* igemm.h - the integer matrix product under conv2d, linear and matmul.
 *
 * C[M x N] = A[M x K] * B[K x N] with int16 operands (zero points already
 * subtracted: (x - zp_x) and (w - zp_w) of int8/uint8 data, or of int16 data
 * whose differences fit) and int32 accumulation. Both operands are packed
 * in pairs along K so that one multiply-add instruction (pmaddwd) takes two
 * K steps: element k of a row sits in the low or high half of the 32-bit
 * pair k/2 (odd K is padded with a zero).
 *
 * Packed A: blocks of QDB_IGEMM_MR rows (rows past M are zero); block b,
 * pair p: MR pairs at ap[(b * kp + p) * MR]. Packed B: panels of
 * QDB_IGEMM_NR columns; panel j, pair p: NR pairs at bp[(j * kp + p) * NR].
 * (kp = (K + 1) / 2.)
 *
 * Accumulation is exact: K is cut into blocks of at most `kc_pairs` pairs
 * whose int32 sums cannot overflow (the caller derives kc_pairs from the
 * operands' ranges, qdb_igemm_kc); block sums are added into int32 C, or
 * into int64 C when the whole K could overflow int32 (wide mode). On
 * x86-64 an AVX2 micro-kernel is chosen at run time; the portable one gives
 * identical results. Nothing here allocates: the caller provides packed
 * buffers and C.
 */
#ifndef QDB_IGEMM_H
#define QDB_IGEMM_H

#include <stddef.h>
#include <stdint.h>

#define QDB_IGEMM_MR 6
#define QDB_IGEMM_NR 16

static inline int64_t qdb_igemm_kp(int64_t K) { return (K + 1) / 2; }
/* int32 pairs of a packed A / B. */
static inline size_t qdb_igemm_a_pairs(int64_t M, int64_t K)
{
	return (size_t)(((M + QDB_IGEMM_MR - 1) / QDB_IGEMM_MR) * QDB_IGEMM_MR * qdb_igemm_kp(K));
}
static inline size_t qdb_igemm_b_pairs(int64_t N, int64_t K)
{
	return (size_t)(((N + QDB_IGEMM_NR - 1) / QDB_IGEMM_NR) * QDB_IGEMM_NR * qdb_igemm_kp(K));
}

/* Pair-block size for operands bounded by |a| <= amax, |b| <= bmax: the
 * largest number of pairs whose sum fits int32 (capped for cache); 0 when
 * even one pair can overflow (both operands full int16): not usable. */
int64_t qdb_igemm_kc(int64_t amax, int64_t bmax);
/* Whether the full K needs int64 C. */
int qdb_igemm_wide(int64_t K, int64_t amax, int64_t bmax);

/* Packs a row-major int16 A (row stride lda). */
void qdb_igemm_pack_a(const int16_t *a, int64_t lda, int64_t M, int64_t K, int32_t *ap);
/* Packs a row-major int16 B (row stride ldb), columns [0, N). */
void qdb_igemm_pack_b(const int16_t *b, int64_t ldb, int64_t K, int64_t N, int32_t *bp);
/* Element setter for B built in place (im2col writes straight into the
 * packed layout). */
static inline int16_t *qdb_igemm_b_at(int32_t *bp, int64_t kp, int64_t k, int64_t n)
{
	int64_t j = n / QDB_IGEMM_NR;
	return (int16_t *)(bp + (j * kp + k / 2) * QDB_IGEMM_NR + n % QDB_IGEMM_NR) + (k & 1);
}

/* C = A * B (overwrites). c32 (row stride ldc) when c64 is NULL, else c64. */
void qdb_igemm(int64_t M, int64_t N, int64_t K, const int32_t *ap, const int32_t *bp,
	       int64_t kc_pairs, int32_t *c32, int64_t *c64, int64_t ldc);

#endif
