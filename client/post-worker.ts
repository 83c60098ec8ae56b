/**
 * Compression and the HTTP POST on a worker thread, so that the instrumented service's event loop only joins a
 * batch's JSON and hands the string over: gzip and the socket work (about 3 µs per item on the plugin benchmark's
 * machine) leave the thread that serves requests. The worker is plain JavaScript (no TypeScript loader needed in
 * it), is unref'd (it never keeps the process alive) and is restarted on the next batch if it dies.
 *
 * Protocol: main → worker { id, url, headers, body (UTF-8 bytes, transferred), compress, timeoutMs };
 * worker → main { id, status, text, retryAfter } or { id, error }.
 */
import { Worker } from 'node:worker_threads';

export interface PostRequest {
  url: string;
  headers: Record<string, string>;
  /** The JSON body, uncompressed, in a buffer of its own (it is transferred to the worker, not copied). */
  body: Buffer;
  compress: boolean;
  timeoutMs: number;
}

export interface PostAnswer {
  status: number;
  text: string;
  retryAfter: string | null;
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const http = require('node:http');
const https = require('node:https');
const zlib = require('node:zlib');
const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 2 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 2 }),
};
parentPort.on('message', (m) => {
  const reply = (answer) => parentPort.postMessage({ id: m.id, ...answer });
  const send = (body) => {
    const url = new URL(m.url);
    const headers = { ...m.headers, 'content-length': body.length };
    if (m.compress) headers['content-encoding'] = 'gzip';
    const request = url.protocol === 'https:' ? https.request : http.request;
    const req = request(url, { method: 'POST', headers, agent: agents[url.protocol] }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        const retryAfter = res.headers['retry-after'];
        reply({
          status: res.statusCode || 0,
          text: Buffer.concat(chunks).toString('utf8'),
          retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
        });
      });
      res.on('error', fail);
    });
    const timer = setTimeout(() => req.destroy(new Error('no answer within ' + m.timeoutMs + ' ms')), m.timeoutMs);
    function fail(error) {
      clearTimeout(timer);
      const named = error.code && !error.message.includes(error.code);
      reply({ error: named ? error.message + ' (' + error.code + ')' : error.message });
    }
    req.on('error', fail);
    req.end(body);
  };
  const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
  if (!m.compress) return send(body);
  // Level 1: batches of near-identical JSON items compress about as well as at level 6, at half the CPU.
  zlib.gzip(body, { level: zlib.constants.Z_BEST_SPEED }, (error, gz) =>
    error ? reply({ error: error.message }) : send(gz),
  );
});
`;

export class PostWorker {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (a: PostAnswer) => void; reject: (e: Error) => void }>();

  post(request: PostRequest): Promise<PostAnswer> {
    const worker = this.start();
    const id = this.nextId++;
    // The body's ArrayBuffer is moved to the worker, not copied; a body sharing Node's buffer pool is copied first.
    const own = request.body.byteOffset === 0 && request.body.buffer.byteLength === request.body.length;
    const body = own ? request.body : new Uint8Array(request.body);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, ...request, body }, [body.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on('message', (m: { id: number; error?: string } & PostAnswer) => {
      const waiting = this.pending.get(m.id);
      if (!waiting) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) waiting.reject(new Error(m.error));
      else waiting.resolve({ status: m.status, text: m.text, retryAfter: m.retryAfter });
    });
    const failAll = (error: Error) => {
      if (this.worker === worker) this.worker = null;
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`the delivery worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}
