/* spm_model.c - reads a SentencePiece model (tokenizer.model, a protobuf ModelProto) far enough
 * for the converter's vocabulary: the pieces with their scores and types, the normalizer's
 * add_dummy_prefix and the trainer's model_type. A small protobuf wire-format reader that checks
 * every length against the buffer; anything malformed is a GRAFT_E_FORMAT naming the file.
 * Used by hf_vocab.c. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hf_vocab.h"

/* ---- protobuf wire format ------------------------------------------------------------------ */

typedef struct pb {
    const uint8_t *p, *end;
} pb;

typedef struct pb_field {
    uint32_t num; /* field number */
    int wt;       /* wire type: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 */
    uint64_t v;   /* varint / fixed value */
    const uint8_t *data; /* length-delimited: the bytes */
    size_t len;
} pb_field;

static int pb_varint(pb *r, uint64_t *out) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return -1;
        uint8_t b = *r->p++;
        if (shift == 63 && b > 1) return -1; /* more than 64 bits */
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = x;
            return 0;
        }
    }
    return -1;
}

/* Reads the next field; NULL on success, else what is wrong. */
static const char *pb_next(pb *r, pb_field *f) {
    uint64_t key;
    if (pb_varint(r, &key)) return "truncated or overlong varint (field key)";
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff) return "invalid field number";
    f->num = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    f->data = NULL, f->len = 0, f->v = 0;
    size_t left;
    switch (f->wt) {
    case 0:
        if (pb_varint(r, &f->v)) return "truncated or overlong varint";
        return NULL;
    case 1:
    case 5: {
        size_t n = f->wt == 1 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n) return "truncated fixed-size value";
        for (size_t i = 0; i < n; i++) f->v |= (uint64_t)r->p[i] << (8 * i);
        r->p += n;
        return NULL;
    }
    case 2:
        if (pb_varint(r, &f->v)) return "truncated or overlong length";
        left = (size_t)(r->end - r->p);
        if (f->v > left) return "length runs past the end of the data";
        f->data = r->p;
        f->len = (size_t)f->v;
        r->p += f->len;
        return NULL;
    default:
        return "unsupported wire type (groups or invalid)";
    }
}

/* ---- ModelProto ------------------------------------------------------------------------------ */

/* SentencePiece { 1: piece string, 2: score float, 3: type enum (default NORMAL) } */
static const char *parse_piece(const uint8_t *data, size_t len, graft_spm_piece *out) {
    pb r = {data, data + len};
    out->s = NULL, out->len = 0, out->score = 0.0f, out->type = 1;
    int have_piece = 0;
    while (r.p < r.end) {
        pb_field f;
        const char *e = pb_next(&r, &f);
        if (e) return e;
        if (f.num == 1) {
            if (f.wt != 2) return "piece text (field 1) has the wrong wire type";
            if (f.len > 0xffffffffu) return "piece text too long";
            out->s = (const char *)f.data, out->len = (uint32_t)f.len, have_piece = 1;
        } else if (f.num == 2) {
            if (f.wt != 5) return "score (field 2) has the wrong wire type";
            uint32_t u = (uint32_t)f.v;
            memcpy(&out->score, &u, 4);
        } else if (f.num == 3) {
            if (f.wt != 0) return "type (field 3) has the wrong wire type";
            if (f.v < 1 || f.v > 6) return "type is not one of NORMAL..BYTE (1..6)";
            out->type = (int)f.v;
        }
    }
    if (!have_piece || out->len == 0) return "a piece has no text";
    return NULL;
}

/* Finds varint field `num` in a sub-message (last one wins, as protobuf); validates all of it. */
static const char *scan_varint(const uint8_t *data, size_t len, uint32_t num, uint64_t *val, int *found) {
    pb r = {data, data + len};
    while (r.p < r.end) {
        pb_field f;
        const char *e = pb_next(&r, &f);
        if (e) return e;
        if (f.num == num) {
            if (f.wt != 0) return "a known field has the wrong wire type";
            *val = f.v, *found = 1;
        }
    }
    return NULL;
}

void graft_spm_model_free(graft_spm_model *m) {
    if (!m) return;
    free(m->pieces);
    memset(m, 0, sizeof *m);
}

int graft_spm_model_parse(const void *buf, size_t len, const char *where, graft_spm_model *out,
                          graft_error *err) {
    memset(out, 0, sizeof *out);
    out->add_dummy_prefix = 1; /* NormalizerSpec default */
    out->model_type = 1;       /* TrainerSpec default: UNIGRAM */
    pb r = {buf, (const uint8_t *)buf + len};
    size_t cap = 0;
    const char *e = NULL;
    while (r.p < r.end && !e) {
        size_t at = (size_t)(r.p - (const uint8_t *)buf);
        pb_field f;
        if ((e = pb_next(&r, &f))) {
            graft_spm_model_free(out);
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: not a SentencePiece model: %s at byte %zu",
                                   where, e, at);
        }
        if (f.num >= 1 && f.num <= 3 && f.wt != 2) {
            e = "a ModelProto field has the wrong wire type";
            break;
        }
        if (f.num == 1) {
            if (out->n == INT32_MAX - 1) {
                e = "too many pieces";
                break;
            }
            if ((size_t)out->n == cap) {
                size_t nc = cap ? 2 * cap : 1024;
                graft_spm_piece *np = realloc(out->pieces, nc * sizeof *np);
                if (!np) {
                    graft_spm_model_free(out);
                    return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", where);
                }
                out->pieces = np, cap = nc;
            }
            if ((e = parse_piece(f.data, f.len, &out->pieces[out->n]))) {
                graft_spm_model_free(out);
                return graft_error_set(err, GRAFT_E_FORMAT, "%s: piece %d: %s", where, out->n, e);
            }
            out->n++;
        } else if (f.num == 2) { /* trainer_spec: 3 = model_type */
            uint64_t v = 0;
            int found = 0;
            if ((e = scan_varint(f.data, f.len, 3, &v, &found))) break;
            if (found) out->model_type = v > 100 ? 100 : (int)v;
        } else if (f.num == 3) { /* normalizer_spec: 3 = add_dummy_prefix */
            uint64_t v = 0;
            int found = 0;
            if ((e = scan_varint(f.data, f.len, 3, &v, &found))) break;
            if (found) out->add_dummy_prefix = v != 0;
        }
    }
    if (e) {
        graft_spm_model_free(out);
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: not a SentencePiece model: %s", where, e);
    }
    if (out->n == 0) {
        graft_spm_model_free(out);
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: a SentencePiece model without pieces", where);
    }
    return GRAFT_OK;
}
