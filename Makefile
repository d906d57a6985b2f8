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
RASA_PORT ?= 5005
ACTIONS_PORT ?= 5055

# Retrain only when what the model is built from changes.
TRAIN_INPUTS := config.yml domain.yml \
	$(shell find data bot/safety -name '*.yml' 2>/dev/null) \
	bot/nlu_components.py bot/policies.py $(wildcard bot/safety/*.py)

export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export RASA_TELEMETRY_ENABLED := false
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install train validate run shell actions test test-unit test-stories cross-validate clean

help:
	@echo "make run      - set up, train if needed, start the bot on http://localhost:$(RASA_PORT)"
	@echo "make shell    - set up, train if needed, chat in the terminal (rasa shell)"
	@echo "make test     - set up, validate, train if needed, run every test"
	@echo "make cross-validate - NLU cross-validation figures (slow, not in CI)"

$(INSTALLED): requirements.lock scripts/ensure-venv.sh
	@scripts/ensure-venv.sh
	@touch $@

install: $(INSTALLED)

$(MODEL): $(INSTALLED) $(TRAIN_INPUTS)
	$(RASA) train --fixed-model-name ketamine-aid --out models
	@touch $@

train: $(MODEL)

validate: $(INSTALLED)
	$(RASA) data validate --fail-on-warnings

actions: $(INSTALLED)
	$(RASA) run actions --port $(ACTIONS_PORT)

run: $(MODEL)
	@mkdir -p .rasa_state
	@$(RASA) run actions --port $(ACTIONS_PORT) > .rasa_state/actions.log 2>&1 & \
	actions_pid=$$!; trap 'kill $$actions_pid 2>/dev/null' EXIT INT TERM; \
	echo "Action server: http://localhost:$(ACTIONS_PORT) (log: .rasa_state/actions.log)"; \
	echo "Starting the bot. When it says 'Rasa server is up and running', chat with:"; \
	echo "  curl -XPOST localhost:$(RASA_PORT)/webhooks/rest/webhook -d '{\"sender\":\"a\",\"message\":\"hi\"}'"; \
	$(RASA) run --model $(MODEL) --port $(RASA_PORT)

shell: $(MODEL)
	@mkdir -p .rasa_state
	@$(RASA) run actions --port $(ACTIONS_PORT) > .rasa_state/actions.log 2>&1 & \
	actions_pid=$$!; trap 'kill $$actions_pid 2>/dev/null' EXIT INT TERM; \
	$(RASA) shell --model $(MODEL)

test: validate $(MODEL)
	$(PY) -m pytest
	$(MAKE) test-stories

test-stories: $(MODEL)
	$(RASA) test core --model $(MODEL) --stories tests/stories --fail-on-prediction-errors --out results/stories

cross-validate: $(INSTALLED)
	$(RASA) test nlu --nlu data --cross-validation --folds 5 --out results/cross-validation

clean:
	rm -rf models results .rasa
