"""One check of a whole proxy config YAML, run by the proxy's start and by ``costroute check-config`` alike.

costroute depends on parts of the file LiteLLM owns (the callback list, LiteLLM's own cache, ``model_list``) as
much as on its ``costroute:`` section, and LiteLLM takes most mistakes there quietly: a bare-string callback
replaces the whole list, a price for an unknown model group never applies, a second cache replaces ours. Both
callers run ``check_document``, so a file ``check-config`` passes is one the proxy starts with, and every degrade
the start would fall into is printed first. Errors stop the start; warnings are degrades kept on purpose (a
router artifact that cannot load serves the baseline tier, the proxy keeps serving) and are logged at start.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from costroute_plugins.config import (
    SECTION,
    CostrouteConfig,
    CostrouteConfigError,
    RoutingConfig,
    read_document,
    section_problems,
)
from costroute_plugins.config_errors import redact_url
from costroute_plugins.proxy.router_check import our_router_entries, router_problems
from costroute_plugins.spend.config import LedgerConfig
from costroute_plugins.vllm_affinity.config import affinity_problems

PLUGINS = "costroute_plugins.proxy.plugins."
CONTEXT = PLUGINS + "context"
#: The callbacks ``proxy/plugins.py`` exports (its classifier is named in ``model_list``, never as a callback).
CALLBACKS = ("context", "budget", "cache", "affinity", "spend", "quality")
CLASSIFIER = "classifier"


@dataclass(frozen=True)
class Problem:
    """One finding: a line that starts with the dotted key at fault and ends with the fix."""

    message: str
    warning: bool = False


@dataclass(frozen=True)
class ConfigCheck:
    """Everything found in one file, and its ``costroute:`` section when that section is valid on its own."""

    source: str
    config: CostrouteConfig | None
    problems: list[Problem]

    @property
    def errors(self) -> list[str]:
        return [problem.message for problem in self.problems if not problem.warning]

    @property
    def warnings(self) -> list[str]:
        return [problem.message for problem in self.problems if problem.warning]

    def checked_config(self) -> CostrouteConfig:
        """The config to start with; any error raises one ``CostrouteConfigError`` listing every error."""
        if self.errors or self.config is None:
            raise CostrouteConfigError(f"invalid costroute configuration in {self.source}:\n  "
                                       + "\n  ".join(self.errors))
        return self.config


def check_file(path: str | os.PathLike[str]) -> ConfigCheck:
    """``check_document`` on the YAML at ``path``; an unreadable file is its one error."""
    try:
        document = read_document(path)
    except CostrouteConfigError as error:
        return ConfigCheck(str(path), None, [Problem(str(error))])
    return check_document(document, str(path))


def check_document(document: Mapping[str, Any], source: str = "<document>") -> ConfigCheck:
    """Every check of the whole config: LiteLLM's parts costroute relies on, the ``costroute:`` section, and
    the settings that only make sense against ``model_list`` or the files they name."""
    settings, problems = _litellm_settings(document)
    callbacks, callback_problems = _callbacks(settings)
    registered = _registered(callbacks, document)
    problems += callback_problems + _plugin_problems(callbacks, registered)
    problems += _litellm_cache(settings, registered) + _section_presence(document, registered)
    config, lines = section_problems(document.get(SECTION))
    problems += [Problem(line) for line in lines]
    if config is not None:
        problems += [Problem(line) for line in router_problems(document, config)]
        problems += _router_cascade(config.routing)
        problems += _ledger(config.spend.ledger) + _redis(config.redis_url)
        problems += _affinity(document, config, registered) + _prices(document, config)
        problems += _quality(document, config, registered) + _cache_shadow(config, registered)
        problems += _embedding_and_cache(config)
    problems += _master_key(document)
    return ConfigCheck(source, config, problems)


# -- LiteLLM's parts ------------------------------------------------------------------------------------------------
def _litellm_settings(document: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[Problem]]:
    settings = document.get("litellm_settings") or {}
    if isinstance(settings, Mapping):
        return settings, []
    return {}, [Problem(f"litellm_settings: must be a mapping (got {type(settings).__name__}), or LiteLLM cannot "
                        "start. Fix: write `litellm_settings:` followed by indented keys such as callbacks")]


def _callbacks(settings: Mapping[str, Any]) -> tuple[list[str], list[Problem]]:
    """The callback names as LiteLLM will register them, and what is wrong with the way they are written."""
    value = settings.get("callbacks")
    if value is None:
        return [], []
    if isinstance(value, str):
        return [value], [Problem(
            f"litellm_settings.callbacks: a bare string ({value!r}) makes LiteLLM replace its whole callback list "
            "with that one entry, so every other costroute plugin is left out. Fix: write callbacks as a YAML "
            f"list, one `- name` per line (callbacks: [{value}, ...])")]
    if not isinstance(value, list):
        return [], [Problem(f"litellm_settings.callbacks: must be a list of callback names (got "
                            f"{type(value).__name__}). Fix: write one `- name` per line")]
    return [str(entry) for entry in value], []


def _registered(callbacks: list[str], document: Mapping[str, Any]) -> list[str]:
    """costroute plugins the proxy will create, by short name, in callback order (the classifier last)."""
    plugins = [name.removeprefix(PLUGINS) for name in callbacks if name.startswith(PLUGINS)]
    return plugins + ([CLASSIFIER] if our_router_entries(document) else [])


def _plugin_problems(callbacks: list[str], registered: list[str]) -> list[Problem]:
    """Unknown or repeated costroute callbacks, and plugins registered without the context plugin before them:
    it builds the per-request state (tenant, hints) every other costroute plugin reads."""
    problems = []
    for name in dict.fromkeys(registered):
        if name == CLASSIFIER:
            continue
        if name not in CALLBACKS:
            close = difflib.get_close_matches(name, CALLBACKS, n=1)
            hint = f"did you mean {PLUGINS}{close[0]}? " if close else ""
            problems.append(Problem(f"litellm_settings.callbacks: {PLUGINS}{name} is not a costroute plugin, so "
                                    f"LiteLLM cannot load it. Fix: {hint}costroute's callbacks are "
                                    + ", ".join(PLUGINS + known for known in CALLBACKS)))
        elif registered.count(name) > 1:
            problems.append(Problem(f"litellm_settings.callbacks: {PLUGINS}{name} is listed "
                                    f"{registered.count(name)} times, so its hooks can run more than once per "
                                    "request (spend and budgets counted again). Fix: list it once"))
    dependents = [name for name in dict.fromkeys(registered) if name != "context"]
    if dependents and "context" not in registered:
        problems.append(Problem(
            f"litellm_settings.callbacks: {', '.join(_plugin_names(dependents))} "
            f"{'needs' if len(dependents) == 1 else 'need'} {CONTEXT}, which builds the per-request state (tenant, "
            "hints) costroute's plugins read; without it they leave every request alone and the router serves the "
            f"baseline tier. Fix: add {CONTEXT} to litellm_settings.callbacks, before the other costroute "
            "plugins"))
    elif dependents:
        early = [name for name in callbacks[:callbacks.index(CONTEXT)] if name.startswith(PLUGINS)]
        if early:
            problems.append(Problem(
                f"litellm_settings.callbacks: {CONTEXT} comes after {', '.join(early)}, whose hooks then run before "
                f"the request's state exists. Fix: list {CONTEXT} before the other costroute plugins"))
    return problems


def _plugin_names(names: list[str]) -> list[str]:
    return [f"{PLUGINS}{name}" if name != CLASSIFIER else "the `auto` router's classifier" for name in names]


def _litellm_cache(settings: Mapping[str, Any], registered: list[str]) -> list[Problem]:
    """LiteLLM's own response cache becomes ``litellm.cache`` like costroute's semantic cache: one replaces the
    other (whichever LiteLLM sets last), and LiteLLM's keys requests without costroute's per-tenant scope."""
    if not registered:
        return []
    if settings.get("cache") is True:
        return [Problem(
            "litellm_settings.cache: true installs LiteLLM's own response cache as litellm.cache, where costroute "
            "installs its semantic cache: one silently replaces the other, and LiteLLM's cache ignores costroute's "
            "per-tenant scope. Fix: remove litellm_settings.cache (and cache_params), and cache with "
            f"{SECTION}.cache.enabled: true")]
    if "cache_params" in settings:
        return [Problem("litellm_settings.cache_params: LiteLLM ignores it without cache: true, which costroute "
                        f"does not use. Fix: remove it; costroute's cache is set under {SECTION}.cache",
                        warning=True)]
    return []


def _section_presence(document: Mapping[str, Any], registered: list[str]) -> list[Problem]:
    """Registered plugins without a ``costroute:`` section would run on embedded defaults nobody chose;
    a section without plugins does nothing."""
    if registered and document.get(SECTION) is None:
        return [Problem(
            f"{SECTION}: the config registers costroute ({', '.join(_plugin_names(registered))}) but has no "
            f"`{SECTION}:` section, so costroute would run on embedded defaults (tiers cheap, balanced, premium) "
            f"instead of settings you chose. Fix: add a `{SECTION}:` section naming at least your tiers "
            f"({SECTION}: {{tiers: [<cheapest group>, ..., <dearest group>]}}), or remove the costroute plugins")]
    if not registered:
        return [Problem(f"litellm_settings.callbacks: no costroute plugin is registered, so costroute does nothing "
                        f"in this proxy. Fix: add {CONTEXT} and the costroute plugins you want (see "
                        "proxy_config.yaml)", warning=True)]
    return []


def _master_key(document: Mapping[str, Any]) -> list[Problem]:
    """Without a master key in the config or ``LITELLM_MASTER_KEY`` the proxy authenticates nobody."""
    settings = document.get("general_settings") or {}
    if os.environ.get("LITELLM_MASTER_KEY") or (isinstance(settings, Mapping) and settings.get("master_key")):
        return []
    return [Problem("general_settings.master_key: no master key: the proxy serves unauthenticated callers, so every "
                    "request is tenant 'anonymous' and shares one cache scope and one budget. Fix: set "
                    "general_settings.master_key (or LITELLM_MASTER_KEY) and give each team its own key to isolate "
                    "them", warning=True)]


# -- costroute settings against model_list and the files they name --------------------------------------------------
def _router_cascade(routing: RoutingConfig) -> list[Problem]:
    """The tier thresholds resolved as the router resolves them at start. A target the artifact has no
    calibration for stops the start; so does an artifact that cannot load, unless the operator allows a degraded
    start (every ``auto`` request then gets the baseline tier, and it is a warning)."""
    from costroute_plugins.proxy.second_opinions import proxy_second_opinions
    from costroute_plugins.routing.router import Router, RouterConfigError

    if routing.mode == "off":
        return []
    try:
        Router.from_settings(routing, proxy_second_opinions())
    except RouterConfigError as error:
        return _cascade_errors(routing, error)
    except Exception as error:  # what the classifier catches at start: a missing or corrupt artifact
        degraded = routing.allow_degraded_start
        return [Problem(
            f"{SECTION}.routing.artifact: the router cannot load ({type(error).__name__}: {error}), so every `auto` "
            f"request {'is' if degraded else 'would be'} served baseline_tier {routing.baseline_tier}. Fix: point "
            f"{SECTION}.routing.artifact at a valid artifact (`costroute train-router`), or remove it to use the "
            "shipped one" + ("" if degraded else f"; to start degraded anyway, set "
                                                  f"{SECTION}.routing.allow_degraded_start: true"),
            warning=degraded)]
    return []


def _cascade_errors(routing: RoutingConfig, error: Exception) -> list[Problem]:
    """``enter_at`` targets without a calibrated threshold, by tier; else the router's own complaint."""
    from costroute_plugins.routing.artifact import load_artifact
    from costroute_plugins.routing.calibration import parse_target

    artifact = load_artifact(routing.artifact) if routing.classifier == "logistic" else None
    known = [entry.target for entry in artifact.calibration] if artifact else []
    problems = []
    for index, tier in enumerate(routing.tiers):
        if not isinstance(tier.enter_at, str) or tier.enter_at in known:
            continue
        key = f"{SECTION}.routing.tiers[{index}].enter_at"
        if artifact is None:
            problems.append(Problem(
                f"{key}: {tier.enter_at!r} (tier {tier.name}) is a calibration target, but the rules classifier has "
                "no calibration table. Fix: give a number between 0 and 1, or use classifier: logistic"))
        else:
            kind, value = parse_target(tier.enter_at)
            flag = "--quality-target" if kind == "quality" else "--max-premium-share"
            problems.append(Problem(
                f"{key}: {tier.enter_at!r} (tier {tier.name}) has no calibrated threshold in the router artifact "
                f"(it has {', '.join(known)}), so the router could not load and every `auto` request would be served "
                f"baseline_tier {routing.baseline_tier}. Fix: use one of those targets, "
                f"or calibrate this one with `costroute calibrate --data <outcomes.jsonl> {flag} {value:g} --out "
                f"<artifact.json>` and set {SECTION}.routing.artifact to that file"))
    return problems or [Problem(f"{SECTION}.routing.tiers: {error}. Fix: give each dearer tier a target at least "
                                "as strict as the tier below it (a higher quality>= or a lower share<=)")]


