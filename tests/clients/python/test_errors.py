"""Errors reach the SDK as its own exception classes, with OpenAI's envelope."""

from __future__ import annotations

import openai
import pytest

from conftest import gemini_error

MESSAGES = [{"role": "user", "content": "hi"}]
OVERLOADED = "The model is overloaded. Please try again later."


def create(client, **kw):
    return client.chat.completions.create(
        model=kw.pop("model", "gemini-2.5-flash"), messages=kw.pop("messages", MESSAGES), **kw)


def test_400_invalid_parameter_never_reaches_gemini(client, mock):
    with pytest.raises(openai.BadRequestError) as info:
        create(client, temperature=5)
    err = info.value
    assert err.status_code == 400
    assert err.type == "invalid_request_error"
    assert err.param == "temperature"
    assert "temperature" in err.message
    assert mock.requests() == []


def test_400_from_gemini_keeps_its_message(client, mock):
    mock.push(gemini_error(400, "INVALID_ARGUMENT",
                           "* GenerateContentRequest.contents: contents is not specified"))
    with pytest.raises(openai.BadRequestError) as info:
        create(client)
    assert "contents is not specified" in info.value.message


def test_401_invalid_key_forwarded_to_gemini(nokey_url, mock):
    with openai.OpenAI(base_url=nokey_url, api_key="invalid-key", max_retries=0) as c:
        with pytest.raises(openai.AuthenticationError) as info:
            create(c)
    err = info.value
    assert err.status_code == 401
    assert err.type == "authentication_error"
    assert err.code == "invalid_api_key"
    assert "API key not valid" in err.message
    (sent,) = mock.requests()
    assert sent["headers"]["x-goog-api-key"] == "invalid-key"


def test_401_no_key_anywhere(nokey_url, mock):
    with openai.OpenAI(base_url=nokey_url, api_key="unused", max_retries=0) as c:
        with pytest.raises(openai.AuthenticationError) as info:
            create(c, extra_headers={"Authorization": openai.omit})
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert mock.requests() == [], "no upstream call without a key"


def test_403_permission_denied(client, mock):
    mock.push(gemini_error(403, "PERMISSION_DENIED",
                           "Permission denied: Consumer has been suspended."))
    with pytest.raises(openai.PermissionDeniedError) as info:
        create(client)
    assert info.value.status_code == 403
    assert "suspended" in info.value.message


def test_404_model_not_found(client, mock):
    message = ("models/gemini-9-ultra is not found for API version v1beta, or is not supported "
               "for generateContent. Call ListModels to see the list of available models and "
               "their supported methods.")
    mock.push(gemini_error(404, "NOT_FOUND", message))
    with pytest.raises(openai.NotFoundError) as info:
        create(client, model="gemini-9-ultra")
    err = info.value
    assert err.status_code == 404
    assert err.type == "not_found_error"
    assert "gemini-9-ultra is not found" in err.message


def test_429_rate_limit_with_retry_after(client, mock):
    mock.push(gemini_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "quotaValue": "10"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"},
    ]))
    with pytest.raises(openai.RateLimitError) as info:
        create(client)
    err = info.value
    assert err.status_code == 429
    assert err.type == "rate_limit_error"
    assert err.response.headers["retry-after"] == "17"
    assert "quota" in err.message


def test_503_upstream_is_internal_server_error(client, mock):
    mock.push(gemini_error(503, "UNAVAILABLE", OVERLOADED))
    with pytest.raises(openai.InternalServerError) as info:
        create(client)
    # Gemini's own status is kept (issue #14): 503 says "overloaded", 502 "garbage".
    assert info.value.status_code == 503
    assert "overloaded" in info.value.message
    assert len(mock.requests()) == 1, "max_retries=0: one attempt"


def test_html_gateway_page_is_internal_server_error(client, mock):
    mock.push({"kind": "raw", "status": 502, "content_type": "text/html; charset=UTF-8",
               "body": "<html><title>Error 502 (Server Error)!!1</title></html>"})
    with pytest.raises(openai.InternalServerError) as info:
        create(client)
    assert info.value.status_code == 502
    assert "<html>" not in info.value.message


def test_sdk_retries_a_503_then_succeeds(mock):
    mock.push(gemini_error(503, "UNAVAILABLE", OVERLOADED),
              {"kind": "answer", "chunks": [[{"text": "second try"}]]})
    import os
    with openai.OpenAI(base_url=os.environ["POLLUX_URL"], api_key="x", max_retries=1) as c:
        completion = create(c)
    assert completion.choices[0].message.content == "second try"
    assert len(mock.requests()) == 2


def test_error_body_is_openai_envelope(client, mock):
    with pytest.raises(openai.BadRequestError) as info:
        create(client, messages=[])
    body = info.value.response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
