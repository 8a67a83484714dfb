/* world.c - the synthetic shapes world's scenes (world.h): a seeded splitmix64 stream per scene,
 * the sampling of objects and cells, an integer-only rasteriser (no anti-aliasing, no floating
 * point: the same pixels everywhere) and the horizontal mirror. Texts are in world_text.c, files
 * in world_write.c. */
#include <string.h>

#define GRAFT_WORLD_INTERNAL
#include "error.h"
#include "world.h"

/* ---- vocabulary --------------------------------------------------------------------------- */

static const char *const shape_names[GRAFT_WORLD_N_SHAPES] = {"circle", "square", "triangle",
                                                              "star",   "diamond", "cross"};
static const char *const color_names[GRAFT_WORLD_N_COLORS] = {"red",    "green",  "blue",  "yellow",
                                                              "purple", "orange", "white", "black"};
/* chosen to stay apart from each other and from the mid-gray background */
static const unsigned char color_rgb[GRAFT_WORLD_N_COLORS][3] = {
    {220, 40, 40},  {40, 170, 60},  {40, 80, 220},   {240, 220, 40},
    {150, 60, 190}, {250, 140, 30}, {250, 250, 250}, {20, 20, 20}};
static const unsigned char background_rgb[3] = {128, 128, 128};
static const char *const size_names[GRAFT_WORLD_N_SIZES] = {"small", "large"};
static const char *const cell_names[3][3] = {{"top left", "top", "top right"},
                                             {"left", "center", "right"},
                                             {"bottom left", "bottom", "bottom right"}};
static const char *const cell_phrases[3][3] = {
    {"at the top left", "at the top", "at the top right"},
    {"on the left", "in the center", "on the right"},
    {"at the bottom left", "at the bottom", "at the bottom right"}};

const char *graft_world_shape_name(int v) {
    return v >= 0 && v < GRAFT_WORLD_N_SHAPES ? shape_names[v] : NULL;
}
const char *graft_world_color_name(int v) {
    return v >= 0 && v < GRAFT_WORLD_N_COLORS ? color_names[v] : NULL;
}
const char *graft_world_size_name(int v) {
    return v >= 0 && v < GRAFT_WORLD_N_SIZES ? size_names[v] : NULL;
}
const char *graft_world_cell_name(int row, int col) {
    return row >= 0 && row < 3 && col >= 0 && col < 3 ? cell_names[row][col] : NULL;
}
const char *graft_world_cell_phrase(int row, int col) {
    return row >= 0 && row < 3 && col >= 0 && col < 3 ? cell_phrases[row][col] : NULL;
}
const unsigned char *graft_world_color_rgb(int v) {
    return v >= 0 && v < GRAFT_WORLD_N_COLORS ? color_rgb[v] : NULL;
}
const unsigned char *graft_world_background_rgb(void) { return background_rgb; }

graft_world_params graft_world_default_params(void) {
    graft_world_params p = {.side = 64, .max_shapes = 3, .mirror = 0};
    return p;
}

/* ---- sampling ----------------------------------------------------------------------------- */

/* The world is not uniform, so that POPE's popular and adversarial settings mean something:
 * shapes have weights, each shape has a usual colour, and a scene's next object often shares the
 * previous one's colour or is its shape's partner (circle-square, triangle-star, diamond-cross). */
static const int shape_weight[GRAFT_WORLD_N_SHAPES] = {3, 3, 3, 2, 2, 2};
static const int usual_color[GRAFT_WORLD_N_SHAPES] = {0, 2, 1, 3, 4, 5};
static const int partner_shape[GRAFT_WORLD_N_SHAPES] = {1, 0, 3, 2, 5, 4};

static int pick_shape(world_rng *g) {
    int total = 0;
    for (int i = 0; i < GRAFT_WORLD_N_SHAPES; i++) total += shape_weight[i];
    int t = (int)world_rng_below(g, (uint64_t)total);
    for (int i = 0; i < GRAFT_WORLD_N_SHAPES; i++) {
        if (t < shape_weight[i]) return i;
        t -= shape_weight[i];
    }
    return 0;
}

/* Grid geometry shared by sampling and the docs: cell width cw = side / 3; the cell centres are
 * cw/2, (side-1)/2 and side-1-cw/2 (mirror-symmetric up to the middle column's half pixel). */
static int cell_center(int side, int c) {
    int cw = side / 3;
    return c == 0 ? cw / 2 : c == 1 ? (side - 1) / 2 : side - 1 - cw / 2;
}

