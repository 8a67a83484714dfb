/* image.c - image files -> 8-bit RGB as PIL's Image.open(f).convert("RGB") gives them (image.h).
 *
 * stb_image (Debian's libstb-dev, compiled in here, all of it static) parses every format. Where its
 * pixels differ from PIL's, this file steps in with PIL's arithmetic:
 *   JPEG  stb's marker parser and Huffman decoder fill the coefficient planes; the IDCT is
 *         libjpeg's "islow", the chroma upsampling libjpeg's "fancy" triangle filter with its
 *         alternating rounding biases, the colour conversion libjpeg's 16-bit fixed-point tables,
 *         CMYK/YCCK as PIL reads them ("CMYK;I", then cmyk2rgb).
 *   PNG   16-bit grayscale is PIL's "I" mode, whose convert("RGB") clips to 255 (not >> 8); CRCs of
 *         critical chunks are checked (stb does not check any).
 *   GIF   transparent pixels and pixels outside the first frame get their palette colour, as PIL's
 *         "P" image has them (stb leaves them black).
 *   BMP   5/6-bit channels of 16-bit BMPs are scaled as v * 255 / (2^bits - 1), floored (PIL).
 *   PNM   binary P5/P6 are read here with PIL's header rules and maxval rescaling.
 * and it refuses what stb 2.27 would mishandle: oversized JPEG Huffman tables (an overflow), BMP
 * bitfields it asserts on, truncated uncompressed TGA (uninitialised pixels).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"

/* ---- stb_image, private to this file ----------------------------------------------------- */

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC        /* no stbi_* symbol leaves libgraft: hosts may link their own stb */
#define STBI_NO_STDIO           /* files are read here, so errors can name them */
#define STBI_NO_LINEAR
#define STBI_NO_SIMD            /* stb's SIMD kernels are the ones replaced below for JPEG */
#define STBI_FAILURE_USERMSG
/* zeroed allocations: parts of a corrupt file that stb never writes (a component without a scan)
 * come out as zeros, the same on every run, instead of whatever the heap held */
#define STBI_MALLOC(sz) calloc(1, (sz))
#define STBI_REALLOC(p, sz) realloc((p), (sz))
#define STBI_FREE(p) free(p)
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_TGA           /* PNM is read below: stb's reader ignores maxval and short data */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wtype-limits"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
/* stb 2.27 declares stbi_set_unpremultiply_on_load_thread without defining it; gcc reports that at
 * the end of the file, whatever the state around the include. */
#pragma GCC diagnostic ignored "-Wunused-function"
#endif

/* ---- small helpers ------------------------------------------------------------------------ */

static const char *nm(const char *name) { return name && *name ? name : "image"; }

static unsigned char clamp255(int v) { return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v); }

static int be16(const unsigned char *p) { return p[0] << 8 | p[1]; }

/* stb's reason ("Corrupt JPEG", "bad Image Descriptor", ...) as a graft error. */
static int stb_fail(graft_error *err, const char *name, const char *what) {
    const char *why = stbi_failure_reason();
    int code = GRAFT_E_FORMAT;
    if (why && (strstr(why, "Out of memory") || strstr(why, "outofmem"))) code = GRAFT_E_NOMEM;
    else if (why && strstr(why, "not supported")) code = GRAFT_E_UNSUPPORTED;
    return graft_error_set(err, code, "%s: cannot decode %s: %s", nm(name), what,
                           why ? why : "unknown error");
}

typedef enum { FMT_JPEG, FMT_PNG, FMT_BMP, FMT_GIF, FMT_PNM, FMT_TGA } img_format;

/* By magic bytes; TGA has none, so it is whatever stb's TGA test accepts. */
static img_format sniff(const unsigned char *p, size_t n) {
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return FMT_JPEG;
    if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) return FMT_PNG;
    if (n >= 2 && p[0] == 'B' && p[1] == 'M') return FMT_BMP;
    if (n >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6))) return FMT_GIF;
    if (n >= 2 && p[0] == 'P' && p[1] >= '1' && p[1] <= '6') return FMT_PNM;
    return FMT_TGA;
}

/* ---- JPEG: marker checks before stb ---------------------------------------------------------- */

/* The DHT segment whose length field is at p[pos], read exactly as stb 2.27 reads it (past the
 * segment if the length says so, zeros past the end of the file): stb does not check that a
 * table has at most 256 codes and overflows its arrays when it has more. */
static int jpeg_dht_ok(const unsigned char *p, size_t n, size_t pos) {
    long L = (long)be16(p + pos) - 2;
    size_t q = pos + 2;
    while (L > 0) {
        int tc_th = q < n ? p[q] : 0;
        if ((tc_th >> 4) > 1 || (tc_th & 15) > 3) return 1; /* stb: "bad DHT header" */
        long codes = 0;
        for (size_t k = 1; k <= 16; k++) codes += q + k < n ? p[q + k] : 0;
        if (codes > 256) return 0;
        q += 17 + (size_t)codes;
        L -= 17 + codes;
    }
    return 1;
}

