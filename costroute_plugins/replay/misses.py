"""Why a re-asked question was not served from the cache.

A request is *re-asked* when its tenant sent the same prompt earlier in the replay: the cache could have served
it from the answer to an earlier ask. When it did not, the replay names the obstacle from what it recorded, so a
recall leak shows up in one run instead of as a hit rate lower than the repeat share:

- the proxy's own word on the repeat: ``x-costroute-cache: bypass`` with ``x-costroute-cache-reason`` (the
  repeat was not looked up: its parameters, its size, a store outage, a failed embedding), or a refusal;
- for each earlier ask, why its answer could not serve the repeat. Storing happens after the answer is sent and
  its admission decision is not sent to the client, so the replay recomputes it with the proxy's own
  ``AdmissionPolicy`` built from the replayed config, on the prompt and the answer the client received.

Two identical asks sent together share one upstream call (single-flight): whichever reaches the cache first
leads and the other waits for its answer. When the repeat happened to lead, its first ask is the one served from
the cache, and the repeat is labelled ``led single-flight``: it went upstream, and its twin did not.

The checks run from the obstacle that holds whatever the timing to the circumstantial ones: an answer that is
never stored (refused, bypassed, not admitted) would not have served the repeat had it arrived later, so such a
repeat is not counted "in flight" even when it overlapped its first ask. When several earlier asks exist, the
reason is that of the one that came closest to leaving an entry the repeat could use (the last obstacle).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from costroute_plugins.cache.admission import Admission, AdmissionPolicy
from costroute_plugins.replay.client import ProxyReply
from costroute_plugins.replay.workload import Request

#: Obstacles in the order they are checked for an earlier ask, those that keep its answer out of the cache first:
#: a later one means the ask came closer to serving the repeat.
CHECKS = ("refused by budget", "failed", "bypass", "not admitted", "in flight", "expired", "other scope or tier",
          "unexplained")
#: A repeat that went upstream while an earlier ask in flight with it waited for its answer.
LED = "led single-flight"
BUDGET_STATUSES = (403, 429)  # how the budget plugin refuses a request (as ``report.py`` counts them)


@dataclass(frozen=True)
class Ask:
    """What the replay recorded about one request, as far as the cache is concerned."""

    n: int
    status: int
    hit: bool
    cache: str | None  # x-costroute-cache: hit | miss | bypass
    bypass_reason: str | None  # x-costroute-cache-reason
    tier: str | None  # x-costroute-tier: part of the cache scope
    sent_s: float
    finished_s: float
    admission: Admission | None  # recomputed offline for an answered request; None when it got no answer


@dataclass(frozen=True)
class Miss:
    """Why a re-asked request was not served from the cache: a short label to count, the raw facts to read."""

    label: str
    detail: str


@dataclass(frozen=True)
class Reask:
    """A request whose tenant sent the same prompt before: its first ask, and why it missed (None: a hit)."""

    first: int
    miss: Miss | None


def answer_body(served: ProxyReply) -> dict[str, object]:
    """The chat completion the proxy would store for this answer: the text and why it stopped. The replay sends
    plain chat prompts, so there are no tool calls to rebuild."""
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": served.text},
                         "finish_reason": served.finish_reason}]}


def ask_of(request: Request, served: ProxyReply, hit: bool, policy: AdmissionPolicy) -> Ask:
    """The facts about one request. Its prompt is the whole conversation (one user message), so the admission
    check has no earlier turns to scan."""
    admission = policy.admit(request.prompt, answer_body(served)) if served.status == 200 else None
    return Ask(n=request.n, status=served.status, hit=hit, cache=served.headers.get("x-costroute-cache"),
               bypass_reason=served.headers.get("x-costroute-cache-reason"),
               tier=served.headers.get("x-costroute-tier"), sent_s=served.sent_s, finished_s=served.finished_s,
               admission=admission)


def bypass_label(reason: str | None) -> str:
    """A bypass reason (free text that may quote a client's parameter) grouped into a label to count."""
    text = (reason or "").lower()
    if "parameter" in text or "temperature" in text:
        return "bypass: parameters"
    if "longer than" in text:
        return "bypass: size"
    if "store" in text or "lookup failed" in text or "rebuild failed" in text:
        return "bypass: store outage"
    if "embedding" in text:
        return "bypass: embedding"
    return "bypass: other"


def admission_label(reason: str) -> str:
    """An admission refusal as a label: personal data or a secret anywhere, a time-sensitive prompt (TTL 0), or
    a broken answer (error, truncated, filtered, tool call)."""
    if " contains " in reason:
        return "not admitted: pii"
    if "time-sensitive" in reason:
        return "not admitted: ttl 0"
    return "not admitted: response"


def _refusal(ask: Ask) -> Miss:
    label = "refused by budget" if ask.status in BUDGET_STATUSES else "failed"
    return Miss(label, f"#{ask.n} got status {ask.status}")


def _rank(label: str) -> int:
    """How close an earlier ask came to serving the repeat: the position of its obstacle in the checks."""
    return next(i for i, name in enumerate(CHECKS) if label.startswith(name))


def why_not_served_by(repeat: Ask, earlier: Ask) -> Miss:
    """Why the answer to ``earlier`` could not serve ``repeat``, both asked by one tenant with one prompt."""
    if earlier.status != 200:
        return _refusal(earlier)
    if earlier.cache == "bypass":
        return Miss(bypass_label(earlier.bypass_reason), f"#{earlier.n} bypassed: {earlier.bypass_reason}")
    admission = earlier.admission
    if admission is not None and not admission.admitted:
        return Miss(admission_label(admission.reason), f"#{earlier.n} not stored: {admission.reason}")
    gap = repeat.sent_s - earlier.finished_s
    if gap < 0:
        return Miss("in flight", f"sent {-gap:.3f} s before #{earlier.n} was answered")
    if admission is not None and admission.ttl_s is not None and gap > admission.ttl_s:
        return Miss("expired", f"sent {gap:.1f} s after #{earlier.n}, whose answer was kept {admission.ttl_s:g} s")
    if earlier.tier and repeat.tier and earlier.tier != repeat.tier:
        return Miss("other scope or tier", f"served by {repeat.tier}, #{earlier.n} by {earlier.tier}")
    return Miss("unexplained", f"#{earlier.n}, answered by {earlier.tier} {gap:.3f} s before, was admitted")


def classify_miss(repeat: Ask, earlier: Sequence[Ask]) -> Miss:
    """Why ``repeat``, not served from the cache, missed the answers of its ``earlier`` asks (same tenant, same
    prompt, sent before it). A refused repeat never reached the cache and a bypassed one was not looked up;
    otherwise each earlier ask answered by a tier is judged (one served from the cache stored nothing) and the
    last obstacle wins, the latest ask on a tie."""
    if repeat.status != 200:
        return _refusal(repeat)
    if repeat.cache == "bypass":
        return Miss(bypass_label(repeat.bypass_reason), repeat.bypass_reason or "no reason given")
    answered = [ask for ask in earlier if not ask.hit]
    if not answered:
        followers = [ask for ask in earlier if ask.sent_s < repeat.finished_s and repeat.sent_s < ask.finished_s]
        if followers:
            return Miss(LED, f"#{followers[0].n}, sent with it, was served its answer: one upstream call for both")
        return Miss("unexplained", "every earlier ask was itself served from the cache")
    judged = [(why_not_served_by(repeat, ask), ask.n) for ask in answered]
    return max(judged, key=lambda pair: (_rank(pair[0].label), pair[1]))[0]


def reasked(requests: Sequence[Request], asks: Mapping[int, Ask]) -> dict[int, Reask]:
    """The re-asked requests by number: each one's first ask and, when the cache did not serve it, why."""
    seen: dict[tuple[str, str], list[Ask]] = {}
    found: dict[int, Reask] = {}
    for request in requests:
        ask = asks[request.n]
        earlier = seen.setdefault((request.tenant, request.prompt), [])
        if earlier:
            found[request.n] = Reask(earlier[0].n, None if ask.hit else classify_miss(ask, earlier))
        earlier.append(ask)
    return found
