// Whether a pull fits on the Docker data root (docs/disk-guard.md, "A pull that cannot fit"). Pure: the
// disk guard measures, lists images and collects; this says how many bytes are missing.

export interface PullFacts {
  totalBytes: number;
  availBytes: number;
  highWaterPercent: number;
  /** Sizes of the local images of the pulled image's repository (a new version is about as big). */
  sameRepoSizes: readonly number[];
  /**
   * The least the image is taken to need, whatever is local: the agent's self-update passes its own
   * image's size (the new one is of the same build), since its repository may differ or have nothing local.
   */
  minBytes?: number;
}

/** The estimate of the image's size: the largest local image of its repository, at least `minBytes`. */
export const pullEstimate = (f: Pick<PullFacts, 'sameRepoSizes' | 'minBytes'>): number => Math.max(0, f.minBytes ?? 0, ...f.sameRepoSizes);

/** Bytes missing for the pull to leave `100 − highWaterPercent` % free; ≤ 0: it fits. */
export function pullShortfall(f: PullFacts): number {
  const headroom = f.availBytes - f.totalBytes * (1 - f.highWaterPercent / 100);
  return pullEstimate(f) - headroom;
}