static int radius(int side, int size) {
    int cw = side / 3;
    return size ? cw * 2 / 5 : cw / 4;
}

static void make_scene(uint64_t seed, uint64_t index, const graft_world_params *p,
                       graft_world_scene *s) {
    world_rng g = world_rng_for(seed, index, WORLD_STREAM_SCENE);
    memset(s, 0, sizeof *s);
    s->side = p->side;
    s->n = 1 + (int)world_rng_below(&g, (uint64_t)p->max_shapes);

    /* distinct cells: a partial Fisher-Yates shuffle, then reading order */
    int cells[9];
    for (int i = 0; i < 9; i++) cells[i] = i;
    for (int i = 0; i < s->n; i++) {
        int j = i + (int)world_rng_below(&g, (uint64_t)(9 - i));
        int t = cells[i];
        cells[i] = cells[j];
        cells[j] = t;
    }
    for (int i = 1; i < s->n; i++) /* insertion sort of the chosen ones */
        for (int j = i; j > 0 && cells[j - 1] > cells[j]; j--) {
            int t = cells[j];
            cells[j] = cells[j - 1];
            cells[j - 1] = t;
        }

    unsigned char used[GRAFT_WORLD_N_OBJECTS] = {0};
    for (int i = 0; i < s->n; i++) {
        graft_world_object *o = &s->obj[i];
        int shape = 0, color = 0, tries = 0;
        do {
            shape = pick_shape(&g);
            if (i > 0 && world_rng_below(&g, 3) == 0) shape = partner_shape[s->obj[i - 1].shape];
            uint64_t c = world_rng_below(&g, 6);
            if (i > 0 && c < 2) color = s->obj[i - 1].color;    /* 1/3: the previous colour */
            else if (c < 4) color = usual_color[shape];          /* 1/3: the shape's usual one */
            else color = (int)world_rng_below(&g, GRAFT_WORLD_N_COLORS);
        } while (used[color * GRAFT_WORLD_N_SHAPES + shape] && ++tries < 64);
        if (used[color * GRAFT_WORLD_N_SHAPES + shape]) /* not reached in practice; keeps it total */
            for (int id = 0; id < GRAFT_WORLD_N_OBJECTS; id++)
                if (!used[id]) {
                    color = id / GRAFT_WORLD_N_SHAPES;
                    shape = id % GRAFT_WORLD_N_SHAPES;
                    break;
                }
        used[color * GRAFT_WORLD_N_SHAPES + shape] = 1;
        o->shape = (uint8_t)shape;
        o->color = (uint8_t)color;
        o->size = (uint8_t)world_rng_below(&g, 2);
        o->row = (uint8_t)(cells[i] / 3);
        o->col = (uint8_t)(cells[i] % 3);
        o->r = (int16_t)radius(p->side, o->size);
        /* jitter inside the cell: the shape keeps one pixel from the cell's edges */
        int slack = p->side / 3 / 2 - o->r - 1;
        if (slack < 0) slack = 0;
        int jx = (int)world_rng_below(&g, (uint64_t)(2 * slack + 1)) - slack;
        int jy = (int)world_rng_below(&g, (uint64_t)(2 * slack + 1)) - slack;
        o->x = (int16_t)(cell_center(p->side, o->col) + jx);
        o->y = (int16_t)(cell_center(p->side, o->row) + jy);
    }
}

int graft_world_scene_make(uint64_t seed, uint64_t index, const graft_world_params *p,
                           graft_world_scene *out, graft_error *err) {
    if (!p || !out) return graft_error_set(err, GRAFT_E_INVALID, "world: NULL argument");
    if (p->side < GRAFT_WORLD_MIN_SIDE || p->side > GRAFT_WORLD_MAX_SIDE)
        return graft_error_set(err, GRAFT_E_INVALID, "world: image side %d is not in %d..%d",
                               p->side, GRAFT_WORLD_MIN_SIDE, GRAFT_WORLD_MAX_SIDE);
    if (p->max_shapes < 1 || p->max_shapes > GRAFT_WORLD_MAX_SHAPES)
        return graft_error_set(err, GRAFT_E_INVALID, "world: max shapes %d is not in 1..%d",
                               p->max_shapes, GRAFT_WORLD_MAX_SHAPES);
    make_scene(seed, index, p, out);
    if (p->mirror) graft_world_mirror(out, out);
    return GRAFT_OK;
}