/* Walks every marker segment the way stb does (lengths for segments, a scan for the next marker
 * through entropy-coded data) and rejects, with a clear message, what stb cannot decode (frame
 * types it would call "unknown marker", precision other than 8) or must not see (oversized Huffman
 * tables). Anything else malformed is left to stb. */
static int jpeg_check_frame(const unsigned char *p, size_t n, const char *name, graft_error *err) {
    size_t i = 2;
    int seen_sof = 0;
    while (i + 1 < n) {
        if (p[i] != 0xFF) { i++; continue; }                               /* entropy-coded data */
        int m = p[i + 1];
        if (m == 0xFF) { i++; continue; }                                  /* fill byte */
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) { i += 2; continue; }
        if (m == 0xD9 || i + 4 > n) return GRAFT_OK;                       /* EOI */
        size_t L = (size_t)be16(p + i + 2);
        if (m == 0xCC)
            return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                                   "%s: arithmetic-coded JPEG (DAC marker) is not supported", nm(name));
        if (m == 0xC4 && !jpeg_dht_ok(p, n, i + 2))
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: corrupt JPEG: Huffman table with over 256 codes",
                                   nm(name));
        if (!seen_sof && m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8) {
            int prec = i + 4 < n ? p[i + 4] : 8;
            const char *kind = NULL;
            if (m >= 0xC9) kind = "arithmetic-coded";
            else if (m == 0xC3) kind = "lossless";
            else if (m >= 0xC5) kind = "hierarchical";
            if (kind)
                return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                                       "%s: %s JPEG (SOF%d) is not supported", nm(name), kind, m - 0xC0);
            if (prec != 8)
                return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                                       "%s: %d-bit JPEG is not supported (8-bit only)", nm(name), prec);
            seen_sof = 1;
        }
        i += 2 + L;
    }
    return GRAFT_OK;
}

/* ---- JPEG: libjpeg's islow IDCT -------------------------------------------------------------- */

/* The Loeffler-Ligtenberg-Moschytz IDCT of libjpeg's jidctint.c: 13-bit constants, 2 extra bits
 * after the column pass, round-half-up descaling. stb hands over dequantised coefficients in
 * natural order (row-major, data[row * 8 + col]). Output is clamped to 0..255, as libjpeg-turbo's
 * SIMD IDCT (what PIL runs on x86-64) does; the C table wraps instead, but only for values no
 * real image produces. 64-bit intermediates (libjpeg's JLONG) keep garbage input well defined. */
#define IDCT_CB 13
#define IDCT_P1 2
#define DESCALE(x, n) (((x) + ((int64_t)1 << ((n) - 1))) >> (n))
enum {
    F_0_298631336 = 2446, F_0_390180644 = 3196, F_0_541196100 = 4433, F_0_765366865 = 6270,
    F_0_899976223 = 7373, F_1_175875602 = 9633, F_1_501321110 = 12299, F_1_847759065 = 15137,
    F_1_961570560 = 16069, F_2_053119869 = 16819, F_2_562915447 = 20995, F_3_072711026 = 25172,
};

/* One 1-D IDCT of 8 values spaced `step` apart; results (still scaled) in o[0..7]. */
static void idct_1d(int64_t i0, int64_t i1, int64_t i2, int64_t i3, int64_t i4, int64_t i5,
                    int64_t i6, int64_t i7, int64_t o[8]) {
    /* even part */
    int64_t z1 = (i2 + i6) * F_0_541196100;
    int64_t tmp2 = z1 - i6 * F_1_847759065;
    int64_t tmp3 = z1 + i2 * F_0_765366865;
    int64_t tmp0 = (i0 + i4) * ((int64_t)1 << IDCT_CB);
    int64_t tmp1 = (i0 - i4) * ((int64_t)1 << IDCT_CB);
    int64_t t10 = tmp0 + tmp3, t13 = tmp0 - tmp3, t11 = tmp1 + tmp2, t12 = tmp1 - tmp2;
    /* odd part */
    int64_t a3 = i1, a2 = i3, a1 = i5, a0 = i7;
    int64_t z4 = a1 + a3, z3 = a0 + a2, z2 = a1 + a2;
    z1 = a0 + a3;
    int64_t z5 = (z3 + z4) * F_1_175875602;
    a3 *= F_1_501321110;
    a2 *= F_3_072711026;
    a1 *= F_2_053119869;
    a0 *= F_0_298631336;
    z4 = z4 * -F_0_390180644 + z5;
    z3 = z3 * -F_1_961570560 + z5;
    z1 *= -F_0_899976223;
    z2 *= -F_2_562915447;
    a3 += z1 + z4;
    a2 += z2 + z3;
    a1 += z2 + z4;
    a0 += z1 + z3;
    o[0] = t10 + a3; o[7] = t10 - a3;
    o[1] = t11 + a2; o[6] = t11 - a2;
    o[2] = t12 + a1; o[5] = t12 - a1;
    o[3] = t13 + a0; o[4] = t13 - a0;
}

