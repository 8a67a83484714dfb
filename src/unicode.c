/* unicode.c - UTF-8 decoding and encoding with llama.cpp's rules, codepoint flags from the
 * generated ranges in unicode_data.c, and GPT-2's byte <-> codepoint alphabet (unicode.h). */
#include "unicode.h"

unsigned graft_cpt_flags(uint32_t cp) {
    if (cp >= 0x110000) return GRAFT_CPT_UNDEFINED;
    int lo = 0, hi = graft_unicode_n_ranges - 1; /* last range with first <= cp */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (graft_unicode_ranges[mid].first <= cp) lo = mid;
        else hi = mid - 1;
    }
    unsigned f = graft_unicode_ranges[lo].flags;
    /* White_Space (PropList.txt) */
    if ((cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
        (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
        cp == 0x205f || cp == 0x3000)
        f |= GRAFT_CPT_WHITESPACE;
    return f;
}

static int cont(const char *s, size_t i) { return ((unsigned char)s[i] & 0xc0) == 0x80; }

uint32_t graft_utf8_decode(const char *s, size_t n, size_t *len) {
    unsigned c = (unsigned char)s[0];
    *len = 1;
    if (!(c & 0x80)) return c;
    if (!(c & 0x40)) return 0xfffd;
    if (!(c & 0x20)) {
        if (n < 2 || !cont(s, 1)) return 0xfffd;
        *len = 2;
        return ((c & 0x1fu) << 6) | ((unsigned char)s[1] & 0x3fu);
    }
    if (!(c & 0x10)) {
        if (n < 3 || !cont(s, 1) || !cont(s, 2)) return 0xfffd;
        *len = 3;
        return ((c & 0x0fu) << 12) | (((unsigned char)s[1] & 0x3fu) << 6) | ((unsigned char)s[2] & 0x3fu);
    }
    if (!(c & 0x08)) {
        if (n < 4 || !cont(s, 1) || !cont(s, 2) || !cont(s, 3)) return 0xfffd;
        *len = 4;
        return ((c & 0x07u) << 18) | (((unsigned char)s[1] & 0x3fu) << 12) |
               (((unsigned char)s[2] & 0x3fu) << 6) | ((unsigned char)s[3] & 0x3fu);
    }
    return 0xfffd;
}

size_t graft_utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp <= 0x7f) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp <= 0x7ff) {
        o[0] = (unsigned char)(0xc0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp > 0x10ffff) cp = 0xfffd; /* llama.cpp throws here */
    if (cp <= 0xffff) {
        o[0] = (unsigned char)(0xe0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Bytes GPT-2 shows as themselves: '!'..'~', U+00A1..U+00AC, U+00AE..U+00FF. */
static int printable(unsigned b) { return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae; }

uint32_t graft_byte_to_cpt(uint8_t b) {
    if (printable(b)) return b;
    uint32_t n = 0; /* the others take U+0100, U+0101, ... in byte order */
    for (unsigned x = 0; x < b; x++) n += !printable(x);
    return 0x100 + n;
}

int graft_cpt_to_byte(uint32_t cp) {
    if (cp < 0x100) return printable(cp) ? (int)cp : -1;
    uint32_t n = cp - 0x100;
    for (unsigned x = 0; x < 256; x++)
        if (!printable(x) && n-- == 0) return (int)x;
    return -1;
}

uint32_t graft_cpt_tolower(uint32_t cp) {
    int lo = 0, hi = graft_unicode_n_lower - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (graft_unicode_lower[mid].cp == cp) return graft_unicode_lower[mid].to;
        if (graft_unicode_lower[mid].cp < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return cp;
}

uint32_t graft_cpt_nfd_first(uint32_t cp) {
    int lo = 0, hi = graft_unicode_n_nfd - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const graft_unicode_nfd *r = &graft_unicode_nfd_ranges[mid];
        if (cp < r->first) hi = mid - 1;
        else if (cp > r->last) lo = mid + 1;
        else return r->to;
    }
    return cp;
}
