/* unet.c - the UNet builder and forward pass (see unet.h). */
#include "unet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/ops.h"

UNetConfig unet_s_config(int class_cond)
{
    UNetConfig c;
    memset(&c, 0, sizeof c);
    c.in_ch = 1;
    c.nlevels = 3;
    c.ch[0] = 32;
    c.ch[1] = 64;
    c.ch[2] = 64;
    c.nres = 1;
    c.attention = 1;
    c.sin_dim = 32;
    c.emb_dim = 128;
    c.num_classes = class_cond ? 11 : 0;
    c.groups = 8;
    return c;
}

UNetConfig ctrl_s_config(int label_input)
{
    UNetConfig c;
    memset(&c, 0, sizeof c);
    c.in_ch = 3;
    c.nlevels = 2;
    c.ch[0] = 16;
    c.ch[1] = 32;
    c.nres = 1;
    c.attention = 0;
    c.sin_dim = 16;
    c.emb_dim = 64;
    c.num_classes = label_input ? 10 : 0;
    c.groups = 8;
    return c;
}

const char *unet_name(const UNetConfig *c)
{
    UNetConfig s = unet_s_config(c->num_classes != 0), k = ctrl_s_config(c->num_classes != 0);
    if (!memcmp(c, &s, sizeof s)) return c->num_classes ? "unet-s-cond" : "unet-s";
    if (!memcmp(c, &k, sizeof k)) return c->num_classes ? "ctrl-s-label" : "ctrl-s";
    return "unet";
}

static void name_of(char *buf, size_t cap, const char *part, int i)
{
    snprintf(buf, cap, "%s.%d", part, i);
}

/* Declares every parameter of the net (names, shapes, offsets), allocating none. */
static void unet_declare(UNet *net, const UNetConfig *cfg)
{
    Params *p = &net->params;
    char nm[PARAM_NAME_MAX];
    int stack[2 * UNET_MAX_BLOCKS], sp = 0, L, i, ch;
    int ws[2];
    CHECK(cfg->nlevels >= 1 && cfg->nlevels <= UNET_MAX_LEVELS, "unet: %d levels", cfg->nlevels);
    /* the up path has nlevels * (nres + 1) res blocks and nlevels - 1 upsamplers */
    CHECK(cfg->nres >= 0 && cfg->nlevels * (cfg->nres + 2) - 1 <= UNET_MAX_BLOCKS,
          "unet: %d levels of %d res blocks exceed %d blocks per path", cfg->nlevels, cfg->nres,
          UNET_MAX_BLOCKS);
    memset(net, 0, sizeof *net);
    net->cfg = *cfg;
    params_init(p);
    net->temb0 = linear_declare(p, "temb.0", cfg->sin_dim, cfg->emb_dim, 0);
    net->temb2 = linear_declare(p, "temb.2", cfg->emb_dim, cfg->emb_dim, 0);
    net->label = -1;
    if (cfg->num_classes > 0) {
        ws[0] = cfg->num_classes;
        ws[1] = cfg->emb_dim;
        net->label = params_add(p, "", "label.weight", 2, ws, INIT_NORMAL, 0);
    }
    net->conv_in = conv_declare(p, "conv_in", cfg->in_ch, cfg->ch[0], 3, 1, 1, 0);
    ch = cfg->ch[0];
    stack[sp++] = ch;
    for (L = 0; L < cfg->nlevels; L++) {
        for (i = 0; i < cfg->nres; i++) {
            UBlock *b = &net->down[net->ndown];
            name_of(nm, sizeof nm, "down", net->ndown++);
            b->kind = UB_RES;
            b->res = resblock_declare(p, nm, ch, cfg->ch[L], cfg->emb_dim, cfg->groups);
            ch = cfg->ch[L];
            stack[sp++] = ch;
        }
        if (L + 1 < cfg->nlevels) {
            UBlock *b = &net->down[net->ndown];
            snprintf(nm, sizeof nm, "down.%d.conv", net->ndown++);
            b->kind = UB_DOWN;
            b->conv = conv_declare(p, nm, ch, ch, 3, 2, 1, 0);
            stack[sp++] = ch;
        }
    }
    name_of(nm, sizeof nm, "mid", net->nmid);
    net->mid[net->nmid].kind = UB_RES;
    net->mid[net->nmid++].res = resblock_declare(p, nm, ch, ch, cfg->emb_dim, cfg->groups);
    if (cfg->attention) {
        name_of(nm, sizeof nm, "mid", net->nmid);
        net->mid[net->nmid].kind = UB_ATTN;
        net->mid[net->nmid++].attn = attention_declare(p, nm, ch, cfg->groups);
    }
    name_of(nm, sizeof nm, "mid", net->nmid);
    net->mid[net->nmid].kind = UB_RES;
    net->mid[net->nmid++].res = resblock_declare(p, nm, ch, ch, cfg->emb_dim, cfg->groups);
    for (L = cfg->nlevels - 1; L >= 0; L--) {
        for (i = 0; i < cfg->nres + 1; i++) {
            UBlock *b = &net->up[net->nup];
            int skip = stack[--sp];
            name_of(nm, sizeof nm, "up", net->nup++);
            b->kind = UB_RES;
            b->res = resblock_declare(p, nm, ch + skip, cfg->ch[L], cfg->emb_dim, cfg->groups);
            ch = cfg->ch[L];
        }
        if (L > 0) {
            UBlock *b = &net->up[net->nup];
            snprintf(nm, sizeof nm, "up.%d.conv", net->nup++);
            b->kind = UB_UP;
            b->conv = conv_declare(p, nm, ch, ch, 3, 1, 1, 0);
        }
    }
    CHECK(sp == 0, "unet: skip stack not empty (%d)", sp);
    net->norm_out = gnorm_declare(p, "norm_out", ch, cfg->groups);
    net->conv_out = conv_declare(p, "conv_out", ch, 1, 3, 1, 1, 1);
}

