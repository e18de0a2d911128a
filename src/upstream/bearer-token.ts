// token_file (an ncache extension, like Bazel's --remote_header): the file's
// trimmed content is sent as `authorization: Bearer <token>`. The file is
// looked at (stat) at most once a second and re-read when it changed, so a
// rotated token is used within about a second without a restart. Replace it
// atomically (write a temp file, rename): a missing or empty file fails the
// call with the config path and the file named.
import { readFileSync, statSync } from 'node:fs';
import { NcacheError, errorMessage } from '../util/errors.js';

const RECHECK_MS = 1000;

export class BearerTokenFile {
  private token: string | undefined;
  private problem: string | undefined;
  private signature = '';
  private checkedAt = -Infinity;

  constructor(
    readonly file: string,
    /** "stores[2].grpc.token_file", for messages. */
    readonly configPath: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The token to send now; throws FAILED_PRECONDITION when the file is missing or empty. */
  current(): string {
    const now = this.now();
    if (now - this.checkedAt >= RECHECK_MS) {
      this.checkedAt = now;
      this.refresh();
    }
    if (this.token === undefined) {
      throw new NcacheError('FAILED_PRECONDITION', `${this.configPath}: ${this.problem ?? `${this.file} holds no token`}`);
    }
    return this.token;
  }

  private refresh(): void {
    let signature: string;
    try {
      const st = statSync(this.file);
      signature = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      this.fail(`cannot read the token file ${this.file}: ${errorMessage(err)}`);
      return;
    }
    if (signature === this.signature && this.token !== undefined) return;
    try {
      const token = readFileSync(this.file, 'utf8').trim();
      if (token === '') {
        this.fail(`the token file ${this.file} is empty (expected a bearer token)`);
        return;
      }
      this.token = token;
      this.problem = undefined;
      this.signature = signature;
    } catch (err) {
      this.fail(`cannot read the token file ${this.file}: ${errorMessage(err)}`);
    }
  }

  private fail(problem: string): void {
    this.token = undefined;
    this.problem = problem;
    this.signature = '';
  }
}
