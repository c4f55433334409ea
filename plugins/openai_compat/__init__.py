"""``openai-compatible``: a model served behind an OpenAI-compatible chat completions endpoint."""
