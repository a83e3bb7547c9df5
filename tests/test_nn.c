/* test_nn.c - parameter counts and names of the default networks. */
#include <string.h>

#include "../nn/classifier.h"
#include "../nn/unet.h"
#include "harness.h"

static void test_unet_param_counts(void)
{
    UNet net;
    UNetConfig c = unet_s_config(0);
    unet_build(&net, &c);
    T_EQ_INT(net.params.total, 1062497);
    T_OK(params_find(&net.params, "mid.1.qkv.weight") >= 0);
    T_OK(params_find(&net.params, "up.7.conv2.bias") >= 0);
    T_OK(params_find(&net.params, "up.5.conv.weight") >= 0);
    unet_free(&net);
    c = unet_s_config(1);
    unet_build(&net, &c);
    T_EQ_INT(net.params.total, 1063905);
    unet_free(&net);
    c = ctrl_s_config(0);
    unet_build(&net, &c);
    T_EQ_INT(net.params.total, 159985);
    unet_free(&net);
    c = ctrl_s_config(1);
    unet_build(&net, &c);
    T_EQ_INT(net.params.total, 160625);
    unet_free(&net);
}

static void test_classifier_param_counts(void)
{
    Classifier c;
    classifier_build(&c, ARCH_MLP);
    T_EQ_INT(c.params.total, 269322);
    classifier_free(&c);
    classifier_build(&c, ARCH_CNN);
    T_EQ_INT(c.params.total, 421642);
    classifier_free(&c);
}

const TestCase nn_tests[] = {
    {"unet_param_counts", test_unet_param_counts},
    {"classifier_param_counts", test_classifier_param_counts},
    {NULL, NULL},
};
