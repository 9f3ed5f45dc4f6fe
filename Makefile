# plaster - top-level entry points. `make demo` and `make test` do all set-up on Debian 12.
BUILD ?= build
ASAN_BUILD ?= build/asan
JOBS ?= $(shell nproc)
DEMO_MODEL ?= examples/models/mnist_cnn.onnx

.PHONY: all deps build asan test demo clean

all: build

deps:
	@bash scripts/deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPL_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

test: deps build asan
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: deps build
	@bash scripts/demo.sh $(BUILD)/plaster

clean:
	rm -rf $(BUILD)
