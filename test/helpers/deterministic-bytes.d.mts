export function deterministicBytes(size: number, seed: number): Buffer;
