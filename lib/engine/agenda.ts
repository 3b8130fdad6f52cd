import type { Op } from "./machine.js";

/**
 * The ops to run, first in first out. Taking one is O(1): an array's `shift` moves every element
 * after it, which made a 100,000-branch parallel foreach (100,000 queued starts) quadratic.
 */
export class Agenda {
  private ops: (Op | undefined)[] = [];
  private head = 0;

  push(op: Op): void {
    this.ops.push(op);
  }

  shift(): Op | undefined {
    if (this.head >= this.ops.length) return undefined;
    const op = this.ops[this.head];
    this.ops[this.head++] = undefined;
    // Drop the taken slots once they are most of the array, so memory follows what is queued.
    if (this.head >= 1024 && this.head * 2 >= this.ops.length) this.keep(() => true);
    return op;
  }

  /** Removes the queued ops `matches` is true of, keeping the others in order. */
  drop(matches: (op: Op) => boolean): void {
    this.keep((op) => !matches(op));
  }

  private keep(keeps: (op: Op) => boolean): void {
    const kept: Op[] = [];
    for (let i = this.head; i < this.ops.length; i++) {
      const op = this.ops[i] as Op;
      if (keeps(op)) kept.push(op);
    }
    this.ops = kept;
    this.head = 0;
  }
}
