// Compares a run (results/results.json) with known-failures.json: every failure must be a
// known one (with its reason), and every known failure must still fail, so the list stays
// true. Exit status 0 when they match, 1 otherwise.
'use strict';
const fs = require('node:fs');
const [resultsPath, knownPath] = process.argv.slice(2);
const results = JSON.parse(fs.readFileSync(resultsPath, 'utf8'));
const known = JSON.parse(fs.readFileSync(knownPath, 'utf8'));
const isKnown = (t, k) => t.file === k.file && t.title.includes(k.title);
const failed = results.filter(t => t.state === 'failed');
const unexpected = failed.filter(t => !known.some(k => isKnown(t, k)));
const fixed = known.filter(k => !failed.some(t => isKnown(t, k)));
const passed = results.filter(t => t.state === 'passed').length;
console.log(`== ${passed} passed, ${failed.length} failed of ${results.length}; ` +
  `${failed.length - unexpected.length} failures are known (known-failures.json)`);
for(const t of unexpected) {
  console.log(`NEW FAILURE ${t.file}: ${t.title}\n    ${t.error}`);
}
for(const k of fixed) {
  console.log(`NO LONGER FAILS (remove it from known-failures.json) ${k.file}: ${k.title}`);
}
if(results.length === 0) {
  console.log('no test ran');
}
process.exit(unexpected.length || fixed.length || results.length === 0 ? 1 : 0);
