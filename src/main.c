/* main.c - the graft command line: dispatches to subcommands (src/cli_*.c). The only place in
 * graft that prints to the terminal and chooses an exit status. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "graft.h"

static void usage(FILE *f) {
    fprintf(f,
            "graft %s - inference for vision-encoder-grafted language models\n"
            "\n"
            "usage: graft -m MODEL.gguf -p PROMPT [options]   generate text (graft -m x --help for options)\n"
            "       graft COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  inspect FILE.gguf    print a GGUF file's metadata and tensor table\n"
            "  tokenize -m FILE -p TEXT   print the token ids of TEXT\n"
            "  encode --mmproj M --image F -o OUT   the projector's rows for an image (float32)\n"
            "  preprocess --mmproj M --image F -o OUT   the normalised pixels (float32 [3, S, S])\n"
            "  init --preset NAME   write a random-weight model at a real model's shape\n"
            "  convert HF_DIR -o OUT.gguf   a Hugging Face directory as llama.cpp GGUF file(s)\n"
            "  quantize IN.gguf OUT.gguf TYPE   rewrite a GGUF file's matrices as q8_0, q4_0 or f16\n"
            "  eval --task T --data F ...   run (or --score-only) an evaluation task\n"
            "  world --seed S --n N -o DIR  generate the synthetic shapes world (images + tasks)\n"
            "  version              print the version and the kernels chosen for this CPU\n"
            "\n"
            "Run 'graft COMMAND --help' for a command's options.\n",
            graft_version());
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    /* `graft -m MODEL ...` (flags first, as llama.cpp's tools) is text generation */
    if (cmd[0] == '-' && strcmp(cmd, "-h") && strcmp(cmd, "--help") && strcmp(cmd, "--version"))
        return cli_run(argc, argv);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) return cli_version(argc - 1, argv + 1);
    if (!strcmp(cmd, "inspect")) return cli_inspect(argc - 1, argv + 1);
    if (!strcmp(cmd, "init")) return cli_init(argc - 1, argv + 1);
    if (!strcmp(cmd, "encode")) return cli_encode(argc - 1, argv + 1);
    if (!strcmp(cmd, "preprocess")) return cli_preprocess(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return cli_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return cli_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "quantize")) return cli_quantize(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cli_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "world")) return cli_world(argc - 1, argv + 1);
    fprintf(stderr, "graft: unknown command '%s' (see graft --help)\n", cmd);
    return 2;
}
