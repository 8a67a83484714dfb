/* ptb.c - the PTBTokenizer step of pycocoevalcap: a small hand-written scanner that reproduces
 * Stanford PTBTokenizer 3.4.1 (-preserveLines -lowerCase) on caption text, then the wrapper's
 * punctuation filter. It is not a port of the JFlex lexer: it covers what captions contain
 * (quotes, brackets, contractions, abbreviations, numbers and fractions, URLs, dashes, Unicode
 * punctuation) and the mappings listed in docs/eval.md.
 *
 * Steps: (1) whitespace normalised, "d+ d+/d+" joined by U+00A0; (2) Unicode characters that
 * PTB maps or always splits are rewritten with spaces around them; (3) each whitespace-separated
 * chunk is peeled: opening punctuation from the front, closing punctuation from the back, then
 * the core word is split into contractions; (4) tokens are lower-cased, filtered, joined. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "caption.h"
#include "error.h"

#define NBSP_MARK '\x01' /* stands for U+00A0 inside a chunk until output */

typedef struct {
    char *buf; /* tokens, each NUL-terminated */
    size_t len, cap;
    int n, oom;
} toks;

static void tput(toks *t, const char *s, size_t n) {
    if (t->oom || n == 0) return;
    if (t->len + n + 1 > t->cap) {
        size_t nc = (t->len + n + 1) * 2 + 64;
        char *nb = realloc(t->buf, nc);
        if (!nb) { t->oom = 1; return; }
        t->buf = nb;
        t->cap = nc;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len++] = 0;
    t->n++;
}
static void tputs(toks *t, const char *s) { tput(t, s, strlen(s)); }

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }

/* Abbreviations whose final period stays on the word (PTB's ABBREV lists, the ones a caption
 * may contain; matched case-insensitively, as "ave." and "st." in the COCO data show). */
static const char *const abbrev[] = {
    "mr", "mrs", "ms", "dr", "drs", "prof", "sen", "rep", "gen", "col", "lt", "capt", "sgt",
    "mt", "st", "ste", "ave", "rev", "hon", "pres", "vs", "etc", "al", "jr", "sr", "bros",
    "blvd", "rd", "esq", "inc", "co", "cos", "corp", "ltd", "plc", "dept", "univ", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "tues",
    "wed", "thu", "thurs", "fri", "tel", "est", "ext", "sq", "cf", NULL};
/* Of those, the ones after which PTB also emits a sentence-final "." before a capital. */
static const char *const abbrev1[] = {
    "etc", "al", "jr", "sr", "bros", "blvd", "rd", "esq", "inc", "co", "cos", "corp", "ltd",
    "plc", "dept", "univ", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "mon", "tue", "tues", "wed", "thu", "thurs", "fri", "tel", "est", "ext", "sq",
    NULL};

static int in_list(const char *const *l, const char *s, size_t n) {
    for (; *l; l++)
        if (strlen(*l) == n && strncasecmp(*l, s, n) == 0) return 1;
    return 0;
}

/* [A-Za-z](\.[A-Za-z])+\. : U.S.A. e.g. a.m. */
static int is_acronym(const char *s, size_t n) {
    if (n < 4) return 0;
    for (size_t i = 0; i < n; i++)
        if ((i % 2 == 0) ? !is_alpha(s[i]) : s[i] != '.') return 0;
    return n % 2 == 0;
}

