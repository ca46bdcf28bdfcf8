"""The instances a proxy config registers: ``costroute_plugins.proxy.plugins.<name>``.

LiteLLM resolves each dotted path separately, and when the config file sits beside a source checkout it
executes this file afresh for every path instead of importing it. So this file only re-exports: the instances
live in ``instances.py``, imported normally and therefore created once per proxy process.
"""

from costroute_plugins.proxy.instances import affinity, budget, cache, classifier, context, quality, spend

__all__ = ["affinity", "budget", "cache", "classifier", "context", "quality", "spend"]
