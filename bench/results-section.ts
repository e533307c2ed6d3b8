/**
 * Writes one benchmark's section into bench/RESULTS.md: the text between its
 * `<!-- NAME:start -->` and `<!-- NAME:end -->` markers is replaced, and every other section is
 * kept; a file without the markers gets the section appended under its heading and intro. The
 * benches that re-run one comparison (challenger, sidecar shadow) share this so a re-run never
 * duplicates or drops what other benches wrote.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export function writeResultsSection(path: string, name: string, section: string, heading: string, intro: string): void {
  const file = readFileSync(path, 'utf8');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${start}\n${section}\n${end}`;
  const i = file.indexOf(start);
  const j = file.indexOf(end);
  writeFileSync(
    path,
    i >= 0 && j > i ? file.slice(0, i) + block + file.slice(j + end.length) : `${file.replace(/\n*$/, '\n')}\n${heading}\n\n${intro}\n\n${block}\n`,
  );
}
