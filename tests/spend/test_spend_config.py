"""Spend settings fail at start with the key that is wrong, never silently fall back to defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from costroute_plugins.spend import SpendAttributionConfig


def test_a_full_spend_section_validates():
    config = SpendAttributionConfig.model_validate({
        "self_hosted_prices": {"cheap": {"input_usd_per_token": 1.169444e-07, "output_usd_per_token": 1.169444e-06}},
        "ledger": {"enabled": True, "dsn": "postgresql://postgres@db/costroute", "db_schema": "finance"},
        "anomaly": {"multiple": 4, "webhook_url": "https://hooks.example.com/costroute"},
    })
    assert config.self_hosted_prices["cheap"].output_usd_per_token == pytest.approx(1.169444e-06)
    assert config.ledger.table == "costroute_spend" and str(config.anomaly.webhook_url).startswith("https://")


@pytest.mark.parametrize(("section", "expected"), [
    ({"ledger": {"batchsize": 10}}, "ledger.batchsize\n  Extra inputs are not permitted"),
    ({"ledger": {"table": "spend; DROP TABLE x"}}, "not a plain SQL identifier"),
    ({"anomaly": {"multiple": 0.5}}, "anomaly.multiple\n  Input should be greater than 1"),
    ({"anomaly": {"webhook_url": "not a url"}}, "anomaly.webhook_url"),
    ({"self_hosted_prices": {"cheap": {"input_usd_per_token": -1, "output_usd_per_token": 0}}},
     "self_hosted_prices.cheap.input_usd_per_token"),
])
def test_a_wrong_spend_setting_names_its_key(section, expected):
    with pytest.raises(ValidationError) as error:
        SpendAttributionConfig.model_validate(section)
    assert expected in str(error.value)
