/* error.c - error messages for graft_error out-parameters. */
#include <stdarg.h>
#include <stdio.h>

#include "error.h"

int graft_error_set(graft_error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

const char *graft_version(void) { return GRAFT_VERSION_STRING; }
