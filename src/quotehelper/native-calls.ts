/**
 * Calling Intel's quoting libraries through koffi, shared by the quote
 * helper's and the QGS's dcap backends: a call on koffi's worker thread
 * (the event loop keeps serving while the QE runs), and a queue that keeps
 * calls from overlapping (aesmd and Intel's QGS serialise them too).
 */

/** A koffi function bound with `lib.func()`: `.async(...args, callback)` runs it on a worker thread. */
export interface AsyncNativeFn {
  async: (...args: unknown[]) => void;
}

/** Runs `fn` on a worker thread; resolves to its integer return value (the library's error code). */
export function callAsync(fn: AsyncNativeFn, ...args: unknown[]): Promise<number> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err: unknown, res: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(Number(res))));
  });
}

/** Runs the functions given to `run` one after another, whatever each one's outcome. */
export class SerialCalls {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
