"""Multimodal input: images (data URLs), PDFs (`file` parts) and audio (`input_audio`) reach
Gemini as `inlineData` with the right MIME types, their base64 untouched."""

from __future__ import annotations

import base64

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


def test_remote_image_url_is_refused_clearly(client, mock):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}],
        )
    assert info.value.param and info.value.param.startswith("messages[0].content[0]")
    assert mock.requests() == []
