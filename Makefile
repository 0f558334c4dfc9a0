# cssmc: one Makefile. `make` builds build/cssmc; `make test` runs the suite
# (what .ci/run calls); `make demo` is the README's first command.
#
# Sources are found by directory, so adding a file to a layer needs no edit
# here. Generated files (flex, bison) and objects go to build/.

CC      ?= cc
CFLAGS  ?= -O2 -g
B       := build
# override: `make CFLAGS=...` (make asan) replaces the optimisation flags, not these
override CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -fopenmp -MMD -MP \
           -I. -Icommon -Ilang -Icompiler -Iruntime -Iruntime/train -Iruntime/data -I$(B)
LDLIBS  += -lfftw3 -lfftw3f -lpng -lz -ldl -lpthread -lm

LAYERS  := common lang compiler runtime runtime/train runtime/data
SRCS    := $(filter-out compiler/main.c,$(foreach d,$(LAYERS),$(wildcard $(d)/*.c)))
OBJS    := $(SRCS:%.c=$(B)/%.o) $(if $(wildcard lang/parser.y),$(B)/lang/lexer.o $(B)/lang/parser.o)
UNIT    := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(wildcard tests/unit/*.c))

.PHONY: all test test-gpu demo bench asan fuzz clean deps
all: $(B)/cssmc $(UNIT)

# The build needs flex, bison and the libraries: install them first.
$(OBJS) $(B)/compiler/main.o: | deps

deps:
	@tools/deps.sh

$(B)/lang/parser.c $(B)/lang/parser.h &: lang/parser.y
	@mkdir -p $(dir $@)
	bison -Wall -Werror --defines=$(B)/lang/parser.h -o $(B)/lang/parser.c $<

$(B)/lang/lexer.c: lang/lexer.l $(B)/lang/parser.h
	@mkdir -p $(dir $@)
	flex -o $@ $<

$(B)/lang/lexer.o: $(B)/lang/lexer.c
	$(CC) $(CFLAGS) -Wno-sign-compare -Wno-unused-function -c -o $@ $<

$(B)/%.o: %.c | $(if $(wildcard lang/parser.y),$(B)/lang/parser.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/%.o: $(B)/%.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libcssm.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(B)/cssmc: $(B)/compiler/main.o $(B)/libcssm.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/unit/%: tests/unit/%.c $(B)/libcssm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libcssm.a $(LDLIBS)

test: all
	@tools/deps.sh --test
	@tests/run.sh

test-gpu: deps all
	@tests/run.sh gpu

bench: deps all
	@tools/bench.sh

demo: deps all
	@tools/demo.sh

asan:
	$(MAKE) B=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
	    LDFLAGS="-fsanitize=address,undefined" all

# libFuzzer target for the front end; run it with
# build-fuzz/fuzz_parse -max_len=4096 -timeout=10 -close_fd_mask=2 CORPUS_DIR tests/fuzz/corpus tests/parse
fuzz: $(B)/lang/lexer.c $(B)/lang/parser.c
	@mkdir -p build-fuzz
	clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
	    -Icommon -Ilang -I$(B)/lang -o build-fuzz/fuzz_parse tests/fuzz/fuzz_parse.c \
	    $(wildcard common/*.c lang/*.c) $^ -lm

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(B) -name '*.d' 2>/dev/null)
