/* fileio.h - reading a whole small file (a JSON config, a tokenizer, a dataset) into memory, with
 * a size cap checked before anything is allocated, so a 10 KB config costs 10 KB and a 10 GB
 * "config" is refused by its size. */
#ifndef GRAFT_FILEIO_H
#define GRAFT_FILEIO_H

#include <stddef.h>

#include "graft.h"

/* Reads path into *out (malloc'd, NUL-terminated after *len bytes). Regular files are sized with
 * fstat and read in one allocation; other files (pipes, /proc) are read in growing chunks up to
 * cap. Errors name the file: GRAFT_E_NOTFOUND (no such file), GRAFT_E_IO, GRAFT_E_LIMIT (over
 * cap bytes), GRAFT_E_NOMEM. */
int graft_file_read(const char *path, size_t cap, char **out, size_t *len, graft_error *err);

#endif
