# graft - build, test, bench, install. `make help` lists the targets.
#
#   make            libgraft.a, libgraft.so and the graft CLI in build/
#   make test       installs missing Debian packages (as root), builds and runs the Check suite
#   make test SANITIZE=1   the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      kernel benchmarks; tables go to bench/results/
#   make install PREFIX=/usr/local
#   make valgrind   the CLI's commands under valgrind memcheck (tests/valgrind.sh)
#   make fuzz [FUZZ_SECONDS=N]   each libFuzzer harness in tests/fuzz/ for N seconds (clang)

CC      ?= cc
PREFIX  ?= /usr/local
SANITIZE ?= 0

DEB_PKGS = libopenblas-openmp-dev libstb-dev check libcjson-dev pkg-config

ifeq ($(SANITIZE),1)
BUILD   := build-san
OPT     := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   := build
OPT     := -O2 -g
endif

WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -fPIC -fopenmp -Iinclude -Isrc -Isrc/eval -Ikernels $(CFLAGS)
LDLIBS_ALL := -fopenmp -lm -lpthread -ldl -lcjson $(LDLIBS)

# Per-variant ISA flags: each kernels/<variant>/ file is compiled with only its own.
ISA_avx2   := -mavx2 -mfma -mf16c
ISA_avx512 := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni

