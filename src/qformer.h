/* qformer.h - internals of the "qformer" projector (qformer.c) for tests and research: the
 * Q-Former's hidden states and query output, which the projector interface does not expose. */
#ifndef GRAFT_QFORMER_H
#define GRAFT_QFORMER_H

#include "projector.h"

/* The Q-Former forward on image rows feats (n_in, d_in) with run->text_ids as the instruction:
 * hidden (L + 1, R, Dq) (R = nq + the instruction tokens it reads; [0] = the embeddings after
 * their LayerNorm, [k] = after layer k), query_out (nq, Dq) (the query rows of the last layer) and
 * out (nq, d_out) (mm.0 of those), each NULL when not wanted. run->scratch as scratch_bytes says.
 * Errors (too many or out-of-vocabulary instruction ids) go to run->err. */
int graft_qformer_run(const graft_projector *p, const float *feats, int n_in, const graft_projector_run *run,
                      float *hidden, float *query_out, float *out);
/* L and Dq of a "qformer" projector; -1 for any other. */
int graft_qformer_n_layer(const graft_projector *p);
int graft_qformer_n_embd(const graft_projector *p);

#endif
