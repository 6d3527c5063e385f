"""Images with the `openai` SDK: `images.generate()` on a Gemini image model and on Imagen
(through an alias-free model name), and `images.edit()` with several images and a mask as
multipart files; both with `stream=True`, iterating the SDK's typed events. Each returned image is decoded here: the PNG chunks are walked, their CRCs
checked and the pixel data inflated, so the size asserted is the size of a real picture."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import openai
import pytest


def decode_png(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking every chunk's CRC and that the inflated
    IDAT data holds exactly one filter byte and one row of pixels per line."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    assert header is not None, "no IHDR"
    width, height, depth, colour = header[:4]
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    row = 1 + (width * channels * depth + 7) // 8
    assert len(zlib.decompress(idat)) == row * height, "pixel data does not fill the image"
    return width, height


def png_file(width: int, height: int) -> bytes:
    """A tiny valid RGB PNG, to upload."""
    raw = b"".join(b"\x00" + b"\x80\x40\x20" * width for _ in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_generate_on_a_gemini_image_model(client, mock):
    result = client.images.generate(
        model="gemini-2.5-flash-image", prompt="a red fox in snow", n=2, size="1536x1024"
    )
    assert len(result.data) == 2
    for image in result.data:
        assert image.url is None
        assert decode_png(base64.b64decode(image.b64_json)) == (1248, 832)
    assert result.output_format == "png"
    assert result.usage is not None and result.usage.input_tokens > 0
    sent = [r for r in mock.requests() if r["rpc"] == "generateContent"]
    assert len(sent) == 2, "one Gemini call per image"
    config = sent[0]["json"]["generationConfig"]
    assert config == {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "3:2"}}


def test_generate_on_imagen(client, mock):
    result = client.images.generate(
        model="imagen-4.0-generate-001", prompt="a lighthouse", n=3, size="1024x1792",
        response_format="b64_json",
    )
    assert [decode_png(base64.b64decode(d.b64_json)) for d in result.data] == [(768, 1408)] * 3
    (sent,) = [r for r in mock.requests() if r["rpc"] == "predict"]
    assert sent["json"] == {
        "instances": [{"prompt": "a lighthouse"}],
        "parameters": {"sampleCount": 3, "aspectRatio": "9:16"},
    }


def test_url_format_and_chat_models_are_refused(client, mock):
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="gemini-2.5-flash-image", prompt="p", response_format="url")
    assert "hosts no files" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="gemini-2.5-flash", prompt="p")
    assert "gemini-2.5-flash-image" in err.value.message
    assert mock.requests() == []


def test_generate_streamed_yields_one_completed_event_per_image(client, mock):
    stream = client.images.generate(
        model="gemini-2.5-flash-image", prompt="a red fox in snow", n=2, size="1536x1024",
        stream=True, partial_images=1,
    )
    events = list(stream)
    assert [type(e).__name__ for e in events] == ["ImageGenCompletedEvent"] * 2
    for event in events:
        assert event.type == "image_generation.completed"
        assert (event.size, event.quality, event.output_format) == ("1536x1024", "auto", "png")
        assert decode_png(base64.b64decode(event.b64_json)) == (1248, 832)
    assert sum(e.usage.total_tokens for e in events) > 0
    assert len([r for r in mock.requests() if r["rpc"] == "generateContent"]) == 2


def test_generate_streamed_dropped_partials_are_named(client):
    with client.images.with_streaming_response.generate(
        model="gemini-2.5-flash-image", prompt="a fox", stream=True, partial_images=2,
    ) as response:
        assert response.headers["x-pollux-dropped-params"] == "partial_images"
        assert response.headers["content-type"] == "text/event-stream"


def test_edit_streamed_yields_image_edit_completed(client, mock):
    stream = client.images.edit(
        model="gemini-2.5-flash-image",
        image=("cat.png", io.BytesIO(png_file(6, 4)), "image/png"),
        prompt="put a hat on the cat",
        size="1024x1024",
        stream=True,
    )
    (event,) = list(stream)
    assert type(event).__name__ == "ImageEditCompletedEvent"
    assert event.type == "image_edit.completed" and event.size == "1024x1024"
    assert decode_png(base64.b64decode(event.b64_json)) == (1024, 1024)
    assert len(mock.requests()) == 1


def test_edit_with_images_and_mask(client, mock):
    result = client.images.edit(
        model="gemini-2.5-flash-image",
        image=[("cat.png", io.BytesIO(png_file(6, 4)), "image/png"),
               ("hat.png", io.BytesIO(png_file(3, 3)), "image/png")],
        mask=("mask.png", io.BytesIO(png_file(6, 4)), "image/png"),
        prompt="put the hat on the cat",
        size="1024x1024",
    )
    (image,) = result.data
    assert decode_png(base64.b64decode(image.b64_json)) == (1024, 1024)
    (sent,) = mock.requests()
    parts = sent["json"]["contents"][0]["parts"]
    uploads = [base64.b64decode(p["inlineData"]["data"]) for p in parts if "inlineData" in p]
    assert uploads == [png_file(6, 4), png_file(3, 3), png_file(6, 4)]
    assert "mask" in parts[2]["text"]
    assert parts[-1] == {"text": "put the hat on the cat"}
