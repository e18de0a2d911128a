// A TCP relay in front of a gRPC listener, for breaking connections at a
// chosen point: cutOnce(n, direction) resets the next connection that carries
// more than n bytes from the client ('up') or to it ('down'), mid-stream (an
// HTTP/2 connection dies as a whole, as when a network path fails). New
// connections after the cut are relayed. holdOnce(n, direction) instead stops
// relaying that connection after n bytes (a stalled path) until resetAll().
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private cut: { bytes: number; direction: 'up' | 'down'; hold: boolean } | undefined;
  private onHold: (() => void) | undefined;
  /** Connections reset by a cut. */
  cuts = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy?.relay(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new TcpProxy(server, (server.address() as AddressInfo).port);
    return proxy;
  }

  /** Resets the first connection that carries more than `bytes` bytes in `direction`. */
  cutOnce(bytes: number, direction: 'up' | 'down'): void {
    this.cut = { bytes, direction, hold: false };
  }

  /** Stops relaying the first connection that carries more than `bytes` in `direction`; resolves when it happens. */
  holdOnce(bytes: number, direction: 'up' | 'down'): Promise<void> {
    this.cut = { bytes, direction, hold: true };
    return new Promise((resolve) => (this.onHold = resolve));
  }

  /** Resets every relayed connection. */
  resetAll(): void {
    for (const s of this.sockets) s.resetAndDestroy();
  }

  private relay(client: Socket, targetPort: number): void {
    const upstream = connect(targetPort, '127.0.0.1');
    this.sockets.add(client).add(upstream);
    const carried = { up: 0, down: 0 };
    const forward = (direction: 'up' | 'down', to: Socket) => (data: Buffer) => {
      carried[direction] += data.length;
      if (this.cut?.direction === direction && carried[direction] > this.cut.bytes) {
        const hold = this.cut.hold;
        this.cut = undefined;
        if (hold) {
          (direction === 'up' ? client : upstream).pause();
          this.onHold?.();
          return;
        }
        this.cuts++;
        client.resetAndDestroy();
        upstream.resetAndDestroy();
        return;
      }
      to.write(data);
    };
    client.on('data', forward('up', upstream));
    upstream.on('data', forward('down', client));
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
