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

  it('accepts zstd names, with or without the digest function segment', () => {
    expect(parseReadResourceName(`a/b/compressed-blobs/zstd/${H}/42`)).toEqual({
      instanceName: 'a/b',
      digest: { hash: H, sizeBytes: 42 },
      compressor: 'zstd',
    });
    expect(parseReadResourceName(`compressed-blobs/zstd/sha256/${H}/0`)).toMatchObject({ instanceName: '', compressor: 'zstd' });
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
    [`compressed-blobs/brotli/${H}/1`, /compressor "brotli" is not supported/],
    [`compressed-blobs/snappy/${H}/1`, /unknown compressor "snappy" \(supported: zstd, identity\)/],
    [`compressed-blobs/deflate/${H}/1`, /compressor "deflate" is not supported by this server/],
    [`compressed-blobs/ZSTD/${H}/1`, /unknown compressor "ZSTD"/],
    [`compressed-blobs/zstd/${H}`, /missing size/],
    [`compressed-blobs/zstd/${H}/1/x`, /unexpected "x" after the size/],
    [`compressed-blobs/${H}/1`, /unknown compressor/],
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

  it('parses zstd uploads: the digest is the uncompressed one, the upload key keeps the compressor', () => {
    expect(parseWriteResourceName(`ci/uploads/u-2/compressed-blobs/zstd/${H}/1048576/meta`)).toEqual({
      instanceName: 'ci',
      uuid: 'u-2',
      digest: { hash: H, sizeBytes: 1048576 },
      compressor: 'zstd',
      uploadKey: `ci/uploads/u-2/compressed-blobs/zstd/${H}/1048576`,
    });
    expect(parseWriteResourceName(`uploads/u/compressed-blobs/zstd/sha256/${H}/3`).digest).toEqual({ hash: H, sizeBytes: 3 });
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