static void jpeg_idct_islow(stbi_uc *out, int stride, short *in) {
    int64_t ws[64], o[8];
    for (int c = 0; c < 8; c++) { /* columns */
        const short *d = in + c;
        if (!d[8] && !d[16] && !d[24] && !d[32] && !d[40] && !d[48] && !d[56]) {
            for (int r = 0; r < 8; r++) ws[r * 8 + c] = (int64_t)d[0] * (1 << IDCT_P1);
            continue;
        }
        idct_1d(d[0], d[8], d[16], d[24], d[32], d[40], d[48], d[56], o);
        for (int r = 0; r < 8; r++) ws[r * 8 + c] = DESCALE(o[r], IDCT_CB - IDCT_P1);
    }
    for (int r = 0; r < 8; r++) { /* rows */
        const int64_t *w = ws + r * 8;
        stbi_uc *dst = out + (size_t)r * stride;
        if (!w[1] && !w[2] && !w[3] && !w[4] && !w[5] && !w[6] && !w[7]) {
            int64_t v = DESCALE(w[0], IDCT_P1 + 3) + 128;
            unsigned char b = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
            for (int c = 0; c < 8; c++) dst[c] = b;
            continue;
        }
        idct_1d(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], o);
        for (int c = 0; c < 8; c++) {
            int64_t v = DESCALE(o[c], IDCT_CB + IDCT_P1 + 3) + 128;
            dst[c] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

/* ---- JPEG: libjpeg's upsampling ---------------------------------------------------------------- */

/* One decoded component plane: samples (ch rows of cw) at data, rows stride apart; hs x vs is the
 * expansion to full resolution. */
typedef struct {
    const unsigned char *data;
    int stride, cw, ch, hs, vs;
} jplane;

/* Output row y (w samples) of plane p at full resolution, as libjpeg's jdsample.c computes it:
 * h2v1 and h2v2 "fancy" (triangle filter) when the plane is wider than 2 samples, h1v2 fancy
 * always, box replication otherwise. Rows above the first and below the last repeat the edge row
 * (jdmainct.c's context pointers). buf holds >= 2 * cw + 1 samples. */
static const unsigned char *upsample_row(const jplane *p, int y, int w, unsigned char *buf) {
    const unsigned char *d = p->data;
    size_t st = (size_t)p->stride;
    if (p->hs == 1 && p->vs == 1) return d + (size_t)y * st;

    if (p->hs == 2 && p->vs == 1 && p->cw > 2) { /* h2v1_fancy_upsample */
        const unsigned char *in = d + (size_t)y * st;
        int n = p->cw;
        buf[0] = in[0];
        buf[1] = (unsigned char)((in[0] * 3 + in[1] + 2) >> 2);
        for (int i = 1; i < n - 1; i++) {
            int v = in[i] * 3;
            buf[2 * i] = (unsigned char)((v + in[i - 1] + 1) >> 2);
            buf[2 * i + 1] = (unsigned char)((v + in[i + 1] + 2) >> 2);
        }
        buf[2 * n - 2] = (unsigned char)((in[n - 1] * 3 + in[n - 2] + 1) >> 2);
        buf[2 * n - 1] = in[n - 1];
        return buf;
    }
    if (p->vs == 2 && (p->hs == 1 || (p->hs == 2 && p->cw > 2))) {
        int r = y >> 1, v = y & 1;
        int rf = v == 0 ? (r > 0 ? r - 1 : 0) : (r + 1 < p->ch ? r + 1 : p->ch - 1);
        const unsigned char *in0 = d + (size_t)r * st, *in1 = d + (size_t)rf * st;
        int n = p->cw;
        if (p->hs == 1) { /* h1v2_fancy_upsample: bias 1 for the upper row, 2 for the lower */
            int bias = v == 0 ? 1 : 2;
            for (int i = 0; i < n; i++) buf[i] = (unsigned char)((in0[i] * 3 + in1[i] + bias) >> 2);
            return buf;
        }
        /* h2v2_fancy_upsample */
        int this = in0[0] * 3 + in1[0], next = in0[1] * 3 + in1[1], last;
        buf[0] = (unsigned char)((this * 4 + 8) >> 4);
        buf[1] = (unsigned char)((this * 3 + next + 7) >> 4);
        last = this;
        this = next;
        for (int i = 1; i < n - 1; i++) {
            next = in0[i + 1] * 3 + in1[i + 1];
            buf[2 * i] = (unsigned char)((this * 3 + last + 8) >> 4);
            buf[2 * i + 1] = (unsigned char)((this * 3 + next + 7) >> 4);
            last = this;
            this = next;
        }
        buf[2 * n - 2] = (unsigned char)((this * 3 + last + 8) >> 4);
        buf[2 * n - 1] = (unsigned char)((this * 4 + 7) >> 4);
        return buf;
    }
    /* int_upsample / h2v1_upsample / h2v2_upsample: box replication */
    const unsigned char *in = d + (size_t)(y / p->vs) * st;
    for (int x = 0; x < w; x++) buf[x] = in[x / p->hs];
    return buf;
}

/* ---- JPEG: libjpeg's colour conversion and PIL's CMYK ------------------------------------------ */

/* jdcolor.c's tables, computed inline: 16 fractional bits, round half up. >> of a negative int is
 * an arithmetic shift with gcc and clang, as libjpeg's RIGHT_SHIFT assumes. */
#define CC_FIX(x) ((int32_t)((x) * 65536.0 + 0.5))
static void ycc_to_rgb(int y, int cb, int cr, unsigned char *rgb) {
    cb -= 128;
    cr -= 128;
    rgb[0] = clamp255(y + ((CC_FIX(1.40200) * cr + 32768) >> 16));
    rgb[1] = clamp255(y + ((-CC_FIX(0.34414) * cb + 32768 - CC_FIX(0.71414) * cr) >> 16));
    rgb[2] = clamp255(y + ((CC_FIX(1.77200) * cb + 32768) >> 16));
}

/* PIL's MULDIV255 and cmyk2rgb, applied to the CMYK libjpeg outputs after PIL's "CMYK;I" read
 * (which inverts every byte: Adobe's convention). */
static int muldiv255(int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}
static void pil_cmyk_to_rgb(int c, int m, int y, int k, unsigned char *rgb) {
    int nk = k; /* 255 - (255 - k) */
    rgb[0] = clamp255(nk - muldiv255(255 - c, nk));
    rgb[1] = clamp255(nk - muldiv255(255 - m, nk));
    rgb[2] = clamp255(nk - muldiv255(255 - y, nk));
}

enum { CS_GRAY, CS_YCC, CS_RGB, CS_CMYK, CS_YCCK };

/* The colour space libjpeg assumes (jdapimin.c default_decompress_parms). */
static int jpeg_color_space(const stbi__jpeg *j) {
    int n = j->s->img_n;
    if (n == 1) return CS_GRAY;
    if (n == 3) {
        if (j->jfif) return CS_YCC;
        if (j->app14_color_transform >= 0) return j->app14_color_transform == 0 ? CS_RGB : CS_YCC;
        int c0 = j->img_comp[0].id, c1 = j->img_comp[1].id, c2 = j->img_comp[2].id;
        if (c0 == 'R' && c1 == 'G' && c2 == 'B') return CS_RGB;
        return CS_YCC;
    }
    if (j->app14_color_transform >= 0) return j->app14_color_transform == 0 ? CS_CMYK : CS_YCCK;
    return CS_CMYK;
}

/* ---- JPEG: decode ---------------------------------------------------------------------------- */

static int decode_jpeg(const unsigned char *buf, int len, const char *name, graft_image *out,
                       graft_error *err) {
    int rc = jpeg_check_frame(buf, (size_t)len, name, err);
    if (rc) return rc;
    stbi__context s;
    stbi__start_mem(&s, buf, len);
    stbi__jpeg *j = calloc(1, sizeof *j);
    if (!j) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", nm(name));
    j->s = &s;
    stbi__setup_jpeg(j);
    j->idct_block_kernel = jpeg_idct_islow;
    s.img_n = 0; /* makes stbi__cleanup_jpeg safe whatever happens */
    unsigned char *rgb = NULL, *lines = NULL;
    if (!stbi__decode_jpeg_image(j)) {
        rc = stb_fail(err, name, "JPEG");
        goto done;
    }
    int w = (int)s.img_x, h = (int)s.img_y, n = s.img_n;
    jplane pl[4];
    for (int k = 0; k < n; k++) {
        pl[k] = (jplane){j->img_comp[k].data, j->img_comp[k].w2, j->img_comp[k].x, j->img_comp[k].y,
                         j->img_h_max / j->img_comp[k].h, j->img_v_max / j->img_comp[k].v};
    }
    size_t lw = (size_t)w + 16;
    rgb = malloc((size_t)w * h * 3);
    lines = malloc(lw * 4);
    if (!rgb || !lines) {
        rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory for %dx%d pixels", nm(name), w, h);
        goto done;
    }
    int cs = jpeg_color_space(j);
    for (int y = 0; y < h; y++) {
        const unsigned char *c[4] = {0};
        for (int k = 0; k < n; k++) c[k] = upsample_row(&pl[k], y, w, lines + k * lw);
        unsigned char *o = rgb + (size_t)y * w * 3;
        switch (cs) {
        case CS_GRAY:
            for (int x = 0; x < w; x++, o += 3) o[0] = o[1] = o[2] = c[0][x];
            break;
        case CS_RGB:
            for (int x = 0; x < w; x++, o += 3) o[0] = c[0][x], o[1] = c[1][x], o[2] = c[2][x];
            break;
        case CS_YCC:
            for (int x = 0; x < w; x++, o += 3) ycc_to_rgb(c[0][x], c[1][x], c[2][x], o);
            break;
        case CS_CMYK:
            for (int x = 0; x < w; x++, o += 3) pil_cmyk_to_rgb(c[0][x], c[1][x], c[2][x], c[3][x], o);
            break;
        default: /* YCCK -> CMYK (jdcolor.c ycck_cmyk_convert) -> PIL */
            for (int x = 0; x < w; x++, o += 3) {
                unsigned char t[3];
                ycc_to_rgb(c[0][x], c[1][x], c[2][x], t);
                pil_cmyk_to_rgb(255 - t[0], 255 - t[1], 255 - t[2], c[3][x], o);
            }
        }
    }
    out->w = w;
    out->h = h;
    out->rgb = rgb;
    rgb = NULL;
    rc = GRAFT_OK;
done:
    stbi__cleanup_jpeg(j);
    free(j);
    free(rgb);
    free(lines);
    return rc;
}

/* ---- PNG: chunk CRCs ------------------------------------------------------------------------- */

/* stb never checks CRCs. Like libpng, a CRC mismatch in a critical chunk (IHDR, PLTE, IDAT, IEND)
 * is an error; ancillary chunks are not checked. Chunks running past the end are left to stb. */
static int png_check_crc(const unsigned char *p, size_t n, const char *name, graft_error *err) {
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    size_t i = 8;
    while (i + 12 <= n) {
        uint32_t len = (uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 | (uint32_t)p[i + 2] << 8 | p[i + 3];
        if (len > n - i - 12) return GRAFT_OK;
        const unsigned char *t = p + i + 4;
        if (t[0] >= 'A' && t[0] <= 'Z') { /* critical */
            uint32_t c = 0xFFFFFFFFu;
            for (size_t k = 0; k < (size_t)len + 4; k++) c = table[(c ^ t[k]) & 0xFF] ^ (c >> 8);
            c ^= 0xFFFFFFFFu;
            const unsigned char *q = t + 4 + len;
            uint32_t want = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
            if (c != want)
                return graft_error_set(err, GRAFT_E_FORMAT, "%s: corrupt PNG: bad CRC in %.4s chunk",
                                       nm(name), (const char *)t);
            if (!memcmp(t, "IEND", 4)) return GRAFT_OK;
        }
        i += (size_t)len + 12;
    }
    return GRAFT_OK;
}

/* ---- PNG: 16-bit grayscale --------------------------------------------------------------------- */

/* PIL opens 16-bit grayscale PNG as mode "I" and convert("RGB") clips each value to 0..255; stb
 * gives the values, the clip is done here. Other 16-bit PNGs (RGB, RGBA, LA) PIL reduces to their
 * high byte, which is what stb's 8-bit load gives. */
static int decode_png_gray16(const unsigned char *buf, int len, const char *name, graft_image *out,
                             graft_error *err) {
    int w, h, n;
    stbi_us *v = stbi_load_16_from_memory(buf, len, &w, &h, &n, 1);
    if (!v) return stb_fail(err, name, "PNG");
    unsigned char *rgb = malloc((size_t)w * h * 3);
    if (!rgb) {
        stbi_image_free(v);
        return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", nm(name));
    }
    for (size_t i = 0; i < (size_t)w * h; i++)
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = (unsigned char)(v[i] > 255 ? 255 : v[i]);
    stbi_image_free(v);
    out->w = w;
    out->h = h;
    out->rgb = rgb;
    return GRAFT_OK;
}

/* ---- GIF: first frame, with PIL's colours for transparent and undrawn pixels ------------------- */

static int decode_gif(const unsigned char *buf, int len, const char *name, graft_image *out,
                      graft_error *err) {
    stbi__context s;
    stbi__start_mem(&s, buf, len);
    stbi__gif *g = calloc(1, sizeof *g);
    if (!g) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", nm(name));
    int comp, rc = GRAFT_OK;
    stbi_uc *u = stbi__gif_load_next(&s, g, &comp, 4, 0);
    if (u == (stbi_uc *)&s) {
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: GIF has no image", nm(name));
    } else if (!u) {
        rc = stb_fail(err, name, "GIF");
    } else {
        /* u is g->out: (h, w, 4). PIL's first frame is a "P" image: pixels the frame does not cover
         * hold the transparency index if there is one, else 0; transparent pixels keep their index.
         * convert("RGB") looks every index up in the frame's palette (stb keeps it as B, G, R, A). */
        size_t np = (size_t)g->w * g->h;
        unsigned char *rgb = malloc(np * 3);
        if (!rgb) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", nm(name));
        } else {
            int t = g->transparent;
            const stbi_uc *fill = g->color_table + 4 * (t >= 0 ? t : 0);
            for (size_t i = 0; i < np; i++) {
                const stbi_uc *px = u + 4 * i;
                unsigned char *o = rgb + 3 * i;
                if (!g->history[i]) {
                    o[0] = fill[2]; o[1] = fill[1]; o[2] = fill[0];
                } else if (px[3] == 0 && t >= 0) {
                    const stbi_uc *c = g->color_table + 4 * t;
                    o[0] = c[2]; o[1] = c[1]; o[2] = c[0];
                } else {
                    o[0] = px[0]; o[1] = px[1]; o[2] = px[2];
                }
            }
            out->w = g->w;
            out->h = g->h;
            out->rgb = rgb;
        }
    }
    STBI_FREE(g->out);
    STBI_FREE(g->history);
    STBI_FREE(g->background);
    free(g);
    return rc;
}

/* ---- BMP: bitfield checks and PIL's 5/6-bit scaling ------------------------------------------- */

static int mask_ok(unsigned m) { /* empty, or one run of <= 8 bits (stb asserts otherwise) */
    if (!m) return 1;
    while (!(m & 1)) m >>= 1;
    return (m & (m + 1)) == 0 && m <= 0xFF;
}

/* Reads the header again for bpp and channel masks; rejects masks stb cannot handle and, for 16-bit
 * BMPs, maps stb's bit-replicated channel values back to PIL's v * 255 / (2^bits - 1). */
static int bmp_fix(const unsigned char *buf, int len, const char *name, graft_image *im,
                   graft_error *err) {
    stbi__context s;
    stbi__start_mem(&s, buf, len);
    stbi__bmp_data info;
    memset(&info, 0, sizeof info);
    if (!stbi__bmp_parse_header(&s, &info)) return stb_fail(err, name, "BMP");
    if (info.bpp != 16 && info.bpp != 32) return GRAFT_OK;
    if (!mask_ok(info.mr) || !mask_ok(info.mg) || !mask_ok(info.mb) || !mask_ok(info.ma))
        return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                               "%s: BMP bitfields %08x/%08x/%08x/%08x are not supported", nm(name),
                               info.mr, info.mg, info.mb, info.ma);
    if (!im || info.bpp != 16) return GRAFT_OK;
    unsigned masks[3] = {info.mr, info.mg, info.mb};
    unsigned char map[3][256];
    for (int c = 0; c < 3; c++) {
        int bits = stbi__bitcount(masks[c]);
        for (int v = 0; v < 256; v++) map[c][v] = (unsigned char)v;
        if (bits <= 0 || bits >= 8) continue;
        int top = (1 << bits) - 1;
        for (int q = 0; q <= top; q++) { /* stb's value of q (stbi__shiftsigned), then PIL's */
            int sv = stbi__shiftsigned((unsigned)q << (8 - bits), 0, bits);
            map[c][sv & 255] = (unsigned char)(q * 255 / top);
        }
    }
    for (size_t i = 0; i < (size_t)im->w * im->h; i++)
        for (int c = 0; c < 3; c++) im->rgb[3 * i + c] = map[c][im->rgb[3 * i + c]];
    return GRAFT_OK;
}

/* ---- TGA: short pixel data --------------------------------------------------------------------- */

/* stb reads uncompressed true-colour and gray TGA rows without checking that the data is there,
 * leaving uninitialised bytes in the image; PIL calls such a file truncated. */
static int tga_check(const unsigned char *p, size_t n, const char *name, graft_error *err) {
    if (n < 18) return GRAFT_OK; /* stb rejects it */
    int idlen = p[0], indexed = p[1], type = p[2], bpp = p[16];
    size_t w = (size_t)(p[12] | p[13] << 8), h = (size_t)(p[14] | p[15] << 8);
    if (indexed || (type != 2 && type != 3)) return GRAFT_OK;
    size_t comp = bpp == 8 ? 1 : bpp == 24 ? 3 : bpp == 32 ? 4 : (bpp == 16 && type == 3) ? 2 : 0;
    if (comp && n < 18 + (size_t)idlen + w * h * comp)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: TGA pixel data is truncated", nm(name));
    return GRAFT_OK;
}

/* ---- PNM (binary P5/P6), as PIL's PpmImagePlugin reads it ------------------------------------- */

typedef struct {
    int w, h, maxval, bands; /* bands 1 (P5) or 3 (P6) */
    size_t data;             /* offset of the pixel data */
} pnm_header;

/* PIL's _read_token: skip leading whitespace, '#' comments run to the end of the line, at most
 * 10 characters. Returns -1 on a malformed token. */
static long pnm_token(const unsigned char *p, size_t n, size_t *i) {
    char tok[16];
    int len = 0;
    while (*i < n && len <= 10) {
        unsigned char c = p[(*i)++];
        if (c == ' ' || (c >= 9 && c <= 13)) {
            if (!len) continue;
            break;
        }
        if (c == '#') {
            while (*i < n && p[*i] != '\r' && p[*i] != '\n') (*i)++;
            if (*i < n) (*i)++;
            continue;
        }
        if (c < '0' || c > '9') return -1;
        tok[len++] = (char)c;
    }
    if (!len || len > 10) return -1;
    tok[len] = 0;
    return strtol(tok, NULL, 10);
}

static int pnm_parse(const unsigned char *p, size_t n, const char *name, pnm_header *hd,
                     graft_error *err) {
    if (p[1] != '5' && p[1] != '6')
        return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                               "%s: PNM P%c is not supported (binary P5/P6 only)", nm(name), p[1]);
    size_t i = 2;
    long w = pnm_token(p, n, &i), h = pnm_token(p, n, &i), mv = pnm_token(p, n, &i);
    if (w < 0 || h < 0 || mv < 0)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: corrupt PNM header", nm(name));
    if (mv < 1 || mv > 65535)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: PNM maxval %ld is out of range", nm(name), mv);
    if (w > INT_MAX || h > INT_MAX)
        return graft_error_set(err, GRAFT_E_LIMIT, "%s: PNM size %ldx%ld is too large", nm(name), w, h);
    *hd = (pnm_header){(int)w, (int)h, (int)mv, p[1] == '6' ? 3 : 1, i};
    return GRAFT_OK;
}

