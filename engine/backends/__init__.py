"""Teacher backends: OpenAI-compatible HTTP and in-process vLLM, behind one interface."""
