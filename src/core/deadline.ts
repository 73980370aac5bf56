/**
 * A request deadline that holds. `AbortSignal.timeout()` is only weakly referenced on
 * Node 20: combined with `AbortSignal.any()` it can be garbage-collected before it fires
 * (nodejs/node#57736, #55428), and a request to a host that never answers then hangs
 * forever. Here a plain timer owns the controller, so the abort fires whatever the GC does.
 */
export interface Deadline {
  /** Aborts `ms` after creation (a `TimeoutError`), or when any linked signal aborts (its reason). */
  readonly signal: AbortSignal;
  /** Whether the timer, not a linked signal, aborted it. */
  readonly timedOut: boolean;
  /** Clears the timer and unlinks the signals; call once the request has ended. */
  dispose(): void;
}

export function deadline(ms: number, ...linked: AbortSignal[]): Deadline {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError'));
  }, ms);
  const unlinks: Array<() => void> = [];
  for (const signal of linked) {
    if (signal.aborted) {
      controller.abort(signal.reason);
      break;
    }
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    unlinks.push(() => signal.removeEventListener('abort', onAbort));
  }
  const dispose = () => {
    clearTimeout(timer);
    for (const unlink of unlinks.splice(0)) unlink();
  };
  if (controller.signal.aborted) dispose();
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    dispose,
  };
}

/** Runs `work` under a deadline, disposing of it however `work` ends. */
export async function withDeadline<T>(ms: number, linked: AbortSignal[], work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const limit = deadline(ms, ...linked);
  try {
    return await work(limit.signal);
  } finally {
    limit.dispose();
  }
}
