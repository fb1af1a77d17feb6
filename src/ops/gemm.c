/* gemm.c - blocked f32 GEMM on packed B panels (see gemm.h).
 *
 * The micro-kernel keeps a 6 x 16 block of C in registers (12 AVX2
 * registers of 8 floats) and streams A (row stride lda) and one packed
 * panel of B. It is written once with GCC vector extensions and compiled
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

void qdb_gemm_pack_b(const float *b, int64_t ldb, int64_t K, int64_t n0, int64_t nc, float *bp)
{
	int64_t panels = (nc + NR - 1) / NR;
	for (int64_t j = 0; j < panels; j++) {
		float *dst = bp + j * K * NR;
		int64_t c0 = n0 + j * NR, w = nc - j * NR < NR ? nc - j * NR : NR;
		for (int64_t k = 0; k < K; k++) {
			const float *src = b + k * ldb + c0;
			int64_t c = 0;
			for (; c < w; c++)
				dst[k * NR + c] = src[c];
			for (; c < NR; c++)
				dst[k * NR + c] = 0.0f;
		}
	}
}

/* One MR x NR block: C (+)= A[rows][k0 .. k0+kc) * panel. Rows past mr
 * alias row 0 and columns past nr are computed but not stored. */
static inline __attribute__((always_inline)) void
micro(const float *const *ar, const float *bp, int64_t kc, float *c, int64_t ldc, int mr,
      int nr)
{
	v8f c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
	v8f c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
	const float *a0 = ar[0], *a1 = ar[1], *a2 = ar[2], *a3 = ar[3], *a4 = ar[4], *a5 = ar[5];
	for (int64_t k = 0; k < kc; k++) {
		v8f b0, b1;
		memcpy(&b0, bp + k * NR, sizeof b0);
		memcpy(&b1, bp + k * NR + 8, sizeof b1);
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
gemm_body(int64_t M, int64_t nc, int64_t K, const float *a, int64_t lda, const float *bp,
	  float *c, int64_t ldc)
{
	int64_t panels = (nc + NR - 1) / NR;
	for (int64_t k0 = 0; k0 < K; k0 += KC) {
		int64_t kc = K - k0 < KC ? K - k0 : KC;
		for (int64_t m0 = 0; m0 < M; m0 += MR) {
			int mr = (int)(M - m0 < MR ? M - m0 : MR);
			const float *ar[MR];
			for (int r = 0; r < MR; r++)
				ar[r] = a + (m0 + (r < mr ? r : 0)) * lda + k0;
			for (int64_t j = 0; j < panels; j++) {
				int nr = (int)(nc - j * NR < NR ? nc - j * NR : NR);
				micro(ar, bp + j * K * NR + k0 * NR, kc, c + m0 * ldc + j * NR, ldc,
				      mr, nr);
			}
		}
	}
}

static void gemm_generic(int64_t M, int64_t nc, int64_t K, const float *a, int64_t lda,
			 const float *bp, float *c, int64_t ldc)
{
	gemm_body(M, nc, K, a, lda, bp, c, ldc);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX2_PATH 1
__attribute__((target("avx2"))) static void
gemm_avx2(int64_t M, int64_t nc, int64_t K, const float *a, int64_t lda, const float *bp,
	  float *c, int64_t ldc)
{
	gemm_body(M, nc, K, a, lda, bp, c, ldc);
}
#endif

void qdb_gemm_packed(int64_t M, int64_t nc, int64_t K, const float *a, int64_t lda,
		     const float *bp, float *c, int64_t ldc)
{
#ifdef HAVE_AVX2_PATH
	/* __builtin_cpu_supports is cheap after the first call (it reads a
	 * table filled by libgcc's constructor). */
	if (__builtin_cpu_supports("avx2")) {
		gemm_avx2(M, nc, K, a, lda, bp, c, ldc);
		return;
	}
#endif
	gemm_generic(M, nc, K, a, lda, bp, c, ldc);
}