void unet_build(UNet *net, const UNetConfig *cfg)
{
    unet_declare(net, cfg);
    params_finalize(&net->params);
}

size_t unet_param_count(const UNetConfig *cfg)
{
    UNet *net = (UNet *)xcalloc(1, sizeof(UNet));
    size_t n;
    unet_declare(net, cfg);
    n = net->params.total;
    params_free(&net->params);
    free(net);
    return n;
}

void unet_free(UNet *net) { params_free(&net->params); }

Var *unet_forward(Graph *g, const UNet *net, Var *x, const Scalar *t, const int *labels)
{
    const UNetConfig *cfg = &net->cfg;
    const Params *p = &net->params;
    int N = x->val.shape[0], es[2], sp = 0, i;
    Var *stack[2 * UNET_MAX_BLOCKS], *e, *semb, *h;
    AgScope scope = ag_scope_begin(g); /* the layers' values die here unless backward reads them */
    CHECK(x->val.ndim == 4 && x->val.shape[1] == cfg->in_ch, "unet: input must be [N, %d, H, W]",
          cfg->in_ch);
    es[0] = N;
    es[1] = cfg->sin_dim;
    e = ag_new(g, 2, es, 0, "sinusoid");
    sinusoid_embed(t, N, cfg->sin_dim, e->val.data);
    e = linear_forward(g, p, &net->temb2, ag_silu(g, linear_forward(g, p, &net->temb0, e)));
    if (net->label >= 0) {
        CHECK(labels != NULL, "unet: a class-conditional net needs labels");
        e = ag_add(g, e, ag_embedding(g, params_leaf(g, p, net->label), labels, N));
    }
    semb = ag_silu(g, e);
    h = conv_forward(g, p, &net->conv_in, x);
    stack[sp++] = h;
    for (i = 0; i < net->ndown; i++) {
        const UBlock *b = &net->down[i];
        h = b->kind == UB_RES ? resblock_forward(g, p, &b->res, h, semb)
                              : conv_forward(g, p, &b->conv, h);
        stack[sp++] = h;
    }
    for (i = 0; i < net->nmid; i++) {
        const UBlock *b = &net->mid[i];
        h = b->kind == UB_RES ? resblock_forward(g, p, &b->res, h, semb)
                              : attention_forward(g, p, &b->attn, h);
    }
    for (i = 0; i < net->nup; i++) {
        const UBlock *b = &net->up[i];
        if (b->kind == UB_RES) {
            CHECK(sp > 0, "unet: up block %d has no skip connection left", i);
            h = resblock_forward(g, p, &b->res, ag_concat(g, h, stack[--sp]), semb);
        } else
            h = conv_forward(g, p, &b->conv, ag_upsample2(g, h));
    }
    h = gnorm_silu_forward(g, p, &net->norm_out, h);
    h = conv_forward(g, p, &net->conv_out, h);
    ag_scope_end(g, scope, h);
    return h;
}

