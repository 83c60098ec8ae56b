/**
 * A counting semaphore: at most `slots` holders at once (the writer's COPY transactions, the incidents module's
 * expensive reads). With `maxWaiting`, a caller that would be the (maxWaiting + 1)th in line is refused at once
 * instead of queueing, so a burst of expensive requests cannot grow an unbounded queue of waiting requests.
 */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly slots: number,
    private readonly maxWaiting = Number.POSITIVE_INFINITY,
  ) {}

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Waits for a slot (however many wait already). */
  async acquire(): Promise<void> {
    if (this.active < this.slots) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** Waits for a slot, or answers false at once (nothing taken) when maxWaiting callers already wait. */
  async tryAcquire(): Promise<boolean> {
    if (this.active >= this.slots && this.waiting.length >= this.maxWaiting) return false;
    await this.acquire();
    return true;
  }

  release(): void {
    const next = this.waiting.shift();
    if (next)
      next(); // the slot passes straight to the next waiter
    else this.active--;
  }
}
