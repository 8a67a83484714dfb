/* cli.h - the subcommands of the graft CLI; each returns the process exit status. */
#ifndef GRAFT_CLI_H
#define GRAFT_CLI_H

#include <stddef.h>
#include <stdint.h>

int cli_version(int argc, char **argv);
int cli_inspect(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_init(int argc, char **argv);
int cli_encode(int argc, char **argv);
int cli_preprocess(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_convert(int argc, char **argv);   /* cli_convert.c: HF directory -> GGUF */
int cli_quantize(int argc, char **argv);  /* cli_quantize.c: GGUF -> GGUF of another type */
/* cli_quantize.c: the per-tensor lines and the total both print (ctx of the report: totals) */
typedef struct { size_t src_bytes, dst_bytes; long long n_tensors, n_changed; } cli_quant_totals;
struct graft_quant_tensor;
void cli_quant_report(void *totals, const struct graft_quant_tensor *t);
void cli_quant_total(const cli_quant_totals *tot, double seconds);
int cli_quant_type(const char *name); /* "q8_0" -> GRAFT_TYPE_Q8_0, ...; -1 if unknown */
int cli_eval(int argc, char **argv);      /* cli_eval.c: dispatches to the two below */
int cli_eval_run(int argc, char **argv);  /* cli_eval_run.c: run a model over a task */
int cli_eval_score(int argc, char **argv); /* cli_eval_score.c: --score-only */
int cli_world(int argc, char **argv);     /* cli_world.c: the synthetic shapes world */
/* cli_run.c: "1,450,4996" -> ids (malloc'd); 0 after a message naming `flag` */
int cli_parse_ids(const char *flag, const char *s, int32_t **out, size_t *n);

#endif
