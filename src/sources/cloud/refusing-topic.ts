// A state file written by a newer agent (CONTRACT §8): the link and heartbeats stay up, and every request
// is answered with one error that names both schema versions, so the cloud knows why nothing happens.
import type { Topic } from './topic.js';

export const refusingTopic = (t: Topic, refusal: string): Topic => ({
  name: t.name,
  handle: () => Promise.resolve({ status: 'error', error: `(state): ${refusal}` }),
});
