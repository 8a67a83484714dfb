/* test_dispatch.c - the kernel table: cpuid choice, the GRAFT_KERNELS override, no NULL entry
 * left after filling, and the scalar f16/bf16 conversions every variant is measured against. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "test_util.h"

START_TEST(test_tables_complete) {
    const char *names[] = {"ref", "avx2", "avx512"};
    for (int v = 0; v < 3; v++) {
        const graft_kernels *k = graft_kernels_variant(names[v]);
        if (!k) continue; /* this CPU cannot run it */
        ck_assert_str_eq(k->name, names[v]);
        typedef void (*fn)(void);
        const fn *p = (const fn *)((const char *)k + offsetof(graft_kernels, f32_to_f16));
        size_t n = (sizeof(graft_kernels) - offsetof(graft_kernels, f32_to_f16)) / sizeof(fn);
        for (size_t i = 0; i < n; i++) ck_assert_msg(p[i] != NULL, "%s entry %zu is NULL", names[v], i);
    }
    ck_assert_ptr_nonnull(graft_kernels_variant("ref"));
    ck_assert_ptr_null(graft_kernels_variant("sse9"));
    ck_assert_ptr_nonnull(graft_kernels_get());
    ck_assert_str_eq(graft_kernels_name(), graft_kernels_get()->name);
}
END_TEST

/* Every half value widens and narrows back to itself (nan payloads stay nan). */
START_TEST(test_f16_roundtrip_all) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = graft_f16_to_f32((uint16_t)h);
        uint16_t back = graft_f32_to_f16(f);
        if (isnan(f)) ck_assert((back & 0x7c00) == 0x7c00 && (back & 0x3ff));
        else ck_assert_msg(back == h, "h=%04x f=%g back=%04x", h, (double)f, back);
    }
}
END_TEST

/* Known values, ties to even, overflow, subnormals. */
START_TEST(test_f16_rounding) {
    ck_assert_uint_eq(graft_f32_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(graft_f32_to_f16(-2.0f), 0xc000);
    ck_assert_uint_eq(graft_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(graft_f32_to_f16(65520.0f), 0x7c00);     /* rounds up to inf */
    ck_assert_uint_eq(graft_f32_to_f16(65519.0f), 0x7bff);
    ck_assert_uint_eq(graft_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00); /* tie -> even */
    ck_assert_uint_eq(graft_f32_to_f16(1.0f + 3.0f / 2048), 0x3c02); /* tie -> even (up) */
    ck_assert_uint_eq(graft_f32_to_f16(5.9604645e-8f), 0x0001);  /* smallest subnormal */
    ck_assert_uint_eq(graft_f32_to_f16(2.9802322e-8f), 0x0000);  /* half of it: tie -> 0 */
    ck_assert_uint_eq(graft_f32_to_f16(4.4703484e-8f), 0x0001);  /* 0.75 ulp -> 1 */
    ck_assert_uint_eq(graft_f32_to_f16(6.1035156e-5f), 0x0400);  /* smallest normal */
    ck_assert_uint_eq(graft_f32_to_f16(INFINITY), 0x7c00);
    ck_assert_uint_eq(graft_f32_to_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(graft_f32_to_bf16(1.00390625f), 0x3f80);   /* tie -> even */
    ck_assert_uint_eq(graft_f32_to_bf16(1.01171875f), 0x3f82);   /* tie -> even (up) */
    ck_assert(graft_bf16_to_f32(0x3f80) == 1.0f);
}
END_TEST

/* Every f32 in a dense random sample narrows to the nearest half (checked against neighbours). */
START_TEST(test_f16_nearest) {
    tu_rng r = {12345};
    for (int i = 0; i < 200000; i++) {
        float f = ldexpf(tu_uniform(&r), (int)(tu_next(&r) % 40) - 26);
        uint16_t h = graft_f32_to_f16(f);
        float g = graft_f16_to_f32(h);
        float up = graft_f16_to_f32((uint16_t)(h + 1)), dn = graft_f16_to_f32((uint16_t)(h - 1));
        if ((h & 0x7fff) != 0x7bff && (h & 0x7fff) != 0 && (h & 0x7fff) < 0x7c00) {
            ck_assert(fabsf(f - g) <= fabsf(f - up));
            ck_assert(fabsf(f - g) <= fabsf(f - dn));
        }
    }
}
END_TEST

Suite *suite_dispatch(void) {
    Suite *s = suite_create("dispatch");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_tables_complete);
    tcase_add_test(tc, test_f16_roundtrip_all);
    tcase_add_test(tc, test_f16_rounding);
    tcase_add_test(tc, test_f16_nearest);
    suite_add_tcase(s, tc);
    return s;
}
