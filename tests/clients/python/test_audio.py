"""Speech and transcription through the `openai` SDK: `audio.speech.create` (decoded with a real
decoder, miniaudio, and its duration checked; opus read as Ogg pages, CRCs checked, its
duration from the last granule position: miniaudio has no Opus decoder, and the server's
tests decode it with libopus), `with_streaming_response`, SSE speech events, and
`audio.transcriptions.create` / `audio.translations.create` for every `response_format` (SubRip
and WebVTT parsed with `srt` and `webvtt-py`).

mock-gemini speaks a 440 Hz tone for 50 ms per character of the text it is asked to read, and
hears "Hello from mock-gemini. This is a transcript." in any audio (timed segments when asked
for a responseSchema)."""

from __future__ import annotations

import base64
import io
import json
import struct
import wave

import miniaudio
import openai
import pytest
import srt
import webvtt

TRANSCRIPT = "Hello from mock-gemini. This is a transcript."
# 40 characters: 2.0 s of speech from the mock.
INPUT = "The quick brown fox jumps over the dog.!"
SECONDS = 2.0


def wav_file() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(struct.pack("<1600h", *([1000, -1000] * 800)))
    return out.getvalue()


def speech_body(mock) -> dict:
    (body,) = mock.bodies()
    return body


@pytest.mark.parametrize("fmt", ["mp3", "wav", "flac"])
def test_speech_decodes_with_the_right_duration(client, mock, fmt):
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input=INPUT, response_format=fmt)
    # Each format's own decoder, at the file's native rate and channels.
    decoded = getattr(miniaudio, f"{fmt}_read_s16")(audio.content)
    assert decoded.sample_rate == 24000
    assert decoded.nchannels == 1
    assert decoded.duration == pytest.approx(SECONDS, abs=0.1)
    # A tone, not silence: the encoder really carried the signal.
    assert max(decoded.samples) > 4000
    body = speech_body(mock)
    assert body["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"] == "Zephyr"
    assert body["generationConfig"]["responseModalities"] == ["AUDIO"]


def test_speech_defaults_to_mp3(client, mock):
    audio = client.audio.speech.create(model="gpt-4o-mini-tts", voice="coral", input=INPUT,
                                       instructions="Speak cheerfully.")
    assert audio.response.headers["content-type"] == "audio/mpeg"
    text = speech_body(mock)["contents"][0]["parts"][0]["text"]
    assert "Speak cheerfully." in text and text.endswith(INPUT)
    # The mock reads the style line too.
    decoded = miniaudio.mp3_read_s16(audio.content)
    assert decoded.duration == pytest.approx(len(text) * 0.05, abs=0.1)


def test_speech_with_streaming_response(client, mock):
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="onyx", input=INPUT, response_format="pcm"
    ) as response:
        assert response.headers["content-type"] == "audio/pcm"
        chunks = list(response.iter_bytes())
    pcm = b"".join(chunks)
    assert len(pcm) == int(SECONDS * 24000) * 2
    assert "streamGenerateContent" in mock.requests()[-1]["path"]


