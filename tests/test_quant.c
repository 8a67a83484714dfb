/* test_quant.c - suite "quant": every SIMD variant's conversions (f16, bf16) and Q8_0 / Q4_0
 * quantisers against the scalar reference, bit for bit, on random data, special values and every
 * tail length; dequantize(quantize(x)) error bounds; and hand-built blocks whose bytes decode to
 * known values (the block layouts are ggml's, so GGUF files decode as llama.cpp decodes them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "test_util.h"

/* Check records every passing assertion (a write to its pipe): in loops, assert only on failure. */
#define REQUIRE(cond, ...) do { if (!(cond)) ck_assert_msg(cond, __VA_ARGS__); } while (0)

static const char *const variants[] = {"avx2", "avx512"};
#define N_VARIANTS 2

static float bits_f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t f_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Floats that stress a narrowing conversion: random bit patterns (any exponent, nan, inf),
 * values around the f16 range limits, subnormals of both formats, and exact ties. */
static void fill_special(tu_rng *r, float *x, size_t n) {
    static const uint32_t specials[] = {
        0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001,
        0x7fa00000, 0x00000001, 0x807fffff, 0x477fefff, 0x477ff000, 0x477fffff, 0x33000000,
        0x33000001, 0x387fffff, 0x38800000, 0x38801000, 0x3f801000, 0x3f803000, 0x3f808000,
        0x3f818000, 0x7f7fffff, 0xff7fffff, 0x3f7fffff, 0x00800000};
    const size_t ns = sizeof specials / sizeof specials[0];
    for (size_t i = 0; i < n; i++) {
        const uint64_t v = tu_next(r);
        switch (v % 4) {
        case 0: x[i] = bits_f(specials[(v >> 8) % ns]); break;
        case 1: x[i] = bits_f((uint32_t)(v >> 32)); break; /* any bit pattern */
        case 2: x[i] = ldexpf(tu_uniform(r), (int)((v >> 8) % 48) - 30); break; /* f16 range */
        default: /* exact f16 ties: a half value plus half an ulp of it */
            x[i] = bits_f((f_bits(ldexpf(tu_uniform(r), (int)((v >> 8) % 30) - 14)) & ~0x1fffu) | 0x1000u);
        }
    }
}

/* ---- f16 / bf16 -------------------------------------------------------------------------- */

/* Narrowing: n from 1 to 40 and 1000 (every tail), unaligned source and destination. */
START_TEST(test_f32_to_half_exact) {
    const graft_kernels *ref = graft_kernels_variant("ref");
    tu_rng r = {77};
    enum { CAP = 1001 };
    float *x = malloc((CAP + 1) * sizeof(float));
    uint16_t *a = malloc((CAP + 1) * 2), *b = malloc((CAP + 1) * 2);
    for (int v = 0; v < N_VARIANTS; v++) {
        const graft_kernels *k = graft_kernels_variant(variants[v]);
        if (!k) continue;
        for (int64_t n = 1; n <= CAP; n = n < 40 ? n + 1 : CAP) {
            for (int rep = 0; rep < (n < 40 ? 20 : 400); rep++) {
                fill_special(&r, x + 1, (size_t)n);
                for (int bf = 0; bf < 2; bf++) {
                    (bf ? ref->f32_to_bf16 : ref->f32_to_f16)(n, x + 1, a + 1);
                    (bf ? k->f32_to_bf16 : k->f32_to_f16)(n, x + 1, b + 1);
                    for (int64_t i = 1; i <= n; i++)
                        REQUIRE(a[i] == b[i], "%s %s n=%lld: x=%08x ref=%04x got=%04x",
                                      variants[v], bf ? "f32_to_bf16" : "f32_to_f16", (long long)n,
                                      f_bits(x[i]), a[i], b[i]);
                }
            }
            if (n == CAP) break;
        }
    }
    free(x);
    free(a);
    free(b);
}
END_TEST

