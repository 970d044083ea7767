/**
 * An mTLS front for the run's Temporal dev server. `temporal server start-dev`
 * (CLI 1.9) has no TLS flags, so the tests of the apps' Temporal TLS
 * configuration put this in front of it: a node:tls server that requires a
 * client certificate signed by the given CA, speaks HTTP/2 over ALPN (gRPC),
 * and pipes the decrypted bytes to the plaintext server. The handshake the
 * clients do here is the one they would do with a Temporal server configured
 * with `requireClientAuth` (docker-compose.yml).
 */
import net from 'node:net';
import tls from 'node:tls';

export interface TlsTerminator {
  /** host:port to dial (127.0.0.1). */
  address: string;
  /** Handshakes refused, with the reason node gives (no certificate, unknown CA, …). */
  refused: string[];
  /** Client certificates' subjects that got through. */
  accepted: string[];
  close(): Promise<void>;
}

export async function startTlsTerminator(options: { target: string; cert: Buffer; key: Buffer; ca: Buffer }): Promise<TlsTerminator> {
  const [host, port] = [options.target.slice(0, options.target.lastIndexOf(':')), Number(options.target.slice(options.target.lastIndexOf(':') + 1))];
  const refused: string[] = [];
  const accepted: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = tls.createServer(
    { cert: options.cert, key: options.key, ca: options.ca, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'], minVersion: 'TLSv1.2' },
    (client) => {
      accepted.push(String((client.getPeerCertificate() as { subject?: { CN?: string } }).subject?.CN ?? '?'));
      const upstream = net.connect(port, host);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
        socket.on('close', () => sockets.delete(socket));
      }
      client.pipe(upstream).pipe(client);
    },
  );
  server.on('tlsClientError', (error) => refused.push(error.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: listening } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${listening}`,
    refused,
    accepted,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
