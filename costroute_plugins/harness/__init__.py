"""Running costroute's real processes on this machine: the one place that starts, waits for and stops them.

``costroute serve``, ``costroute replay``, the tests and the benchmarks all start the real LiteLLM proxy (and stub
tiers, vLLM workers, load) the same way, so a fix to how a child is started or stopped reaches all four.
Nothing here imports LiteLLM: the proxy is always a child process, started from its ``litellm`` script.
"""