/* Splits a core word (no surrounding punctuation) into contraction parts. */
static void split_core(toks *t, const char *s, size_t n) {
    static const struct { const char *w; size_t cut; } fused[] = {
        {"cannot", 3}, {"gonna", 3}, {"gotta", 3}, {"wanna", 3}, {"gimme", 3}, {"lemme", 3},
        {NULL, 0}};
    for (int i = 0; fused[i].w; i++)
        if (n == strlen(fused[i].w) && strncasecmp(s, fused[i].w, n) == 0) {
            tput(t, s, fused[i].cut);
            tput(t, s + fused[i].cut, n - fused[i].cut);
            return;
        }
    if (n > 4 && strncasecmp(s, "y'all", 5) == 0 && n == 5) {
        tput(t, s, 2);
        tput(t, s + 2, 3);
        return;
    }
    /* rock'n'roll (the part before the first 'n' has none: recursion depth stays 2) */
    for (size_t i = 1; i + 3 < n; i++)
        if (s[i] == '\'' && (s[i + 1] == 'n' || s[i + 1] == 'N') && s[i + 2] == '\'' &&
            is_alpha(s[i - 1]) && is_alpha(s[i + 3])) {
            split_core(t, s, i);
            tput(t, s + i, 3);
            s += i + 3;
            n -= i + 3;
            i = 0;
        }
    /* trailing contractions, right to left: I'd've -> I 'd 've; isn't -> is n't */
    size_t end = n, cuts[8];
    int nc = 0;
    while (nc < 8) {
        size_t k = 0;
        if (end >= 4 && strncasecmp(s + end - 3, "n't", 3) == 0 && is_alpha(s[end - 4])) k = 3;
        else if (end >= 4 && s[end - 3] == '\'' && is_alpha(s[end - 4]) &&
                 (strncasecmp(s + end - 2, "ll", 2) == 0 || strncasecmp(s + end - 2, "re", 2) == 0 ||
                  strncasecmp(s + end - 2, "ve", 2) == 0))
            k = 3;
        else if (end >= 3 && s[end - 2] == '\'' && is_alpha(s[end - 3]) &&
                 strchr("sdmSDM", s[end - 1]))
            k = 2;
        if (!k) break;
        end -= k;
        cuts[nc++] = end;
    }
    tput(t, s, end);
    for (int i = nc - 1; i >= 0; i--) tput(t, s + cuts[i], (i ? cuts[i - 1] : n) - cuts[i]);
}

/* One whitespace-free chunk [s, s + n). last: nothing follows it on the line; next: the
 * following chunk's first byte (0 if none). */
