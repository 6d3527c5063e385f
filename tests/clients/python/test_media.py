"""Multimodal input: images (data URLs), PDFs (`file` parts) and audio (`input_audio`) reach
Gemini as `inlineData` with the right MIME types, their base64 untouched; `http(s)` image URLs
are fetched by Pollux (from a loopback server here) behind its SSRF guard."""

from __future__ import annotations

import base64
import http.server
import threading

import openai
import pytest

from conftest import text

# A 1x1 PNG, a tiny PDF header and a WAV header: the bytes only need to be what they claim.
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4e70000000049454e44ae426082"
)).decode()
PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n").decode()
WAV = base64.b64encode(b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00"
                       b"\x80>\x00\x00\x00}\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00").decode()


def user_parts(mock):
    (body,) = mock.bodies()
    (content,) = body["contents"]
    assert content["role"] == "user"
    return content["parts"]


def test_image_data_url(client, mock):
    mock.push(text("A single pixel."))
    completion = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"}},
        ]}],
    )
    assert completion.choices[0].message.content == "A single pixel."
    assert user_parts(mock) == [
        {"text": "What is in this image?"},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
    ]


def test_pdf_file_part(client, mock):
    mock.push(text("An empty PDF."))
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": [
            {"type": "file", "file": {"filename": "report.pdf",
                                      "file_data": f"data:application/pdf;base64,{PDF}"}},
            {"type": "text", "text": "Summarize the document."},
        ]}],
    )
    assert user_parts(mock) == [
        {"inlineData": {"mimeType": "application/pdf", "data": PDF}},
        {"text": "Summarize the document."},
    ]


def test_input_audio(client, mock):
    mock.push(text("Silence."))
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "Transcribe this."},
            {"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}},
        ]}],
    )
    assert user_parts(mock) == [
        {"text": "Transcribe this."},
        {"inlineData": {"mimeType": "audio/wav", "data": WAV}},
    ]


def test_all_media_in_one_streamed_message(client, mock):
    mock.push(text("Got ", "three ", "files."))
    stream = client.chat.completions.create(
        model="gemini-2.5-flash",
        stream=True,
        messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"type": "file", "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}},
            {"type": "input_audio", "input_audio": {"data": WAV, "format": "mp3"}},
            {"type": "text", "text": "Describe them."},
        ]}],
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Got three files."
    mimes = [p["inlineData"]["mimeType"] for p in user_parts(mock) if "inlineData" in p]
    assert mimes == ["image/png", "application/pdf", "audio/mp3"]


# --- remote images: Pollux downloads them (docs/media.md) --------------------------------------


@pytest.fixture
def image_server():
    """A loopback HTTP server: /cat.png (image/png), /page.html (text/html), /moved -> /cat.png.
    Yields its base URL and the list of paths it was asked for."""
    hits: list[str] = []
    png = base64.b64decode(PNG)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            hits.append(self.path)
            if self.path == "/cat.png":
                self._send(200, "image/png", png)
            elif self.path == "/page.html":
                self._send(200, "text/html; charset=utf-8", b"<html>not an image</html>")
            elif self.path == "/moved":
                self.send_response(302)
                self.send_header("location", "/cat.png")
                self.send_header("content-length", "0")
                self.end_headers()
            else:
                self._send(404, "text/plain", b"not found")

        def _send(self, status, content_type, body):
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def image_message(url):
    return [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]}]


def test_remote_image_url_is_fetched_and_inlined(client, mock, image_server):
    base, hits = image_server
    mock.push(text("A cat."))
    completion = client.chat.completions.create(
        model="gemini-2.5-flash", messages=image_message(f"{base}/moved"))
    assert completion.choices[0].message.content == "A cat."
    assert hits == ["/moved", "/cat.png"], "the redirect was followed"
    assert user_parts(mock) == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
    ]


def test_remote_url_that_is_not_an_image_is_refused(client, mock, image_server):
    base, _ = image_server
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="gemini-2.5-flash", messages=image_message(f"{base}/page.html"))
    err = info.value
    assert err.code == "image_fetch_failed"
    assert err.param == "messages[0].content[1]"
    assert mock.requests() == [], "nothing went upstream"


def test_ssrf_guard_refuses_loopback_by_default(nokey_url, mock, image_server):
    base, hits = image_server
    with openai.OpenAI(base_url=nokey_url, api_key="client-key", max_retries=0) as c:
        with pytest.raises(openai.BadRequestError) as info:
            c.chat.completions.create(
                model="gemini-2.5-flash", messages=image_message(f"{base}/cat.png"))
    assert info.value.code == "image_fetch_failed"
    assert hits == [], "the guard refused before connecting"
    assert mock.requests() == []
