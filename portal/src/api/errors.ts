/** A field the API refused, from `errors: [{field, message}]` of a validation problem. */
export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * Everything that can go wrong with a call, as one type: a problem+json answer (`code` is the
 * API's stable machine code), or the portal's own `OFFLINE` / `TIMEOUT` / `NETWORK` when no answer
 * came, or `UNEXPECTED` for an answer that is not a problem document.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly errors: FieldProblem[];
  readonly retryAfter: number | null;
  readonly requestId: string | null;
  readonly extra: Record<string, unknown>;

  constructor(init: {
    status: number;
    code: string;
    detail?: string;
    errors?: FieldProblem[];
    retryAfter?: number | null;
    requestId?: string | null;
    extra?: Record<string, unknown>;
  }) {
    super(`${init.status} ${init.code}${init.detail ? `: ${init.detail}` : ''}`);
    this.name = 'ApiError';
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail ?? '';
    this.errors = init.errors ?? [];
    this.retryAfter = init.retryAfter ?? null;
    this.requestId = init.requestId ?? null;
    this.extra = init.extra ?? {};
  }

  /** The message the API gave for one field (`email`, `preferences.language`, `[0].start`). */
  field(name: string): string | undefined {
    return this.errors.find((e) => e.field === name)?.message;
  }

  get isValidation(): boolean {
    return this.errors.length > 0;
  }
}

/** Builds an [`ApiError`] from an error answer (already read as JSON or text). */
export function problemFrom(response: Response, body: unknown): ApiError {
  const retry = response.headers.get('retry-after');
  const retryAfter = retry !== null && /^\d+$/.test(retry) ? Number(retry) : null;
  const requestId = response.headers.get('x-request-id');
  if (body && typeof body === 'object' && typeof (body as { code?: unknown }).code === 'string') {
    const { code, detail, errors, status, type: _type, title: _title, ...extra } = body as Record<string, unknown>;
    const list = Array.isArray(errors)
      ? errors
          .filter((e): e is FieldProblem => !!e && typeof e.field === 'string' && typeof e.message === 'string')
          .map((e) => ({ field: e.field, message: e.message }))
      : [];
    return new ApiError({
      status: typeof status === 'number' ? status : response.status,
      code: code as string,
      detail: typeof detail === 'string' ? detail : '',
      errors: list,
      retryAfter,
      requestId,
      extra,
    });
  }
  const code =
    response.status === 401
      ? 'UNAUTHORIZED'
      : response.status === 403
        ? 'FORBIDDEN'
        : response.status === 404
          ? 'NOT_FOUND'
          : response.status === 413
            ? 'PAYLOAD_TOO_LARGE'
            : response.status === 429
              ? 'TOO_MANY_REQUESTS'
              : response.status === 504
                ? 'TIMEOUT'
                : response.status >= 500
                  ? 'UNAVAILABLE'
                  : 'UNEXPECTED';
  return new ApiError({ status: response.status, code, retryAfter, requestId });
}
