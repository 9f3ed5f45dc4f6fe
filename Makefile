# plaster - top-level entry points. `make demo` and `make test` do all set-up on Debian 12.
BUILD ?= build
ASAN_BUILD ?= build/asan
FUZZ_BUILD ?= build/fuzz
JOBS ?= $(shell nproc)

.PHONY: all deps build asan fuzz test demo conformance bench-peers clean

all: build

deps:
	@bash scripts/deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# ASan + UBSan build of everything; all tests but fuzzing run on it too.
asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DPL_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# libFuzzer targets for the model loader and plan loading (clang), and the CLI that seeds them.
fuzz:
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPL_FUZZ=ON -DPL_DNNL=OFF -DPL_WERROR=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_load fuzz_plan plaster_cli

test: deps build asan fuzz
	@echo "== tests (release build)"
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer"
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -LE fuzz
	@echo "== loader and plan fuzzing smoke runs"
	@cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzz

conformance: build
	@$(BUILD)/plaster conformance

# plaster against ONNX Runtime, OpenVINO and PyTorch (docs/PERFORMANCE.md); slow, not part of test.
# Extra arguments: make bench-peers PEERS_ARGS="--quick"
bench-peers: build
	@bash bench/peers.sh $(PEERS_ARGS)

demo: deps build
	@bash scripts/demo.sh $(BUILD)/plaster

clean:
	rm -rf $(BUILD)
