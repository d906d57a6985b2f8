# Ketamine-therapy decision aid (Rasa 3.6). `make run` and `make test` set up
# everything themselves: .venv on Python 3.10, packages, training.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
BIN       := $(VENV)/bin
PY        := $(BIN)/python
RASA      := $(BIN)/rasa
INSTALLED := $(VENV)/.installed
MODEL     := models/ketamine-aid.tar.gz
# Ports and addresses: each can be set on the command line, e.g.
#   make run ACTIONS_PORT=5155 RASA_PORT=5105
# Everything listens on this computer only (127.0.0.1) unless told otherwise;
# put a reverse proxy with HTTPS in front for visitors (README: Deployment).
RASA_PORT ?= 5005
RASA_HOST ?= 127.0.0.1
ACTIONS_PORT ?= 5055
# The action server has no authentication: never expose it.
ACTIONS_HOST ?= 127.0.0.1
WIDGET_PORT ?= 8000
CONSOLE_PORT ?= 8081
STATE     := .rasa_state
# Site origins allowed to call the bot from a browser (never "*"). Rasa keeps
# only the last --cors flag, so all origins go after one flag.
WIDGET_ORIGINS ?= http://localhost:$(WIDGET_PORT) http://127.0.0.1:$(WIDGET_PORT)