def _ledger(ledger: LedgerConfig) -> list[Problem]:
    """The ledger refuses to start without a DSN or a file, and retries a malformed DSN forever (rows pile up in
    the spool). psycopg's own message quotes the DSN, password included, so it is not repeated here. A file
    ledger whose path is a folder would drop every row, so that stops the start too."""
    key = f"{SECTION}.spend.ledger"
    if not ledger.enabled:
        return []
    if ledger.file:
        if os.path.isdir(ledger.file):
            return [Problem(f"{key}.file: {ledger.file!r} is a folder, so no row could be written. Fix: name a file "
                            f"in it, e.g. {os.path.join(ledger.file, 'spend.jsonl')}")]
        return []
    if not ledger.dsn:
        return [Problem(f"{key}.enabled: true needs {key}.dsn (or COSTROUTE_LEDGER_DSN in the environment), "
                        f"and neither is set. Fix: set one, or set {key}.enabled: false; without PostgreSQL, set "
                        f"{key}.file to a path (JSON lines, read by `costroute report --rows`)")]
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(ledger.dsn)
    except ProgrammingError:
        return [Problem(f"{key}.dsn: {redact_url(ledger.dsn)!r} is not a PostgreSQL connection string. Fix: write "
                        "postgresql://user:password@host:5432/database, or libpq key=value pairs")]
    return []