/* Widening: every one of the 65536 halves (incl. signalling nans), at every alignment/tail. */
START_TEST(test_half_to_f32_exact) {
    const graft_kernels *ref = graft_kernels_variant("ref");
    enum { H = 65536 };
    uint16_t *h = malloc((H + 8) * 2);
    float *a = malloc((H + 8) * 4), *b = malloc((H + 8) * 4);
    for (uint32_t i = 0; i < H; i++) h[i] = (uint16_t)i;
    for (int v = 0; v < N_VARIANTS; v++) {
        const graft_kernels *k = graft_kernels_variant(variants[v]);
        if (!k) continue;
        for (int bf = 0; bf < 2; bf++) {
            for (int64_t start = 0; start < 3; start++) {
                const int64_t n = H - start - (start == 2 ? 5 : 0);
                (bf ? ref->bf16_to_f32 : ref->f16_to_f32)(n, h + start, a);
                (bf ? k->bf16_to_f32 : k->f16_to_f32)(n, h + start, b);
                for (int64_t i = 0; i < n; i++)
                    REQUIRE(f_bits(a[i]) == f_bits(b[i]), "%s %s h=%04x: ref=%08x got=%08x",
                                  variants[v], bf ? "bf16_to_f32" : "f16_to_f32", h[start + i],
                                  f_bits(a[i]), f_bits(b[i]));
            }
            for (int64_t n = 1; n < 40; n++) { /* short rows: the tails alone */
                (bf ? ref->bf16_to_f32 : ref->f16_to_f32)(n, h + 0x7bf0, a);
                (bf ? k->bf16_to_f32 : k->f16_to_f32)(n, h + 0x7bf0, b);
                REQUIRE(memcmp(a, b, (size_t)n * 4) == 0, "%s short row n=%lld", variants[v], (long long)n);
            }
        }
    }
    free(h);
    free(a);
    free(b);
}
END_TEST

/* ---- Q8_0 / Q4_0 quantisers -------------------------------------------------------------- */

/* Blocks that stress the quantisers: random scales over a wide range, exact .5 ties after
 * scaling (amax = 127 gives d = 1 for Q8_0), a largest value present with both signs (Q4_0 must
 * take the first), all-zero and -0 blocks, single nonzero, tiny (subnormal-d) blocks. */
static void fill_blocks(tu_rng *r, float *x, int64_t nblocks) {
    for (int64_t b = 0; b < nblocks; b++) {
        float *xb = x + b * QK;
        const int kind = (int)(tu_next(r) % 8);
        const float scale = ldexpf(1.0f, (int)(tu_next(r) % 40) - 20);
        for (int j = 0; j < QK; j++) xb[j] = scale * tu_uniform(r);
        switch (kind) {
        case 0: /* Q8_0 ties: d = 1, values k + 0.5 */
            xb[0] = 127.0f;
            for (int j = 1; j < QK; j++) xb[j] = (float)((int)(tu_next(r) % 253) - 126) + 0.5f;
            break;
        case 1: /* Q4_0: d = 1 (max -8), values on and near the .5 boundaries of x/d + 8.5 */
            xb[3] = -8.0f;
            for (int j = 4; j < QK; j++)
                xb[j] = (float)((int)(tu_next(r) % 16) - 8) + 0.5f * (float)(tu_next(r) % 2) +
                        (float)((int)(tu_next(r) % 3) - 1) * 1e-6f;
            break;
        case 2: /* +max and -max both present */
            xb[5] = -3.0f * scale;
            xb[20] = 3.0f * scale;
            if (tu_next(r) % 2) { xb[5] = -xb[5]; xb[20] = -xb[20]; }
            break;
        case 3:
            for (int j = 0; j < QK; j++) xb[j] = (tu_next(r) % 2) ? -0.0f : 0.0f;
            break;
        case 4:
            for (int j = 0; j < QK; j++) xb[j] = 0.0f;
            xb[tu_next(r) % QK] = scale;
            break;
        case 5:
            for (int j = 0; j < QK; j++) xb[j] = 1e-41f * tu_uniform(r);
            break;
        default:
            break;
        }
    }
}

