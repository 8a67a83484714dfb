/* world.h - the synthetic shapes world (docs/world.md): deterministic scenes of 1..9 coloured shapes
 * on a 3x3 grid, their pixels, their mirror image, the texts made from their ground truth (captions,
 * VQA, multiple choice, POPE probes, open turns) and the files `graft world` writes.
 * world.c: PRNG, scenes, rasteriser, mirror; world_text.c: texts; world_write.c: files.
 *
 * Everything that decides content is integer arithmetic on a seeded splitmix64 stream, so a seed
 * gives byte-identical scenes, pixels and texts on every machine. Scene i of a seed does not depend
 * on the other scenes (a held-out set is another seed, or other indices). No global state, no
 * printing; functions are reentrant.
 *
 *     graft_world_params p = graft_world_default_params();
 *     graft_world_scene s;
 *     unsigned char rgb[64 * 64 * 3];
 *     graft_world_scene_make(7, 0, &p, &s, NULL);
 *     graft_world_render(&s, rgb);                       // (side, side, 3)
 *     graft_eval_dataset ds = {0};
 *     graft_world_texts(&s, 7, 0, "images/000000.png", GRAFT_TASK_CAPTION, &ds, NULL);
 *     puts(ds.samples[0].answers[0]); // "A large black circle at the top right and a small blue
                                    //  square on the right."
 *     graft_eval_dataset_free(&ds);
 */
#ifndef GRAFT_WORLD_H
#define GRAFT_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "graft.h"

enum { GRAFT_WORLD_N_SHAPES = 6, GRAFT_WORLD_N_COLORS = 8, GRAFT_WORLD_N_SIZES = 2 };
/* an "object" in the POPE sense: one colour-shape pair, id = color * N_SHAPES + shape */
enum { GRAFT_WORLD_N_OBJECTS = GRAFT_WORLD_N_COLORS * GRAFT_WORLD_N_SHAPES };
enum { GRAFT_WORLD_MAX_SHAPES = 9 };            /* one per grid cell */
enum { GRAFT_WORLD_MIN_SIDE = 48, GRAFT_WORLD_MAX_SIDE = 1024 };

typedef struct {
    uint8_t shape, color, size; /* indices into the name tables; size 0 = small, 1 = large */
    uint8_t row, col;           /* grid cell, 0..2 each (row 0 = top, col 0 = left) */
    int16_t x, y;               /* centre pixel (column, row of the image) */
    int16_t r;                  /* radius in pixels: every drawn pixel is within r of (x, y) */
} graft_world_object;

/* A scene: the objects in generation order (reading order of their cells for a generated scene;
 * a mirrored scene keeps its source's order). Colour-shape pairs are distinct within a scene, so
 * "the red circle" always names one object; cells are distinct. */
typedef struct {
    int side;                   /* image is (side, side) */
    int n;                      /* number of objects, 1..GRAFT_WORLD_MAX_SHAPES */
    graft_world_object obj[GRAFT_WORLD_MAX_SHAPES];
} graft_world_scene;

typedef struct {
    int side;        /* image side in pixels, GRAFT_WORLD_MIN_SIDE..MAX_SIDE (default 64) */
    int max_shapes;  /* objects per scene are uniform in 1..max_shapes (default 3, at most 9) */
    int mirror;      /* write / make the horizontally mirrored scenes instead (default 0) */
} graft_world_params;

graft_world_params graft_world_default_params(void);

/* Name tables: "circle" ..., "red" ..., "small"/"large"; NULL out of range. */
const char *graft_world_shape_name(int shape);
const char *graft_world_color_name(int color);
const char *graft_world_size_name(int size);
/* The cell as an answer ("top left", "top", "center", "right", ...) and as a phrase in a sentence
 * ("at the top left", "at the top", "in the center", "on the right", ...). */
const char *graft_world_cell_name(int row, int col);
const char *graft_world_cell_phrase(int row, int col);
/* RGB of a colour (3 bytes) and of the background. */
const unsigned char *graft_world_color_rgb(int color);
const unsigned char *graft_world_background_rgb(void);

/* Scene `index` of world `seed`. Checks the params (GRAFT_E_INVALID); when p->mirror is set the
 * scene is the mirror of the one generated. */
int graft_world_scene_make(uint64_t seed, uint64_t index, const graft_world_params *p,
                           graft_world_scene *out, graft_error *err);

/* Draws the scene: rgb (side, side, 3), row-major, overwritten entirely. */
void graft_world_render(const graft_world_scene *s, unsigned char *rgb);

/* The horizontal mirror: columns 0 <-> 2, x -> side-1-x, object order kept. Rendering the mirror
 * gives exactly the flipped pixels of the source (every shape is left-right symmetric on the
 * pixel grid). in and out may be the same. */
void graft_world_mirror(const graft_world_scene *in, graft_world_scene *out);

/* ---- texts (world_text.c) ------------------------------------------------------------------- */

