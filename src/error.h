/* error.h - filling a graft_error (include/graft.h) from library code. */
#ifndef GRAFT_ERROR_H
#define GRAFT_ERROR_H

#include "graft.h"

/* Formats the message into *err (when err is not NULL) and returns code, so that a failing
 * path reads: return graft_error_set(err, GRAFT_E_FORMAT, "%s: bad magic", path); */
int graft_error_set(graft_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
