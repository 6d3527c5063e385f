// Images with the Node SDK: images.generate on a Gemini image model and on Imagen, and
// images.edit with several images and a mask as multipart files. Each returned PNG is decoded
// here (chunk CRCs checked, pixel data inflated), so the size asserted is a real picture's.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import zlib from 'node:zlib';

import { toFile } from 'openai';

import { client, mock } from './helpers.mjs';

beforeEach(() => mock.reset());

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function decodePng(buf) {
  assert.ok(buf.subarray(0, 8).equals(SIGNATURE), 'not a PNG');
  let pos = 8;
  let header = null;
  const idat = [];
  while (pos < buf.length) {
    const length = buf.readUInt32BE(pos);
    const kind = buf.subarray(pos + 4, pos + 8);
    const body = buf.subarray(pos + 8, pos + 8 + length);
    const crc = buf.readUInt32BE(pos + 8 + length);
    assert.equal(zlib.crc32(Buffer.concat([kind, body])), crc, `bad CRC in ${kind}`);
    const name = kind.toString('latin1');
    if (name === 'IHDR') header = body;
    if (name === 'IDAT') idat.push(body);
    if (name === 'IEND') break;
    pos += 12 + length;
  }
  assert.ok(header, 'no IHDR');
  const width = header.readUInt32BE(0);
  const height = header.readUInt32BE(4);
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[header[9]];
  const row = 1 + Math.ceil((width * channels * header[8]) / 8);
  assert.equal(zlib.inflateSync(Buffer.concat(idat)).length, row * height, 'pixel data does not fill the image');
  return [width, height];
}

function pngFile(width, height) {
  const raw = Buffer.alloc((1 + width * 3) * height, 0x60);
  for (let y = 0; y < height; y++) raw[y * (1 + width * 3)] = 0;
  const chunk = (kind, body) => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(Buffer.concat([Buffer.from(kind), body])));
    return Buffer.concat([head, Buffer.from(kind), body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

test('images.generate with stream: true yields one completed event per image', async () => {
  const stream = await client().images.generate({
    model: 'gemini-2.5-flash-image',
    prompt: 'a red fox in snow',
    n: 2,
    size: '1024x1536',
    stream: true,
  });
  const events = [];
  for await (const event of stream) events.push(event);
  assert.deepEqual(events.map((e) => e.type), ['image_generation.completed', 'image_generation.completed']);
  for (const event of events) {
    assert.equal(event.size, '1024x1536');
    assert.deepEqual(decodePng(Buffer.from(event.b64_json, 'base64')), [832, 1248]);
  }
  assert.ok(events.reduce((sum, e) => sum + e.usage.total_tokens, 0) > 0);
});

test('images.generate on a Gemini image model: n images of the asked ratio', async () => {
  const result = await client().images.generate({
    model: 'gemini-2.5-flash-image',
    prompt: 'a red fox in snow',
    n: 2,
    size: '1024x1536',
  });
  assert.equal(result.data.length, 2);
  for (const image of result.data) assert.deepEqual(decodePng(Buffer.from(image.b64_json, 'base64')), [832, 1248]);
  assert.ok(result.usage.input_tokens > 0);
  const sent = (await mock.requests()).filter((r) => r.rpc === 'generateContent');
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[0].json.generationConfig, { responseModalities: ['IMAGE'], imageConfig: { aspectRatio: '2:3' } });
});

test('images.generate on Imagen: one predict call', async () => {
  const result = await client().images.generate({ model: 'imagen-4.0-fast-generate-001', prompt: 'a boat', n: 2 });
  assert.deepEqual(
    result.data.map((d) => decodePng(Buffer.from(d.b64_json, 'base64'))),
    [[1024, 1024], [1024, 1024]],
  );
  const [sent] = await mock.requests();
  assert.equal(sent.path, '/v1beta/models/imagen-4.0-fast-generate-001:predict');
  assert.deepEqual(sent.json, { instances: [{ prompt: 'a boat' }], parameters: { sampleCount: 2 } });
});

test('response_format url is a 400 that says why', async () => {
  await assert.rejects(
    client().images.generate({ model: 'gemini-2.5-flash-image', prompt: 'p', response_format: 'url' }),
    (err) => err.status === 400 && /hosts no files/.test(err.message),
  );
});

test('images.edit: images, mask and prompt become inline parts', async () => {
  const result = await client().images.edit({
    model: 'gemini-2.5-flash-image',
    image: [await toFile(pngFile(5, 3), 'cat.png', { type: 'image/png' }), await toFile(pngFile(2, 2), 'hat.png', { type: 'image/png' })],
    mask: await toFile(pngFile(5, 3), 'mask.png', { type: 'image/png' }),
    prompt: 'put the hat on the cat',
  });
  assert.equal(result.data.length, 1);
  assert.deepEqual(decodePng(Buffer.from(result.data[0].b64_json, 'base64')), [1024, 1024]);
  const [sent] = await mock.requests();
  const parts = sent.json.contents[0].parts;
  const uploads = parts.filter((p) => p.inlineData).map((p) => Buffer.from(p.inlineData.data, 'base64'));
  assert.deepEqual(uploads, [pngFile(5, 3), pngFile(2, 2), pngFile(5, 3)]);
  assert.deepEqual(parts.at(-1), { text: 'put the hat on the cat' });
});
