// Pure helpers of the sign-in's second factor (no browser globals).

/** What people type: `123 456` or `123-456` is the code `123456`. */
export function normalizeCode(raw: string): string {
  return raw.replace(/[\s-]/g, '');
}

/** Whether it is an authenticator code: exactly 6 digits. */
export function isCode(code: string): boolean {
  return /^\d{6}$/.test(code);
}

/** The secret in groups of four, easier to read and type (apps ignore the spaces). */
export function groupSecret(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}