static void do_chunk(toks *t, const char *s, size_t n, int last, char next) {
    if ((n == 3 && (memcmp(s, ":-)", 3) == 0 || memcmp(s, ";-)", 3) == 0)) ||
        (n == 3 && memcmp(s, ":-(", 3) == 0)) {
        char b[16];
        memcpy(b, s, 2);
        strcpy(b + 2, s[2] == ')' ? "-RRB-" : "-LRB-");
        tputs(t, b);
        return;
    }
    if (n >= 2 && s[0] == '<' && s[n - 1] == '>') { tput(t, s, n); return; }
    /* "computer,speakers": a comma inside a chunk splits it unless digits surround it
     * (1,000,000) or the chunk is a URL / e-mail address */
    if (!memchr(s, '@', n) && !memchr(s, '/', n))
        for (size_t i = 1; i + 1 < n; i++)
            if (s[i] == ',' && !(is_digit(s[i - 1]) && is_digit(s[i + 1]))) {
                do_chunk(t, s, i, 0, ','); /* has no such comma: no deeper recursion */
                tputs(t, ",");
                s += i + 1;
                n -= i + 1;
                i = 0;
            }
    /* front */
    for (;;) {
        if (n == 0) return;
        size_t k = 0;
        const char *tok = NULL;
        if (n >= 2 && s[0] == '`' && s[1] == '`') k = 2, tok = "``";
        else if (s[0] == '"') k = 1, tok = "``";
        else if (n >= 2 && s[0] == '\'' && s[1] == '\'') k = 2, tok = "''";
        else if (s[0] == '(') k = 1, tok = "-LRB-";
        else if (s[0] == '[') k = 1, tok = "-LSB-";
        else if (s[0] == '{') k = 1, tok = "-LCB-";
        else if (s[0] == ')') k = 1, tok = "-RRB-";
        else if (s[0] == ']') k = 1, tok = "-RSB-";
        else if (s[0] == '}') k = 1, tok = "-RCB-";
        else if (s[0] == '`') k = 1, tok = "`";
        else if (n >= 3 && memcmp(s, "...", 3) == 0) k = 3, tok = "...";
        else if (n >= 2 && s[0] == '-' && s[1] == '-') k = 2, tok = "--";
        else if (s[0] == '-' && (n == 1 || !is_digit(s[1]))) k = 1, tok = "-";
        else if (s[0] == '$' && n > 1) k = 1, tok = "$";
        else if (s[0] == ',' || s[0] == ';') k = 1, tok = s[0] == ',' ? "," : ";";
        else if (s[0] == '\'') {
            /* '90s and a lone contraction ('s, 'll ...) stay; otherwise an opening quote */
            int keep = 0;
            if (n >= 2 && is_digit(s[1])) keep = 1;
            if ((n == 2 && strchr("sdmSDM", s[1])) ||
                (n == 3 && (strncasecmp(s + 1, "ll", 2) == 0 || strncasecmp(s + 1, "re", 2) == 0 ||
                            strncasecmp(s + 1, "ve", 2) == 0)))
                keep = 1;
            if (n == 3 && (s[1] == 'n' || s[1] == 'N') && s[2] == '\'') keep = 1;
            if (n == 1) k = 1, tok = "'";
            else if (!keep) k = 1, tok = "`";
        }
        if (!k) break;
        tputs(t, tok);
        s += k;
        n -= k;
    }
    /* URLs and e-mail addresses: only trailing sentence punctuation comes off */
    int url = (n > 7 && strncasecmp(s, "http://", 7) == 0) || (n > 8 && strncasecmp(s, "https://", 8) == 0) ||
              (n > 4 && strncasecmp(s, "www.", 4) == 0) || (memchr(s, '@', n) && s[0] != '@');
    /* back: collected right to left */
    const char *suf[16];
    int ns = 0;
    while (n > 0 && ns < 16) {
        size_t k = 0;
        const char *tok = NULL;
        char c = s[n - 1];
        if (c == '"') k = 1, tok = "''";
        else if (n >= 2 && c == '\'' && s[n - 2] == '\'') k = 2, tok = "''";
        else if (c == ')') k = 1, tok = "-RRB-";
        else if (c == ']') k = 1, tok = "-RSB-";
        else if (c == '}') k = 1, tok = "-RCB-";
        else if (c == ',') k = 1, tok = ",";
        else if (c == ';') k = 1, tok = ";";
        else if (c == ':') k = 1, tok = ":";
        else if (c == '!' || c == '?') {
            static const char *runs[] = {"?", "!", "?!", "!?", "??", "!!", "!!!", "???", "?!?", "!?!"};
            size_t r = 0;
            while (r < n && r < 3 && (s[n - 1 - r] == '!' || s[n - 1 - r] == '?')) r++;
            if (url && r == n) break;
            tok = NULL;
            for (size_t q = 0; q < sizeof runs / sizeof *runs; q++)
                if (strlen(runs[q]) == r && memcmp(runs[q], s + n - r, r) == 0) tok = runs[q];
            if (!tok) { r = 1; tok = c == '!' ? "!" : "?"; }
            k = r;
        } else if (n >= 3 && memcmp(s + n - 3, "...", 3) == 0) k = 3, tok = "...";
        else if (!url && n >= 3 && c == '-' && s[n - 2] == '-') k = 2, tok = "--";
        else if (!url && n >= 2 && c == '-') k = 1, tok = "-";
        else if (!url && n >= 2 && c == '%') k = 1, tok = "%";
        else if (!url && n >= 2 && c == '\'' && !(n == 2 && (s[0] == 'y' || s[0] == 'Y')) &&
                 !(n >= 3 && s[n - 3] == '\'' && (s[n - 2] == 'n' || s[n - 2] == 'N')))
            k = 1, tok = "'";
        else if (c == '.') {
            size_t w = n - 1;
            int keep = 0;
            if (!url) {
                if (is_acronym(s, n)) keep = 1;
                else if (w == 1 && is_alpha(s[0])) keep = !(last && ns == 0);
                else if (w > 0 && in_list(abbrev, s, w)) {
                    keep = 1;
                    /* "etc. Mr." -> "etc." "." "mr.": a sentence end is assumed */
                    if (ns == 0 && is_upper(next) && in_list(abbrev1, s, w)) suf[ns++] = ".";
                }
            }
            if (keep) break;
            k = 1, tok = ".";
        }
        if (!k) break;
        suf[ns++] = tok;
        n -= k;
    }
    if (n > 0) {
        if (url) tput(t, s, n);
        else split_core(t, s, n);
    }
    for (int i = ns - 1; i >= 0; i--) tputs(t, suf[i]);
}

