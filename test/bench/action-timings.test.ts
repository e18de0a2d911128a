// The execution benchmark's reading of ExecutedActionMetadata: stage
// durations from the timestamps, and nearest-rank percentiles.
import { describe, expect, it } from 'vitest';
import { percentile, timingsOf } from '../../bench/action-timings.js';
import type { ExecutedActionMetadata, Timestamp } from '../../src/proto/reapi.js';

const at = (ms: number): Timestamp => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });

function metadata(stamps: Partial<Record<keyof ExecutedActionMetadata, number>>): ExecutedActionMetadata {
  const t = (key: keyof ExecutedActionMetadata) => (stamps[key] === undefined ? null : at(stamps[key]));
  return {
    worker: 'w0',
    queuedTimestamp: t('queuedTimestamp'),
    workerStartTimestamp: t('workerStartTimestamp'),
    workerCompletedTimestamp: t('workerCompletedTimestamp'),
    inputFetchStartTimestamp: t('inputFetchStartTimestamp'),
    inputFetchCompletedTimestamp: t('inputFetchCompletedTimestamp'),
    executionStartTimestamp: t('executionStartTimestamp'),
    executionCompletedTimestamp: t('executionCompletedTimestamp'),
    virtualExecutionDuration: null,
    outputUploadStartTimestamp: t('outputUploadStartTimestamp'),
    outputUploadCompletedTimestamp: t('outputUploadCompletedTimestamp'),
    auxiliaryMetadata: [],
  };
}

describe('timingsOf', () => {
  it('splits an action into its stages across a second boundary', () => {
    const base = 1_700_000_000_998;
    const m = metadata({
      queuedTimestamp: base,
      workerStartTimestamp: base + 1,
      inputFetchStartTimestamp: base + 2,
      inputFetchCompletedTimestamp: base + 5,
      executionStartTimestamp: base + 6,
      executionCompletedTimestamp: base + 56,
      outputUploadStartTimestamp: base + 57,
      outputUploadCompletedTimestamp: base + 60,
      workerCompletedTimestamp: base + 60,
    });
    expect(timingsOf(m)).toEqual({
      queueMs: 1,
      workerSetupMs: 1,
      inputFetchMs: 3,
      spawnMs: 1,
      toProcessMs: 6,
      executionMs: 50,
      outputUploadMs: 3,
    });
  });

  it('gives nothing for a run that stopped before its command (no execution timestamps)', () => {
    expect(timingsOf(metadata({ queuedTimestamp: 1, workerStartTimestamp: 2, inputFetchStartTimestamp: 3 }))).toBeUndefined();
  });
});

describe('percentile', () => {
  it('takes the nearest rank, whatever the input order', () => {
    const values = [9, 1, 5, 3, 7, 2, 8, 4, 6, 10];
    expect(percentile(values, 50)).toBe(5);
    expect(percentile(values, 90)).toBe(9);
    expect(percentile(values, 100)).toBe(10);
    expect(percentile(values, 0)).toBe(1);
    expect(percentile([4], 50)).toBe(4);
  });

  it('is NaN with no values, so an empty table says "-" rather than 0', () => {
    expect(percentile([], 50)).toBeNaN();
  });
});
