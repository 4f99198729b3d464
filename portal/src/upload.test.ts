import { describe, expect, it } from 'vitest';
import { signedHeaders } from './upload';

describe('signedHeaders', () => {
  it('keeps the signed headers only, minus those the browser sets', () => {
    const url = 'http://s3.test/b/k?X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&X-Amz-Signature=x';
    expect(signedHeaders(url, { 'content-length': '10', 'Content-Type': 'application/pdf', 'x-amzn-trace-id': 'Root=1' })).toEqual({
      'content-type': 'application/pdf',
    });
  });
});
