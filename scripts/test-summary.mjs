// Prints one line of counts per vitest JSON report, then the summed line
// `tests: N passed, N failed[, N skipped]` (always the last line).
//   node scripts/test-summary.mjs "Node 20=/tmp/a.json" "Node 26=/tmp/b.json"
// A bare path is labelled by itself. Exits non-zero when a report is missing
// or unreadable, counts a failure, or ran no test.
import { readFileSync } from 'node:fs';

/** The counts of one report; an unreadable report counts as one failure. */
function counts(file) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    return { passed: 0, failed: 1, skipped: 0, note: `report unreadable (${error.message})` };
  }
  // A file that failed without a failing test (an import or hook error) counts as one failure.
  const brokenFiles = (report.testResults ?? []).filter(
    (result) =>
      result.status === 'failed' && !result.assertionResults?.some((t) => t.status === 'failed'),
  ).length;
  return {
    passed: report.numPassedTests ?? 0,
    failed: (report.numFailedTests ?? 0) + brokenFiles,
    skipped: (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0),
    note: '',
  };
}

const line = ({ passed, failed, skipped }) =>
  `tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;

const total = { passed: 0, failed: 0, skipped: 0 };
let empty = false;
for (const arg of process.argv.slice(2)) {
  const at = arg.indexOf('=');
  const [label, file] = at === -1 ? [arg, arg] : [arg.slice(0, at), arg.slice(at + 1)];
  const result = counts(file);
  for (const key of ['passed', 'failed', 'skipped']) total[key] += result[key];
  if (result.passed === 0) empty = true;
  if (process.argv.length > 3)
    console.log(`${label}: ${line(result)}${result.note && ` (${result.note})`}`);
  else if (result.note) console.log(`${label}: ${result.note}`);
}
if (process.argv.length <= 2) total.failed = 1;
console.log(line(total));
process.exit(total.failed > 0 || empty ? 1 : 0);
