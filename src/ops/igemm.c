/* igemm.c - blocked int16 x int16 -> int32 GEMM on pair-packed operands
 * (see igemm.h).
 *
 * The micro-kernel keeps a 6 x 16 tile of int32 sums in 12 AVX2 registers;
 * per pair step it loads two B vectors (16 columns, two K steps each),
 * broadcasts one A pair per row and issues vpmaddwd + vpaddd. The portable
 * kernel computes the same sums in the same exact integer arithmetic.
 */
#include "config.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QDB_IGEMM_X86 1
#endif

#include "ops/igemm.h"

#define MR QDB_IGEMM_MR
#define NR QDB_IGEMM_NR
/* Cap on pairs per block: a 6 x 512 A slice and a 16 x 512 B slice stay in
 * L1/L2. */
#define KC_CAP 512

int64_t qdb_igemm_kc(int64_t amax, int64_t bmax)
{
	int64_t per_pair = 2 * (amax > 0 ? amax : 1) * (bmax > 0 ? bmax : 1);
	int64_t kc = (int64_t)INT32_MAX / per_pair; /* 0: one pair can overflow */
	return kc < KC_CAP ? kc : KC_CAP;
}

int qdb_igemm_wide(int64_t K, int64_t amax, int64_t bmax)
{
	int64_t kp = qdb_igemm_kp(K);
	int64_t per_pair = 2 * (amax > 0 ? amax : 1) * (bmax > 0 ? bmax : 1);
	return kp > (int64_t)INT32_MAX / per_pair;
}

static inline int32_t pair(int16_t lo, int16_t hi)
{
	return (int32_t)(((uint32_t)(uint16_t)hi << 16) | (uint16_t)lo);
}

void qdb_igemm_pack_a(const int16_t *a, int64_t lda, int64_t M, int64_t K, int32_t *ap)
{
	int64_t kp = qdb_igemm_kp(K), blocks = (M + MR - 1) / MR;
	for (int64_t b = 0; b < blocks; b++) {
		int32_t *dst = ap + b * kp * MR;
		for (int64_t p = 0; p < kp; p++) {
			for (int r = 0; r < MR; r++) {
				int64_t m = b * MR + r;
				int16_t lo = 0, hi = 0;
				if (m < M) {
					lo = a[m * lda + 2 * p];
					hi = 2 * p + 1 < K ? a[m * lda + 2 * p + 1] : 0;
				}
				dst[p * MR + r] = pair(lo, hi);
			}
		}
	}
}

void qdb_igemm_pack_b(const int16_t *b, int64_t ldb, int64_t K, int64_t N, int32_t *bp)
{
	int64_t kp = qdb_igemm_kp(K), panels = (N + NR - 1) / NR;
	for (int64_t j = 0; j < panels; j++) {
		int32_t *dst = bp + j * kp * NR;
		for (int64_t p = 0; p < kp; p++) {
			const int16_t *r0 = b + 2 * p * ldb, *r1 = r0 + ldb;
			int has1 = 2 * p + 1 < K;
			for (int c = 0; c < NR; c++) {
				int64_t n = j * NR + c;
				int16_t lo = 0, hi = 0;
				if (n < N) {
					lo = r0[n];
					hi = has1 ? r1[n] : 0;
				}
				dst[p * NR + c] = pair(lo, hi);
			}
		}
	}
}

/* tile[MR][NR] = A block * B panel over kc pairs. */
static void micro_generic(int64_t kc, const int32_t *ap, const int32_t *bp, int32_t *tile)
{
	int32_t acc[MR][NR];
	memset(acc, 0, sizeof acc);
	for (int64_t p = 0; p < kc; p++) {
		const int32_t *a = ap + p * MR, *b = bp + p * NR;
		for (int r = 0; r < MR; r++) {
			int32_t av = a[r];
			int32_t a0 = (int16_t)(av & 0xffff), a1 = (int16_t)((uint32_t)av >> 16);
			for (int c = 0; c < NR; c++) {
				int32_t bv = b[c];
				int32_t b0 = (int16_t)(bv & 0xffff), b1 = (int16_t)((uint32_t)bv >> 16);
				/* Exact: the caller's kc keeps every partial sum in range. */
				acc[r][c] += a0 * b0 + a1 * b1;
			}
		}
	}
	memcpy(tile, acc, sizeof acc);
}