void unet_config_str(const UNetConfig *c, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "in_ch=%d;levels=%d;ch=%d,%d,%d,%d;nres=%d;attention=%d;sin_dim=%d;emb_dim=%d;"
             "num_classes=%d;groups=%d",
             c->in_ch, c->nlevels, c->ch[0], c->ch[1], c->ch[2], c->ch[3], c->nres, c->attention,
             c->sin_dim, c->emb_dim, c->num_classes, c->groups);
}

/* Why the numbers of s are not plain: NULL when every value (the text after each '=' or ',')
 * is 1 to 9 decimal digits.  sscanf's %d would also take a sign or leading spaces, and is
 * undefined for a number that does not fit an int (glibc wraps 4294967297 to 1); no valid
 * field needs a sign, a space or 10 digits. */
static const char *bad_number(const char *s)
{
    for (; *s; s++) {
        int digits = 0;
        if (*s != '=' && *s != ',') continue;
        while (s[1] >= '0' && s[1] <= '9') {
            s++;
            digits++;
        }
        if (digits == 0) return "a value that is not a plain number";
        if (digits > 9) return "a number of more than 9 digits";
    }
    return NULL;
}

int unet_config_parse(const char *s, UNetConfig *c, char *err, size_t errcap)
{
    int n, end = -1;
    const char *why = bad_number(s);
    memset(c, 0, sizeof *c);
    if (why) {
        snprintf(err, errcap, "bad UNet config '%.200s' (%s)", s, why);
        return -1;
    }
    n = sscanf(s,
               "in_ch=%d;levels=%d;ch=%d,%d,%d,%d;nres=%d;attention=%d;sin_dim=%d;emb_dim=%d;"
               "num_classes=%d;groups=%d%n",
               &c->in_ch, &c->nlevels, &c->ch[0], &c->ch[1], &c->ch[2], &c->ch[3], &c->nres,
               &c->attention, &c->sin_dim, &c->emb_dim, &c->num_classes, &c->groups, &end);
    /* the whole string, nothing after groups */
    if (n != 12 || end < 0 || s[end] != '\0' || c->in_ch < 1 || c->in_ch > 64 || c->nlevels < 1 ||
        c->nlevels > UNET_MAX_LEVELS || c->nres < 1 || c->nres > 4 || c->sin_dim < 2 ||
        c->sin_dim % 2 || c->sin_dim > 4096 || c->emb_dim < 1 || c->emb_dim > 4096 ||
        c->num_classes < 0 || c->num_classes > 1000 || c->groups < 1) {
        snprintf(err, errcap, "bad UNet config '%.200s'", s);
        return -1;
    }
    if (c->nlevels > UNET_IMAGE_LEVELS) {
        snprintf(err, errcap, "bad UNet config '%.200s' (levels=%d: a 28x28 image allows 1..%d)", s,
                 c->nlevels, UNET_IMAGE_LEVELS);
        return -1;
    }
    for (n = 0; n < c->nlevels; n++)
        if (c->ch[n] < 1 || c->ch[n] > 4096 || c->ch[n] % c->groups) {
            snprintf(err, errcap, "bad UNet channel count %d in '%.200s'", c->ch[n], s);
            return -1;
        }
    return 0;
}
