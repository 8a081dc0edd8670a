"""The vLLM venv, the tiny model and a real vLLM server, for the tests and the bench."""