static int decode_pnm(const unsigned char *p, size_t n, const char *name, const pnm_header *hd,
                      graft_image *out, graft_error *err) {
    size_t np = (size_t)hd->w * hd->h, bytes = hd->maxval > 255 ? 2 : 1;
    if (n - hd->data < np * hd->bands * bytes)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: PNM pixel data is truncated", nm(name));
    unsigned char *rgb = malloc(np * 3);
    if (!rgb) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", nm(name));
    const unsigned char *d = p + hd->data;
    /* maxval 255: raw bytes. Otherwise PIL's PpmDecoder: round(v / maxval * out_max) (Python's
     * round: half to even, which rint gives), capped at out_max; out_max is 65535 for 16-bit gray
     * (mode "I", whose convert("RGB") then clips to 255) and 255 otherwise. 16-bit gray with
     * maxval 65535 is read raw as "I;16B" and clipped. */
    int gray_i = hd->bands == 1 && hd->maxval > 255;
    double out_max = gray_i ? 65535.0 : 255.0;
    for (size_t i = 0; i < np * hd->bands; i++) {
        int v = bytes == 2 ? be16(d + 2 * i) : d[i];
        int o;
        if (hd->maxval == 255 || (gray_i && hd->maxval == 65535)) o = v;
        else {
            double r = rint((double)v / hd->maxval * out_max);
            o = r > out_max ? (int)out_max : (int)r;
        }
        o = o > 255 ? 255 : o;
        if (hd->bands == 3) rgb[i] = (unsigned char)o;
        else rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = (unsigned char)o;
    }
    out->w = hd->w;
    out->h = hd->h;
    out->rgb = rgb;
    return GRAFT_OK;
}