#ifdef QDB_IGEMM_X86
__attribute__((target("avx2"))) static void micro_avx2(int64_t kc, const int32_t *ap,
							const int32_t *bp, int32_t *tile)
{
	__m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
		c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
	for (int64_t p = 0; p < kc; p++) {
		__m256i b0 = _mm256_loadu_si256((const __m256i *)(bp + p * NR));
		__m256i b1 = _mm256_loadu_si256((const __m256i *)(bp + p * NR + 8));
		const int32_t *a = ap + p * MR;
		__m256i av;
		av = _mm256_set1_epi32(a[0]);
		c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(av, b0));
		c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(av, b1));
		av = _mm256_set1_epi32(a[1]);
		c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(av, b0));
		c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(av, b1));
		av = _mm256_set1_epi32(a[2]);
		c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(av, b0));
		c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(av, b1));
		av = _mm256_set1_epi32(a[3]);
		c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(av, b0));
		c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(av, b1));
		av = _mm256_set1_epi32(a[4]);
		c40 = _mm256_add_epi32(c40, _mm256_madd_epi16(av, b0));
		c41 = _mm256_add_epi32(c41, _mm256_madd_epi16(av, b1));
		av = _mm256_set1_epi32(a[5]);
		c50 = _mm256_add_epi32(c50, _mm256_madd_epi16(av, b0));
		c51 = _mm256_add_epi32(c51, _mm256_madd_epi16(av, b1));
	}
	__m256i *t = (__m256i *)tile;
	_mm256_storeu_si256(t + 0, c00);
	_mm256_storeu_si256(t + 1, c01);
	_mm256_storeu_si256(t + 2, c10);
	_mm256_storeu_si256(t + 3, c11);
	_mm256_storeu_si256(t + 4, c20);
	_mm256_storeu_si256(t + 5, c21);
	_mm256_storeu_si256(t + 6, c30);
	_mm256_storeu_si256(t + 7, c31);
	_mm256_storeu_si256(t + 8, c40);
	_mm256_storeu_si256(t + 9, c41);
	_mm256_storeu_si256(t + 10, c50);
	_mm256_storeu_si256(t + 11, c51);
}
#endif

typedef void (*micro_fn)(int64_t, const int32_t *, const int32_t *, int32_t *);

static micro_fn pick_micro(void)
{
#ifdef QDB_IGEMM_X86
	if (__builtin_cpu_supports("avx2"))
		return micro_avx2;
#endif
	return micro_generic;
}

void qdb_igemm(int64_t M, int64_t N, int64_t K, const int32_t *ap, const int32_t *bp,
	       int64_t kc_pairs, int32_t *c32, int64_t *c64, int64_t ldc)
{
	micro_fn micro = pick_micro();
	int64_t kp = qdb_igemm_kp(K);
	int64_t blocks = (M + MR - 1) / MR, panels = (N + NR - 1) / NR;
	int32_t tile[MR * NR] __attribute__((aligned(32)));
	if (kc_pairs < 1)
		kc_pairs = 1;
	if (kp == 0) {
		for (int64_t m = 0; m < M; m++)
			for (int64_t n = 0; n < N; n++) {
				if (c64)
					c64[m * ldc + n] = 0;
				else
					c32[m * ldc + n] = 0;
			}
		return;
	}
	for (int64_t p0 = 0; p0 < kp; p0 += kc_pairs) {
		int64_t kc = kp - p0 < kc_pairs ? kp - p0 : kc_pairs;
		int first = p0 == 0;
		for (int64_t b = 0; b < blocks; b++) {
			const int32_t *a = ap + (b * kp + p0) * MR;
			int mr = M - b * MR < MR ? (int)(M - b * MR) : MR;
			for (int64_t j = 0; j < panels; j++) {
				micro(kc, a, bp + (j * kp + p0) * NR, tile);
				int nr = N - j * NR < NR ? (int)(N - j * NR) : NR;
				for (int r = 0; r < mr; r++) {
					int64_t off = (b * MR + r) * ldc + j * NR;
					const int32_t *t = tile + r * NR;
					if (c64) {
						int64_t *c = c64 + off;
						if (first)
							for (int x = 0; x < nr; x++)
								c[x] = t[x];
						else
							for (int x = 0; x < nr; x++)
								c[x] += t[x];
					} else {
						int32_t *c = c32 + off;
						if (first)
							memcpy(c, t, (size_t)nr * sizeof *c);
						else
							for (int x = 0; x < nr; x++)
								c[x] += t[x];
					}
				}
			}
		}
	}
}
