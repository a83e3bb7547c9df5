/* apps.h - the subcommands of `cmad`; each takes argv from its own name on. */
#ifndef CMAD_APPS_H
#define CMAD_APPS_H

int cmd_gradcheck(int argc, char **argv);
int cmd_train_score(int argc, char **argv);
int cmd_train_classifier(int argc, char **argv);
int cmd_test_classifier(int argc, char **argv);
int cmd_control(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_eval(int argc, char **argv);

#endif