/* Decodes one UTF-8 code point at p (len bytes available); returns its length (1 for bad). */
static int utf8_dec(const unsigned char *p, size_t len, unsigned *cp) {
    if (p[0] < 0x80) { *cp = p[0]; return 1; }
    int n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 1;
    if (n == 1 || (size_t)n > len) { *cp = 0xfffd; return 1; }
    unsigned c = p[0] & (0x7f >> n);
    for (int i = 1; i < n; i++) c = (c << 6) | (p[i] & 0x3f);
    *cp = c;
    return n;
}

/* Java's toLowerCase on the code points captions use: ASCII, Latin-1, Latin Extended-A,
 * Greek and Cyrillic capitals. Writes into out (same or smaller length). */
static size_t lower_utf8(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned cp;
        int k = utf8_dec((const unsigned char *)s + i, n - i, &cp);
        unsigned lc = cp;
        if (cp >= 'A' && cp <= 'Z') lc = cp + 32;
        else if ((cp >= 0xc0 && cp <= 0xde && cp != 0xd7)) lc = cp + 32;
        else if (cp >= 0x100 && cp <= 0x17f && cp != 0x130 && cp != 0x138 && cp != 0x149 &&
                 cp != 0x17f) {
            int odd_upper = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e);
            if (odd_upper ? (cp & 1) : !(cp & 1)) lc = cp + 1;
        } else if (cp >= 0x391 && cp <= 0x3ab && cp != 0x3a2) lc = cp + 32;
        else if (cp >= 0x410 && cp <= 0x42f) lc = cp + 32;
        else if (cp >= 0x400 && cp <= 0x40f) lc = cp + 80;
        if (lc == cp || cp >= 0x800 || lc >= 0x800) {
            memmove(out + o, s + i, (size_t)k);
            o += (size_t)k;
        } else if (lc < 0x80) {
            out[o++] = (char)lc;
        } else {
            out[o++] = (char)(0xc0 | (lc >> 6));
            out[o++] = (char)(0x80 | (lc & 0x3f));
        }
        i += (size_t)k;
    }
    return o;
}

