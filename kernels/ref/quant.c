/* quant.c - reference conversions: f16/bf16 rows and the Q8_0 / Q4_0 block quantisers, with
 * exactly ggml's rounding rules (so files graft writes match llama.cpp's bit for bit). */
#include <math.h>

#include "ref.h"

void ref_f32_to_f16(int64_t n, const float *x, uint16_t *y) {
    for (int64_t i = 0; i < n; i++) y[i] = graft_f32_to_f16(x[i]);
}

void ref_f16_to_f32(int64_t n, const uint16_t *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = graft_f16_to_f32(x[i]);
}

void ref_f32_to_bf16(int64_t n, const float *x, uint16_t *y) {
    for (int64_t i = 0; i < n; i++) y[i] = graft_f32_to_bf16(x[i]);
}

void ref_bf16_to_f32(int64_t n, const uint16_t *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = graft_bf16_to_f32(x[i]);
}

/* Q8_0: d = max|x| / 127, q = round(x / d) (ggml's quantize_row_q8_0_ref). */
void ref_quantize_q8_0(int64_t n, const float *x, block_q8_0 *y) {
    for (int64_t b = 0; b < n / QK; b++) {
        const float *xb = x + b * QK;
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127.0f;
        const float id = d ? 1.0f / d : 0.0f;
        y[b].d = graft_f32_to_f16(d);
        /* A block so small that 1/d overflows gives inf/nan products; converting those to an
         * integer is undefined in C. x86 (cvttss2si) yields 0x80000000, whose low byte is 0:
         * that is what llama.cpp's files hold, so say it explicitly. */
        for (int j = 0; j < QK; j++) {
            const float v = xb[j] * id;
            y[b].q[j] = isfinite(v) ? (int8_t)roundf(v) : 0;
        }
    }
}

/* Q4_0: the element of largest magnitude (with its sign) maps to -8: d = max / -8,
 * q = min(15, (int8)(x / d + 8.5)) (ggml's quantize_row_q4_0_ref). */
void ref_quantize_q4_0(int64_t n, const float *x, block_q4_0 *y) {
    for (int64_t b = 0; b < n / QK; b++) {
        const float *xb = x + b * QK;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK; j++) {
            if (amax < fabsf(xb[j])) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d ? 1.0f / d : 0.0f;
        y[b].d = graft_f32_to_f16(d);
        for (int j = 0; j < QK / 2; j++) {
            const float x0 = xb[j] * id + 8.5f, x1 = xb[QK / 2 + j] * id + 8.5f;
            /* non-finite when 1/d overflows: 0 as on x86, see quantize_q8_0 */
            int q0 = isfinite(x0) ? (int)(int8_t)x0 : 0, q1 = isfinite(x1) ? (int)(int8_t)x1 : 0;
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void ref_dequantize_q8_0(int64_t n, const block_q8_0 *x, float *y) {
    for (int64_t b = 0; b < n / QK; b++) {
        const float d = graft_f16_to_f32(x[b].d);
        for (int j = 0; j < QK; j++) y[b * QK + j] = d * x[b].q[j];
    }
}

void ref_dequantize_q4_0(int64_t n, const block_q4_0 *x, float *y) {
    for (int64_t b = 0; b < n / QK; b++) {
        const float d = graft_f16_to_f32(x[b].d);
        for (int j = 0; j < QK / 2; j++) {
            y[b * QK + j] = d * ((x[b].qs[j] & 0x0f) - 8);
            y[b * QK + j + QK / 2] = d * ((x[b].qs[j] >> 4) - 8);
        }
    }
}
