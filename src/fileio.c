/* fileio.c - whole-file reads with a size cap (fileio.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fileio.h"

int graft_file_read(const char *path, size_t cap, char **out, size_t *len, graft_error *err) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return graft_error_set(err, errno == ENOENT ? GRAFT_E_NOTFOUND : GRAFT_E_IO, "%s: cannot open: %s",
                               path, strerror(errno));
    struct stat st;
    size_t want = 4096; /* first allocation for files of unknown size */
    if (!fstat(fileno(f), &st) && S_ISREG(st.st_mode)) {
        if ((unsigned long long)st.st_size > cap) {
            fclose(f);
            return graft_error_set(err, GRAFT_E_LIMIT, "%s: %lld bytes, larger than the %zu-byte limit", path,
                                   (long long)st.st_size, cap);
        }
        want = (size_t)st.st_size;
    }
    size_t n = 0, size = want < cap ? want : cap;
    char *buf = malloc(size + 1);
    int rc = buf ? GRAFT_OK : graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
    for (;;) {
        if (rc) break;
        n += fread(buf + n, 1, size - n, f);
        if (ferror(f)) {
            rc = graft_error_set(err, GRAFT_E_IO, "%s: read error", path);
            break;
        }
        if (n < size) break; /* end of file */
        /* full: either exactly the file (one more byte tells) or it grew / has no known size */
        int c = fgetc(f);
        if (c == EOF) break;
        if (size >= cap) {
            rc = graft_error_set(err, GRAFT_E_LIMIT, "%s: larger than the %zu-byte limit", path, cap);
            break;
        }
        size_t grow = size < cap / 2 ? (size ? size * 2 : 4096) : cap;
        char *nb = realloc(buf, grow + 1);
        if (!nb) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
            break;
        }
        buf = nb;
        buf[n++] = (char)c;
        size = grow;
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return GRAFT_OK;
}