def test_speech_sse_events(client, mock):
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=INPUT, response_format="pcm", stream_format="sse"
    ) as response:
        raw = response.read().decode()
    events = [json.loads(e[len("data: "):]) for e in raw.split("\n\n") if e.startswith("data: ")]
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert deltas and events[-1]["type"] == "speech.audio.done"
    assert set(events[-1]["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}
    assert len(b"".join(base64.b64decode(e["audio"]) for e in deltas)) == int(SECONDS * 24000) * 2


def ogg_pages(data: bytes):
    """The pages of an Ogg stream (RFC 3533): (flags, granule, packets bytes), each page's
    CRC checked (polynomial 0x04c11db7, not reflected, as Ogg defines it)."""
    def crc(page: bytes) -> int:
        value = 0
        for byte in page:
            value ^= byte << 24
            for _ in range(8):
                value = ((value << 1) ^ 0x04C11DB7 if value & 0x80000000 else value << 1) & 0xFFFFFFFF
        return value

    at = 0
    while at < len(data):
        assert data[at:at + 4] == b"OggS", f"no page at byte {at}"
        flags, granule, _serial, _seq, checksum, count = struct.unpack_from("<BqIIIB", data, at + 5)
        lacing = data[at + 27:at + 27 + count]
        end = at + 27 + count + sum(lacing)
        page = bytearray(data[at:end])
        page[22:26] = b"\0\0\0\0"
        assert crc(bytes(page)) == checksum, f"bad CRC in the page at byte {at}"
        yield flags, granule, data[at + 27 + count:end]
        at = end


def test_speech_opus_is_ogg_opus_of_the_right_duration(client, mock):
    audio = client.audio.speech.create(model="tts-1", voice="nova", input=INPUT, response_format="opus")
    assert audio.response.headers["content-type"] == "audio/opus"
    pages = list(ogg_pages(audio.content))
    # RFC 7845: OpusHead alone on the first page (beginning of stream), OpusTags next.
    flags, granule, head = pages[0]
    assert flags & 0x02 and granule == 0 and head[:8] == b"OpusHead"
    version, channels, pre_skip, rate = struct.unpack_from("<BBHI", head, 8)
    assert (version, channels, rate) == (1, 1, 24000)
    assert pages[1][2][:8] == b"OpusTags"
    # The last page ends the stream; its granule (48 kHz, pre-skip included) is the length.
    flags, granule, _ = pages[-1]
    assert flags & 0x04
    assert (granule - pre_skip) / 48000 == pytest.approx(SECONDS, abs=0.001)
    assert "streamGenerateContent" in mock.requests()[-1]["path"]


def test_speech_refusals_say_what_to_send(client, mock):
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.speech.create(model="tts-1", voice="alloy", input="hi", response_format="aac")
    assert "mp3, opus, wav, flac, pcm" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.speech.create(model="gemini-2.5-flash", voice="alloy", input="hi")
    assert "text-to-speech" in err.value.message
    assert mock.requests() == []


def transcribe(client, **kwargs):
    return client.audio.transcriptions.create(
        model="whisper-1", file=("clip.wav", wav_file(), "audio/wav"), **kwargs
    )


def test_transcription_json(client, mock):
    out = transcribe(client, language="en", prompt="Pollux")
    assert out.text == TRANSCRIPT
    assert out.usage.type == "tokens"
    (body,) = mock.bodies()
    parts = body["contents"][0]["parts"]
    assert parts[1]["inlineData"] == {"mimeType": "audio/wav", "data": base64.b64encode(wav_file()).decode()}


def test_transcription_text(client, mock):
    out = transcribe(client, response_format="text")
    assert out.strip() == TRANSCRIPT


def test_transcription_srt_parses(client, mock):
    out = transcribe(client, response_format="srt")
    subs = list(srt.parse(out))
    assert [s.content for s in subs] == ["Hello from mock-gemini.", "This is a transcript."]
    assert subs[1].end.total_seconds() == pytest.approx(2.5)


def test_transcription_vtt_parses(client, mock):
    out = transcribe(client, response_format="vtt")
    captions = webvtt.from_buffer(io.StringIO(out)).captions
    assert [c.text for c in captions] == ["Hello from mock-gemini.", "This is a transcript."]
    assert captions[0].end == "00:00:01.250"


def test_transcription_verbose_json_with_words(client, mock):
    out = transcribe(client, response_format="verbose_json", timestamp_granularities=["word", "segment"])
    assert out.text == TRANSCRIPT
    assert out.duration == pytest.approx(2.5)
    assert out.language == "english"
    assert [s.text.strip() for s in out.segments] == ["Hello from mock-gemini.", "This is a transcript."]
    assert out.words[0].word == "Hello"


def test_transcription_stream(client, mock):
    stream = transcribe(client, stream=True, response_format="text")
    events = list(stream)
    assert events[-1].type == "transcript.text.done"
    assert events[-1].text == TRANSCRIPT
    assert "".join(e.delta for e in events if e.type == "transcript.text.delta") == TRANSCRIPT


def test_translation(client, mock):
    out = client.audio.translations.create(model="whisper-1", file=("clip.mp3", wav_file()))
    assert out.text == TRANSCRIPT
    (body,) = mock.bodies()
    assert "into English" in body["contents"][0]["parts"][0]["text"]
    assert body["contents"][0]["parts"][1]["inlineData"]["mimeType"] == "audio/mp3"


def test_unsupported_upload_is_refused(client, mock):
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.transcriptions.create(model="whisper-1", file=("notes.txt", b"hello"))
    assert "flac, mp3" in err.value.message