# Retrain only when what the model is built from changes.
TRAIN_INPUTS := config.yml domain.yml \
	$(shell find data bot/safety -name '*.yml' 2>/dev/null) \
	bot/nlu_components.py bot/nlu_spelling.py bot/spelling.py bot/nlu_comparison.py bot/nlu_safety.py bot/policies.py $(wildcard bot/safety/*.py)

export TF_CPP_MIN_LOG_LEVEL := 2
# endpoints.yml reads the action server's port as ${ACTIONS_PORT}.
export ACTIONS_PORT
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export RASA_TELEMETRY_ENABLED := false
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install lint train validate run shell actions console browser-deps test test-stories bench blind cross-validate clean cluster cluster-deps test-cluster state

help:
	@echo "make run      - set up, train if needed, start the bot on http://$(RASA_HOST):$(RASA_PORT)"
	@echo "               (ports: RASA_PORT=$(RASA_PORT) ACTIONS_PORT=$(ACTIONS_PORT) WIDGET_PORT=$(WIDGET_PORT) CONSOLE_PORT=$(CONSOLE_PORT))"
	@echo "make shell    - set up, train if needed, chat in the terminal (rasa shell)"
	@echo "make test     - set up, lint, validate, train if needed, run every test"
	@echo "make lint     - ruff check and ruff format --check (config: ruff.toml)"
	@echo "make cluster  - REPLICAS (2) Rasa servers on PostgreSQL + Redis behind HAProxy on :$(RASA_PORT)"
	@echo "make test-cluster - the cluster tests alone (part of make test)"
	@echo "make console  - staff phone console on http://127.0.0.1:$(CONSOLE_PORT) (needs STAFF_CONSOLE_TOKEN)"
	@echo "make bench    - speed benchmark against Rasa's starter bot (slow, not in CI)"
	@echo "make blind    - safety figures on the blind sets in tests/blind/ (real servers, REST channel)"
	@echo "make cross-validate - NLU cross-validation figures (slow, not in CI)"

$(INSTALLED): requirements.lock scripts/ensure-venv.sh
	@echo "==> Installing the pinned packages into .venv (first time: a few minutes; log: .venv/pip.log)"
	@scripts/ensure-venv.sh
	@touch $@

install: $(INSTALLED)

# Rasa warns about the faq/advice intents found in more than one file (the
# retrieval intents' responses live in data/responses/) and about response
# selector data without a ResponseSelector (LexicalIntentClassifier selects the
# answers): both expected.
$(MODEL): $(INSTALLED) $(TRAIN_INPUTS)
	@echo "==> Training the model ($(MODEL); data or config changed; about a minute)"
	@$(RASA) train --quiet --fixed-model-name ketamine-aid --out models
	@touch $@

train: $(MODEL)

# ruff (pinned in requirements.lock, config in ruff.toml): lint, then format check.
lint: $(INSTALLED)
	@echo "==> Linting (ruff check, ruff format --check)"
	@$(BIN)/ruff check --quiet .
	@$(BIN)/ruff format --check --quiet .

validate: $(INSTALLED)
	@echo "==> Validating the training data (rasa data validate)"
	@$(RASA) data validate --quiet --fail-on-warnings

# Conversations, logs and the staff token live here: this user only.
state:
	@install -d -m 700 $(STATE) && chmod 700 $(STATE)

# rasa_sdk takes its listening address from SANIC_HOST.
actions: $(INSTALLED)
	SANIC_HOST=$(ACTIONS_HOST) $(RASA) run actions --port $(ACTIONS_PORT)

run: $(MODEL) state
	@echo "==> Starting the action server, the sample clinic site and the bot"
	@SANIC_HOST=$(ACTIONS_HOST) $(RASA) run actions --port $(ACTIONS_PORT) > $(STATE)/actions.log 2>&1 & \
	actions_pid=$$!; \
	$(PY) -m bot.widget_server --port $(WIDGET_PORT) --bot-url http://127.0.0.1:$(RASA_PORT) > $(STATE)/widget.log 2>&1 & \
	widget_pid=$$!; \
	trap 'kill $$actions_pid $$widget_pid 2>/dev/null' EXIT INT TERM HUP; \
	echo "Action server: http://$(ACTIONS_HOST):$(ACTIONS_PORT) (log: $(STATE)/actions.log)"; \
	echo "Sample clinic site with the chat widget: http://localhost:$(WIDGET_PORT)/demo/"; \
	echo "Starting the bot. When it says 'Rasa server is up and running', chat with:"; \
	echo "  curl -XPOST 127.0.0.1:$(RASA_PORT)/webhooks/rest/webhook -H 'Content-Type: application/json' -d '{\"sender\":\"a\",\"message\":\"hi\"}'"; \
	$(RASA) run --model $(MODEL) --interface $(RASA_HOST) --port $(RASA_PORT) --cors $(WIDGET_ORIGINS)

shell: $(MODEL) state
	@echo "==> Starting the action server and the bot in this terminal"
	@SANIC_HOST=$(ACTIONS_HOST) $(RASA) run actions --port $(ACTIONS_PORT) > $(STATE)/actions.log 2>&1 & \
	actions_pid=$$!; trap 'kill $$actions_pid 2>/dev/null' EXIT INT TERM HUP; \
	$(RASA) shell --model $(MODEL) --interface $(RASA_HOST) --port $(RASA_PORT)

console: $(MODEL) state
	$(PY) -m bot console --port $(CONSOLE_PORT)

# Debian's Chromium for the browser tests (Playwright drives it; nothing is downloaded).
browser-deps:
	@[ -x /usr/bin/chromium ] || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

test: lint validate $(MODEL) browser-deps cluster-deps
	@echo "==> Running the tests (pytest; the browser tests start real servers)"
	@$(PY) -m pytest --ignore=tests/cluster
	@$(MAKE) --no-print-directory test-stories
	@$(MAKE) --no-print-directory test-cluster

# --- several replicas on PostgreSQL + Redis behind HAProxy (README: "Cluster") ---
REPLICAS ?= 2

# Debian's postgresql, redis-server and haproxy, installed when missing.
cluster-deps:
	@scripts/cluster/ensure-packages.sh

cluster: $(MODEL) cluster-deps
	REPLICAS=$(REPLICAS) RASA_PORT=$(RASA_PORT) ACTIONS_PORT=$(ACTIONS_PORT) \
	WIDGET_ORIGINS="$(WIDGET_ORIGINS)" $(PY) -m scripts.cluster

# Real PostgreSQL, Redis, HAProxy and Rasa replicas on free loopback ports.
test-cluster: $(MODEL) cluster-deps
	@echo "==> Running the cluster tests (PostgreSQL, Redis, HAProxy, two replicas; about 2.5 minutes)"
	@$(PY) -m pytest tests/cluster

bench: $(MODEL)
	$(PY) -m bench.run --model $(MODEL)

# Each blind set on its own, through the real servers; prints figures only.
BLIND_SETS ?= $(sort $(wildcard tests/blind/safety_*/set.yml))
blind: $(MODEL)
	@for set in $(BLIND_SETS); do $(PY) scripts/blind_eval.py $$set || exit 1; done

test-stories: $(MODEL)
	@echo "==> Running the test stories (rasa test core)"
	@$(RASA) test core --quiet --model $(MODEL) --stories tests/stories --fail-on-prediction-errors --out results/stories

cross-validate: $(INSTALLED)
	$(RASA) test nlu --nlu data --cross-validation --folds 5 --out results/cross-validation

clean:
	rm -rf models results .rasa
