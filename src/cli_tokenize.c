/* cli_tokenize.c - `graft tokenize`: the token ids of a prompt under a GGUF file's vocabulary
 * (a whole model or a vocab-only file), one `id<TAB>'piece'` line per token like llama.cpp's
 * llama-tokenize, or a JSON array with --ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tokenizer.h"
#include "vocab.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: graft tokenize -m FILE.gguf (-p TEXT | -f FILE) [--ids] [--no-bos] [--no-special]\n"
            "\n"
            "Prints the tokens of TEXT, one `id<TAB>'piece'` line each.\n"
            "  -m FILE.gguf   the model or vocabulary file\n"
            "  -p TEXT        the prompt\n"
            "  -f FILE        read the prompt from FILE (its exact bytes)\n"
            "  --ids          print only the ids, as a JSON array on one line\n"
            "  --no-bos       add no BOS (nor the EOS some vocabularies append)\n"
            "  --no-special   treat control-token text such as \"<s>\" as plain text\n"
            "  -h, --help     this help\n");
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *p = realloc(buf, cap *= 2);
        if (!p) free(buf);
        buf = p;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

int cli_tokenize(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL;
    int ids_only = 0, add_special = 1, parse_special = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && i + 1 < argc) {
            model = argv[++i];
        } else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && i + 1 < argc) {
            prompt = argv[++i];
        } else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && i + 1 < argc) {
            file = argv[++i];
        } else if (!strcmp(a, "--ids")) {
            ids_only = 1;
        } else if (!strcmp(a, "--no-bos")) {
            add_special = 0;
        } else if (!strcmp(a, "--no-special") || !strcmp(a, "--no-parse-special")) {
            parse_special = 0;
        } else {
            fprintf(stderr, "graft tokenize: unknown or incomplete option '%s' (see --help)\n", a);
            return 1;
        }
    }
    if (!model || (!prompt && !file) || (prompt && file)) {
        fprintf(stderr, "graft tokenize: need -m FILE.gguf and one of -p TEXT or -f FILE (see --help)\n");
        return 1;
    }

    size_t len = 0;
    char *owned = NULL;
    if (file) {
        owned = read_all(file, &len);
        if (!owned) {
            fprintf(stderr, "graft tokenize: cannot read %s\n", file);
            return 1;
        }
        prompt = owned;
    } else {
        len = strlen(prompt);
    }

    graft_error err = {0};
    graft_vocab *v;
    if (graft_vocab_load_file(model, &v, &err) != GRAFT_OK) {
        fprintf(stderr, "graft tokenize: %s\n", err.msg);
        free(owned);
        return 1;
    }
    int32_t *ids;
    size_t n;
    if (graft_tokenize(v, prompt, len, add_special, parse_special, &ids, &n, &err) != GRAFT_OK) {
        fprintf(stderr, "graft tokenize: %s\n", err.msg);
        graft_vocab_free(v);
        free(owned);
        return 1;
    }
    if (ids_only) {
        putchar('[');
        for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
        puts("]");
    } else {
        for (size_t i = 0; i < n; i++) {
            size_t l;
            const char *p = graft_token_piece(v, ids[i], 1, &l);
            printf("%d\t'", ids[i]);
            fwrite(p, 1, l, stdout);
            puts("'");
        }
    }
    free(ids);
    graft_vocab_free(v);
    free(owned);
    return fflush(stdout) == 0 ? 0 : 1;
}
