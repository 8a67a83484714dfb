/* world_text.c - the texts of the shapes world (world.h, docs/world.md): captions, VQA pairs,
 * multiple-choice questions and open turns from one scene's ground truth, and POPE probes from a
 * scene plus the statistics of the whole set. Fixed templates over a small vocabulary (so a tiny
 * SentencePiece model learns it); choices come from a seeded stream per (seed, scene, task) and
 * never from the cell columns, so a mirrored scene's texts are its source's with left <-> right. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRAFT_WORLD_INTERNAL
#include "error.h"
#include "world.h"
#include "strbuf.h"

/* ---- strings ------------------------------------------------------------------------------ */

/* Takes the buffer's text (first letter upper-cased when cap is set); NULL on allocation failure. */
static char *sb_take(graft_sb *b, int cap) {
    char *s = graft_sb_take(b);
    if (s && cap && s[0] >= 'a' && s[0] <= 'z') s[0] = (char)(s[0] - 'a' + 'A');
    return s;
}

static const char *const numbers[10] = {"zero", "one", "two",   "three", "four",
                                        "five", "six", "seven", "eight", "nine"};

static const char *article(const char *word) { return strchr("aeiou", word[0]) ? "an" : "a"; }

#define SHAPE(o) graft_world_shape_name((o)->shape)
#define COLOR(o) graft_world_color_name((o)->color)
#define SIZE(o) graft_world_size_name((o)->size)
#define PHRASE(o) graft_world_cell_phrase((o)->row, (o)->col)

/* "a large red circle at the top left" (full) or "a red circle" */
static void sb_obj(graft_sb *b, const graft_world_object *o, int full) {
    if (full) graft_sb_printf(b, "a %s %s %s %s", SIZE(o), COLOR(o), SHAPE(o), PHRASE(o));
    else graft_sb_printf(b, "%s %s %s", article(COLOR(o)), COLOR(o), SHAPE(o));
}

/* separator before item i of n in "x, y and z" */
static const char *sep(int i, int n) { return i == 0 ? "" : i == n - 1 ? " and " : ", "; }

/* ---- relations ---------------------------------------------------------------------------- */

enum { REL_ABOVE, REL_BELOW, REL_LEFT, REL_RIGHT, REL_COUNT };
static const char *const rel_words[REL_COUNT] = {"above", "below", "to the left of",
                                                 "to the right of"};

static int rel_holds(int rel, const graft_world_object *a, const graft_world_object *b) {
    switch (rel) {
    case REL_ABOVE: return a->row < b->row;
    case REL_BELOW: return a->row > b->row;
    case REL_LEFT: return a->col < b->col;
    default: return a->col > b->col;
    }
}

/* A relation of a to b whose truth is `truth`, chosen by g among those in the fixed order above;
 * -1 if there is none. Left and right are offered only when the columns differ (then one holds
 * and the other not): in one column both would be false, and no choice between them that ignores
 * the columns could follow a mirror. So the candidates' order maps onto itself under a mirror. */
static int pick_rel(world_rng *g, const graft_world_object *a, const graft_world_object *b,
                    int truth) {
    int cand[REL_COUNT], n = 0;
    for (int r = 0; r < REL_COUNT; r++)
        if (rel_holds(r, a, b) == truth && (r < REL_LEFT || a->col != b->col)) cand[n++] = r;
    return n ? cand[world_rng_below(g, (uint64_t)n)] : -1;
}

/* ---- samples ------------------------------------------------------------------------------ */

static int push_sample(graft_eval_dataset *ds, graft_eval_sample *s) {
    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : 64;
        graft_eval_sample *p = realloc(ds->samples, cap * sizeof *p);
        if (!p) return -1;
        ds->samples = p;
        ds->cap = cap;
    }
    ds->samples[ds->n++] = *s;
    return 0;
}

static void sample_free(graft_eval_sample *s) {
    free(s->id);
    for (int i = 0; i < s->n_images; i++) free(s->images[i]);
    free(s->images);
    free(s->question);
    free(s->context);
    for (int i = 0; i < s->n_choices; i++) free(s->choices[i]);
    free(s->choices);
    for (int i = 0; i < s->n_answers; i++) free(s->answers[i]);
    free(s->answers);
    free(s->category);
}

