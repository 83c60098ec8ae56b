import { defineConfig } from 'vitest/config';

// Three projects: unit tests beside the code (no services), integration tests against the real Kafka broker and
// PostgreSQL (brought up by test/global-setup.ts), and fault tests that kill processes and stop private
// brokers/clusters. `npm test` runs the fault project in a second, sequential pass so that it never shares the
// machine with the parallel integration tests.
export default defineConfig({
  test: {
    reporters: ['default'],
    // Two cores: more workers only make the broker, PostgreSQL and the tests fight for them.
    maxWorkers: 2,
    minWorkers: 1,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{shared,services,infra,bin,client,examples}/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/*.fault.test.ts', 'node_modules/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.fault.test.ts', 'node_modules/**', '.kafka/**'],
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'fault',
          include: ['**/*.fault.test.ts'],
          exclude: ['node_modules/**', '.kafka/**'],
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
