// Speech and transcription with the Node SDK: audio.speech.create (WAV read back, PCM streamed
// from the body as it arrives) and audio.transcriptions.create. mock-gemini speaks 50 ms of
// tone per character and hears a fixed transcript in any audio.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { toFile } from 'openai';

import { client, mock } from './helpers.mjs';

beforeEach(() => mock.reset());

// 40 characters: 2 s of speech from the mock, 48,000 samples at 24 kHz.
const INPUT = 'The quick brown fox jumps over the dog.!';

test('speech: wav with an exact header, the voice mapped', async () => {
  const response = await client().audio.speech.create({
    model: 'tts-1',
    voice: 'echo',
    input: INPUT,
    response_format: 'wav',
  });
  assert.equal(response.headers.get('content-type'), 'audio/wav');
  const wav = Buffer.from(await response.arrayBuffer());
  assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
  assert.equal(wav.toString('ascii', 8, 12), 'WAVE');
  assert.equal(wav.readUInt16LE(22), 1); // mono
  assert.equal(wav.readUInt32LE(24), 24000);
  assert.equal(wav.readUInt16LE(34), 16);
  assert.equal(wav.toString('ascii', 36, 40), 'data');
  assert.equal(wav.readUInt32LE(40), 96000);
  assert.equal(wav.length, 44 + 96000);
  const [sent] = await mock.requests();
  assert.equal(sent.json.generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName, 'Puck');
});

test('speech: mp3 by default, pcm read from the body stream', async () => {
  const mp3 = Buffer.from(await (await client().audio.speech.create({ model: 'tts-1', voice: 'alloy', input: INPUT })).arrayBuffer());
  assert.equal(mp3[0], 0xff);
  assert.equal(mp3[1] & 0xfe, 0xf2);
  const response = await client().audio.speech.create({
    model: 'tts-1',
    voice: 'alloy',
    input: INPUT,
    response_format: 'pcm',
  });
  let total = 0;
  let reads = 0;
  for await (const chunk of response.body) {
    total += chunk.length;
    reads += 1;
  }
  assert.equal(total, 96000);
  assert.ok(reads >= 1);
});

test('speech: an unsupported format is a BadRequestError naming the working ones', async () => {
  await assert.rejects(
    client().audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'hi', response_format: 'aac' }),
    (err) => err.status === 400 && /mp3, opus, wav, flac, pcm/.test(err.message),
  );
});

test('transcription: json with usage, the file inline', async () => {
  const file = await toFile(Buffer.from('RIFF....WAVEfmt '), 'clip.wav');
  const out = await client().audio.transcriptions.create({ model: 'whisper-1', file });
  assert.equal(out.text, 'Hello from mock-gemini. This is a transcript.');
  assert.equal(out.usage.type, 'tokens');
  const [sent] = await mock.requests();
  assert.equal(sent.json.contents[0].parts[1].inlineData.mimeType, 'audio/wav');
});