/* Appends the samples of one task type (caption, vqa, mcq or open) for scene `index` to ds, in a
 * fixed order, with ids "<index as 6 digits>-<k>" and image path `image`. The template choices
 * come from (seed, index), never from the cell columns, so the texts of a mirrored scene are the
 * source's texts with left and right exchanged. GRAFT_E_INVALID for yesno (see pope below). */
int graft_world_texts(const graft_world_scene *s, uint64_t seed, uint64_t index, const char *image,
                      graft_task_type type, graft_eval_dataset *ds, graft_error *err);

/* POPE (Li et al. 2023, as AoiDragon/POPE builds it): k = min(3, max_shapes) probes per setting.
 * Only scenes with at least k objects take part; their statistics (how many of them contain each
 * object, how many contain each pair) decide the popular and adversarial negatives. */
typedef enum {
    GRAFT_WORLD_POPE_RANDOM = 0,
    GRAFT_WORLD_POPE_POPULAR = 1,
    GRAFT_WORLD_POPE_ADVERSARIAL = 2,
    GRAFT_WORLD_POPE_COUNT = 3
} graft_world_pope_setting;

const char *graft_world_pope_name(graft_world_pope_setting s); /* "random", "popular", ... */

typedef struct {
    int k;                                                     /* probes of each sign per scene */
    int n_scenes;                                              /* scenes taking part */
    int freq[GRAFT_WORLD_N_OBJECTS];                           /* scenes containing the object */
    int cooc[GRAFT_WORLD_N_OBJECTS][GRAFT_WORLD_N_OBJECTS];    /* scenes containing both (i != j) */
    uint8_t by_freq[GRAFT_WORLD_N_OBJECTS];                    /* objects, freq desc, id asc */
} graft_world_pope_stats;

/* Starts empty statistics for probes of k objects (1..3). */
void graft_world_pope_init(graft_world_pope_stats *st, int k);
/* Counts a scene in (no-op when it has fewer than k objects); call for every scene, then finish. */
void graft_world_pope_add(graft_world_pope_stats *st, const graft_world_scene *s);
void graft_world_pope_finish(graft_world_pope_stats *st);

/* The object id of a scene object, and its POPE name ("red circle"). */
int graft_world_object_id(const graft_world_object *o);

/* Appends scene `index`'s 2k probes of one setting (positive, negative, positive, ... as POPE
 * orders them; category = the setting's name; ids "<index>-<k>"), or nothing when the scene has
 * fewer than k objects. Positives are the scene's first k objects; negatives are absent objects:
 *   random       uniform over the objects seen in the participating scenes, not yet asked;
 *   popular      the most frequent such objects (freq desc, id asc);
 *   adversarial  for the i-th positive, the object that co-occurs with it most often (count > 0,
 *                ties by id), else a random one as POPE falls back. */
int graft_world_pope(const graft_world_scene *s, const graft_world_pope_stats *st,
                     graft_world_pope_setting setting, uint64_t seed, uint64_t index,
                     const char *image, graft_eval_dataset *ds, graft_error *err);

/* ---- files (world_write.c) ------------------------------------------------------------------ */

typedef struct {
    int n_images;
    size_t n_samples[GRAFT_TASK_COUNT];   /* per task type over all files (yesno: the 3 POPE files) */
} graft_world_summary;

/* Writes scenes [0, n) of world `seed` into dir (created if missing; its parent must exist):
 * images/NNNNNN.png, scenes.jsonl, caption.jsonl, vqa.jsonl, mcq.jsonl, pope_random.jsonl,
 * pope_popular.jsonl, pope_adversarial.jsonl, open.jsonl. Each file is written to NAME.tmp and
 * renamed, so an error leaves no half-written file under a final name. Image paths in the JSONL
 * are relative to dir. GRAFT_E_IO naming the path on an I/O error. summary may be NULL. */
int graft_world_write(const char *dir, uint64_t seed, int n, const graft_world_params *p,
                      graft_world_summary *summary, graft_error *err);

/* ---- private to world*.c: the seeded stream ------------------------------------------------ */
#ifdef GRAFT_WORLD_INTERNAL
/* splitmix64 (Steele, Lea, Flood 2014): one 64-bit state, passes BigCrush, trivially portable. */
typedef struct { uint64_t s; } world_rng;

static inline uint64_t world_rng_next(world_rng *g) {
    uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [0, n), n >= 1 (modulo bias below 2^-50 for the n used here) */
static inline uint64_t world_rng_below(world_rng *g, uint64_t n) { return world_rng_next(g) % n; }

/* independent streams per (seed, scene index, purpose) */
enum { WORLD_STREAM_SCENE = 1, WORLD_STREAM_CAPTION, WORLD_STREAM_VQA, WORLD_STREAM_MCQ,
       WORLD_STREAM_OPEN, WORLD_STREAM_POPE };

static inline world_rng world_rng_for(uint64_t seed, uint64_t index, uint64_t stream) {
    world_rng g = {seed};
    uint64_t a = world_rng_next(&g);
    g.s = a ^ (index * 0xD1B54A32D192ED03ull) ^ (stream * 0x8CB92BA72F3D8DD7ull);
    (void)world_rng_next(&g);
    return g;
}
#endif

#endif
