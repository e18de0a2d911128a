// The filesystem store's temp-file names: made and recognized in one module.
import { describe, expect, it } from 'vitest';
import { isTempName, parseTempName, probeTempName, uploadTempName } from '../../src/stores/filesystem/temp-names.js';
import { digestKey, digestOf } from '../../src/util/digest.js';

describe('filesystem temp names', () => {
  it("an upload's temp name gives back its key; two uploads of one key never share a name", () => {
    const key = digestOf(Buffer.from('temp names'));
    const name = uploadTempName(key);
    expect(isTempName(name)).toBe(true);
    expect(name.startsWith(`${digestKey(key)}.`)).toBe(true);
    expect(parseTempName(name)).toEqual(key);
    expect(uploadTempName(key)).not.toBe(name);
  });

  it('a probe is a temp file of no key; content files and foreign names are not temp files', () => {
    const key = digestOf(Buffer.from('content'));
    expect(isTempName(probeTempName())).toBe(true);
    expect(parseTempName(probeTempName())).toBeUndefined();
    expect(isTempName(digestKey(key))).toBe(false);
    expect(parseTempName(digestKey(key))).toBeUndefined();
    expect(parseTempName('notes.txt.ncache-tmp')).toBeUndefined();
  });
});
