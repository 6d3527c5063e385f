"""Pollux's own upstream retries (docs/operations.md), seen from the SDK with its retries off:
the Pollux started without a key runs with the default retry settings."""

from __future__ import annotations

import time

import openai
import pytest

from conftest import gemini_error, text

MESSAGES = [{"role": "user", "content": "hi"}]
OVERLOADED = "The model is overloaded. Please try again later."


@pytest.fixture
def byok(nokey_url):
    with openai.OpenAI(base_url=nokey_url, api_key="client-key", max_retries=0, timeout=30) as c:
        yield c


def create(c):
    return c.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)


def test_503_then_success_is_retried_before_answering(byok, mock):
    mock.push(gemini_error(503, "UNAVAILABLE", OVERLOADED), text("second attempt"))
    completion = create(byok)
    assert completion.choices[0].message.content == "second attempt"
    assert len(mock.requests()) == 2


def test_503_retries_are_bounded(byok, mock):
    mock.push(*[gemini_error(503, "UNAVAILABLE", OVERLOADED)] * 3, text("never reached"))
    with pytest.raises(openai.InternalServerError) as info:
        create(byok)
    assert "overloaded" in info.value.message
    assert len(mock.requests()) == 3, "one attempt and the default two retries"


def retry_info(delay: str, quota_id: str = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"):
    return gemini_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"quotaId": quota_id}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
    ])


def test_429_with_short_retry_delay_is_waited_out(byok, mock):
    mock.push(retry_info("1s"), text("after the wait"))
    started = time.monotonic()
    completion = create(byok)
    assert completion.choices[0].message.content == "after the wait"
    assert time.monotonic() - started >= 0.9, "Gemini's RetryInfo delay was honoured"
    assert len(mock.requests()) == 2


def test_429_with_long_retry_delay_goes_to_the_client_at_once(byok, mock):
    mock.push(retry_info("40s"), text("not yet"))
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as info:
        create(byok)
    assert time.monotonic() - started < 5
    assert info.value.response.headers["retry-after"] == "40"
    assert len(mock.requests()) == 1


def test_429_per_day_quota_is_not_retried(byok, mock):
    mock.push(retry_info("1s", quota_id="GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
              text("not retried"))
    with pytest.raises(openai.RateLimitError):
        create(byok)
    assert len(mock.requests()) == 1
