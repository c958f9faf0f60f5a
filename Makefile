# The README's two commands. Both set up what is missing first (Debian packages when run as root, .venv).
.PHONY: demo test lint setup

demo:
	bash scripts/bootstrap.sh demo
	.venv/bin/python -m demo

test:
	bash scripts/bootstrap.sh test
	.venv/bin/ruff check .
	.venv/bin/python -m pytest

lint:
	.venv/bin/ruff check .
