/**
 * Builds the web console's bundle if the current sources have none (the query role does the same when it starts),
 * and prints the built files' sizes. Used by the Dockerfile so the image's unprivileged user never writes it.
 */
import { ensureConsoleBundle } from '../shared/http/console-bundle.ts';

const bundle = await ensureConsoleBundle();
for (const [name, file] of bundle.files) {
  console.log(
    `${(name || 'index.html').padEnd(32)} ${String(file.body.length).padStart(8)} B ` +
      `${String(file.gzip.length).padStart(7)} B gzipped`,
  );
}