/* A sample assembled by the generators: question (owned, may be NULL), answers (owned texts,
 * each repeated `rep` times), choices (owned), category (static). */
typedef struct {
    graft_eval_dataset *ds;
    uint64_t index;
    const char *image;
    int k;   /* next id number within this scene and task */
    int oom; /* sticky */
} emitter;

static char *dupstr(const char *s) { return s ? strdup(s) : NULL; }

/* Moves question, answers[0..na) (each repeated rep times) and choices[0..nc) (all malloc'd;
 * NULL after an earlier allocation failure) into a new sample pushed to the dataset; on any
 * failure everything is freed and the emitter's oom flag set. */
static void emit(emitter *e, graft_task_type type, char *question, char **answers, int na, int rep,
                 char **choices, int nc, const char *category) {
    graft_eval_sample s;
    memset(&s, 0, sizeof s);
    s.type = type;
    s.question = question;
    s.answers = calloc((size_t)(na * rep) + 1, sizeof *s.answers);
    for (int i = 0; i < na; i++) {
        for (int r = 0; r < rep && s.answers; r++)
            s.answers[s.n_answers++] = r == 0 ? answers[i] : dupstr(answers[i]);
        if (!s.answers) free(answers[i]);
    }
    s.choices = nc ? calloc((size_t)nc, sizeof *s.choices) : NULL;
    for (int i = 0; i < nc; i++) {
        if (s.choices) s.choices[s.n_choices++] = choices[i];
        else free(choices[i]);
    }
    char id[48];
    snprintf(id, sizeof id, "%06llu-%d", (unsigned long long)e->index, e->k++);
    s.id = strdup(id);
    s.images = calloc(1, sizeof *s.images);
    if (s.images && (s.images[0] = strdup(e->image))) s.n_images = 1;
    s.category = dupstr(category);
    int ok = !e->oom && s.id && s.n_images && (!category || s.category) && s.answers &&
             (!nc || s.choices) && (type == GRAFT_TASK_CAPTION || s.question);
    for (int i = 0; i < s.n_answers; i++) ok = ok && s.answers[i];
    for (int i = 0; i < s.n_choices; i++) ok = ok && s.choices[i];
    if (!ok || push_sample(e->ds, &s)) {
        sample_free(&s);
        e->oom = 1;
    }
}

/* VQA answers are written 10 times, as VQAv2's ten human answers: the official accuracy gives
 * min(1, #other answers that match / 3), which is 0 for a single reference. */
enum { VQA_REPEATS = 10 };