static int tokenize(const char *caption, int filter, char **out, graft_error *err) {
    *out = NULL;
    if (!caption) return graft_error_set(err, GRAFT_E_INVALID, "ptb: NULL caption");
    size_t n = strlen(caption);
    /* (1) + (2): each input byte becomes at most 8 output bytes (" -LRB- "-sized rewrites) */
    char *w = malloc(n * 8 + 2);
    toks t = {0};
    if (!w) return graft_error_set(err, GRAFT_E_NOMEM, "ptb: out of memory");
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)caption;
    for (size_t i = 0; i < n;) {
        unsigned cp;
        int k = utf8_dec(p + i, n - i, &cp);
        const char *rep = NULL;
        switch (cp) {
        case '\n': case '\r': case '\t': case '\v': case '\f': case 0xa0: case 0x2028:
        case 0x2029: case 0x3000: rep = " "; break;
        case 0x201c: rep = " `` "; break;   /* left double quote */
        case 0x201d: rep = " '' "; break;   /* right double quote */
        case 0x2018: rep = " ` "; break;    /* left single quote */
        case 0x2019: rep = "'"; break;      /* right single quote / apostrophe */
        case 0x2014: case 0x2013: rep = " -- "; break;
        case 0x2026: rep = " ... "; break;
        case 0xbd: rep = " 1/2 "; break;
        case 0xbc: rep = " 1/4 "; break;
        case 0xbe: rep = " 3/4 "; break;
        case 0xa3: rep = " # "; break;      /* pound sign -> # */
        case 0x20ac: rep = " $ "; break;    /* euro sign -> $ */
        case 0xa5: rep = " \xc2\xa5 "; break;
        case 0xd7: rep = " \xc3\x97 "; break;
        default:
            if (cp >= 0x10000) rep = " "; /* untokenizable (Java sees a surrogate): deleted */
        }
        if (rep) {
            size_t rl = strlen(rep);
            memcpy(w + o, rep, rl);
            o += rl;
        } else if (cp == ' ' && o > 0 && is_digit(w[o - 1])) {
            /* "22 3/4": digits, one space, digits/digits -> one token joined by U+00A0 */
            size_t b = o;
            while (b > 0 && is_digit(w[b - 1])) b--;
            size_t j = i + 1, d1 = 0, d2 = 0;
            while (j < n && is_digit(caption[j])) j++, d1++;
            int frac = (b == 0 || w[b - 1] == ' ') && d1 > 0 && j < n && caption[j] == '/';
            if (frac) {
                j++;
                while (j < n && is_digit(caption[j])) j++, d2++;
                frac = d2 > 0 && !(j < n && is_digit(caption[j]));
            }
            w[o++] = frac ? NBSP_MARK : ' ';
        } else {
            memcpy(w + o, caption + i, (size_t)k);
            o += (size_t)k;
        }
        i += (size_t)k;
    }
    w[o] = 0;
    /* (3) chunks */
    for (size_t i = 0; i < o;) {
        while (i < o && w[i] == ' ') i++;
        size_t b = i;
        while (i < o && w[i] != ' ') i++;
        if (i == b) break;
        size_t j = i;
        while (j < o && w[j] == ' ') j++;
        do_chunk(&t, w + b, i - b, j >= o, j < o ? w[j] : 0);
    }
    free(w);
    if (t.oom) { free(t.buf); return graft_error_set(err, GRAFT_E_NOMEM, "ptb: out of memory"); }
    /* (4) lower-case, filter, join; U+00A0 restored (2 bytes for the 1-byte mark) */
    static const char *const drop[] = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                                       ".", "?", "!", ",", ":", "-", "--", "...", ";", NULL};
    char *res = malloc(t.len * 2 + 1), *low = malloc(t.len + 1);
    if (!res || !low) {
        free(res); free(low); free(t.buf);
        return graft_error_set(err, GRAFT_E_NOMEM, "ptb: out of memory");
    }
    size_t r = 0;
    const char *tk = t.buf;
    for (int q = 0; q < t.n; q++, tk += strlen(tk) + 1) {
        size_t ll = lower_utf8(tk, strlen(tk), low);
        low[ll] = 0;
        int skip = 0;
        for (int d = 0; filter && drop[d] && !skip; d++) skip = strcmp(low, drop[d]) == 0;
        if (skip) continue;
        if (r) res[r++] = ' ';
        for (size_t c = 0; c < ll; c++) {
            if (low[c] == NBSP_MARK) { res[r++] = (char)0xc2; res[r++] = (char)0xa0; }
            else res[r++] = low[c];
        }
    }
    res[r] = 0;
    free(low);
    free(t.buf);
    *out = res;
    return GRAFT_OK;
}

int graft_ptb_tokenize(const char *caption, char **out, graft_error *err) {
    return tokenize(caption, 1, out, err);
}

int graft_ptb_tokenize_raw(const char *caption, char **out, graft_error *err) {
    return tokenize(caption, 0, out, err);
}
