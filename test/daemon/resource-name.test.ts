import { describe, expect, it } from 'vitest';
import {
  parseReadResourceName,
  parseWriteResourceName,
  readResourceName,
  writeResourceName,
} from '../../src/daemon/resource-name.js';
import { isNotFound } from '../../src/util/errors.js';

const H = '0123456789abcdef'.repeat(4);

describe('parseReadResourceName', () => {
  it('accepts plain and compressed names with any instance depth', () => {
    expect(parseReadResourceName(`blobs/${H}/12`)).toEqual({ instanceName: '', digest: { hash: H, sizeBytes: 12 }, compressor: undefined });
    expect(parseReadResourceName(`a/b/c/blobs/${H}/0`)).toMatchObject({ instanceName: 'a/b/c', digest: { sizeBytes: 0 } });
    expect(parseReadResourceName(`main/compressed-blobs/identity/${H}/7`)).toMatchObject({ instanceName: 'main', compressor: 'identity' });
    expect(parseReadResourceName(`blobs/sha256/${H}/7`).digest).toEqual({ hash: H, sizeBytes: 7 });
  });

  it.each([
    ['', /empty/],
    ['main', /expected "\{instance\}\/blobs/],
    [`main/blobs/${H}`, /missing size/],
    [`main/blobs/${H.toUpperCase()}/1`, /not 64 lowercase hex/],
    [`main/blobs/${H}0/1`, /not 64 lowercase hex/],
    [`main/blobs/${H}/1.5`, /not a non-negative decimal integer/],
    [`main/blobs/${H}/-1`, /not a non-negative decimal integer/],
    [`main/blobs/${H}/99999999999999999`, /not a non-negative decimal integer/],
    [`main/blobs/${H}/9999999999999999`, /larger than the limit/],
    [`main/blobs/${H}/1/meta`, /unexpected "meta" after the size/],
    [`../blobs/${H}/1`, /"\.\." segments are not allowed/],
    [`a//b/blobs/${H}/1`, /empty segment in the instance name/],
    [`uploads/blobs/${H}/1`, /"uploads" cannot be part of an instance name/],
    [`compressed-blobs/zstd/${H}/1`, /compressor "zstd" is not supported/],
    [`compressed-blobs/snappy/${H}/1`, /unknown compressor "snappy"/],
    [`blobs/blake3/${H}/1`, /digest function "blake3" is not supported/],
  ])('rejects %j', (name, why) => {
    let err: unknown;
    try {
      parseReadResourceName(name);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((err as Error).message).toMatch(why);
    expect((err as Error).message).toContain(`bad read resource name ${JSON.stringify(name)}`);
    expect(isNotFound(err)).toBe(false);
  });
});

describe('parseWriteResourceName', () => {
  it('parses instance, uuid, digest and ignores trailing metadata for the upload key', () => {
    const r = parseWriteResourceName(`ci/x/uploads/u-1/blobs/${H}/99/extra/meta`);
    expect(r).toEqual({
      instanceName: 'ci/x',
      uuid: 'u-1',
      digest: { hash: H, sizeBytes: 99 },
      compressor: undefined,
      uploadKey: `ci/x/uploads/u-1/blobs/${H}/99`,
    });
    expect(parseWriteResourceName(`uploads/u/compressed-blobs/identity/${H}/1`).compressor).toBe('identity');
  });

  it.each([
    [`blobs/${H}/1`, /expected "\{instance\}\/uploads/],
    [`uploads/blobs/${H}/1`, /missing upload id/],
    [`uploads/u/${H}/1`, /expected "blobs" or "compressed-blobs" after the upload id/],
    [`uploads/u/blobs/${H}/x`, /size "x"/],
    [`uploads/u/blobs/${H}/1/../x`, /"\.\." segments/],
    [`uploads/u/compressed-blobs/deflate/${H}/1`, /"deflate" is not supported/],
  ])('rejects %j', (name, why) => {
    expect(() => parseWriteResourceName(name)).toThrow(why);
  });
});

it('formats names that parse back', () => {
  const d = { hash: H, sizeBytes: 5 };
  expect(parseReadResourceName(readResourceName('i', d)).digest).toEqual(d);
  expect(parseReadResourceName(readResourceName('', d)).instanceName).toBe('');
  expect(parseWriteResourceName(writeResourceName('i/j', 'id', d))).toMatchObject({ instanceName: 'i/j', uuid: 'id', digest: d });
});