LIB_SRC  := $(wildcard src/*.c) $(wildcard src/eval/*.c) $(wildcard kernels/*.c) $(wildcard kernels/ref/*.c) \
            $(wildcard kernels/avx2/*.c) $(wildcard kernels/avx512/*.c)
LIB_SRC  := $(filter-out src/main.c src/cli_%.c,$(LIB_SRC))
CLI_SRC  := src/main.c $(wildcard src/cli_*.c)
TEST_SRC := $(wildcard tests/*.c)
BENCH_SRC:= $(wildcard bench/bench_*.c)
BENCH_LIB:= $(filter-out $(BENCH_SRC),$(wildcard bench/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

.PHONY: all lib test bench install deps demo clean help fuzz fuzz-seeds valgrind
all: $(BUILD)/libgraft.a $(BUILD)/libgraft.so $(BUILD)/graft

help:
	@sed -n '1,10p' Makefile

$(BUILD)/kernels/avx2/%.o: kernels/avx2/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(ISA_avx2) -MMD -MP -c $< -o $@

$(BUILD)/kernels/avx512/%.o: kernels/avx512/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(ISA_avx512) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/libgraft.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libgraft.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/graft: $(CLI_OBJ) $(BUILD)/libgraft.a
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/libgraft.a $(OPT) $(LDLIBS_ALL)

# ---- tests: one Check runner; every `Suite *suite_xxx(void)` in tests/*.c is registered ----
$(BUILD)/tests/suites.inc: $(TEST_SRC)
	@mkdir -p $(dir $@)
	@grep -h -o '^Suite \*suite_[a-z0-9_]*(void)' $(TEST_SRC) | sed 's/^Suite \*\(suite_[a-z0-9_]*\)(void)/SUITE(\1)/' > $@.tmp
	@mv $@.tmp $@

$(BUILD)/tests/main.o: $(BUILD)/tests/suites.inc
$(BUILD)/tests/main.o: CFLAGS_ALL += -I$(BUILD)/tests

$(BUILD)/graft-tests: $(TEST_OBJ) $(BUILD)/libgraft.a
	$(CC) -o $@ $(TEST_OBJ) $(BUILD)/libgraft.a $(OPT) $(CHECK_LIBS) $(LDLIBS_ALL) \
	    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

test: deps
	@$(MAKE) --no-print-directory $(BUILD)/graft-tests $(BUILD)/graft
	GRAFT_CLI=$(BUILD)/graft $(BUILD)/graft-tests

# ---- benchmarks ----
# bench/bench_*.c are programs; the other bench/*.c (shared probes) are linked into each.
$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BENCH_LIB:%.c=$(BUILD)/%.o) $(BUILD)/libgraft.a
	$(CC) -o $@ $< $(BENCH_LIB:%.c=$(BUILD)/%.o) $(BUILD)/libgraft.a $(OPT) $(LDLIBS_ALL)

bench: deps
	@echo 'graft bench: timings are medians; run on an idle machine'
	@$(MAKE) --no-print-directory $(BENCH_SRC:%.c=$(BUILD)/%) $(BUILD)/graft
	@mkdir -p bench/results
	@set -e; for b in $(BENCH_SRC:%.c=$(BUILD)/%); do echo "== $$b"; $$b; done

# ---- demo: graft's main job (an image and a question in, an answer out) ----
# The shipped default model (models/shapes-mlp-l4, trained by models/recipes/ on the shapes world) on a
# scene `graft world` draws now: the scene's ground truth, the model's caption and one VQA answer.
DEMO := $(BUILD)/demo
DEMO_MODEL := models/shapes-mlp-l4
DEMO_SEED := 2028
DEMO_Q := What shape is at the bottom right?
DEMO_RUN = $(BUILD)/graft -m $(DEMO_MODEL)/model.gguf --mmproj $(DEMO_MODEL)/mmproj.gguf --image $(DEMO)/images/000000.png --temp 0 --no-display-prompt
demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/graft
	@rm -rf $(DEMO)
	@echo '$$ graft world --seed $(DEMO_SEED) --n 1 -o $(DEMO)'
	@$(BUILD)/graft world --seed $(DEMO_SEED) --n 1 -o $(DEMO)
	@echo "ground truth: $$(sed -n 's/.*"answers": \["\([^"]*\)".*/\1/p' $(DEMO)/caption.jsonl)"
	@echo
	@echo '$$ graft -m $(DEMO_MODEL)/model.gguf --mmproj $(DEMO_MODEL)/mmproj.gguf --image $(DEMO)/images/000000.png \'
	@echo '    -p "Provide a one-sentence caption for the provided image." --temp 0 --no-display-prompt'
	@$(DEMO_RUN) -p "Provide a one-sentence caption for the provided image."
	@echo
	@echo '$$ graft ... -p "$(DEMO_Q)\nAnswer the question using a single word or phrase."'
	@$(DEMO_RUN) -p "$(DEMO_Q)\nAnswer the question using a single word or phrase." 2>/dev/null
	@echo "(ground truth: $$(grep -F '"$(DEMO_Q)"' $(DEMO)/vqa.jsonl | sed -n 's/.*"answers": \["\([^"]*\)".*/\1/p'))"

# ---- packages: installs what is missing when root, otherwise says what to run ----
deps:
	@missing=""; for p in $(DEB_PKGS) $(EXTRA_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "graft: installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "graft: missing packages; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin \
	           $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(BUILD)/libgraft.a $(BUILD)/libgraft.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/*.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(BUILD)/graft $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/#define GRAFT_VERSION_STRING "\(.*\)"/\1/p' include/graft.h)|' \
	    graft.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/graft.pc

# ---- fuzzing: libFuzzer harnesses (tests/fuzz/fuzz_*.c) over the library built with clang,
# ASan and UBSan. Each runs FUZZ_SECONDS from the committed seeds (tests/fuzz/corpus/<name>/) plus
# what earlier runs found (build-fuzz/corpus/<name>/); a crash stops the run and leaves the input
# in build-fuzz/crash-<name>-*. `make fuzz-seeds` rewrites the seeds with graft's own writers.
FUZZ_SECONDS ?= 60
FUZZ_PKGS := clang libclang-rt-dev libomp-dev
FUZZ_BUILD := build-fuzz
FUZZ_OPT := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(FUZZ_BUILD)/libgraft.a
	clang -std=c11 -D_GNU_SOURCE $(subst fuzzer-no-link,fuzzer,$(FUZZ_OPT)) -Iinclude -Isrc -Isrc/eval -Ikernels -Itests/fuzz \
	    $< $(FUZZ_BUILD)/libgraft.a -fopenmp -lm -lpthread -ldl -lcjson -o $@

fuzz:
	@$(MAKE) --no-print-directory deps EXTRA_PKGS="$(FUZZ_PKGS)"
	@$(MAKE) --no-print-directory CC=clang BUILD=$(FUZZ_BUILD) OPT="$(FUZZ_OPT)" $(FUZZ_BUILD)/libgraft.a
	@$(MAKE) --no-print-directory $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
	@set -e; for h in $(FUZZ_NAMES); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$h; \
	  if ! $(FUZZ_BUILD)/fuzz_$$h -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	      -artifact_prefix=$(FUZZ_BUILD)/crash-$$h- -print_final_stats=1 \
	      $(FUZZ_BUILD)/corpus/$$h tests/fuzz/corpus/$$h > $(FUZZ_BUILD)/$$h.log 2>&1; then \
	    tail -40 $(FUZZ_BUILD)/$$h.log; echo "fuzz $$h: FAILED (input saved as $(FUZZ_BUILD)/crash-$$h-*)"; exit 1; \
	  fi; \
	  echo "fuzz $$h: $$(grep -o 'stat::number_of_executed_units: *[0-9]*' $(FUZZ_BUILD)/$$h.log | grep -o '[0-9]*$$') runs in $(FUZZ_SECONDS) s, no crash"; \
	done

valgrind:
	@$(MAKE) --no-print-directory deps EXTRA_PKGS=valgrind
	@$(MAKE) --no-print-directory $(BUILD)/graft
	tests/valgrind.sh $(BUILD)/graft

fuzz-seeds: $(BUILD)/libgraft.a
	$(CC) $(CFLAGS_ALL) tests/fuzz/make_seeds.c $(BUILD)/libgraft.a $(LDLIBS_ALL) -o $(BUILD)/make_seeds
	$(BUILD)/make_seeds

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
