// At most `size` holders at a time. The others wait their turn: the highest priority first, then
// first come first served.
export class Semaphore {
  private free: number;
  private readonly waiting: { priority: number; go: () => void }[] = [];

  constructor(size: number) {
    this.free = Math.max(1, size);
  }

  async use<T>(fn: () => Promise<T>, priority = 0): Promise<T> {
    if (this.free > 0) this.free--;
    else {
      await new Promise<void>((go) => {
        const at = this.waiting.findIndex((w) => w.priority < priority);
        this.waiting.splice(at === -1 ? this.waiting.length : at, 0, { priority, go });
      });
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next.go(); // the slot passes straight to the next waiter
      else this.free++;
    }
  }
}
