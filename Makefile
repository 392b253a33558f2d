# The two commands a newcomer needs. The logic lives in scripts/ so CI (.ci/run) runs the same thing.
.PHONY: run test

run: ## set up and start Rapport with demo data on http://127.0.0.1:8000/
	@bash scripts/run.sh

test: ## every check CI runs: lint, types, layers, deploy check, tests on SQLite and PostgreSQL, browser
	@bash scripts/test.sh
