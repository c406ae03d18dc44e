// Mocha reporter: the spec output, then pass/fail counts per suite file and every failure's
// reason, and results/results.json for later comparison.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Mocha = require('mocha');
const {EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING, EVENT_RUN_END} =
  Mocha.Runner.constants;

class VerityReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const out = (options.reporterOptions || {}).output || 'results/results.json';
    const tests = [];
    const record = state => test => tests.push({
      state,
      file: path.basename(test.file || ''),
      title: test.fullTitle(),
      error: test.err ? String(test.err.message || test.err).split('\n')[0].slice(0, 300) :
        undefined
    });
    runner.on(EVENT_TEST_PASS, record('passed'));
    runner.on(EVENT_TEST_FAIL, record('failed'));
    runner.on(EVENT_TEST_PENDING, record('pending'));
    runner.once(EVENT_RUN_END, () => {
      fs.mkdirSync(path.dirname(out), {recursive: true});
      fs.writeFileSync(out, JSON.stringify(tests, null, 2));
      const byFile = new Map();
      for(const t of tests) {
        const c = byFile.get(t.file) || {passed: 0, failed: 0, pending: 0};
        c[t.state]++;
        byFile.set(t.file, c);
      }
      const total = {passed: 0, failed: 0, pending: 0};
      console.log('\n== W3C VCDM 2.0 suite against Verity: per file ==');
      for(const [file, c] of [...byFile].sort()) {
        console.log(`${file.padEnd(36)} pass ${String(c.passed).padStart(3)}  fail ` +
          `${String(c.failed).padStart(3)}  pending ${c.pending}`);
        for(const k of Object.keys(total)) {
          total[k] += c[k];
        }
      }
      console.log(`TOTAL: ${total.passed} passed, ${total.failed} failed, ` +
        `${total.pending} pending (of ${tests.length}); details in ${out}`);
    });
  }
}
module.exports = VerityReporter;
