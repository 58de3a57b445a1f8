/**
 * The README's code runs as written: every ```ts / ```js block is transpiled and run with Node
 * (importing 'mobilenet-v2' resolves to this package through its own `exports`), every ```sh block
 * runs its `npx mobilenet-v2 …` commands with the local CLI. A block preceded by
 * `<!-- readme-test: skip (reason) -->` is not run (browser-only, hub, install commands).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import ts from 'typescript';
import { CLI, REPO_ROOT } from './helpers.js';

interface Block {
  lang: string;
  code: string;
  line: number;
  skip?: string;
}

/** The fenced ts/js/sh blocks of a Markdown text, with the skip marker before each, if any. */
function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const fence = /^(?:<!-- readme-test: skip \(([^)]*)\) -->\n)?```(ts|js|sh)\n([\s\S]*?)^```$/gm;
  for (const m of markdown.matchAll(fence)) {
    const line = markdown.slice(0, m.index).split('\n').length;
    blocks.push({ lang: m[2]!, code: m[3]!, line, ...(m[1] !== undefined ? { skip: m[1] } : {}) });
  }
  return blocks;
}

const blocks = codeBlocks(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
// Snippets run inside the package (dist/readme-test) so that 'mobilenet-v2' self-resolves, from a
// temp working folder holding the samples and models the snippets name by relative path.
const SCRIPTS = join(REPO_ROOT, 'dist/readme-test');
const work = mkdtempSync(join(tmpdir(), 'mnv2-readme-'));
for (const folder of ['samples', 'models']) symlinkSync(join(REPO_ROOT, folder), join(work, folder));
mkdirSync(SCRIPTS, { recursive: true });
after(() => rmSync(work, { recursive: true, force: true }));

function run(command: string, args: string[]): void {
  const r = spawnSync(command, args, { cwd: work, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${[command, ...args].join(' ')} failed:\n${r.stderr}${r.error?.message ?? ''}`);
}

describe('README code blocks', () => {
  it('finds runnable ts and sh blocks', () => {
    assert.ok(blocks.filter((b) => !b.skip && b.lang === 'ts').length >= 2, 'fewer than two runnable ts blocks');
    assert.ok(blocks.filter((b) => !b.skip && b.lang === 'sh').length >= 2, 'fewer than two runnable sh blocks');
  });

  for (const block of blocks) {
    it(`README.md:${block.line} (${block.lang})`, block.skip ? { skip: block.skip } : {}, () => {
      if (block.lang === 'sh') {
        const commands = block.code.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
        for (const command of commands) {
          assert.match(command, /^npx mobilenet-v2 /, `README.md:${block.line}: "${command}" cannot be run here; mark the block <!-- readme-test: skip (why) -->`);
          run(process.execPath, [CLI, ...command.split(/\s+/).slice(2)]);
        }
        return;
      }
      const { outputText } = ts.transpileModule(block.code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
      const file = join(SCRIPTS, `block-${block.line}.mjs`);
      writeFileSync(file, outputText);
      run(process.execPath, [file]);
    });
  }
});
