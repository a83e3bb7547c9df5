/* small_net.h - a small unet-s (channels 8/16/16) whose weights are all non-zero, for tests
 * that run the samplers and need a score that is not zero (unet-s zero-initialises its
 * output conv).  The EMA is a copy of the weights, which are frozen. */
#ifndef CMAD_SMALL_NET_H
#define CMAD_SMALL_NET_H

#include <string.h>

#include "../nn/unet.h"

static void t_small_score_net(UNet *net, Rng *r)
{
    UNetConfig c = unet_s_config(0);
    size_t j;
    c.ch[0] = 8;
    c.ch[1] = c.ch[2] = 16;
    unet_build(net, &c);
    params_initialise(&net->params, r);
    for (j = 0; j < net->params.total; j++)
        if (net->params.data[j] == 0) net->params.data[j] = (Scalar)(0.01 * rng_normal(r));
    memcpy(net->params.ema, net->params.data, net->params.total * sizeof(Scalar));
    net->params.trainable = 0;
}

#endif