START_TEST(test_quantize_exact) {
    const graft_kernels *ref = graft_kernels_variant("ref");
    tu_rng r = {4242};
    enum { NB = 64 };
    float *x = malloc(NB * QK * sizeof(float) + 8);
    block_q8_0 a8[NB], b8[NB];
    block_q4_0 a4[NB], b4[NB];
    float da[NB * QK], db[NB * QK];
    for (int v = 0; v < N_VARIANTS; v++) {
        const graft_kernels *k = graft_kernels_variant(variants[v]);
        if (!k) continue;
        for (int rep = 0; rep < 300; rep++) {
            float *xs = x + rep % 2; /* unaligned source half of the time */
            const int64_t nb = 1 + rep % NB;
            fill_blocks(&r, xs, nb);
            ref->quantize_q8_0(nb * QK, xs, a8);
            k->quantize_q8_0(nb * QK, xs, b8);
            ref->quantize_q4_0(nb * QK, xs, a4);
            k->quantize_q4_0(nb * QK, xs, b4);
            for (int64_t b = 0; b < nb; b++) {
                REQUIRE(memcmp(&a8[b], &b8[b], sizeof a8[b]) == 0,
                              "%s quantize_q8_0 block %lld differs (d %04x vs %04x, x0=%g)",
                              variants[v], (long long)b, a8[b].d, b8[b].d, (double)xs[b * QK]);
                REQUIRE(memcmp(&a4[b], &b4[b], sizeof a4[b]) == 0,
                              "%s quantize_q4_0 block %lld differs (d %04x vs %04x, x0=%g)",
                              variants[v], (long long)b, a4[b].d, b4[b].d, (double)xs[b * QK]);
            }
            ref->dequantize_q8_0(nb * QK, a8, da);
            k->dequantize_q8_0(nb * QK, a8, db);
            ck_assert_msg(memcmp(da, db, (size_t)nb * QK * 4) == 0, "%s dequantize_q8_0", variants[v]);
            ref->dequantize_q4_0(nb * QK, a4, da);
            k->dequantize_q4_0(nb * QK, a4, db);
            ck_assert_msg(memcmp(da, db, (size_t)nb * QK * 4) == 0, "%s dequantize_q4_0", variants[v]);
        }
    }
    free(x);
}
END_TEST

/* dequantize(quantize(x)) against x, for every variant's pair (ref included).
 * Q8_0: q = round(x / d32) with d32 = amax / 127, stored d16 = f16(d32), so
 *   |x - d16 q| <= |x - d32 q| + |q| |d32 - d16| <= d32 / 2 + 127 |d32 - d16|   (+ f32 rounding).
 * Q4_0: q - 8 = round-half-up(x / d32), clipped to 7, so the same holds with |q - 8| <= 8 and
 *   d32 / 2 replaced by |d32| for the one clipped value x / d32 = +8 (the top of the range). */
START_TEST(test_quantize_error_bounds) {
    tu_rng r = {99};
    enum { NB = 256 };
    float *x = malloc(NB * QK * sizeof(float)), *y = malloc(NB * QK * sizeof(float));
    block_q8_0 q8[NB];
    block_q4_0 q4[NB];
    const char *const all[] = {"ref", "avx2", "avx512"};
    for (int v = 0; v < 3; v++) {
        const graft_kernels *k = graft_kernels_variant(all[v]);
        if (!k) continue;
        for (int64_t b = 0; b < NB; b++) /* wide range of scales, incl. f16-subnormal d */
            tu_fill(&r, x + b * QK, QK, ldexpf(1.0f, (int)(b % 50) - 30));
        k->quantize_q8_0(NB * QK, x, q8);
        k->dequantize_q8_0(NB * QK, q8, y);
        for (int64_t b = 0; b < NB; b++) {
            float amax = 0.0f;
            for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[b * QK + j]));
            const double d32 = amax / 127.0f, d16 = graft_f16_to_f32(q8[b].d);
            const double tol = d32 / 2 + 127 * fabs(d32 - d16) + 1e-6 * amax + 1e-45;
            for (int j = 0; j < QK; j++) {
                const double e = fabs((double)x[b * QK + j] - y[b * QK + j]);
                REQUIRE(e <= tol, "%s q8_0 block %lld [%d]: x=%g y=%g err=%g > %g", all[v],
                              (long long)b, j, (double)x[b * QK + j], (double)y[b * QK + j], e, tol);
            }
        }
        k->quantize_q4_0(NB * QK, x, q4);
        k->dequantize_q4_0(NB * QK, q4, y);
        for (int64_t b = 0; b < NB; b++) {
            float amax = 0.0f, max = 0.0f;
            for (int j = 0; j < QK; j++)
                if (amax < fabsf(x[b * QK + j])) { amax = fabsf(x[b * QK + j]); max = x[b * QK + j]; }
            const double d32 = fabs(max / -8.0f), d16 = fabs(graft_f16_to_f32(q4[b].d));
            for (int j = 0; j < QK; j++) {
                const float xv = x[b * QK + j];
                const int clipped = xv * (max / -8.0f) > 0 && fabsf(xv) > 7.5f * (float)d32;
                const double tol = (clipped ? d32 : d32 / 2) + 8 * fabs(d32 - d16) + 1e-6 * amax + 1e-45;
                const double e = fabs((double)xv - y[b * QK + j]);
                REQUIRE(e <= tol, "%s q4_0 block %lld [%d]: x=%g y=%g err=%g > %g", all[v],
                              (long long)b, j, (double)xv, (double)y[b * QK + j], e, tol);
            }
        }
    }
    free(x);
    free(y);
}
END_TEST

