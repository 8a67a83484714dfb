/* npy.c - a small .npy reader for test fixtures (see npy.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

int npy_load(const char *path, npy_array *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "npy: cannot open %s\n", path);
        return -1;
    }
    unsigned char pre[10];
    int rc = -1;
    char *hdr = NULL;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) goto done;
    size_t hlen;
    if (pre[6] == 1) {
        hlen = pre[8] | (size_t)pre[9] << 8;
    } else {
        unsigned char b[2];
        if (fread(b, 1, 2, f) != 2) goto done;
        hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)b[0] << 16 | (size_t)b[1] << 24;
    }
    if (hlen > (1 << 20) || !(hdr = malloc(hlen + 1)) || fread(hdr, 1, hlen, f) != hlen) goto done;
    hdr[hlen] = 0;
    char *d = strstr(hdr, "'descr':"), *fo = strstr(hdr, "'fortran_order':"), *sh = strstr(hdr, "'shape':");
    if (!d || !fo || !sh) goto done;
    d = strchr(d + 8, '\'');
    if (!d || (d[1] != '<' && d[1] != '|')) goto done; /* little-endian or single byte only */
    sscanf(d + 2, "%7[a-z0-9]", out->dtype);
    fo += 16;
    while (*fo == ' ') fo++;
    if (strncmp(fo, "False", 5)) goto done; /* Fortran order is not supported */
    out->elem_size = (size_t)atoi(out->dtype + 1);
    char *p = strchr(sh, '(');
    if (!p) goto done;
    p++;
    out->count = 1;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        long long v = strtoll(p, &p, 10);
        if (out->n_dims == 8 || v < 0) goto done;
        out->shape[out->n_dims++] = v;
        out->count *= (size_t)v;
    }
    out->data = malloc(out->count * out->elem_size + 1);
    if (!out->data || fread(out->data, out->elem_size, out->count, f) != out->count) goto done;
    rc = 0;
done:
    if (rc) {
        fprintf(stderr, "npy: %s is not a supported .npy file\n", path);
        free(out->data);
        out->data = NULL;
    }
    free(hdr);
    fclose(f);
    return rc;
}

void npy_free(npy_array *a) {
    free(a->data);
    a->data = NULL;
}

float *npy_as_f32(const npy_array *a) {
    float *o = malloc(a->count * sizeof *o + 1);
    for (size_t i = 0; i < a->count && o; i++) {
        const char *p = (const char *)a->data + i * a->elem_size;
        if (!strcmp(a->dtype, "f4")) memcpy(&o[i], p, 4);
        else if (!strcmp(a->dtype, "f8")) { double v; memcpy(&v, p, 8); o[i] = (float)v; }
        else if (!strcmp(a->dtype, "u1")) o[i] = *(const unsigned char *)p;
        else if (!strcmp(a->dtype, "i8")) { int64_t v; memcpy(&v, p, 8); o[i] = (float)v; }
        else if (!strcmp(a->dtype, "i4")) { int32_t v; memcpy(&v, p, 4); o[i] = (float)v; }
        else { free(o); return NULL; }
    }
    return o;
}

int64_t *npy_as_i64(const npy_array *a) {
    int64_t *o = malloc(a->count * sizeof *o + 1);
    for (size_t i = 0; i < a->count && o; i++) {
        const char *p = (const char *)a->data + i * a->elem_size;
        if (!strcmp(a->dtype, "i8")) memcpy(&o[i], p, 8);
        else if (!strcmp(a->dtype, "i4")) { int32_t v; memcpy(&v, p, 4); o[i] = v; }
        else if (!strcmp(a->dtype, "u1")) o[i] = *(const unsigned char *)p;
        else { free(o); return NULL; }
    }
    return o;
}
