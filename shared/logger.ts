import pino, { type Logger } from 'pino';

export function createLogger(level: string, name = 'vigil'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

export type { Logger } from 'pino';
