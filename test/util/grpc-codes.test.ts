import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { GrpcStatus, grpcStatusName } from '../../src/util/grpc-codes.js';

describe('GrpcStatus', () => {
  it('has every code of @grpc/grpc-js, with the same number and name', () => {
    const grpcJs = Object.entries(status).filter((entry): entry is [string, number] => typeof entry[1] === 'number');
    expect(grpcJs.length).toBe(17);
    for (const [name, code] of grpcJs) {
      expect(GrpcStatus[name as keyof typeof GrpcStatus], name).toBe(code);
      expect(grpcStatusName(code)).toBe(name);
    }
    expect(Object.keys(GrpcStatus).sort()).toEqual(grpcJs.map(([name]) => name).sort());
  });

  it('names a code gRPC does not define by its number', () => {
    expect(grpcStatusName(17)).toBe('17');
    expect(grpcStatusName(-1)).toBe('-1');
  });
});
