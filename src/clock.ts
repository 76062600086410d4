// Two clocks (issue #26): the wall clock for times shown to people or stored (ISO strings, backoffUntil in
// the state file), the monotonic one for every duration and every decision based on one. An NTP step or a
// hand-set clock moves the wall clock by hours; a crash backoff must still end after its 10 s.
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** ms since the epoch: for timestamps only, never subtract two of them to decide anything. */
  wall(): number;
  /** ms on a clock that never steps (performance.now(): CLOCK_MONOTONIC): for durations and deadlines. */
  mono(): number;
}

export const systemClock: Clock = { wall: () => Date.now(), mono: () => performance.now() };

/** Monotonic ms now (shorthand where no clock is injected). */
export const monoNow = (): number => performance.now();
