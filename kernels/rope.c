/* rope.c - rotary position embedding, in place on one token's heads (contract in kernels.h).
 * Angles follow llama.cpp's ggml_rope_cache_init exactly, in float: theta starts at (float)pos and
 * is multiplied by theta_scale = powf(freq_base, -2 / n_rot) once per pair, and the angle of pair
 * i is freq_scale * theta. Matching its float arithmetic (rather than computing base^(-2i/n_rot)
 * in double) keeps graft within rounding of llama.cpp's outputs; the price is an angle error that
 * grows like (i + 2) * 2^-24 * |angle|, which tests/test_attention.c bounds against a double
 * reference. */
#include <assert.h>
#include <math.h>

#include "kernels.h"

void graft_rope(float *x, int n_head, int head_dim, int n_rot, int64_t pos, float freq_base,
                float freq_scale, int mode) {
    /* x: (n_head, head_dim); only the first n_rot dims of each head turn */
    assert(n_rot % 2 == 0 && n_rot <= head_dim);
    assert(mode == GRAFT_ROPE_NORM || mode == GRAFT_ROPE_NEOX);
    const float theta_scale = powf(freq_base, -2.0f / (float)n_rot);
    const int half = n_rot / 2;
    /* pair-outer, head-inner: each angle's cos/sin is computed once, no buffer needed */
    float theta = (float)pos;
    for (int i = 0; i < half; i++) {
        const float angle = freq_scale * theta;
        const float c = cosf(angle), s = sinf(angle);
        theta *= theta_scale;
        /* NORM rotates dims (2i, 2i+1); NEOX rotates (i, i + n_rot/2) */
        const int d0 = mode == GRAFT_ROPE_NEOX ? i : 2 * i;
        const int d1 = mode == GRAFT_ROPE_NEOX ? i + half : 2 * i + 1;
        for (int h = 0; h < n_head; h++) {
            float *xh = x + (int64_t)h * head_dim;
            const float x0 = xh[d0], x1 = xh[d1];
            xh[d0] = x0 * c - x1 * s;
            xh[d1] = x0 * s + x1 * c;
        }
    }
}
