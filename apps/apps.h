/* apps.h - the subcommands of `cmad`; each takes argv from its own name on. */
#ifndef CMAD_APPS_H
#define CMAD_APPS_H

int cmd_gradcheck(int argc, char **argv);

#endif
