// validate's warning for an action cache shared through a remote store (S3)
// that serves results without checking their outputs are still in the CAS.
import { describe, expect, it } from 'vitest';
import { collectWarnings } from '../../src/config/schema.js';
import { baseConfig, parse } from './helpers.js';

const s3 = (prefix: string) => ({ experimental_cloud_object_store: { provider: 'aws', region: 'eu-central-1', bucket: 'team', key_prefix: prefix } });
const memory = { memory: { eviction_policy: { max_bytes: '10mb' } } };
const sharedAc = { fast_slow: { fast: memory, slow: s3('ac/') } };
const completenessWarnings = (c: unknown) => collectWarnings(parse(c)).filter((w) => w.includes('is an action cache shared through'));

/** CAS over S3 on instance "main", and `ac` as the AC store "AC" of that instance. */
function config(ac: Record<string, unknown>, extra: Record<string, unknown>[] = []) {
  const c = baseConfig();
  c.stores = [{ name: 'CAS', fast_slow: { fast: memory, slow: s3('cas/') } }, { name: 'AC', ...ac }, ...extra];
  c.servers[0].services = {
    cas: [{ instance_name: 'main', cas_store: 'CAS' }],
    ac: [{ instance_name: 'main', ac_store: 'AC' }],
  };
  return c;
}

describe('a shared action cache without completeness_checking', () => {
  it('is warned about, naming the binding, the remote store it is shared through and the fix with its CAS', () => {
    expect(completenessWarnings(config(sharedAc))).toEqual([
      'servers[0].services.ac[0].ac_store: "AC" is an action cache shared through stores[1].fast_slow.slow.experimental_cloud_object_store, ' +
        'and it serves results without checking that their outputs are still in the CAS; a result whose outputs have left the shared CAS ' +
        "(a lifecycle rule or a teammate emptied the bucket, the upstream's cache evicted them) makes Bazel fail downloading them instead of running the action. " +
        'Wrap stores[1]\'s store: { name: "AC", completeness_checking: { backend: { fast_slow: ... }, cas_store: { ref_store: { name: "CAS" } } } } ' +
        '(what ncache init --aws and init --remote write)',
    ]);
  });

  it('is found through a ref_store, and S3 alone counts as shared', () => {
    expect(completenessWarnings(config({ ref_store: { name: 'AC_S3' } }, [{ name: 'AC_S3', ...s3('ac/') }]))).toEqual([
      expect.stringMatching(/^servers\[0\]\.services\.ac\[0\]\.ac_store: "AC" is an action cache shared through stores\[2\]\.experimental_cloud_object_store,/),
    ]);
  });

  it('is warned about for an action cache kept by another REAPI server through a grpc store', () => {
    const grpcAc = { fast_slow: { fast: memory, slow: { grpc: { store_type: 'ac', endpoints: [{ address: 'grpc://cluster:8980' }] } } } };
    expect(completenessWarnings(config(grpcAc))).toEqual([
      expect.stringMatching(
        /^servers\[0\]\.services\.ac\[0\]\.ac_store: "AC" is an action cache shared through stores\[1\]\.fast_slow\.slow\.grpc,.*the upstream's cache evicted them/,
      ),
    ]);
  });

  it('is not warned about when completeness_checking wraps it, or when the action cache is local', () => {
    const checked = { completeness_checking: { backend: sharedAc, cas_store: { ref_store: { name: 'CAS' } } } };
    expect(completenessWarnings(config(checked))).toEqual([]);
    expect(completenessWarnings(config(memory))).toEqual([]);
    // A CAS over S3 looked up by completeness_checking is not where results are kept.
    const localChecked = { completeness_checking: { backend: memory, cas_store: { ref_store: { name: 'CAS' } } } };
    expect(completenessWarnings(config(localChecked))).toEqual([]);
  });
});
