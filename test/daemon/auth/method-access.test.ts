// Which methods a read-only caller may call: every method of every service
// ncache serves is classified, the writes need a write token, and anything
// unknown is treated as a write.
import { describe, expect, it } from 'vitest';
import { methodAccess, shortMethodName } from '../../../src/daemon/auth/method-access.js';
import { SERVICE_NAMES, type ServiceKey, serviceDefinition } from '../../../src/proto/reapi.js';

const allMethods = (Object.keys(SERVICE_NAMES) as ServiceKey[]).flatMap((key) =>
  Object.values(serviceDefinition(key)).map((m) => m.path),
);

describe('methodAccess', () => {
  it('classifies every served method: health open, the writes write, the rest read', () => {
    const byAccess = (access: string) => allMethods.filter((p) => methodAccess(p) === access).map(shortMethodName).sort();
    expect(byAccess('open')).toEqual(['Health.Check', 'Health.Watch']);
    expect(byAccess('write')).toEqual([
      'ActionCache.UpdateActionResult',
      'ByteStream.Write',
      'ContentAddressableStorage.BatchUpdateBlobs',
      'Execution.Execute',
      'Execution.WaitExecution',
    ]);
    expect(byAccess('read')).toEqual([
      'ActionCache.GetActionResult',
      'ByteStream.QueryWriteStatus',
      'ByteStream.Read',
      'Capabilities.GetCapabilities',
      'ContentAddressableStorage.BatchReadBlobs',
      'ContentAddressableStorage.FindMissingBlobs',
      'ContentAddressableStorage.GetTree',
    ]);
  });

  it('treats a method it does not know as a write', () => {
    expect(methodAccess('/build.bazel.remote.execution.v2.ContentAddressableStorage/SpliceBlob')).toBe('write');
    expect(methodAccess('/google.longrunning.Operations/CancelOperation')).toBe('write');
  });
});