/* ---- public API ------------------------------------------------------------------------------ */

static int check_len(size_t len, const char *name, graft_error *err) {
    if (len == 0) return graft_error_set(err, GRAFT_E_FORMAT, "%s: empty file", nm(name));
    if (len > INT_MAX)
        return graft_error_set(err, GRAFT_E_LIMIT, "%s: file of %zu bytes is too large", nm(name), len);
    return GRAFT_OK;
}

int graft_image_info_memory(const void *data, size_t len, const char *name, int *w, int *h,
                            graft_error *err) {
    const unsigned char *p = data;
    int rc = check_len(len, name, err);
    if (rc) return rc;
    img_format f = sniff(p, len);
    if (f == FMT_PNM) {
        pnm_header hd;
        if ((rc = pnm_parse(p, len, name, &hd, err))) return rc;
        *w = hd.w;
        *h = hd.h;
    } else {
        if (f == FMT_JPEG && (rc = jpeg_check_frame(p, len, name, err))) return rc;
        if (f == FMT_PNG && (rc = png_check_crc(p, len, name, err))) return rc;
        if (f == FMT_PNG && len >= 24 && !memcmp(p + 12, "IHDR", 4)) {
            /* straight from IHDR: stb refuses headers over 1 GiB of pixels as corrupt */
            uint32_t pw = (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 | (uint32_t)p[18] << 8 | p[19];
            uint32_t ph = (uint32_t)p[20] << 24 | (uint32_t)p[21] << 16 | (uint32_t)p[22] << 8 | p[23];
            if (pw > (1u << 24) || ph > (1u << 24))
                return graft_error_set(err, GRAFT_E_LIMIT, "%s: PNG size %ux%u is too large", nm(name), pw, ph);
            *w = (int)pw;
            *h = (int)ph;
            if (*w <= 0 || *h <= 0)
                return graft_error_set(err, GRAFT_E_FORMAT, "%s: empty image (%dx%d)", nm(name), *w, *h);
            return GRAFT_OK;
        }
        int comp;
        if (f == FMT_TGA) { /* TGA's reader only: stb's generic one would try its JPEG test first,
                             * which skips leading 0xFF bytes and so bypasses jpeg_check_frame */
            stbi__context s;
            stbi__start_mem(&s, p, (int)len);
            int ok = stbi__tga_test(&s);
            stbi__start_mem(&s, p, (int)len);
            if (!ok || !stbi__tga_info(&s, w, h, &comp))
                return graft_error_set(err, GRAFT_E_FORMAT,
                                       "%s: not a recognised image (JPEG, PNG, BMP, GIF, TGA, PNM)",
                                       nm(name));
        } else if (!stbi_info_from_memory(p, (int)len, w, h, &comp)) {
            return stb_fail(err, name, "image header");
        }
    }
    if (*w <= 0 || *h <= 0)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: empty image (%dx%d)", nm(name), *w, *h);
    return GRAFT_OK;
}

int graft_image_load_memory(const void *data, size_t len, const char *name, int64_t max_pixels,
                            graft_image *out, graft_error *err) {
    const unsigned char *p = data;
    memset(out, 0, sizeof *out);
    if (!data && len) return graft_error_set(err, GRAFT_E_INVALID, "%s: NULL data", nm(name));
    if (max_pixels <= 0) max_pixels = GRAFT_IMAGE_MAX_PIXELS_DEFAULT;
    int w, h, rc = graft_image_info_memory(data, len, name, &w, &h, err);
    if (rc) return rc;
    if ((int64_t)w * h > max_pixels)
        return graft_error_set(err, GRAFT_E_LIMIT,
                               "%s: %dx%d image (%lld pixels) exceeds the limit of %lld pixels",
                               nm(name), w, h, (long long)w * h, (long long)max_pixels);
    int n = (int)len;
    switch (sniff(p, len)) {
    case FMT_JPEG: rc = decode_jpeg(p, n, name, out, err); break;
    case FMT_GIF: rc = decode_gif(p, n, name, out, err); break;
    case FMT_PNM: {
        pnm_header hd;
        rc = pnm_parse(p, len, name, &hd, err);
        if (!rc) rc = decode_pnm(p, len, name, &hd, out, err);
        break;
    }
    case FMT_PNG:
        if (len > 25 && p[24] == 16 && p[25] == 0) { /* IHDR: bit depth 16, colour type 0 */
            rc = decode_png_gray16(p, n, name, out, err);
            break;
        }
        /* fall through */
    default: {
        if (sniff(p, len) == FMT_BMP && (rc = bmp_fix(p, n, name, NULL, err))) break;
        if (sniff(p, len) == FMT_TGA && (rc = tga_check(p, len, name, err))) break;
        int comp;
        unsigned char *px;
        if (sniff(p, len) == FMT_TGA) { /* as in graft_image_info_memory: TGA's reader only */
            stbi__context s;
            stbi__result_info ri;
            memset(&ri, 0, sizeof ri);
            ri.bits_per_channel = 8;
            stbi__start_mem(&s, p, n);
            px = stbi__tga_load(&s, &w, &h, &comp, 3, &ri);
        } else {
            px = stbi_load_from_memory(p, n, &w, &h, &comp, 3);
        }
        if (!px) {
            rc = stb_fail(err, name, "image");
            break;
        }
        out->w = w;
        out->h = h;
        out->rgb = px; /* STBI_MALLOC: freed with free() */
        if (sniff(p, len) == FMT_BMP) rc = bmp_fix(p, n, name, out, err);
    }
    }
    if (rc) graft_image_free(out);
    return rc;
}

int graft_image_load_file(const char *path, int64_t max_pixels, graft_image *out, graft_error *err) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return graft_error_set(err, GRAFT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = GRAFT_OK;
    for (;;) { /* read to the end: works for pipes and files alike */
        if (len == cap) {
            if (cap > (size_t)INT_MAX) {
                rc = graft_error_set(err, GRAFT_E_LIMIT, "%s: file is too large", path);
                break;
            }
            size_t nc = cap ? cap * 2 : 1 << 16;
            unsigned char *nb = realloc(buf, nc);
            if (!nb) {
                rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
            cap = nc;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) rc = graft_error_set(err, GRAFT_E_IO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (!rc) rc = graft_image_load_memory(buf, len, path, max_pixels, out, err);
    free(buf);
    return rc;
}

int graft_image_from_rgb(const unsigned char *rgb, int w, int h, size_t stride, int64_t max_pixels,
                         graft_image *out, graft_error *err) {
    memset(out, 0, sizeof *out);
    if (max_pixels <= 0) max_pixels = GRAFT_IMAGE_MAX_PIXELS_DEFAULT;
    if (!rgb || w <= 0 || h <= 0)
        return graft_error_set(err, GRAFT_E_INVALID, "raw RGB: invalid image %dx%d", w, h);
    if ((int64_t)w * h > max_pixels)
        return graft_error_set(err, GRAFT_E_LIMIT, "raw RGB: %dx%d exceeds the limit of %lld pixels",
                               w, h, (long long)max_pixels);
    size_t row = (size_t)w * 3;
    if (!stride) stride = row;
    if (stride < row)
        return graft_error_set(err, GRAFT_E_INVALID, "raw RGB: stride %zu < %zu", stride, row);
    out->rgb = malloc(row * h);
    if (!out->rgb) return graft_error_set(err, GRAFT_E_NOMEM, "raw RGB: out of memory");
    for (int y = 0; y < h; y++) memcpy(out->rgb + row * y, rgb + stride * y, row);
    out->w = w;
    out->h = h;
    return GRAFT_OK;
}

void graft_image_free(graft_image *im) {
    if (!im) return;
    free(im->rgb);
    memset(im, 0, sizeof *im);
}
