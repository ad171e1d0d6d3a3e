// Errors the user can fix. The CLI prints their message without a stack trace and exits with code 2.

/** Bad input: a file, the field path inside it, and what is wrong. */
export class InputError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${file}: ${field ? `${field}: ` : ''}${reason}`);
    this.name = 'InputError';
  }
}

/** Bad command-line usage, or a missing prerequisite the user must install (root, mininet, nft, …). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
