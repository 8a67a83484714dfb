/* projector.c - the projector registry and LLaVA's two projectors, plus the weight loader they and
 * the vision tower share (see projector.h):
 *   linear  LLaVA-1:   out = W0 x + b0                         (mm.0.*, or mm.* as the legacy converter names it)
 *   mlp     LLaVA-1.5: out = W2 gelu_erf(W0 x + b0) + b2       (mm.0.*, mm.2.*: nn.Sequential indices)
 * The GELU is the exact erf form, as LLaVA's mlp2x_gelu (nn.GELU()) computes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "projector.h"

/* ---- the weight loader -------------------------------------------------------------------- */

void graft_wl_init(graft_wloader *wl, const graft_gguf *g) {
    memset(wl, 0, sizeof *wl);
    wl->g = g;
    wl->path = graft_gguf_path(g);
    wl->kt = graft_kernels_get();
}

void graft_wl_free(graft_wloader *wl) {
    for (int i = 0; i < wl->n_owned; i++) free(wl->owned[i]);
    free(wl->owned);
    wl->owned = NULL;
    wl->n_owned = wl->cap_owned = 0;
}

int graft_wl_has(const graft_wloader *wl, const char *name) {
    return graft_gguf_find_tensor(wl->g, name) >= 0;
}

static int is_matmul_type(int t) {
    return t == GRAFT_TYPE_F32 || t == GRAFT_TYPE_F16 || t == GRAFT_TYPE_BF16 ||
           t == GRAFT_TYPE_Q8_0 || t == GRAFT_TYPE_Q4_0;
}

static const char *type_name(int t) {
    const char *n = graft_ggml_type_name(t);
    return n ? n : "unknown";
}

const char *graft_wl_shape(const graft_gguf_tensor *t, char *buf, size_t cap) {
    int o = snprintf(buf, cap, "[");
    for (int i = 0; i < t->n_dims && o < (int)cap; i++)
        o += snprintf(buf + o, cap - (size_t)o, "%s%lld", i ? ", " : "", (long long)t->ne[i]);
    if (o < (int)cap) snprintf(buf + o, cap - (size_t)o, "]");
    return buf;
}

int graft_wl_matrix(graft_wloader *wl, const char *name, int64_t K, int64_t M, int optional,
                    graft_tensor *out, graft_error *err) {
    memset(out, 0, sizeof *out);
    int64_t i = graft_gguf_find_tensor(wl->g, name);
    if (i < 0) {
        if (optional) return GRAFT_OK;
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing tensor '%s'", wl->path, name);
    }
    graft_gguf_tensor t = graft_gguf_tensor_info(wl->g, i);
    int64_t k = 1;
    for (int d = 0; d + 1 < t.n_dims; d++) k *= t.ne[d];
    char sb[96];
    if (t.n_dims < 2 || k != K || t.ne[t.n_dims - 1] != M)
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: tensor '%s' has shape %s, expected a matrix [%lld, %lld] "
                               "(ggml order: inputs, outputs)", wl->path, name,
                               graft_wl_shape(&t, sb, sizeof sb), (long long)K, (long long)M);
    if (!is_matmul_type(t.type))
        return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                               "%s: tensor '%s' has type %s, which graft does not compute with "
                               "(supported: f32, f16, bf16, q8_0, q4_0)", wl->path, name,
                               type_name(t.type));
    const int64_t ne[2] = {K, M};
    if (!graft_tensor_init(out, t.name, t.type, 2, ne, (void *)t.data))
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: tensor '%s': %lld inputs is not a whole number of %s blocks",
                               wl->path, name, (long long)K, type_name(t.type));
    wl->weight_bytes += t.nbytes;
    return GRAFT_OK;
}

