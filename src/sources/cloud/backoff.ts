// Reconnection delays (CONTRACT §3): 5 s fixed until the first successful connect (the device waits to be
// linked), then min(1 s·2^n, 30 s) ±30 % jitter, n reset on success.
export function reconnectDelayMs(everConnected: boolean, attempt: number, random = Math.random): number {
  if (!everConnected) return 5000;
  const base = Math.min(1000 * 2 ** attempt, 30_000);
  return Math.max(1000, Math.round(base * (0.7 + 0.6 * random())));
}
