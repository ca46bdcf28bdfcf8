"""Small-model-sufficient router: scores a request's need for the premium tier and picks the cheapest tier.

The pieces mirror RouteLLM's layout: every classifier implements one method (``TierClassifier.premium_need``),
training, calibration and evaluation are separate commands, and the proxy only ever calls ``Router.decide``.
Import from the submodules (``costroute_plugins.routing.router`` ...) so loading this package stays cheap.
"""
