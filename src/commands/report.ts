// testbed report <run-dir>: re-renders a report from saved results; nothing is measured again.
import { UsageError } from '../errors.ts';
import { writeReport } from '../report/report.ts';

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(
      'usage: testbed report <run-dir | results.json>\n\nWrites report.html, report.md, analysis.json and figures/ next to the results.',
    );
    return 0;
  }
  const positional = argv.filter((a) => !a.startsWith('-'));
  if (positional.length !== 1)
    throw new UsageError('report needs exactly one run directory (e.g. results/<run-id>)');
  const out = await writeReport(positional[0]!);
  console.log(`figures: ${out.figures.length}`);
  console.log(`largest 95% CI half-width of added p50: ${out.maxHalfWidthP50Us.toFixed(1)} µs`);
  console.log(`markdown: ${out.markdown}`);
  console.log(`report: ${out.html}`);
  return 0;
}