/* ---- block layouts ----------------------------------------------------------------------- */

/* Raw bytes, as they sit in a GGUF file: the f16 scale first (little endian), then the quants.
 * Q4_0: the low nibble of qs[j] is element j, the high nibble element j + 16, value nibble - 8. */
START_TEST(test_block_layouts) {
    unsigned char raw4[18], raw8[34];
    raw4[0] = 0x00; raw4[1] = 0x40; /* d = 2.0 */
    for (int j = 0; j < 16; j++) raw4[2 + j] = (unsigned char)(j | ((15 - j) << 4));
    raw8[0] = 0x00; raw8[1] = 0x38; /* d = 0.5 */
    for (int j = 0; j < 32; j++) raw8[2 + j] = (unsigned char)(int8_t)(j * 8 - 128);
    block_q4_0 b4;
    block_q8_0 b8;
    memcpy(&b4, raw4, sizeof raw4);
    memcpy(&b8, raw8, sizeof raw8);
    const char *const all[] = {"ref", "avx2", "avx512"};
    for (int v = 0; v < 3; v++) {
        const graft_kernels *k = graft_kernels_variant(all[v]);
        if (!k) continue;
        float y[QK];
        k->dequantize_q4_0(QK, &b4, y);
        for (int j = 0; j < 16; j++) {
            ck_assert_msg(y[j] == 2.0f * (float)(j - 8), "%s q4_0 [%d] = %g", all[v], j, (double)y[j]);
            ck_assert_msg(y[j + 16] == 2.0f * (float)(7 - j), "%s q4_0 [%d] = %g", all[v], j + 16,
                          (double)y[j + 16]);
        }
        k->dequantize_q8_0(QK, &b8, y);
        for (int j = 0; j < 32; j++)
            ck_assert_msg(y[j] == 0.5f * (float)(j * 8 - 128), "%s q8_0 [%d] = %g", all[v], j, (double)y[j]);

        /* and the quantisers produce exactly those bytes back */
        float x[QK];
        for (int j = 0; j < 16; j++) { x[j] = (float)(j - 8); x[j + 16] = (float)(7 - j); }
        block_q4_0 o4;
        k->quantize_q4_0(QK, x, &o4);
        unsigned char want4[18];
        memcpy(want4, raw4, 18);
        want4[1] = 0x3c; /* max = -8 -> d = 1.0 */
        ck_assert_msg(memcmp(&o4, want4, 18) == 0, "%s quantize_q4_0 bytes", all[v]);
        for (int j = 0; j < 32; j++) x[j] = 0.5f * (float)(j * 8 - 128);
        x[0] = -63.5f; /* amax 63.5 -> d = 0.5, q = 2x */
        block_q8_0 o8;
        k->quantize_q8_0(QK, x, &o8);
        unsigned char want8[34];
        memcpy(want8, raw8, 34);
        want8[2] = (unsigned char)(int8_t)-127;
        ck_assert_msg(memcmp(&o8, want8, 34) == 0, "%s quantize_q8_0 bytes", all[v]);
    }
}
END_TEST

Suite *suite_quant(void) {
    Suite *s = suite_create("quant");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_f32_to_half_exact);
    tcase_add_test(tc, test_half_to_f32_exact);
    tcase_add_test(tc, test_quantize_exact);
    tcase_add_test(tc, test_quantize_error_bounds);
    tcase_add_test(tc, test_block_layouts);
    suite_add_tcase(s, tc);
    return s;
}
