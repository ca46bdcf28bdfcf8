"""The savings replay: workloads from outcome and pair data, replayed through the real proxy against stub tiers."""
