// A deadline for one Docker call: a wedged engine must not hang a step (or the updater) for ever.

/** Rejects after `ms` (and runs `onTimeout`, e.g. to destroy a stream); the call itself cannot be cancelled. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new Error(`${what}: no answer from the engine within ${Math.round(ms / 1000)} s`));
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
