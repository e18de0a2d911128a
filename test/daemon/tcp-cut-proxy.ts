// A TCP proxy between two daemons for the forwarding tests: bytes pass
// through untouched, and cut() destroys every connection open at that moment
// (both sides see the TCP connection drop mid-stream, as when a network path
// breaks); new connections are let through as before.
import { type AddressInfo, type Server, type Socket, createConnection, createServer } from 'node:net';

export class TcpCutProxy {
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(private readonly target: { host: string; port: number }) {}

  static async start(target: { host: string; port: number }, listenPort = 0): Promise<TcpCutProxy> {
    const proxy = new TcpCutProxy(target);
    const server = createServer((client) => proxy.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, '127.0.0.1', resolve);
    });
    proxy.server = server;
    return proxy;
  }

  /** Connections open now (each counted once, client side). */
  get open(): number {
    return this.sockets.size / 2;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo).port;
  }

  /** Destroys every open connection; later ones pass. Returns how many were cut. */
  cut(): number {
    const n = this.sockets.size;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    return n;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(client: Socket): void {
    this.accepted++;
    const upstream = createConnection(this.target);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        this.sockets.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  }
}
