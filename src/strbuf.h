/* strbuf.h - a growable NUL-terminated string for building text (summaries, prompts, captions)
 * with one allocation failure check at the end instead of one per append.
 *
 *     graft_sb b = {0};
 *     graft_sb_printf(&b, "| %s | %d |\n", name, n);
 *     graft_sb_put(&b, text, len);
 *     char *s = graft_sb_take(&b);   // malloc'd text, or NULL if any append ran out of memory
 */
#ifndef GRAFT_STRBUF_H
#define GRAFT_STRBUF_H

#include <stddef.h>

typedef struct graft_sb {
    char *p;      /* the text, NUL-terminated once anything was added (NULL before) */
    size_t n;     /* its length */
    size_t cap;   /* bytes allocated */
    int oom;      /* an append failed: later appends do nothing, take returns NULL */
} graft_sb;

void graft_sb_printf(graft_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void graft_sb_put(graft_sb *b, const char *s, size_t n);
void graft_sb_str(graft_sb *b, const char *s); /* graft_sb_put of a C string */
/* The text (malloc'd; "" when nothing was added), or NULL after an allocation failure; the
 * buffer is empty again afterwards. */
char *graft_sb_take(graft_sb *b);
void graft_sb_free(graft_sb *b);

#endif