void graft_world_mirror(const graft_world_scene *in, graft_world_scene *out) {
    if (out != in) *out = *in;
    for (int i = 0; i < out->n; i++) {
        out->obj[i].col = (uint8_t)(2 - out->obj[i].col);
        out->obj[i].x = (int16_t)(out->side - 1 - out->obj[i].x);
    }
}

/* ---- rasteriser --------------------------------------------------------------------------- */
/* Each test takes the offset (dx, dy) of a pixel from the shape's centre pixel (y down) and the
 * radius r, and depends on |dx| (or on a mirror-symmetric vertex set), so every shape is exactly
 * left-right symmetric and contains its centre pixel. */

static int iabs(int v) { return v < 0 ? -v : v; }

/* 5-pointed star, point up: outer radius 1024, inner 512 (a fat star that survives small sizes).
 * Outer vertex k at -90 + 72k degrees, inner vertex k at -54 + 72k; the values are
 * round(1024 cos), round(1024 sin) (and half of them), written out so no libm is involved. */
static const int star_outer[5][2] = {{0, -1024}, {974, -316}, {602, 828}, {-602, 828}, {-974, -316}};
static const int star_inner[5][2] = {{301, -414}, {487, 158}, {0, 512}, {-487, 158}, {-301, -414}};

/* Point (px, py) in the convex polygon v[0..n) (either orientation), boundary included. */
static int in_convex(const int64_t (*v)[2], int n, int64_t px, int64_t py) {
    int pos = 0, neg = 0;
    for (int i = 0; i < n; i++) {
        const int64_t *a = v[i], *b = v[(i + 1) % n];
        int64_t c = (b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0]);
        pos |= c > 0;
        neg |= c < 0;
    }
    return !(pos && neg);
}

static int in_star(int dx, int dy, int r) {
    int64_t px = (int64_t)dx * 1024, py = (int64_t)dy * 1024;
    int64_t pent[5][2], tri[3][2];
    for (int k = 0; k < 5; k++) {
        pent[k][0] = (int64_t)r * star_inner[k][0];
        pent[k][1] = (int64_t)r * star_inner[k][1];
    }
    if (in_convex((const int64_t(*)[2])pent, 5, px, py)) return 1;
    for (int k = 0; k < 5; k++) { /* tip k: inner k-1, outer k, inner k */
        int km = (k + 4) % 5;
        tri[0][0] = pent[km][0], tri[0][1] = pent[km][1];
        tri[1][0] = (int64_t)r * star_outer[k][0], tri[1][1] = (int64_t)r * star_outer[k][1];
        tri[2][0] = pent[k][0], tri[2][1] = pent[k][1];
        if (in_convex((const int64_t(*)[2])tri, 3, px, py)) return 1;
    }
    return 0;
}

static int inside(int shape, int dx, int dy, int r) {
    int ax = iabs(dx), ay = iabs(dy);
    switch (shape) {
    case 0: return dx * dx + dy * dy <= r * r + r;                 /* circle */
    case 1: return 8 * ax <= 7 * r && 8 * ay <= 7 * r;             /* square, half side 7r/8 */
    case 2: return 4 * dy <= 3 * r && 7 * ax <= 4 * (dy + r);      /* triangle: apex -r, base 3r/4,
                                                                      half base 4/7 of its height */
    case 3: return in_star(dx, dy, r);                             /* star */
    case 4: return ax + ay <= r;                                   /* diamond */
    case 5: {                                                      /* cross (a plus sign) */
        int t = r / 3 > 0 ? r / 3 : 1;
        return (ax <= t && ay <= r) || (ay <= t && ax <= r);
    }
    }
    return 0;
}

void graft_world_render(const graft_world_scene *s, unsigned char *rgb) {
    int side = s->side;
    for (size_t i = 0; i < (size_t)side * side; i++) memcpy(rgb + 3 * i, background_rgb, 3);
    for (int k = 0; k < s->n; k++) {
        const graft_world_object *o = &s->obj[k];
        const unsigned char *c = color_rgb[o->color];
        for (int y = o->y - o->r; y <= o->y + o->r; y++) {
            if (y < 0 || y >= side) continue;
            for (int x = o->x - o->r; x <= o->x + o->r; x++) {
                if (x < 0 || x >= side || !inside(o->shape, x - o->x, y - o->y, o->r)) continue;
                memcpy(rgb + 3 * ((size_t)y * side + x), c, 3);
            }
        }
    }
}
