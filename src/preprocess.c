/* preprocess.c - CLIPImageProcessor / LLaVA-1.5 image preprocessing (see preprocess.h): PIL's
 * bicubic resample reproduced exactly, center crop, expand2square, rescale and normalise.
 *
 * The resample computes only the output window that survives the center crop, and the pad canvas
 * is never materialised: rows of the canvas are built one at a time. Neither changes a value, because
 * every output pixel of PIL's two-pass resample depends only on its own row of coefficients. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "preprocess.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF /* no fused multiply-add: PIL's doubles are rounded after each op */
#endif

/* ---- parameters ---------------------------------------------------------------------------- */

graft_preprocess_params graft_preprocess_default_params(void) {
    graft_preprocess_params p = {
        .image_size = 336,
        .mode = GRAFT_IMAGE_MODE_CROP,
        .resample = GRAFT_RESAMPLE_BICUBIC,
        .mean = {0.48145466f, 0.4578275f, 0.40821073f},
        .std = {0.26862954f, 0.26130258f, 0.27577711f},
    };
    return p;
}

static const char *const mode_names[] = {"crop", "pad", "resize"};

const char *graft_image_mode_name(int mode) {
    return mode >= 0 && mode < 3 ? mode_names[mode] : "unknown";
}

int graft_image_mode_parse(const char *name) {
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, mode_names[i])) return i;
    return -1;
}

void graft_shortest_edge_size(int w, int h, int size, int *out_w, int *out_h) {
    /* transformers' get_resize_output_image_size: int(size * long / short), Python's true
     * division of integers (correctly rounded, as the double division of exact integers is) */
    double lo = w <= h ? (double)size * h / w : (double)size * w / h;
    int l = lo < (double)INT_MAX ? (int)lo : INT_MAX; /* saturated; graft_preprocess_u8 refuses it */
    *out_w = w <= h ? size : l;
    *out_h = w <= h ? l : size;
}

void graft_pad_color(const float mean[3], unsigned char fill[3]) {
    for (int c = 0; c < 3; c++) {
        double v = (double)mean[c] * 255.0;
        fill[c] = (unsigned char)(v <= 0 ? 0 : v >= 255 ? 255 : (int)v);
    }
}

/* ---- PIL's resample coefficients (Resample.c: precompute_coeffs, normalize_coeffs_8bpc) ----- */

#define PRECISION_BITS (32 - 8 - 2)