int graft_wl_vector(graft_wloader *wl, const char *name, int64_t n, int optional,
                    const float **out, graft_error *err) {
    *out = NULL;
    int64_t i = graft_gguf_find_tensor(wl->g, name);
    if (i < 0) {
        if (optional) return GRAFT_OK;
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing tensor '%s'", wl->path, name);
    }
    graft_gguf_tensor t = graft_gguf_tensor_info(wl->g, i);
    int64_t total = 1;
    for (int d = 0; d < t.n_dims; d++) total *= t.ne[d];
    char sb[96];
    if (t.ne[0] != n || total != n)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor '%s' has shape %s, expected [%lld]",
                               wl->path, name, graft_wl_shape(&t, sb, sizeof sb), (long long)n);
    if (t.type != GRAFT_TYPE_F32 && t.type != GRAFT_TYPE_F16 && t.type != GRAFT_TYPE_BF16)
        return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                               "%s: tensor '%s' has type %s; vectors must be f32, f16 or bf16",
                               wl->path, name, type_name(t.type));
    if (wl->n_owned == wl->cap_owned) {
        int cap = wl->cap_owned ? 2 * wl->cap_owned : 64;
        float **p = realloc(wl->owned, (size_t)cap * sizeof *p);
        if (!p) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", wl->path);
        wl->owned = p;
        wl->cap_owned = cap;
    }
    float *v = malloc((size_t)n * sizeof(float));
    if (!v) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", wl->path);
    wl->owned[wl->n_owned++] = v;
    if (t.type == GRAFT_TYPE_F32) memcpy(v, t.data, (size_t)n * sizeof(float)); /* may be unaligned */
    else if (t.type == GRAFT_TYPE_F16) wl->kt->f16_to_f32(n, (const uint16_t *)t.data, v);
    else wl->kt->bf16_to_f32(n, (const uint16_t *)t.data, v);
    *out = v;
    return GRAFT_OK;
}

int graft_wl_linear(graft_wloader *wl, const char *prefix, int64_t K, int64_t M, graft_tensor *w, const float **b,
                    graft_error *err) {
    char wn[128], bn[128];
    snprintf(wn, sizeof wn, "%s.weight", prefix);
    snprintf(bn, sizeof bn, "%s.bias", prefix);
    int rc = graft_wl_matrix(wl, wn, K, M, 0, w, err);
    return rc ? rc : graft_wl_vector(wl, bn, M, 0, b, err);
}

int graft_wl_norm(graft_wloader *wl, const char *prefix, int64_t n, const float **w, const float **b, graft_error *err) {
    char wn[128], bn[128];
    snprintf(wn, sizeof wn, "%s.weight", prefix);
    snprintf(bn, sizeof bn, "%s.bias", prefix);
    int rc = graft_wl_vector(wl, wn, n, 0, w, err);
    return rc ? rc : graft_wl_vector(wl, bn, n, 0, b, err);
}

size_t graft_linear_scratch_bytes(const graft_tensor *W, int n, int n_threads) {
    return graft_matmul_scratch_bytes(W->type, W->ne[1], W->ne[0], n, n_threads);
}

void graft_linear(const graft_kernels *kt, const graft_tensor *W, const float *b, const float *X,
                  int n, float *Y, void *scratch, int n_threads) {
    const int64_t K = W->ne[0], M = W->ne[1];
    graft_matmul(kt, W->type, W->data, W->nb[1], M, K, X, K, n, Y, M, scratch, n_threads, 0);
    if (b)
        for (int i = 0; i < n; i++) kt->add(M, Y + (size_t)i * M, b, Y + (size_t)i * M);
}

/* ---- linear (LLaVA-1) ---------------------------------------------------------------------- */

typedef struct {
    graft_tensor w0;  /* (d_out, d_in) */
    const float *b0;  /* (d_out) */
} proj_linear;

static int linear_load(graft_projector *p, graft_wloader *wl, graft_error *err) {
    proj_linear *s = calloc(1, sizeof *s);
    if (!s) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", wl->path);
    p->state = s;
    /* mm.0.* (graft's and nn.Sequential's naming), or mm.* as the legacy converter wrote LLaVA-1's
     * single nn.Linear (model.mm_projector.weight) */
    const int seq = graft_wl_has(wl, "mm.0.weight");
    const char *wn = seq ? "mm.0.weight" : "mm.weight", *bn = seq ? "mm.0.bias" : "mm.bias";
    int64_t i = graft_gguf_find_tensor(wl->g, wn);
    if (i < 0) return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing tensor 'mm.0.weight'", wl->path);
    graft_gguf_tensor t = graft_gguf_tensor_info(wl->g, i);
    const int64_t d_out = t.n_dims == 2 ? t.ne[1] : 0;
    if (d_out < 1 || d_out > (1 << 20))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor '%s' is not a matrix", wl->path, wn);
    int rc;
    if ((rc = graft_wl_matrix(wl, wn, p->d_in, d_out, 0, &s->w0, err)) ||
        (rc = graft_wl_vector(wl, bn, d_out, 0, &s->b0, err)))
        return rc;
    p->d_out = (int)d_out;
    return GRAFT_OK;
}

static void state_free(graft_projector *p) {
    free(p->state);
    p->state = NULL;
}

static int same_tokens(const graft_projector *p, int n_in) {
    (void)p;
    return n_in;
}

static size_t linear_scratch(const graft_projector *p, int n_in, int n_text_max, int n_threads) {
    (void)n_text_max;
    const proj_linear *s = p->state;
    return graft_linear_scratch_bytes(&s->w0, n_in, n_threads);
}

