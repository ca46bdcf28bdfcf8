"""The one set of plugin instances of a proxy process, sharing one ``Runtime``.

Imported through ``plugins.py`` (the module a config names); being a normal import, it runs once per process
whatever LiteLLM does with ``plugins.py``. All plugins share one ``Runtime`` built from the proxy's config.
"""

from __future__ import annotations

from costroute_plugins.proxy.affinity_plugin import AffinityPlugin
from costroute_plugins.proxy.budget_plugin import BudgetPlugin
from costroute_plugins.proxy.cache_admin_route import mount_cache_admin_route
from costroute_plugins.proxy.cache_plugin import CachePlugin
from costroute_plugins.proxy.classifier import RouterClassifierPlugin
from costroute_plugins.proxy.context_plugin import RequestContextPlugin
from costroute_plugins.proxy.feedback_route import mount_feedback_route
from costroute_plugins.proxy.quality_plugin import QualityPlugin
from costroute_plugins.proxy.quality_route import mount_quality_route
from costroute_plugins.proxy.runtime import Runtime
from costroute_plugins.proxy.spend_plugin import SpendPlugin

runtime = Runtime.from_proxy()

context = RequestContextPlugin(runtime)
cache = CachePlugin(runtime)
budget = BudgetPlugin(runtime)
spend = SpendPlugin(runtime)
affinity = AffinityPlugin(runtime)
quality = QualityPlugin(runtime)
classifier = RouterClassifierPlugin(runtime)
mount_feedback_route(runtime)
mount_quality_route(runtime, quality)
mount_cache_admin_route(runtime, cache)