static double bicubic(double x) { /* a = -0.5 */
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((-0.5 + 2.0) * x - (-0.5 + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * -0.5;
    return 0.0;
}

/* Coefficients of output indices first .. first + count - 1 of an in_size -> out_size resample:
 * for output i, taps bounds[2i] .. bounds[2i] + bounds[2i + 1] - 1 of the input, weights
 * kk[i * ksize ..] in 22-bit fixed point. */
typedef struct {
    int ksize;
    int *bounds; /* (count, 2): xmin, number of taps */
    int *kk;     /* (count, ksize) */
} coeffs;

static void coeffs_free(coeffs *c) {
    free(c->bounds);
    free(c->kk);
    memset(c, 0, sizeof *c);
}

static int coeffs_make(int in_size, int out_size, int first, int count, coeffs *c) {
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale; /* bicubic support 2, widened when downscaling */
    int ksize = (int)ceil(support) * 2 + 1;
    memset(c, 0, sizeof *c);
    c->ksize = ksize;
    c->bounds = malloc(sizeof(int) * 2 * (size_t)count);
    c->kk = calloc((size_t)count * ksize, sizeof(int));
    double *k = malloc(sizeof(double) * (size_t)ksize);
    if (!c->bounds || !c->kk || !k) {
        free(k);
        coeffs_free(c);
        return GRAFT_E_NOMEM;
    }
    for (int i = 0; i < count; i++) {
        int xx = first + i;
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double w = bicubic((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        int *kf = c->kk + (size_t)i * ksize;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? k[x] / ww : k[x];
            kf[x] = v < 0 ? (int)(-0.5 + v * (1 << PRECISION_BITS))
                          : (int)(0.5 + v * (1 << PRECISION_BITS));
        }
        c->bounds[2 * i] = xmin;
        c->bounds[2 * i + 1] = xmax;
    }
    free(k);
    return GRAFT_OK;
}

/* PIL's clip8: the sum carries 22 fraction bits and started at one half. >> of a negative int is
 * an arithmetic shift with gcc and clang, as PIL relies on. */
static unsigned char clip8(int ss) {
    int v = ss >> PRECISION_BITS;
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* ---- the source: an image on a canvas ------------------------------------------------------- */

/* The image (h, w, 3) placed at (ox, oy) on a cw x ch canvas filled with `fill` (the pad mode's
 * expand2square); for the other modes the canvas is the image itself. */
typedef struct {
    const unsigned char *rgb;
    int w, h, cw, ch, ox, oy;
    unsigned char fill[3];
} canvas;

/* Working memory a resample may use (coefficients, intermediate rows); beyond it the call fails
 * with GRAFT_E_LIMIT. Reached only by extreme aspect ratios: a 1000 x 64000 strip in pad mode uses
 * 64 MB. */
#define RESAMPLE_MAX_BYTES ((size_t)256 << 20)

/* ---- PIL's two-pass resample, evaluated on an output window ---------------------------------- */

/* Resamples the canvas to out_w x out_h and writes the window of ww x wh output pixels at (x0, y0)
 * into dst (wh, ww, 3). Horizontal pass first, over the canvas rows the window's vertical taps read,
 * then the vertical pass; a pass whose size does not change is skipped, as in PIL.
 *
 * The pad canvas is never built. Canvas rows outside the image are all fill, so after the
 * horizontal pass they are one and the same row, kept once; inside a row, and in the vertical
 * pass, the taps that fall on fill are summed as fill * (their summed weights). The sums are
 * integers, so the regrouping gives PIL's values exactly. */
static int resample(const canvas *c, int out_w, int out_h, int x0, int y0, int ww, int wh,
                    unsigned char *dst) {
    int need_h = out_w != c->cw, need_v = out_h != c->ch;
    coeffs ch = {0}, cv = {0};
    unsigned char *tmp = NULL;
    int *kout = NULL;
    int rc = GRAFT_E_NOMEM;
    size_t kbytes = 0;
    if (need_h) kbytes += (size_t)ww * ((size_t)ceil(2.0 * c->cw / out_w) * 2 + 3) * sizeof(int);
    if (need_v) kbytes += (size_t)wh * ((size_t)ceil(2.0 * c->ch / out_h) * 2 + 3) * sizeof(int);
    if (kbytes > RESAMPLE_MAX_BYTES) return GRAFT_E_LIMIT;
    if (need_h && coeffs_make(c->cw, out_w, x0, ww, &ch)) goto done;
    if (need_v && coeffs_make(c->ch, out_h, y0, wh, &cv)) goto done;

    /* canvas rows [r0, r1) feed the window; of those, [i0, i1) hold image pixels */
    int r0 = y0, r1 = y0 + wh;
    if (need_v) {
        r0 = cv.bounds[0];
        r1 = 0;
        for (int i = 0; i < wh; i++) {
            if (cv.bounds[2 * i] < r0) r0 = cv.bounds[2 * i];
            if (cv.bounds[2 * i] + cv.bounds[2 * i + 1] > r1) r1 = cv.bounds[2 * i] + cv.bounds[2 * i + 1];
        }
    }
    int i0 = r0 > c->oy ? r0 : c->oy, i1 = r1 < c->oy + c->h ? r1 : c->oy + c->h;
    if (i1 < i0) i1 = i0;
    int n_img = i1 - i0, has_fill = r0 < i0 || r1 > i1;
    size_t trow = (size_t)ww * 3, nrows = (size_t)n_img + (size_t)has_fill;
    if (nrows * trow > RESAMPLE_MAX_BYTES) {
        rc = GRAFT_E_LIMIT;
        goto done;
    }
    /* temp: (nrows, ww, 3): image rows i0.. first, then the fill row */
    tmp = malloc(nrows * trow + 1);
    if (!tmp) goto done;
    unsigned char *frow = tmp + (size_t)n_img * trow;

    /* horizontal pass */
    if (!need_h) {
        for (int y = i0; y < i1; y++) {
            unsigned char *o = tmp + trow * (size_t)(y - i0);
            const unsigned char *src = c->rgb + (size_t)(y - c->oy) * c->w * 3;
            for (int x = 0; x < ww; x++) {
                int cx = x0 + x - c->ox;
                memcpy(o + 3 * x, cx >= 0 && cx < c->w ? src + 3 * cx : c->fill, 3);
            }
        }
        for (int x = 0; has_fill && x < ww; x++) memcpy(frow + 3 * x, c->fill, 3);
    } else {
        /* per output column: the weight of the taps outside the image, and the taps inside */
        kout = malloc(sizeof(int) * 3 * (size_t)ww);
        if (!kout) goto done;
        for (int xx = 0; xx < ww; xx++) {
            const int *k = ch.kk + (size_t)xx * ch.ksize;
            int xmin = ch.bounds[2 * xx], n = ch.bounds[2 * xx + 1], a = c->ox - xmin, b = c->ox + c->w - xmin;
            if (a < 0) a = 0;
            if (b > n) b = n;
            if (b < a) b = a;
            int sum_out = 0, sum_all = 0;
            for (int x = 0; x < n; x++) {
                sum_all += k[x];
                if (x < a || x >= b) sum_out += k[x];
            }
            kout[3 * xx] = sum_out;
            kout[3 * xx + 1] = a;
            kout[3 * xx + 2] = b;
            for (int ch3 = 0; has_fill && ch3 < 3; ch3++)
                frow[3 * xx + ch3] = clip8((1 << (PRECISION_BITS - 1)) + c->fill[ch3] * sum_all);
        }
        for (int y = i0; y < i1; y++) {
            unsigned char *o = tmp + trow * (size_t)(y - i0);
            const unsigned char *src = c->rgb + (size_t)(y - c->oy) * c->w * 3;
            for (int xx = 0; xx < ww; xx++) {
                const int *k = ch.kk + (size_t)xx * ch.ksize;
                int xmin = ch.bounds[2 * xx], a = kout[3 * xx + 1], b = kout[3 * xx + 2], ko = kout[3 * xx];
                int s0 = (1 << (PRECISION_BITS - 1)) + c->fill[0] * ko;
                int s1 = (1 << (PRECISION_BITS - 1)) + c->fill[1] * ko;
                int s2 = (1 << (PRECISION_BITS - 1)) + c->fill[2] * ko;
                const unsigned char *p = src + 3 * (size_t)(xmin + a - c->ox);
                for (int x = a; x < b; x++, p += 3) {
                    s0 += p[0] * k[x];
                    s1 += p[1] * k[x];
                    s2 += p[2] * k[x];
                }
                o[3 * xx] = clip8(s0);
                o[3 * xx + 1] = clip8(s1);
                o[3 * xx + 2] = clip8(s2);
            }
        }
    }

    /* vertical pass: (wh, ww, 3) */
    for (int yy = 0; yy < wh; yy++) {
        unsigned char *o = dst + trow * (size_t)yy;
        if (!need_v) {
            int y = y0 + yy;
            memcpy(o, y >= i0 && y < i1 ? tmp + trow * (size_t)(y - i0) : frow, trow);
            continue;
        }
        const int *k = cv.kk + (size_t)yy * cv.ksize;
        int ymin = cv.bounds[2 * yy], n = cv.bounds[2 * yy + 1];
        int a = i0 - ymin, b = i1 - ymin, kfill = 0;
        if (a < 0) a = 0;
        if (b > n) b = n;
        if (b < a) b = a;
        for (int y = 0; y < n; y++)
            if (y < a || y >= b) kfill += k[y];
        const unsigned char *base = tmp + trow * (size_t)(ymin + a - i0);
        for (size_t xc = 0; xc < trow; xc++) {
            int s = (1 << (PRECISION_BITS - 1)) + (kfill ? frow[xc] * kfill : 0);
            const unsigned char *p = base + xc;
            for (int y = a; y < b; y++, p += trow) s += *p * k[y];
            o[xc] = clip8(s);
        }
    }
    rc = GRAFT_OK;
done:
    coeffs_free(&ch);
    coeffs_free(&cv);
    free(tmp);
    free(kout);
    return rc;
}

static int new_image(int w, int h, graft_image *out, graft_error *err) {
    out->w = w;
    out->h = h;
    out->rgb = malloc((size_t)w * h * 3);
    if (!out->rgb) {
        memset(out, 0, sizeof *out);
        return graft_error_set(err, GRAFT_E_NOMEM, "preprocess: out of memory for %dx%d", w, h);
    }
    return GRAFT_OK;
}

static int check_image(const graft_image *in, graft_error *err) {
    if (!in || !in->rgb || in->w <= 0 || in->h <= 0)
        return graft_error_set(err, GRAFT_E_INVALID, "preprocess: empty image");
    return GRAFT_OK;
}

int graft_image_resize(const graft_image *in, int w, int h, int resample_kind, graft_image *out,
                       graft_error *err) {
    memset(out, 0, sizeof *out);
    int rc = check_image(in, err);
    if (rc) return rc;
    if (resample_kind != GRAFT_RESAMPLE_BICUBIC)
        return graft_error_set(err, GRAFT_E_UNSUPPORTED, "resize: unknown resample %d", resample_kind);
    if (w <= 0 || h <= 0 || (int64_t)w * h > GRAFT_IMAGE_MAX_PIXELS_DEFAULT)
        return graft_error_set(err, GRAFT_E_INVALID, "resize: invalid size %dx%d", w, h);
    if ((rc = new_image(w, h, out, err))) return rc;
    canvas c = {in->rgb, in->w, in->h, in->w, in->h, 0, 0, {0, 0, 0}};
    if ((rc = resample(&c, w, h, 0, 0, w, h, out->rgb))) {
        graft_image_free(out);
        return graft_error_set(err, rc, "resize: %dx%d -> %dx%d: %s", in->w, in->h, w, h,
                               rc == GRAFT_E_LIMIT ? "beyond the working-memory limit" : "out of memory");
    }
    return GRAFT_OK;
}

/* ---- the three modes ------------------------------------------------------------------------- */

int graft_preprocess_u8(const graft_image *in, const graft_preprocess_params *p, graft_image *out,
                        graft_error *err) {
    memset(out, 0, sizeof *out);
    int rc = check_image(in, err);
    if (rc) return rc;
    int S = p->image_size;
    if (S < 1 || S > GRAFT_PREPROCESS_MAX_SIZE)
        return graft_error_set(err, GRAFT_E_INVALID, "preprocess: image size %d is out of range", S);
    if (p->resample != GRAFT_RESAMPLE_BICUBIC)
        return graft_error_set(err, GRAFT_E_UNSUPPORTED, "preprocess: unknown resample %d", p->resample);
    canvas c = {in->rgb, in->w, in->h, in->w, in->h, 0, 0, {0, 0, 0}};
    int rw, rh, x0, y0;
    switch (p->mode) {
    case GRAFT_IMAGE_MODE_PAD:
        if (in->w != in->h) { /* expand2square; a square image is returned as it is */
            int side = in->w > in->h ? in->w : in->h;
            c.cw = c.ch = side;
            c.ox = (side - in->w) / 2;
            c.oy = (side - in->h) / 2;
            graft_pad_color(p->mean, c.fill);
        }
        /* then the crop path, which for a square canvas is a plain resize */
        /* fall through */
    case GRAFT_IMAGE_MODE_CROP:
        graft_shortest_edge_size(c.cw, c.ch, S, &rw, &rh);
        if (rw > (1 << 28) || rh > (1 << 28))
            return graft_error_set(err, GRAFT_E_LIMIT, "preprocess: %dx%d image: aspect ratio too extreme",
                                   in->w, in->h);
        x0 = (rw - S) / 2; /* transformers' center_crop: top = (h - S) // 2, left likewise */
        y0 = (rh - S) / 2;
        break;
    case GRAFT_IMAGE_MODE_RESIZE:
        rw = rh = S;
        x0 = y0 = 0;
        break;
    default:
        return graft_error_set(err, GRAFT_E_INVALID, "preprocess: unknown image mode %d", p->mode);
    }
    if (x0 < 0 || y0 < 0) /* cannot happen: int(S * long / short) >= S */
        return graft_error_set(err, GRAFT_E_INVALID, "preprocess: resized %dx%d is smaller than %d",
                               rw, rh, S);
    if ((rc = new_image(S, S, out, err))) return rc;
    if ((rc = resample(&c, rw, rh, x0, y0, S, S, out->rgb))) {
        graft_image_free(out);
        return graft_error_set(err, rc, "preprocess: %dx%d image, %s mode: %s", in->w, in->h,
                               graft_image_mode_name(p->mode),
                               rc == GRAFT_E_LIMIT ? "aspect ratio too extreme (working memory over 256 MB)"
                                                   : "out of memory");
    }
    return GRAFT_OK;
}

void graft_preprocess_normalize(const graft_image *u8, const float mean[3], const float std[3],
                                float *out) {
    /* transformers: rescale = float32(float64(u) * (1/255)), normalize = (x - mean) / std with
     * float32 x, mean and std */
    size_t n = (size_t)u8->w * u8->h;
    for (int c = 0; c < 3; c++) {
        float m = mean[c], s = std[c];
        float *o = out + (size_t)c * n;
        for (size_t i = 0; i < n; i++) {
            float x = (float)((double)u8->rgb[3 * i + c] * (1.0 / 255.0));
            o[i] = (x - m) / s;
        }
    }
}

int graft_preprocess(const graft_image *in, const graft_preprocess_params *p, float *out,
                     graft_image *u8, graft_error *err) {
    for (int c = 0; c < 3; c++)
        if (!(p->std[c] > 0) || !isfinite(p->mean[c]))
            return graft_error_set(err, GRAFT_E_INVALID, "preprocess: bad mean/std for channel %d", c);
    graft_image tmp;
    int rc = graft_preprocess_u8(in, p, &tmp, err);
    if (rc) return rc;
    graft_preprocess_normalize(&tmp, p->mean, p->std, out);
    if (u8) *u8 = tmp;
    else graft_image_free(&tmp);
    return GRAFT_OK;
}