static int linear_forward(const graft_projector *p, const float *feats, int n_in, float *out,
                          const graft_projector_run *run) {
    const proj_linear *s = p->state;
    graft_linear(run->kt, &s->w0, s->b0, feats, n_in, out, run->scratch, run->n_threads); /* (n_in, d_out) */
    return GRAFT_OK;
}

/* ---- mlp2x_gelu (LLaVA-1.5) --------------------------------------------------------------- */

typedef struct {
    graft_tensor w0;  /* (d_hid, d_in)   HF linear_1 */
    const float *b0;  /* (d_hid) */
    graft_tensor w2;  /* (d_out, d_hid)  HF linear_2 */
    const float *b2;  /* (d_out) */
} proj_mlp;

static int mlp_load(graft_projector *p, graft_wloader *wl, graft_error *err) {
    proj_mlp *s = calloc(1, sizeof *s);
    if (!s) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", wl->path);
    p->state = s;
    int64_t i0 = graft_gguf_find_tensor(wl->g, "mm.0.weight");
    int64_t i2 = graft_gguf_find_tensor(wl->g, "mm.2.weight");
    if (i0 < 0) return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing tensor 'mm.0.weight'", wl->path);
    if (i2 < 0)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing tensor 'mm.2.weight' (projector "
                               "'mlp' is LLaVA-1.5's mlp2x_gelu: mm.0, GELU, mm.2)", wl->path);
    graft_gguf_tensor t0 = graft_gguf_tensor_info(wl->g, i0), t2 = graft_gguf_tensor_info(wl->g, i2);
    const int64_t d_hid = t0.n_dims == 2 ? t0.ne[1] : 0, d_out = t2.n_dims == 2 ? t2.ne[1] : 0;
    if (d_hid < 1 || d_hid > (1 << 20) || d_out < 1 || d_out > (1 << 20))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: mm.0.weight / mm.2.weight are not matrices",
                               wl->path);
    int rc;
    if ((rc = graft_wl_matrix(wl, "mm.0.weight", p->d_in, d_hid, 0, &s->w0, err)) ||
        (rc = graft_wl_vector(wl, "mm.0.bias", d_hid, 0, &s->b0, err)) ||
        (rc = graft_wl_matrix(wl, "mm.2.weight", d_hid, d_out, 0, &s->w2, err)) ||
        (rc = graft_wl_vector(wl, "mm.2.bias", d_out, 0, &s->b2, err)))
        return rc;
    p->d_out = (int)d_out;
    return GRAFT_OK;
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

static size_t mlp_scratch(const graft_projector *p, int n_in, int n_text_max, int n_threads) {
    (void)n_text_max;
    const proj_mlp *s = p->state;
    size_t a = graft_linear_scratch_bytes(&s->w0, n_in, n_threads);
    size_t b = graft_linear_scratch_bytes(&s->w2, n_in, n_threads);
    return align64((size_t)n_in * (size_t)s->w0.ne[1] * sizeof(float)) + (a > b ? a : b);
}

static int mlp_forward(const graft_projector *p, const float *feats, int n_in, float *out,
                       const graft_projector_run *run) {
    const proj_mlp *s = p->state;
    const int64_t d_hid = s->w0.ne[1];
    float *h = run->scratch;                                            /* (n_in, d_hid) */
    void *mm = (char *)run->scratch + align64((size_t)n_in * (size_t)d_hid * sizeof(float));
    graft_linear(run->kt, &s->w0, s->b0, feats, n_in, h, mm, run->n_threads);
    run->kt->gelu_erf((int64_t)n_in * d_hid, h, h);
    graft_linear(run->kt, &s->w2, s->b2, h, n_in, out, mm, run->n_threads); /* (n_in, d_out) */
    return GRAFT_OK;
}

/* ---- pool2_mlp: 2x2 average pooling of the patch grid, then mlp2x_gelu ------------------------
 * The ablation projector of graft's shapes-world models (models/recipes/llava.py): a quarter of
 * the visual tokens. The n_in rows are a g x g patch grid in row-major order (g even); pooled row
 * (i, j) of the (g/2) x (g/2) grid is the mean of rows (2i, 2j), (2i, 2j+1), (2i+1, 2j),
 * (2i+1, 2j+1), summed in that order in float and scaled by 0.25 (PyTorch's
 * view(g/2, 2, g/2, 2, D).mean(dim=(1, 3)) up to rounding). Then mm.0, GELU (erf), mm.2 exactly as
 * `mlp`. Same tensors as `mlp`. */

