/** A download progress bar on a terminal (Node), one bar per file. */
import cliProgress from 'cli-progress';
import type { DownloadProgressCallback } from './model_files.js';

const MIB = 1024 * 1024;

/**
 * A progress receiver that draws a `cli-progress` bar on `stream` (stderr, so stdout stays
 * machine-readable) for each file downloaded, and removes nothing when done: the finished line
 * tells what was downloaded.
 */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): DownloadProgressCallback {
  let bar: cliProgress.SingleBar | undefined;
  return ({ file, loaded, total, done }) => {
    const mib = {
      loadedMiB: (loaded / MIB).toFixed(1),
      totalMiB: total === undefined ? '?' : (total / MIB).toFixed(1),
    };
    if (bar === undefined) {
      bar = new cliProgress.SingleBar({
        stream,
        format: `${file} [{bar}] {percentage}% {loadedMiB}/{totalMiB} MiB {eta_formatted}`,
        hideCursor: true,
      });
      bar.start(total ?? 0, loaded, mib);
    }
    bar.update(loaded, mib);
    if (done) {
      bar.stop();
      bar = undefined;
    }
  };
}
