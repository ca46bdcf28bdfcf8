"""``costroute serve``: start the LiteLLM proxy for local development, standing in local vLLM for missing keys."""
