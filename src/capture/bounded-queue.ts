/**
 * The seam between the data path and the analysis side: a fixed-capacity ring buffer.
 * offer() is O(1), never blocks, never throws, never allocates beyond the ring: when full it drops
 * the new item and counts it (like the OpenTelemetry SDK's batch span processor), because the
 * traffic being watched always wins over the watching.
 */
export class BoundedQueue<T> {
  private readonly ring: Array<T | undefined>;
  private head = 0;
  private size = 0;
  private droppedCount = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.ring = new Array<T | undefined>(capacity);
  }

  /** Adds an item; false (and counted) when the queue is full. */
  offer(item: T): boolean {
    if (this.size === this.capacity) {
      this.droppedCount++;
      return false;
    }
    this.ring[(this.head + this.size) % this.capacity] = item;
    this.size++;
    return true;
  }

  /** Removes and returns up to max items, oldest first. */
  drain(max: number): T[] {
    const n = Math.min(max, this.size);
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) {
      out[i] = this.ring[this.head] as T;
      this.ring[this.head] = undefined; // let the bodies be collected
      this.head = (this.head + 1) % this.capacity;
    }
    this.size -= n;
    return out;
  }

  get depth(): number {
    return this.size;
  }

  get dropped(): number {
    return this.droppedCount;
  }
}
