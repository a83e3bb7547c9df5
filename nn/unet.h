/* unet.h - the UNet family: the score net "unet-s" and the control net "ctrl-s".
 *
 * One builder serves both (DESIGN.md section 3):
 *   time embedding  sinusoid(1000 t, sin_dim) -> temb.0 Linear -> SiLU -> temb.2 Linear = e;
 *                   optional label embedding added: e += label[y]; blocks see SiLU(e)
 *   down            conv_in (in_ch -> ch[0]); per level L: nres ResBlocks to ch[L],
 *                   then a stride-2 3x3 Downsample conv except at the last level;
 *                   every output pushed on the skip stack
 *   middle          ResBlock, [Attention], ResBlock at ch[last]
 *   up              per level from the last: nres + 1 ResBlocks taking concat[h, pop()],
 *                   then nearest x2 Upsample + 3x3 conv except at level 0
 *   out             GN, SiLU, conv_out (zero-initialised) ch[0] -> 1
 * unet-s: in 1, ch {32, 64, 64}, attention, sin 32, emb 128, 1,062,497 parameters
 *         (+ Embedding(11, 128) when class-conditional: label 10 is "null").
 * ctrl-s: in 3, ch {16, 32}, no attention, sin 16, emb 64, 159,985 parameters
 *         (+ Embedding(10, 64) with the target-label input).
 * unet_forward returns the raw conv_out [N, 1, H, W]; the score is conv_out / s(t)
 * (sde/score.h), the control is conv_out itself. */
#ifndef CMAD_UNET_H
#define CMAD_UNET_H

#include "layers.h"

#define UNET_MAX_LEVELS 4
/* The levels a 28x28 image allows: it halves evenly twice (28, 14, 7); a fourth level would
 * meet a 7x7 skip with an 8x8 upsample.  unet_config_parse refuses more. */
#define UNET_IMAGE_LEVELS 3
#define UNET_MAX_BLOCKS 32

typedef struct UNetConfig {
    int in_ch;
    int nlevels;
    int ch[UNET_MAX_LEVELS];
    int nres;
    int attention; /* attention in the middle */
    int sin_dim, emb_dim;
    int num_classes; /* rows of the label embedding, 0 for none */
    int groups;
} UNetConfig;

typedef enum { UB_RES, UB_DOWN, UB_UP, UB_ATTN } UBlockKind;

typedef struct UBlock {
    UBlockKind kind;
    ResBlock res;
    Conv conv;
    Attention attn;
} UBlock;

typedef struct UNet {
    UNetConfig cfg;
    Params params;
    Linear temb0, temb2;
    int label; /* index of the embedding table, -1 without */
    Conv conv_in, conv_out;
    GNorm norm_out;
    UBlock down[UNET_MAX_BLOCKS], mid[3], up[UNET_MAX_BLOCKS];
    int ndown, nmid, nup;
} UNet;

UNetConfig unet_s_config(int class_cond);
UNetConfig ctrl_s_config(int label_input);
/* Declares and allocates the parameters (values zero until params_initialise or a load). */
void unet_build(UNet *net, const UNetConfig *cfg);
/* The parameter count of the net cfg describes, computed without allocating it: a config
 * read from a file can be checked against the file before the net is built. */
size_t unet_param_count(const UNetConfig *cfg);
void unet_free(UNet *net);
/* x [N, in_ch, H, W], t [N] times, labels [N] (or NULL when the net has no embedding;
 * a class-conditional net needs them) -> conv_out [N, 1, H, W]. */
Var *unet_forward(Graph *g, const UNet *net, Var *x, const Scalar *t, const int *labels);
/* "unet-s", "unet-s-cond", "ctrl-s", "ctrl-s-label", or "unet" for other configs. */
const char *unet_name(const UNetConfig *cfg);
/* Writes the config as "key=value;..." text (checkpoint metadata) / parses it back.
 * unet_config_parse returns 0 on success, -1 with a message in err. */
void unet_config_str(const UNetConfig *cfg, char *buf, size_t cap);
int unet_config_parse(const char *s, UNetConfig *cfg, char *err, size_t errcap);

#endif
