/** `node dist/bench/profile_main.js [model folder]`: the per-stage profile of the photo path alone (see profile.ts). */
import { DEFAULT_MODEL_DIR, photos } from './harness.js';
import { formatProfile, profilePhotoPath } from './profile.js';

process.stdout.write(formatProfile(await profilePhotoPath(process.argv[2] ?? DEFAULT_MODEL_DIR, await photos())));
