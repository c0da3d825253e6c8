/**
 * The command-line frame the scripts share: strict option parsing that turns every mistake into a
 * UsageError, `--help`, and the exit status (0 or 1 from the command, 2 for bad arguments, 1 for an
 * error thrown out of it).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Bad arguments: the command prints the message and its usage, and exits with status 2. */
export class UsageError extends Error {}

/** parseArgs with no positionals and no unknown options; its errors become UsageErrors. */
export function parseStrictArgs<O extends OptionsConfig>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, strict: true, allowPositionals: false, options });
  } catch (err) {
    // parseArgs' messages name the option; drop its hint about positionals, which never apply here.
    throw new UsageError((err as Error).message.split('. To specify a positional')[0]!);
  }
}

/**
 * Parses the process's arguments with `parse` and runs the command with the options; resolves to
 * its exit status. `--help` (parse answers 'help') prints the usage and gives 0; a UsageError prints
 * `name: message` and the usage to stderr and gives 2.
 */
export async function runCommand<O>(
  name: string,
  usage: string,
  parse: (argv: string[]) => O | 'help',
  run: (options: O) => Promise<number>,
): Promise<number> {
  let options: O | 'help';
  try {
    options = parse(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${name}: ${err.message}\n\n${usage}`);
      return 2;
    }
    throw err;
  }
  if (options === 'help') {
    process.stdout.write(usage);
    return 0;
  }
  return run(options);
}

/** Sets the process's exit status from the command's; an error thrown out of it is printed and gives 1. */
export function exitWith(command: Promise<number>, describeError: (err: unknown) => string): void {
  command.then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${describeError(err)}\n`);
      process.exitCode = 1;
    },
  );
}