def _redis(url: str | None) -> list[Problem]:
    """Every Redis client is built from this URL at start; a malformed one fails the start."""
    from costroute_plugins.redis_clients import parse

    if not url:
        return []
    try:
        parse(url)
    except ValueError as error:
        return [Problem(f"{SECTION}.redis_url: {redact_url(url)!r} is not a Redis URL ({redact_url(str(error))}). "
                        "Fix: write redis://[:password@]host:6379/0 (rediss:// for TLS, unix:///path for a socket), "
                        "redis+cluster://host:6379[,host:6379...]/ for a Redis Cluster, "
                        "redis+sentinel://host:26379[,host:26379...]/service/0 for Sentinel (docs/redis.md), or unset "
                        "it to keep state in-process")]
    return []


def _affinity(document: Mapping[str, Any], config: CostrouteConfig, registered: list[str]) -> list[Problem]:
    settings = config.vllm_affinity
    if not settings.model_groups:
        return []
    problems = [Problem(line) for line in affinity_problems(document, settings)]
    if "affinity" not in registered:
        problems.append(Problem(f"{SECTION}.vllm_affinity.model_groups: set, but {PLUGINS}affinity is not in "
                                "litellm_settings.callbacks, so no request is placed by prefix. Fix: add it, or "
                                "remove model_groups", warning=True))
    return problems