static int pool2_grid(int n_in) {
    int g = 0;
    while ((g + 1) * (g + 1) <= n_in) g++;
    return g * g == n_in && g % 2 == 0 ? g : 0;
}

static int pool2_tokens(const graft_projector *p, int n_in) {
    (void)p;
    const int g = pool2_grid(n_in);
    return g ? (g / 2) * (g / 2) : 0;
}

static size_t pool2_scratch(const graft_projector *p, int n_in, int n_text_max, int n_threads) {
    const int n_out = pool2_tokens(p, n_in);
    return align64((size_t)n_out * (size_t)p->d_in * sizeof(float)) +
           mlp_scratch(p, n_out, n_text_max, n_threads);
}

static int pool2_forward(const graft_projector *p, const float *feats, int n_in, float *out,
                         const graft_projector_run *run) {
    const int g = pool2_grid(n_in), h = g / 2, D = p->d_in;
    if (!g) return GRAFT_E_INVALID;
    float *pooled = run->scratch;                                      /* (h * h, D) */
    for (int i = 0; i < h; i++)
        for (int j = 0; j < h; j++) {
            const float *a = feats + ((size_t)(2 * i) * g + 2 * j) * D, *b = a + D;
            const float *c = a + (size_t)g * D, *d = c + D;            /* the row below */
            float *o = pooled + ((size_t)i * h + j) * D;
            for (int k = 0; k < D; k++) o[k] = (((a[k] + b[k]) + c[k]) + d[k]) * 0.25f;
        }
    graft_projector_run rest = *run;
    rest.scratch = (char *)run->scratch + align64((size_t)h * h * (size_t)D * sizeof(float));
    return mlp_forward(p, pooled, h * h, out, &rest);                   /* (h * h, d_out) */
}

/* ---- the registry ------------------------------------------------------------------------- */

static const graft_projector_ops linear_ops = {
    "linear", "LLaVA-1: one linear layer (mm.0 or mm)", linear_load, state_free, same_tokens,
    linear_scratch, linear_forward, GRAFT_PROJ_ROWS_SELECTED};
static const graft_projector_ops mlp_ops = {
    "mlp", "LLaVA-1.5 mlp2x_gelu: linear, GELU (erf), linear (mm.0, mm.2)", mlp_load, state_free,
    same_tokens, mlp_scratch, mlp_forward, GRAFT_PROJ_ROWS_SELECTED};
static const graft_projector_ops pool2_ops = {
    "pool2_mlp", "2x2 average pooling of the patch grid, then mlp2x_gelu (mm.0, mm.2)", mlp_load,
    state_free, pool2_tokens, pool2_scratch, pool2_forward, GRAFT_PROJ_ROWS_SELECTED};

/* Every projector graft knows; those of other files are declared in projector.h. */
static const graft_projector_ops *const registry[] = {
    &linear_ops,
    &mlp_ops,
    &pool2_ops,
    &graft_proj_owl_abstractor,
    &graft_projector_qformer,
};
#define N_REGISTRY (sizeof registry / sizeof registry[0])

const graft_projector_ops *graft_projector_find(const char *name, size_t len) {
    for (size_t i = 0; i < N_REGISTRY; i++)
        if (strlen(registry[i]->name) == len && !memcmp(registry[i]->name, name, len)) return registry[i];
    return NULL;
}

void graft_projector_list(char *buf, size_t cap) {
    size_t o = 0;
    if (cap) buf[0] = 0;
    for (size_t i = 0; i < N_REGISTRY && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", registry[i]->name);
}

int graft_projector_load(graft_projector *p, const char *type, size_t len, int d_in,
                         graft_wloader *wl, graft_error *err) {
    memset(p, 0, sizeof *p);
    const graft_projector_ops *ops = graft_projector_find(type, len);
    if (!ops) {
        char names[256];
        graft_projector_list(names, sizeof names);
        return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                               "%s: clip.projector_type '%.*s' is not supported (graft has: %s)",
                               wl->path, (int)(len > 64 ? 64 : len), type, names);
    }
    if (!strcmp(ops->name, "mlp") && !graft_wl_has(wl, "mm.0.weight") && graft_wl_has(wl, "mm.weight"))
        ops = graft_projector_find("linear", 6); /* LLaVA-1 through the legacy converter */
    p->ops = ops;
    p->d_in = d_in;
    int rc = ops->load(p, wl, err);
    if (rc) graft_projector_free(p);
    return rc;
}

void graft_projector_free(graft_projector *p) {
    if (p && p->ops && p->ops->free) p->ops->free(p);
    if (p) p->ops = NULL;
}
