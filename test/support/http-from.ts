/**
 * HTTP from a chosen loopback source address. Linux routes all of 127.0.0.0/8
 * to the loopback interface, so a client bound to 127.0.0.2 reaches a server
 * on 127.0.0.1 and the server sees 127.0.0.2 as the peer: a real second
 * client address, without trusting X-Forwarded-For.
 */
import http from 'node:http';

export interface RawAnswer {
  status: number;
  text: string;
  headers: Headers;
}

export function requestFrom(
  localAddress: string,
  url: string,
  options: { method: string; headers?: Record<string, string>; body?: string },
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = http.request(
      { host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: options.method, headers: options.headers, localAddress, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, v);
          }
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
