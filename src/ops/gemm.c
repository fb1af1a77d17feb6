/* gemm.c - blocked f32 GEMM (see gemm.h).
 *
 * The micro-kernel keeps a 6 x 16 block of C in registers (12 AVX2
 * registers of 8 floats) and streams 6 rows of A and a 16-column panel of
 * B (row stride ldb), which stays in L1 while all row blocks of A pass. It is written once with GCC vector extensions and compiled
 * twice: generic x86-64/other (vectors split into SSE halves by the
 * compiler) and with target("avx2"), chosen at run time.
 */
#include "config.h"

#include <string.h>

#include "ops/gemm.h"

#define MR QDB_GEMM_MR
#define NR QDB_GEMM_NR
#define KC QDB_GEMM_KC

typedef float v8f __attribute__((vector_size(32)));

/* One MR x NR block: C += A[rows][0 .. kc) * B[0 .. kc][0 .. NR). Rows past
 * mr alias row 0 and columns past nr are computed but not stored. */
static inline __attribute__((always_inline)) void
micro(const float *const *ar, const float *bp, int64_t ldb, int64_t kc, float *c, int64_t ldc,
      int mr, int nr)
{
	v8f c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
	v8f c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
	const float *a0 = ar[0], *a1 = ar[1], *a2 = ar[2], *a3 = ar[3], *a4 = ar[4], *a5 = ar[5];
	for (int64_t k = 0; k < kc; k++) {
		v8f b0, b1;
		memcpy(&b0, bp + k * ldb, sizeof b0);
		memcpy(&b1, bp + k * ldb + 8, sizeof b1);
		v8f av;
		av = (v8f){0} + a0[k];
		c00 += av * b0;
		c01 += av * b1;
		av = (v8f){0} + a1[k];
		c10 += av * b0;
		c11 += av * b1;
		av = (v8f){0} + a2[k];
		c20 += av * b0;
		c21 += av * b1;
		av = (v8f){0} + a3[k];
		c30 += av * b0;
		c31 += av * b1;
		av = (v8f){0} + a4[k];
		c40 += av * b0;
		c41 += av * b1;
		av = (v8f){0} + a5[k];
		c50 += av * b0;
		c51 += av * b1;
	}
	float t[MR][NR];
	memcpy(&t[0][0], &c00, 32);
	memcpy(&t[0][8], &c01, 32);
	memcpy(&t[1][0], &c10, 32);
	memcpy(&t[1][8], &c11, 32);
	memcpy(&t[2][0], &c20, 32);
	memcpy(&t[2][8], &c21, 32);
	memcpy(&t[3][0], &c30, 32);
	memcpy(&t[3][8], &c31, 32);
	memcpy(&t[4][0], &c40, 32);
	memcpy(&t[4][8], &c41, 32);
	memcpy(&t[5][0], &c50, 32);
	memcpy(&t[5][8], &c51, 32);
	for (int r = 0; r < mr; r++) {
		float *cr = c + r * ldc;
		for (int j = 0; j < nr; j++)
			cr[j] += t[r][j];
	}
}

static inline __attribute__((always_inline)) void
gemm_body(int64_t M, int64_t N, int64_t K, const float *a, int64_t lda, const float *b,
	  int64_t ldb, float *c, int64_t ldc)
{
	float edge[KC * NR];
	for (int64_t k0 = 0; k0 < K; k0 += KC) {
		int64_t kc = K - k0 < KC ? K - k0 : KC;
		for (int64_t j0 = 0; j0 < N; j0 += NR) {
			int nr = (int)(N - j0 < NR ? N - j0 : NR);
			const float *bp = b + k0 * ldb + j0;
			int64_t lb = ldb;
			if (nr < NR) { /* last columns: a zero-padded copy, never read past B */
				for (int64_t k = 0; k < kc; k++)
					for (int j = 0; j < NR; j++)
						edge[k * NR + j] = j < nr ? bp[k * ldb + j] : 0.0f;
				bp = edge;
				lb = NR;
			}
			for (int64_t m0 = 0; m0 < M; m0 += MR) {
				int mr = (int)(M - m0 < MR ? M - m0 : MR);
				const float *ar[MR];
				for (int r = 0; r < MR; r++)
					ar[r] = a + (m0 + (r < mr ? r : 0)) * lda + k0;
				micro(ar, bp, lb, kc, c + m0 * ldc + j0, ldc, mr, nr);
			}
		}
	}
}

static void gemm_generic(int64_t M, int64_t N, int64_t K, const float *a, int64_t lda,
			 const float *b, int64_t ldb, float *c, int64_t ldc)
{
	gemm_body(M, N, K, a, lda, b, ldb, c, ldc);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX2_PATH 1
__attribute__((target("avx2"))) static void
gemm_avx2(int64_t M, int64_t N, int64_t K, const float *a, int64_t lda, const float *b,
	  int64_t ldb, float *c, int64_t ldc)
{
	gemm_body(M, N, K, a, lda, b, ldb, c, ldc);
}
#endif

void qdb_gemm(int64_t M, int64_t N, int64_t K, const float *a, int64_t lda, const float *b,
	      int64_t ldb, float *c, int64_t ldc)
{
#ifdef HAVE_AVX2_PATH
	/* __builtin_cpu_supports is cheap after the first call (it reads a
	 * table filled by libgcc's constructor). */
	if (__builtin_cpu_supports("avx2")) {
		gemm_avx2(M, N, K, a, lda, b, ldb, c, ldc);
		return;
	}
#endif
	gemm_generic(M, N, K, a, lda, b, ldb, c, ldc);
}
