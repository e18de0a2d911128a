import { expect } from 'vitest';

/** Matches a grpc-js ServiceError with this status code (and details, when given). */
export const grpcError = (code: number, details?: RegExp) =>
  expect.objectContaining({ code, ...(details ? { details: expect.stringMatching(details) } : {}) });
