// A TCP relay on loopback in front of a gRPC listener, for breaking
// connections as a network path would (an HTTP/2 connection dies as a whole):
// - cutAll() resets every connection open now (a path that breaks at once);
// - cutOnce(n, direction) resets the next connection that carries more than
//   n bytes from the client ('up') or to it ('down'), mid-stream;
// - holdOnce(n, direction) instead stops relaying that connection after n
//   bytes (a stalled path) until cutAll().
// Connections made after a cut are relayed as before.
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

interface Connection {
  readonly client: Socket;
  readonly upstream: Socket;
}

export class TcpProxy {
  private readonly connections = new Set<Connection>();
  private trigger: { bytes: number; direction: 'up' | 'down'; hold: boolean } | undefined;
  private onHold: (() => void) | undefined;
  /** Connections accepted so far. */
  accepted = 0;
  /** Connections reset by cutOnce. */
  cuts = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy?.relay(client, targetPort));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    proxy = new TcpProxy(server, (server.address() as AddressInfo).port);
    return proxy;
  }

  /** Connections open now. */
  get open(): number {
    return this.connections.size;
  }

  /** Resets the first connection that carries more than `bytes` bytes in `direction`. */
  cutOnce(bytes: number, direction: 'up' | 'down'): void {
    this.trigger = { bytes, direction, hold: false };
  }

  /** Stops relaying the first connection that carries more than `bytes` in `direction`; resolves when it happens. */
  holdOnce(bytes: number, direction: 'up' | 'down'): Promise<void> {
    this.trigger = { bytes, direction, hold: true };
    return new Promise((resolve) => (this.onHold = resolve));
  }

  /** Resets every open connection; returns how many. */
  cutAll(): number {
    const open = [...this.connections];
    for (const c of open) reset(c);
    return open.length;
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket, targetPort: number): void {
    this.accepted++;
    const connection = { client, upstream: connect(targetPort, '127.0.0.1') };
    const { upstream } = connection;
    this.connections.add(connection);
    const carried = { up: 0, down: 0 };
    const forward = (direction: 'up' | 'down', to: Socket) => (data: Buffer) => {
      carried[direction] += data.length;
      const trigger = this.trigger;
      if (trigger?.direction === direction && carried[direction] > trigger.bytes) {
        this.trigger = undefined;
        if (trigger.hold) {
          (direction === 'up' ? client : upstream).pause();
          this.onHold?.();
          return;
        }
        this.cuts++;
        reset(connection);
        return;
      }
      to.write(data);
    };
    client.on('data', forward('up', upstream));
    upstream.on('data', forward('down', client));
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.connections.delete(connection);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }
}

function reset({ client, upstream }: Connection): void {
  client.resetAndDestroy();
  upstream.resetAndDestroy();
}
