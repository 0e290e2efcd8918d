# mop's front door. `make run` and `make test` work on a fresh Debian 12 machine.
BUILD       ?= build
ASAN_BUILD  ?= build-asan
JOBS        ?= $(shell nproc)
FUZZ_SECONDS ?= 60
CONF        ?= conf/standalone.conf
ARGS        ?=

.PHONY: setup build run test test-unit test-asan fuzz bench bench-compare deb clean

setup:
	./scripts/setup

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# The Debian package (packaging/): $(BUILD)/mop_<version>_<arch>.deb
deb: build
	cd $(BUILD) && cpack -G DEB

run: setup build
	./$(BUILD)/mop standalone -c $(CONF) $(ARGS)

# Every ctest run writes a JUnit report into its build dir; scripts/ctest-skipped then lists the
# skipped tests with their reasons (ctest only names them among "did not run"). The exit code
# stays ctest's: a skip is shown, not turned into a failure.
JUNIT = ctest-junit.xml

test: setup build
	rm -f $(BUILD)/$(JUNIT)
	ctest --test-dir $(BUILD) --output-on-failure -j 2 --timeout 900 --output-junit $(JUNIT); \
	  rc=$$?; ./scripts/ctest-skipped $(BUILD)/$(JUNIT); exit $$rc

# The unit tests only (fast, no external peers).
test-unit: build
	rm -f $(BUILD)/$(JUNIT)
	ctest --test-dir $(BUILD) --output-on-failure -j 2 -E '^integration' --output-junit $(JUNIT); \
	  rc=$$?; ./scripts/ctest-skipped $(BUILD)/$(JUNIT); exit $$rc

# The whole suite again, built with AddressSanitizer and UndefinedBehaviorSanitizer. -O1 -g1 keeps
# line numbers in reports and builds about twice as fast as -O2 -g on two cores (CI time budget).
# No -DNDEBUG: every assert runs in this build and in the fuzz targets. It is a clang build with
# the libFuzzer targets configured in (MOP_FUZZ: the libraries the fuzzers steer through carry
# coverage counters, which the tests' ASan runtime ignores), so `make fuzz` after it only links
# the fuzzers instead of building every library a third time.
SANITIZED_CMAKE = CC=clang CXX=clang++ cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" \
	  -DMOP_SANITIZE=ON -DMOP_FUZZ=ON -DMOP_BUILD_BENCH=OFF
test-asan: setup
	$(SANITIZED_CMAKE)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	rm -f $(ASAN_BUILD)/$(JUNIT)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j 2 --timeout 900 --output-junit $(JUNIT); \
	  rc=$$?; ./scripts/ctest-skipped $(ASAN_BUILD)/$(JUNIT); exit $$rc

# libFuzzer targets, each run for FUZZ_SECONDS: the MQTT 3.1.1 and MQTT 5 decoders, the
# Pulsar frame decoder, the Pulsar server's command handling, the Pulsar server with several
# connections, the whole MQTT server and the Pulsar client against a hostile broker
# (fuzz/README.md). They live in the sanitizer build ($(ASAN_BUILD), above). New inputs go to the
# build folder; the seed corpora stay as committed. A libFuzzer process uses one core, so fuzz/run
# runs JOBS targets at a time, each for FUZZ_SECONDS.
FUZZ_TARGETS = mqtt_decoder_fuzz:mqtt mqtt5_decoder_fuzz:mqtt5 pulsar_frame_fuzz:pulsar pulsar_server_fuzz:pulsar_server \
  pulsar_connections_fuzz:pulsar_connections mqtt_server_fuzz:mqtt_server pulsar_client_fuzz:pulsar_client \
  http_server_fuzz:http_server frame_reader_fuzz:frame_reader
fuzz: setup
	$(SANITIZED_CMAKE)
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target $(foreach t,$(FUZZ_TARGETS),$(firstword $(subst :, ,$(t))))
	./fuzz/run $(ASAN_BUILD) $(FUZZ_SECONDS) $(JOBS) $(FUZZ_TARGETS)

# Google Benchmark programs: codec and topic-matching micro-benchmarks, the store's group commit
# (it writes a few MB under $$TMPDIR, with fsync).
bench: setup build
	./$(BUILD)/bench/mop_codec_bench
	./$(BUILD)/bench/mop_store_bench

# mop standalone against mosquitto with the same `mop bench` shapes; see bench/README.md.
COMPARE_ARGS ?=
bench-compare: setup build
	./bench/compare --mop $(BUILD)/mop $(COMPARE_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
