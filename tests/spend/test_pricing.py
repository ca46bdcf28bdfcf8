"""Pricing a self-hosted tier from what its GPU costs, and pricing each request with it."""

from __future__ import annotations

import json

import pytest

from costroute_plugins.cli import main
from costroute_plugins.spend import PriceBook, TokenRates, gpu_token_rates
from costroute_plugins.spend.record import AttributionRecord, key_prefix, money

# Worked example: an H100 rented at $2.00/h drawing 700 W at $0.15/kWh, busy half the time, generating
# 1000 tokens/s in aggregate, prefill 10x faster than decode.
#   hourly cost   = 2.00 + 0.7 kW x 0.15 = 2.105 $/h
#   tokens / hour = 1000 x 3600 x 0.5    = 1,800,000
#   output        = 2.105 / 1.8e6        = 1.16944e-6 $/token (1.17 $/M)
#   input         = output / 10          = 1.16944e-7 $/token
EXAMPLE = ["--gpu-hourly-usd", "2", "--power-w", "700", "--usd-per-kwh", "0.15", "--utilization", "0.5",
           "--tokens-per-second", "1000", "--prefill-speedup", "10"]


def test_gpu_rates_follow_the_documented_formula():
    pricing = gpu_token_rates(2.0, 700, 0.15, 0.5, 1000, 10)
    assert pricing.total_hourly_usd == pytest.approx(2.105)
    assert pricing.output_tokens_per_hour == pytest.approx(1_800_000)
    assert pricing.rates.output_usd_per_token == pytest.approx(2.105 / 1.8e6)
    assert pricing.rates.input_usd_per_token == pytest.approx(2.105 / 1.8e6 / 10)


def test_price_gpu_prints_its_working_and_the_lines_to_paste(capsys):
    assert main(["price-gpu", *EXAMPLE]) == 0
    out = capsys.readouterr().out
    assert "= 2.1050 $/h" in out and "1,800,000" in out and "(1.1694 $/M tokens)" in out
    assert "output_usd_per_token: 1.169444e-06" in out and "input_usd_per_token: 1.169444e-07" in out
    pasted = TokenRates.model_validate(dict(line.split(": ") for line in out.splitlines()[-2:]))
    assert pasted.output_usd_per_token == pytest.approx(1.169444e-06)


def test_price_gpu_json(capsys):
    assert main(["price-gpu", *EXAMPLE, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["output_usd_per_token"] == pytest.approx(2.105 / 1.8e6)
    assert data["energy_hourly_usd"] == pytest.approx(0.105)


def test_price_gpu_rejects_an_impossible_utilization(capsys):
    assert main(["price-gpu", *EXAMPLE[:6], "--utilization", "1.5", *EXAMPLE[8:]]) == 1
    assert "utilization must be in (0, 1]" in capsys.readouterr().err


def test_self_hosted_requests_cost_their_tco_and_others_what_litellm_reports():
    book = PriceBook({"cheap": TokenRates(input_usd_per_token=1e-7, output_usd_per_token=1e-6)})
    # LiteLLM says $0 for the vLLM tier; costroute charges its GPU time.
    assert book.cost(("hosted_vllm/smollm2", "cheap"), 1000, 200, 0, reported_usd=0.0) == pytest.approx(3e-4)
    assert book.cost(("openai/gpt-4.1", "premium"), 1000, 200, 0, reported_usd=0.0036) == 0.0036
    # LiteLLM's routing saving assumed the cheap tier was free; the real saving is smaller.
    assert book.routing_saving(0.0036, 0.0, 3e-4) == pytest.approx(0.0033)
    assert book.routing_saving(None, 0.0036, 0.0036) == 0.0


def test_prompt_tokens_served_from_the_provider_cache_get_the_cached_rate():
    rates = TokenRates(input_usd_per_token=2e-6, output_usd_per_token=8e-6, cached_input_usd_per_token=5e-7)
    assert rates.cost(prompt_tokens=1000, completion_tokens=100, cached_tokens=800) == \
        pytest.approx(200 * 2e-6 + 800 * 5e-7 + 100 * 8e-6)


def test_a_record_keeps_no_secret_and_exact_money():
    record = AttributionRecord(request_id="r1", tenant="team:acme", cost_usd=0.1, key="sk-live-secret")
    assert record.key == key_prefix("sk-live-secret") and len(record.key) == 12 and "secret" not in record.key
    assert record.cost_usd == money("0.1")
    assert AttributionRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


VLLM_METRICS_PAGE = """# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{{engine="0",model_name="smollm2-135m-instruct"}} {tokens}
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0",model_name="smollm2-135m-instruct"}} 3.0
"""


@pytest.fixture
def serving_worker_metrics():
    """A /metrics page in vLLM's format whose generated-token counter grows by 500 between two reads."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    reads = []

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            reads.append(self.path)
            body = VLLM_METRICS_PAGE.format(tokens=10_000.0 + 500 * (len(reads) - 1)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()


def test_price_gpu_can_measure_throughput_from_a_serving_vllm_worker(serving_worker_metrics, capsys):
    command = [*EXAMPLE[:8], "--vllm-metrics", serving_worker_metrics, "--window-s", "0.2", "--json"]
    assert main(["price-gpu", *command]) == 0

    measured = capsys.readouterr()
    tokens_per_second = float(measured.err.split("measured ")[1].split()[0])
    rates = json.loads(measured.out)
    assert 0 < tokens_per_second <= 2500  # 500 tokens in at least 0.2 s
    expected = gpu_token_rates(2.0, 700, 0.15, 0.5, tokens_per_second, 10).rates.output_usd_per_token
    assert rates["output_usd_per_token"] == pytest.approx(expected, rel=0.01)


def test_price_gpu_says_when_the_page_is_not_a_vllm_worker(capsys):
    from costroute_plugins.spend.throughput import generated_tokens

    with pytest.raises(ValueError, match="vllm:generation_tokens_total"):
        generated_tokens("# TYPE litellm_requests_total counter\nlitellm_requests_total 3.0\n")
    assert main(["price-gpu", *EXAMPLE[:8], "--vllm-metrics", "http://127.0.0.1:1/metrics", "--window-s", "0"]) == 1
    assert "cannot read http://127.0.0.1:1/metrics" in capsys.readouterr().err
