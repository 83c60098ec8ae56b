/**
 * Runs async jobs one at a time in submission order: batches, ticks, rule reloads and reassignments all touch the
 * engine's state, and none may interleave with another.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.tail.then(job);
    this.tail = result.catch(() => {});
    return result;
  }

  /** Resolves once every job submitted so far has finished. */
  idle(): Promise<void> {
    return this.run(async () => {});
  }
}
