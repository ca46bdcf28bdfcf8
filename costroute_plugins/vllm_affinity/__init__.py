"""Prefix-affinity routing across vLLM replicas: pure logic, no LiteLLM imports.

A prompt is cut into token blocks the size of the workers' KV-cache blocks and hashed as a chain, as vLLM's
automatic prefix cache does (``blocks``). A policy (``policy``) sends it to the replica most likely to hold its
longest prefix: a local index of what each replica was recently sent (``prefix_index``), else the prefix's place
on a consistent-hash ring (``ring``), both subject to a load bound computed from live worker state
(``replicas``, filled by ``poller`` from each worker's /metrics). ``simulator`` replays a workload against a
model of vLLM's block LRU per replica to project hit rates for more replicas than a test machine can run.
"""
