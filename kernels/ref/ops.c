/* ops.c - reference row operations on f32: dot, elementwise, norms, softmax, activations.
 * Sums that need precision (norm statistics, softmax denominators) accumulate in double: the
 * truth should be more accurate than any variant tested against it. */
#include <math.h>

#include "ref.h"

float ref_dot(int64_t n, const float *x, const float *y) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * y[i];
    return (float)s;
}

void ref_add(int64_t n, const float *a, const float *b, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void ref_mul(int64_t n, const float *a, const float *b, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}

void ref_scale(int64_t n, float s, const float *x, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = s * x[i];
}

void ref_axpy(int64_t n, float a, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

void ref_rmsnorm(int64_t n, const float *x, const float *w, float eps, float *out) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    const float r = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * r * (w ? w[i] : 1.0f);
}

void ref_layernorm(int64_t n, const float *x, const float *w, const float *b, float eps,
                   float *out) {
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < n; i++) mean += x[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) var += ((double)x[i] - mean) * ((double)x[i] - mean);
    var /= (double)n;
    const double r = 1.0 / sqrt(var + eps);
    for (int64_t i = 0; i < n; i++) {
        float v = (float)(((double)x[i] - mean) * r);
        out[i] = v * (w ? w[i] : 1.0f) + (b ? b[i] : 0.0f);
    }
}

void ref_softmax(int64_t n, float *x) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++) max = fmaxf(max, x[i]);
    if (max == -INFINITY) { /* every position masked: attend to nothing */
        for (int64_t i = 0; i < n; i++) x[i] = 0.0f;
        return;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void ref_gelu_erf(int64_t n, const float *x, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

void ref_gelu_tanh(int64_t n, const float *x, float *out) {
    const float c = 0.7978845608028654f; /* sqrt(2 / pi) */
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        out[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
}

void ref_quick_gelu(int64_t n, const float *x, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void ref_silu(int64_t n, const float *x, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = x[i] / (1.0f + expf(-x[i]));
}

void ref_relu(int64_t n, const float *x, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void ref_swiglu(int64_t n, const float *gate, const float *up, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}