static void emit_vqa(emitter *e, char *question, const char *answer, const char *category) {
    char *a = dupstr(answer);
    emit(e, GRAFT_TASK_VQA, question, &a, 1, VQA_REPEATS, NULL, 0, category);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

/* An object whose shape alone names it (or, failing that, size + shape): its index, and in *by
 * 0 (shape) or 1 (size + shape); -1 when no object can be named so. */
static int pick_by_shape(world_rng *g, const graft_world_scene *s, int *by) {
    int cand[GRAFT_WORLD_MAX_SHAPES], n = 0;
    for (int pass = 0; pass < 2 && n == 0; pass++) {
        for (int i = 0; i < s->n; i++) {
            int same = 0;
            for (int j = 0; j < s->n; j++)
                same += s->obj[j].shape == s->obj[i].shape &&
                        (pass == 0 || s->obj[j].size == s->obj[i].size);
            if (same == 1) cand[n++] = i;
        }
        *by = pass;
    }
    return n ? cand[world_rng_below(g, (uint64_t)n)] : -1;
}

/* ---- captions ----------------------------------------------------------------------------- */

static void captions(emitter *e, const graft_world_scene *s, world_rng *g) {
    char *ref[3];
    graft_sb b = {0};
    /* 0: every object, its size and its place, in scene order */
    for (int i = 0; i < s->n; i++) {
        graft_sb_printf(&b, "%s", sep(i, s->n));
        sb_obj(&b, &s->obj[i], 1);
    }
    graft_sb_printf(&b, ".");
    ref[0] = sb_take(&b, 1);
    /* 1: a relation between the first two, the others by place */
    if (s->n == 1) {
        graft_sb_printf(&b, "one %s %s %s on a gray background.", SIZE(&s->obj[0]), COLOR(&s->obj[0]),
               SHAPE(&s->obj[0]));
    } else {
        int rel = pick_rel(g, &s->obj[0], &s->obj[1], 1);
        sb_obj(&b, &s->obj[0], 0);
        graft_sb_printf(&b, " %s ", rel_words[rel]);
        sb_obj(&b, &s->obj[1], 0);
        for (int i = 2; i < s->n; i++) {
            graft_sb_printf(&b, "%s", i == 2 ? ", and " : i == s->n - 1 ? " and " : ", ");
            sb_obj(&b, &s->obj[i], 0);
            graft_sb_printf(&b, " %s", PHRASE(&s->obj[i]));
        }
        graft_sb_printf(&b, ".");
    }
    ref[1] = sb_take(&b, 1);
    /* 2: the count, then the objects */
    graft_sb_printf(&b, "%s %s: ", numbers[s->n], s->n == 1 ? "shape" : "shapes");
    for (int i = 0; i < s->n; i++) {
        graft_sb_printf(&b, "%s", sep(i, s->n));
        sb_obj(&b, &s->obj[i], 0);
    }
    graft_sb_printf(&b, ".");
    ref[2] = sb_take(&b, 1);
    emit(e, GRAFT_TASK_CAPTION, NULL, ref, 3, 1, NULL, 0, NULL);
}

/* ---- VQA ---------------------------------------------------------------------------------- */

static void vqa(emitter *e, const graft_world_scene *s, world_rng *g) {
    emit_vqa(e, dupstr("How many shapes are there?"), numbers[s->n], "count");

    const graft_world_object *o = &s->obj[world_rng_below(g, (uint64_t)s->n)];
    int same = 0;
    for (int i = 0; i < s->n; i++) same += s->obj[i].color == o->color;
    emit_vqa(e, fmt("How many %s shapes are there?", COLOR(o)), numbers[same], "count");

    int by, i = pick_by_shape(g, s, &by);
    if (i >= 0) {
        o = &s->obj[i];
        char *q = by ? fmt("What color is the %s %s?", SIZE(o), SHAPE(o))
                     : fmt("What color is the %s?", SHAPE(o));
        emit_vqa(e, q, COLOR(o), "color");
    }

    o = &s->obj[world_rng_below(g, (uint64_t)s->n)];
    emit_vqa(e, fmt("What shape is %s?", PHRASE(o)), SHAPE(o), "shape");

    o = &s->obj[world_rng_below(g, (uint64_t)s->n)];
    emit_vqa(e, fmt("Where is the %s %s?", COLOR(o), SHAPE(o)),
             graft_world_cell_name(o->row, o->col), "position");

    o = &s->obj[world_rng_below(g, (uint64_t)s->n)];
    emit_vqa(e, fmt("What size is the %s %s?", COLOR(o), SHAPE(o)), SIZE(o), "size");

    if (s->n >= 2) {
        int a = (int)world_rng_below(g, (uint64_t)s->n);
        int c = (a + 1 + (int)world_rng_below(g, (uint64_t)(s->n - 1))) % s->n;
        int truth = (int)world_rng_below(g, 2);
        const graft_world_object *oa = &s->obj[a], *oc = &s->obj[c];
        int rel = pick_rel(g, oa, oc, truth);
        emit_vqa(e,
                 fmt("Is the %s %s %s the %s %s?", COLOR(oa), SHAPE(oa), rel_words[rel],
                     COLOR(oc), SHAPE(oc)),
                 truth ? "yes" : "no", "relation");
    }
}

/* ---- multiple choice ---------------------------------------------------------------------- */

enum { MCQ_COLOR, MCQ_SHAPE, MCQ_POSITION, MCQ_COUNT, MCQ_TYPES };
static const char *const mcq_names[MCQ_TYPES] = {"color", "shape", "position", "count"};
enum { MCQ_OPTIONS = 4, MCQ_PER_SCENE = 2 };

/* 4 options: the correct value `right` of an attribute with values 0..n_values-1 and 3 other
 * distinct values drawn by g, the correct one at a random letter. */
static void mcq_emit(emitter *e, world_rng *g, char *question, int right, int n_values,
                     const char *(*name)(int), const char *category) {
    int pool[16], np = 0;
    for (int v = 0; v < n_values; v++)
        if (v != right) pool[np++] = v;
    int opt[MCQ_OPTIONS];
    int at = (int)world_rng_below(g, MCQ_OPTIONS);
    for (int k = 0; k < MCQ_OPTIONS; k++) {
        if (k == at) { opt[k] = right; continue; }
        int j = (int)world_rng_below(g, (uint64_t)np);
        opt[k] = pool[j];
        pool[j] = pool[--np];
    }
    char *choices[MCQ_OPTIONS];
    for (int k = 0; k < MCQ_OPTIONS; k++) choices[k] = dupstr(name(opt[k]));
    char letter[2] = {(char)('A' + at), 0};
    char *ans = dupstr(letter);
    emit(e, GRAFT_TASK_MCQ, question, &ans, 1, 1, choices, MCQ_OPTIONS, category);
}

static const char *cell_by_index(int c) { return graft_world_cell_name(c / 3, c % 3); }
static const char *number_name(int v) { return numbers[v + 1]; } /* value v means v + 1 shapes */

static void mcq(emitter *e, const graft_world_scene *s, world_rng *g) {
    int types[MCQ_TYPES], nt = 0, by;
    int named = pick_by_shape(g, s, &by);
    for (int t = 0; t < MCQ_TYPES; t++)
        if (t != MCQ_COLOR || named >= 0) types[nt++] = t;
    for (int q = 0; q < MCQ_PER_SCENE; q++) {
        int j = (int)world_rng_below(g, (uint64_t)nt);
        int t = types[j];
        types[j] = types[--nt];
        const graft_world_object *o = &s->obj[world_rng_below(g, (uint64_t)s->n)];
        switch (t) {
        case MCQ_COLOR: {
            const graft_world_object *c = &s->obj[named];
            char *qs = by ? fmt("What color is the %s %s?", SIZE(c), SHAPE(c))
                          : fmt("What color is the %s?", SHAPE(c));
            mcq_emit(e, g, qs, c->color, GRAFT_WORLD_N_COLORS, graft_world_color_name,
                     mcq_names[t]);
            break;
        }
        case MCQ_SHAPE:
            mcq_emit(e, g, fmt("What shape is %s?", PHRASE(o)), o->shape, GRAFT_WORLD_N_SHAPES,
                     graft_world_shape_name, mcq_names[t]);
            break;
        case MCQ_POSITION:
            mcq_emit(e, g, fmt("Where is the %s %s?", COLOR(o), SHAPE(o)), o->row * 3 + o->col, 9,
                     cell_by_index, mcq_names[t]);
            break;
        default: { /* counts 1..max(4, n + 2), at most 9 */
            int top = s->n + 2 > 4 ? s->n + 2 : 4;
            if (top > 9) top = 9;
            mcq_emit(e, g, dupstr("How many shapes are there?"), s->n - 1, top, number_name,
                     mcq_names[t]);
        }
        }
    }
}

/* ---- open turns --------------------------------------------------------------------------- */

static const char *const describe_prompts[3] = {
    "Describe the image.", "What do you see in this image?", "Describe the shapes in the picture."};

static void open_turns(emitter *e, const graft_world_scene *s, world_rng *g) {
    graft_sb b = {0};
    if (s->n == 1) {
        graft_sb_printf(&b, "there is one shape on a gray background. It is ");
        sb_obj(&b, &s->obj[0], 1);
        graft_sb_printf(&b, ".");
    } else {
        graft_sb_printf(&b, "there are %s shapes on a gray background. ", numbers[s->n]);
        for (int i = 0; i < s->n; i++) {
            const graft_world_object *o = &s->obj[i];
            graft_sb_printf(&b, "%s%s %s %s %s is %s", i == 0 ? "" : i == s->n - 1 ? " and " : ", ",
                   i == 0 ? "A" : "a", SIZE(o), COLOR(o), SHAPE(o), PHRASE(o));
        }
        graft_sb_printf(&b, ".");
    }
    char *ans = sb_take(&b, 1);
    emit(e, GRAFT_TASK_OPEN, dupstr(describe_prompts[world_rng_below(g, 3)]), &ans, 1, 1, NULL,
         0, "describe");

    int i = (int)world_rng_below(g, (uint64_t)s->n);
    const graft_world_object *o = &s->obj[i];
    graft_sb_printf(&b, "the %s %s is %s and it is %s.", COLOR(o), SHAPE(o), SIZE(o), PHRASE(o));
    if (s->n >= 2) {
        const graft_world_object *other = &s->obj[(i + 1) % s->n];
        graft_sb_printf(&b, " It is %s the %s %s.", rel_words[pick_rel(g, o, other, 1)], COLOR(other),
               SHAPE(other));
    }
    ans = sb_take(&b, 1);
    emit(e, GRAFT_TASK_OPEN, fmt("Tell me about the %s %s.", COLOR(o), SHAPE(o)), &ans, 1, 1,
         NULL, 0, "object");
}

int graft_world_texts(const graft_world_scene *s, uint64_t seed, uint64_t index, const char *image,
                      graft_task_type type, graft_eval_dataset *ds, graft_error *err) {
    if (!s || !ds || !image || s->n < 1 || s->n > GRAFT_WORLD_MAX_SHAPES)
        return graft_error_set(err, GRAFT_E_INVALID, "world texts: bad argument");
    emitter e = {.ds = ds, .index = index, .image = image};
    size_t first = ds->n;
    world_rng g;
    switch (type) {
    case GRAFT_TASK_CAPTION:
        g = world_rng_for(seed, index, WORLD_STREAM_CAPTION);
        captions(&e, s, &g);
        break;
    case GRAFT_TASK_VQA:
        g = world_rng_for(seed, index, WORLD_STREAM_VQA);
        vqa(&e, s, &g);
        break;
    case GRAFT_TASK_MCQ:
        g = world_rng_for(seed, index, WORLD_STREAM_MCQ);
        mcq(&e, s, &g);
        break;
    case GRAFT_TASK_OPEN:
        g = world_rng_for(seed, index, WORLD_STREAM_OPEN);
        open_turns(&e, s, &g);
        break;
    default:
        return graft_error_set(err, GRAFT_E_INVALID,
                               "world texts: task %d has no per-scene texts (yes/no: POPE)", type);
    }
    if (e.oom) {
        while (ds->n > first) sample_free(&ds->samples[--ds->n]);
        return graft_error_set(err, GRAFT_E_NOMEM, "world texts: out of memory");
    }
    return GRAFT_OK;
}

/* ---- POPE --------------------------------------------------------------------------------- */

const char *graft_world_pope_name(graft_world_pope_setting s) {
    static const char *const names[GRAFT_WORLD_POPE_COUNT] = {"random", "popular", "adversarial"};
    return (int)s >= 0 && s < GRAFT_WORLD_POPE_COUNT ? names[s] : NULL;
}

int graft_world_object_id(const graft_world_object *o) {
    return o->color * GRAFT_WORLD_N_SHAPES + o->shape;
}

void graft_world_pope_init(graft_world_pope_stats *st, int k) {
    memset(st, 0, sizeof *st);
    st->k = k < 1 ? 1 : k > 3 ? 3 : k;
}

void graft_world_pope_add(graft_world_pope_stats *st, const graft_world_scene *s) {
    if (s->n < st->k) return;
    st->n_scenes++;
    for (int i = 0; i < s->n; i++) {
        int a = graft_world_object_id(&s->obj[i]);
        st->freq[a]++;
        for (int j = 0; j < s->n; j++)
            if (j != i) st->cooc[a][graft_world_object_id(&s->obj[j])]++;
    }
}

void graft_world_pope_finish(graft_world_pope_stats *st) {
    for (int i = 0; i < GRAFT_WORLD_N_OBJECTS; i++) st->by_freq[i] = (uint8_t)i;
    for (int i = 1; i < GRAFT_WORLD_N_OBJECTS; i++) /* stable: ties keep id order */
        for (int j = i; j > 0 && st->freq[st->by_freq[j - 1]] < st->freq[st->by_freq[j]]; j--) {
            uint8_t t = st->by_freq[j];
            st->by_freq[j] = st->by_freq[j - 1];
            st->by_freq[j - 1] = t;
        }
}

/* POPE's random choice: uniform over the objects seen in the set (its gt_objects_list) that are
 * neither in the scene nor asked yet; over every object of the world when none is left. */
static int pope_random(world_rng *g, const graft_world_pope_stats *st, const unsigned char *skip) {
    int cand[GRAFT_WORLD_N_OBJECTS], n = 0;
    for (int pass = 0; pass < 2 && n == 0; pass++)
        for (int id = 0; id < GRAFT_WORLD_N_OBJECTS; id++)
            if (!skip[id] && (pass || st->freq[id] > 0)) cand[n++] = id;
    return n ? cand[world_rng_below(g, (uint64_t)n)] : -1;
}

static char *pope_question(int id) {
    const char *c = graft_world_color_name(id / GRAFT_WORLD_N_SHAPES);
    return fmt("Is there %s %s %s in the image?", article(c), c,
               graft_world_shape_name(id % GRAFT_WORLD_N_SHAPES));
}

int graft_world_pope(const graft_world_scene *s, const graft_world_pope_stats *st,
                     graft_world_pope_setting setting, uint64_t seed, uint64_t index,
                     const char *image, graft_eval_dataset *ds, graft_error *err) {
    if (!s || !st || !ds || !image || (int)setting < 0 || setting >= GRAFT_WORLD_POPE_COUNT)
        return graft_error_set(err, GRAFT_E_INVALID, "world pope: bad argument");
    if (s->n < st->k) return GRAFT_OK;
    world_rng g = world_rng_for(seed, index, WORLD_STREAM_POPE + (uint64_t)setting);
    emitter e = {.ds = ds, .index = index, .image = image};
    size_t first = ds->n;
    unsigned char skip[GRAFT_WORLD_N_OBJECTS] = {0}; /* present or asked */
    for (int i = 0; i < s->n; i++) skip[graft_world_object_id(&s->obj[i])] = 1;
    const char *cat = graft_world_pope_name(setting);
    for (int i = 0; i < st->k; i++) {
        int pos = graft_world_object_id(&s->obj[i]), neg = -1;
        char *a = dupstr("yes");
        emit(&e, GRAFT_TASK_YESNO, pope_question(pos), &a, 1, 1, NULL, 0, cat);
        if (setting == GRAFT_WORLD_POPE_POPULAR) {
            for (int r = 0; r < GRAFT_WORLD_N_OBJECTS && neg < 0; r++) {
                int id = st->by_freq[r];
                if (!skip[id] && st->freq[id] > 0) neg = id;
            }
        } else if (setting == GRAFT_WORLD_POPE_ADVERSARIAL) {
            for (int id = 0; id < GRAFT_WORLD_N_OBJECTS; id++)
                if (!skip[id] && st->cooc[pos][id] > 0 &&
                    (neg < 0 || st->cooc[pos][id] > st->cooc[pos][neg]))
                    neg = id;
        }
        if (neg < 0) neg = pope_random(&g, st, skip);
        if (neg < 0) break; /* the scene and its probes use up the world: cannot happen at k <= 3 */
        skip[neg] = 1;
        a = dupstr("no");
        emit(&e, GRAFT_TASK_YESNO, pope_question(neg), &a, 1, 1, NULL, 0, cat);
    }
    if (e.oom) {
        while (ds->n > first) sample_free(&ds->samples[--ds->n]);
        return graft_error_set(err, GRAFT_E_NOMEM, "world pope: out of memory");
    }
    return GRAFT_OK;
}
