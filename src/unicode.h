/* unicode.h - the bits of Unicode the tokenizers need, with llama.cpp's exact behaviour: UTF-8
 * decoding that turns each invalid byte into U+FFFD, codepoint categories (llama.cpp's
 * unicode_cpt_flags), the White_Space set, and GPT-2's byte <-> printable-codepoint mapping. */
#ifndef GRAFT_UNICODE_H
#define GRAFT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Codepoint flags, llama.cpp's values: one category bit, plus WHITESPACE. */
enum {
    GRAFT_CPT_UNDEFINED = 0x01,   /* beyond U+10FFFF */
    GRAFT_CPT_NUMBER = 0x02,      /* \p{N} */
    GRAFT_CPT_LETTER = 0x04,      /* \p{L} */
    GRAFT_CPT_SEPARATOR = 0x08,   /* \p{Z} */
    GRAFT_CPT_MARK = 0x10,        /* \p{M} */
    GRAFT_CPT_PUNCTUATION = 0x20, /* \p{P} */
    GRAFT_CPT_SYMBOL = 0x40,      /* \p{S} */
    GRAFT_CPT_CONTROL = 0x80,     /* \p{C}, and unassigned codepoints */
    GRAFT_CPT_WHITESPACE = 0x100, /* \s: Unicode White_Space */
};

typedef struct graft_unicode_range {
    uint32_t first;
    uint8_t flags;
} graft_unicode_range;

extern const graft_unicode_range graft_unicode_ranges[]; /* unicode_data.c, sorted */
extern const int graft_unicode_n_ranges;

/* Flags of codepoint cp (above U+10FFFF: undefined). */
unsigned graft_cpt_flags(uint32_t cp);

/* Decodes the character at s[0..n) (n >= 1) as llama.cpp's unicode_cpt_from_utf8: a byte that
 * does not start a complete sequence gives U+FFFD and *len = 1. Overlong forms and lead bytes
 * F5..F7 are accepted as llama.cpp does (values may exceed U+10FFFF). */
uint32_t graft_utf8_decode(const char *s, size_t n, size_t *len);
/* Writes cp as UTF-8 (1..4 bytes; U+FFFD for a value above U+10FFFF) and returns the length. */
size_t graft_utf8_encode(uint32_t cp, char *out);

/* GPT-2's byte-level alphabet: byte b is shown as codepoint graft_byte_to_cpt(b) (printable
 * bytes as themselves, the rest from U+0100 up). graft_cpt_to_byte inverts it (-1: no byte). */
uint32_t graft_byte_to_cpt(uint8_t b);
int graft_cpt_to_byte(uint32_t cp);

#endif
