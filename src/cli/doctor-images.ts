// doctor's "images" line: the image of every declared runtime is on the engine, so a container can be
// re-created without the network (an offline box, or the registry down, cannot pull it).
import type Docker from 'dockerode';
import { targetImage } from '../reconcilers/upgrade.js';
import type { State } from '../store/schema.js';
import { check, type Check } from './doctor-check.js';

export async function imagesCheck(docker: Docker, state: State, repo: string): Promise<Check> {
  const refs = [...new Set(Object.values(state.runtimes).map((r) => targetImage(r, repo)))];
  if (refs.length === 0) return check('OK', 'images', 'no runtime declared');
  const absent: string[] = [];
  for (const ref of refs) {
    try {
      await docker.getImage(ref).inspect();
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 404) throw e;
      absent.push(ref);
    }
  }
  if (absent.length === 0) return check('OK', 'images', `${refs.length} runtime image(s) present: ${refs.join(', ')}`);
  return check('WARN', 'images', `not on the engine: ${absent.join(', ')}`, `the agent pulls them when it next creates these containers, which needs the registry; pull now while online: docker pull ${absent[0]}`);
}
