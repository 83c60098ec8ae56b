/**
 * A local HTTP server that records every request (for webhook tests); `status` decides the answers.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SinkRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface HttpSink {
  url: string;
  requests: SinkRequest[];
  /** Status to answer the n-th request (0-based) with; 200 by default. */
  status: (n: number) => number;
  close(): Promise<void>;
}

export async function startHttpSink(): Promise<HttpSink> {
  const sink: Partial<HttpSink> & { requests: SinkRequest[]; status: (n: number) => number } = {
    requests: [],
    status: () => 200,
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = sink.requests.length;
      sink.requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.statusCode = sink.status(n);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sink.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink as HttpSink;
}