def _quality(document: Mapping[str, Any], config: CostrouteConfig, registered: list[str]) -> list[Problem]:
    """Audits need their callback, a judge that is a model group, and the spend plugin (whose savings cap them)."""
    settings = config.quality
    if not settings.enabled:
        return []
    key = f"{SECTION}.quality"
    groups = sorted({str(entry.get("model_name")) for entry in document.get("model_list") or []
                     if isinstance(entry, Mapping)})
    problems = []
    if settings.judge not in groups:
        problems.append(Problem(f"{key}.judge: {settings.judge!r} is not a model_name in model_list, so no audit "
                                f"could be graded. Fix: use one of {groups}"))
    for plugin in ("quality", "spend"):
        if plugin not in registered:
            problems.append(Problem(f"{key}.enabled: true, but {PLUGINS}{plugin} is not in litellm_settings."
                                    f"callbacks, so no audit would run. Fix: add {PLUGINS}{plugin}, or set "
                                    f"{key}.enabled: false"))
    return problems


def _cache_shadow(config: CostrouteConfig, registered: list[str]) -> list[Problem]:
    """Shadow mode counts would-be hits by itself; how many of them would have been wrong only audits can say
    (``docs/quality.md``), so a shadow run without them measures half of what it is for."""
    quality = config.quality
    if config.cache.mode != "shadow" or (quality.enabled and quality.cache_sample_rate > 0 and "quality" in registered):
        return []
    return [Problem(f"{SECTION}.cache.mode: shadow counts would-be hits (costroute_cache_shadow_lookups_total), "
                    "but without quality audits nothing measures how many of them would have been wrong answers. "
                    f"Fix: set {SECTION}.quality.enabled: true with a judge and cache_sample_rate above 0 (and "
                    f"{PLUGINS}quality in litellm_settings.callbacks), or accept hit counts only", warning=True)]


