/* fuzz_util.h - shared by the libFuzzer harnesses in tests/fuzz/ (built by `make fuzz`, never by
 * `make test`). graft's readers take file paths (they mmap), so each input is written to one
 * in-memory file (memfd) that the harness reopens by its /proc path: no disk traffic. */
#ifndef GRAFT_FUZZ_UTIL_H
#define GRAFT_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* The path of an in-memory file holding exactly data[0..size). */
static inline const char *fz_file(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("graft-fuzz", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) || ftruncate(fd, (off_t)size) ||
        (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
        perror("memfd write");
        abort();
    }
    return path;
}

/* Reads every byte of a region so ASan sees any out-of-bounds pointer the reader handed out. */
static inline unsigned fz_touch(const void *p, size_t n) {
    const volatile unsigned char *b = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s += b[i];
    return s;
}

#endif
