# Quick start:  make setup  (venv + ROS wheels + colcon build)   make test  (whole suite)
SHELL := /bin/bash
# ROS_DISTRO=jazzy builds and tests against ROS 2 Jazzy's wheels in .venv-jazzy and
# install-jazzy/ (scripts/ros_distro.sh); the default, Kilted, uses .venv and install/.
ifeq ($(strip $(ROS_DISTRO)),)
ROS_DISTRO := kilted
endif
export ROS_DISTRO
DISTRO_SUFFIX := $(if $(filter kilted,$(ROS_DISTRO)),,-$(ROS_DISTRO))
BUILD_STAMP := install$(DISTRO_SUFFIX)/.instructpart-built
# Everything colcon installs: a new or changed file means a rebuild (symlink install
# makes edits to existing files live without one).
BUILD_INPUTS := setup.cfg setup.py $(wildcard requirements/*.txt) scripts/setup.sh CMakeLists.txt package.xml $(wildcard msg/*.msg srv/*.srv scripts/*_node launch/* config/*) \
	$(shell find instructpart_ros -name '*.py' -not -path '*/__pycache__/*' 2>/dev/null) \
	$(shell find models -type f 2>/dev/null)

.PHONY: setup test demo bench clean help

help:
	@echo "make setup   create .venv (ROS 2 Kilted wheels, CPU torch, project[test]) and colcon build"
	@echo "make test    run the whole test suite against the colcon install (ARGS=... for pytest)"
	@echo "             ROS_DISTRO=jazzy: the same against ROS 2 Jazzy (.venv-jazzy, install-jazzy/; ROS-facing tests)"
	@echo "make demo    perception node over DDS: models/pisa-tiny-synth on a held-out synth scene, then the real knife frame"
	@echo "             -> demo_output/ (LISA=, PISA=, CLIP=, DINOV2= for real weights)"
	@echo "make bench   run every benchmark in bench/ (JSON into bench/results/)"
	@echo "make clean   remove build/, install/, log/ (keeps .venv; ROS_DISTRO=jazzy: build-jazzy/ ...)"

setup: $(BUILD_STAMP)

$(BUILD_STAMP): $(BUILD_INPUTS)
	@bash scripts/setup.sh
	@touch $@

# make demo [LISA=dir CLIP=dir] | [PISA=dir CLIP=dir DINOV2=dir]; without weights models/pisa-tiny-synth
# (trained on synthetic scenes only), else a tiny random model
demo: setup
	@source scripts/env.sh && python -m instructpart_ros.ros.demo --out demo_output \
		$(if $(LISA),--lisa $(LISA)) $(if $(PISA),--pisa $(PISA)) \
		$(if $(CLIP),--clip $(CLIP)) $(if $(DINOV2),--dinov2 $(DINOV2))

test: setup
	@bash scripts/run_tests.sh $(ARGS)

bench: setup
	@bash scripts/run_benchmarks.sh

clean:
	rm -rf build$(DISTRO_SUFFIX) install$(DISTRO_SUFFIX) log$(DISTRO_SUFFIX)