def _prices(document: Mapping[str, Any], config: CostrouteConfig) -> list[Problem]:
    """A self-hosted price applies to a model group or a deployment model (with or without its provider
    prefix); any other name never matches, and that tier keeps LiteLLM's price ($0 for a self-hosted model)."""
    groups, models = set(), set()
    for entry in document.get("model_list") or []:
        if isinstance(entry, Mapping):
            groups.add(str(entry.get("model_name")))
            model = str((entry.get("litellm_params") or {}).get("model") or "")
            models.update({model, model.split("/", 1)[-1]} if model else set())
    key = f"{SECTION}.spend.self_hosted_prices"
    return [Problem(f"{key}.{name}: {name!r} is neither a model_name nor a deployment model in model_list, so these "
                    "rates never apply and its requests keep LiteLLM's price ($0 for a self-hosted model). Fix: use "
                    f"one of the model groups {sorted(groups)}, or remove the entry")
            for name in config.spend.self_hosted_prices if name not in groups | models]


def _embedding_and_cache(config: CostrouteConfig) -> list[Problem]:
    """The embedding model is loaded at start (a missing folder fails it); a cache verifier that cannot load
    switches the semantic cache off, deliberately, since it could serve wrong answers without it."""
    from costroute_plugins.artifacts import ArtifactError
    from costroute_plugins.cache.verifier import DEFAULT_ARTIFACT, LearnedVerifier
    from costroute_plugins.embedding import SentenceTransformerEmbedder

    try:
        embedder = SentenceTransformerEmbedder(config.embedding_model)
    except FileNotFoundError as error:
        return [Problem(f"{SECTION}.embedding_model: {error}. Fix: set {SECTION}.embedding_model to a "
                        "sentence-transformers folder, or unset it to use the installed all-MiniLM-L6-v2")]
    cache = config.cache
    if not (cache.enabled and cache.learned_verifier):
        return []
    try:
        LearnedVerifier.load(cache.verifier_artifact or DEFAULT_ARTIFACT, embedder=embedder.name)
    except ArtifactError as error:
        return [Problem(f"{SECTION}.cache.verifier_artifact: {error}, so the semantic cache stays off and every "
                        "request bypasses it. Fix: retrain with `costroute train-verifier`, point "
                        f"{SECTION}.cache.verifier_artifact at a valid artifact, or set {SECTION}.cache."
                        "learned_verifier: false", warning=True)]
    return []
