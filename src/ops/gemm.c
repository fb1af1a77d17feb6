/* gemm.c - blocked f32 GEMM (see gemm.h).
 *
 * The micro-kernel keeps a 6 x (2 vectors) block of C in 12 registers and
 * streams 6 rows of A and a panel of B (row stride ldb), which stays in L1
 * while all row blocks of A pass. It is written once with GCC vector
 * extensions and compiled three times: generic (8-float vectors split into
 * SSE halves by the compiler), target("avx2") with 8-float vectors, and
 * target("avx512f") with 16-float ones (6 x 32 blocks); the best the CPU
 * supports is chosen at run time.
 */
#include "config.h"

#include <string.h>

#include "ops/gemm.h"

#define MR QDB_GEMM_MR
#define NR QDB_GEMM_NR
#define KC QDB_GEMM_KC

typedef float v8f __attribute__((vector_size(32)));

/* The kernel, written once for a vector type VT of VW floats: a block of
 * MR x 2*VW of C lives in 12 vector registers. One MR x NR block computes
 * C += A[rows][0 .. kc) * B[0 .. kc][0 .. NR); rows past mr alias row 0 and
 * columns past nr are computed but not stored. Every element of C sees the
 * same additions in the same order whatever VW is. */
#define DEFINE_GEMM(SUF, VT, VW)                                                   \
	static inline __attribute__((always_inline)) void micro_##SUF(              \
		const float *const *ar, const float *bp, int64_t ldb, int64_t kc, float *c, \
		int64_t ldc, int mr, int nr)                                           \
	{                                                                          \
		VT c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};       \
		VT c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};       \
		const float *a0 = ar[0], *a1 = ar[1], *a2 = ar[2], *a3 = ar[3];            \
		const float *a4 = ar[4], *a5 = ar[5];                                      \
		for (int64_t k = 0; k < kc; k++) {                                         \
			VT b0, b1, av;                                                     \
			memcpy(&b0, bp + k * ldb, sizeof b0);                              \
			memcpy(&b1, bp + k * ldb + VW, sizeof b1);                         \
			av = (VT){0} + a0[k];                                              \
			c00 += av * b0;                                                    \
			c01 += av * b1;                                                    \
			av = (VT){0} + a1[k];                                              \
			c10 += av * b0;                                                    \
			c11 += av * b1;                                                    \
			av = (VT){0} + a2[k];                                              \
			c20 += av * b0;                                                    \
			c21 += av * b1;                                                    \
			av = (VT){0} + a3[k];                                              \
			c30 += av * b0;                                                    \
			c31 += av * b1;                                                    \
			av = (VT){0} + a4[k];                                              \
			c40 += av * b0;                                                    \
			c41 += av * b1;                                                    \
			av = (VT){0} + a5[k];                                              \
			c50 += av * b0;                                                    \
			c51 += av * b1;                                                    \
		}                                                                          \
		float t[MR][2 * VW];                                                       \
		VT *row[MR][2] = {{&c00, &c01}, {&c10, &c11}, {&c20, &c21},                \
				  {&c30, &c31}, {&c40, &c41}, {&c50, &c51}};               \
		for (int r = 0; r < MR; r++) {                                             \
			memcpy(&t[r][0], row[r][0], sizeof(VT));                           \
			memcpy(&t[r][VW], row[r][1], sizeof(VT));                          \
		}                                                                          \
		for (int r = 0; r < mr; r++) {                                             \
			float *cr = c + r * ldc;                                           \
			for (int j = 0; j < nr; j++)                                       \
				cr[j] += t[r][j];                                          \
		}                                                                          \
	}                                                                          \
                                                                                   \
	static inline __attribute__((always_inline)) void gemm_body_##SUF(            \
		int64_t M, int64_t N, int64_t K, const float *a, int64_t lda,              \
		const float *b, int64_t ldb, float *c, int64_t ldc)                        \
	{                                                                          \
		enum { NRV = 2 * VW };                                                 \
		float edge[KC * NRV];                                                      \
		for (int64_t k0 = 0; k0 < K; k0 += KC) {                                   \
			int64_t kc = K - k0 < KC ? K - k0 : KC;                            \
			for (int64_t j0 = 0; j0 < N; j0 += NRV) {                          \
				int nr = (int)(N - j0 < NRV ? N - j0 : NRV);               \
				const float *bp = b + k0 * ldb + j0;                       \
				int64_t lb = ldb;                                          \
				if (nr < NRV) { /* zero-padded copy: never read past B */  \
					for (int64_t k = 0; k < kc; k++)                   \
						for (int j = 0; j < NRV; j++)              \
							edge[k * NRV + j] =                \
								j < nr ? bp[k * ldb + j] : 0.0f; \
					bp = edge;                                         \
					lb = NRV;                                          \
				}                                                          \
				for (int64_t m0 = 0; m0 < M; m0 += MR) {                   \
					int mr = (int)(M - m0 < MR ? M - m0 : MR);         \
					const float *ar[MR];                               \
					for (int r = 0; r < MR; r++)                       \
						ar[r] = a + (m0 + (r < mr ? r : 0)) * lda + k0; \
					micro_##SUF(ar, bp, lb, kc, c + m0 * ldc + j0, ldc, mr, nr); \
				}                                                          \
			}                                                                  \
		}                                                                          \
	}

typedef float v16f __attribute__((vector_size(64)));
DEFINE_GEMM(v8, v8f, 8)
DEFINE_GEMM(v16, v16f, 16)

static void gemm_generic(int64_t M, int64_t N, int64_t K, const float *a, int64_t lda,
			 const float *b, int64_t ldb, float *c, int64_t ldc)
{
	gemm_body_v8(M, N, K, a, lda, b, ldb, c, ldc);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX2_PATH 1
__attribute__((target("avx2"))) static void
gemm_avx2(int64_t M, int64_t N, int64_t K, const float *a, int64_t lda, const float *b,
	  int64_t ldb, float *c, int64_t ldc)
{
	gemm_body_v8(M, N, K, a, lda, b, ldb, c, ldc);
}

__attribute__((target("avx512f"))) static void
gemm_avx512(int64_t M, int64_t N, int64_t K, const float *a, int64_t lda, const float *b,
	    int64_t ldb, float *c, int64_t ldc)
{
	gemm_body_v16(M, N, K, a, lda, b, ldb, c, ldc);
}
#endif

static int max_isa = 2;

void qdb_gemm_set_isa(int level) { max_isa = level; }

void qdb_gemm(int64_t M, int64_t N, int64_t K, const float *a, int64_t lda, const float *b,
	      int64_t ldb, float *c, int64_t ldc)
{
#ifdef HAVE_AVX2_PATH
	/* __builtin_cpu_supports is cheap after the first call (it reads a
	 * table filled by libgcc's constructor). */
	if (max_isa >= 2 && __builtin_cpu_supports("avx512f")) {
		gemm_avx512(M, N, K, a, lda, b, ldb, c, ldc);
		return;
	}
	if (max_isa >= 1 && __builtin_cpu_supports("avx2")) {
		gemm_avx2(M, N, K, a, lda, b, ldb, c, ldc);
		return;
	}
#endif
	gemm_generic(M, N, K, a, lda, b, ldb, c, ldc);
}
