// A TCP relay in front of a gRPC listener, for breaking connections at a
// chosen point: cutOnce(n) resets the next connection that carries more than
// n bytes from the client, mid-stream (an HTTP/2 connection dies as a whole,
// as when a network path fails). New connections after the cut are relayed.
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private cutAt: number | undefined;
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

  /** Resets the first connection whose client side has sent more than `bytes` bytes. */
  cutOnce(bytes: number): void {
    this.cutAt = bytes;
  }

  private relay(client: Socket, targetPort: number): void {
    const upstream = connect(targetPort, '127.0.0.1');
    this.sockets.add(client).add(upstream);
    let sent = 0;
    client.on('data', (data: Buffer) => {
      sent += data.length;
      if (this.cutAt !== undefined && sent > this.cutAt) {
        this.cutAt = undefined;
        this.cuts++;
        client.resetAndDestroy();
        upstream.resetAndDestroy();
        return;
      }
      upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => client.write(data));
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
