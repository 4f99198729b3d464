import { ApiError } from './api/errors';

/**
 * The headers to send with a presigned PUT: those the signature covers (`X-Amz-SignedHeaders`),
 * except the ones the browser sets itself (Host, Content-Length). Anything else the API lists
 * (e.g. a tracing header) is not signed, and the bucket's CORS rule would refuse it.
 */
export function signedHeaders(url: string, headers: Record<string, string>): Record<string, string> {
  const signed = new URL(url).searchParams.get('X-Amz-SignedHeaders')?.toLowerCase().split(';') ?? ['content-type'];
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (signed.includes(lower) && lower !== 'host' && lower !== 'content-length') out[lower] = value;
  }
  return out;
}

/**
 * PUTs a file straight to S3 with its presigned URL, reporting progress (fetch cannot report
 * upload progress, XMLHttpRequest can). The signed headers (content type, length) must be sent
 * exactly as the API listed them.
 */
export function putToS3(
  url: string,
  headers: Record<string, string>,
  file: Blob,
  onProgress: (fraction: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    for (const [name, value] of Object.entries(signedHeaders(url, headers))) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else reject(new ApiError({ status: xhr.status, code: 'UPLOAD_FAILED' }));
    };
    xhr.onerror = () => reject(new ApiError({ status: 0, code: navigator.onLine === false ? 'OFFLINE' : 'UPLOAD_FAILED' }));
    xhr.ontimeout = () => reject(new ApiError({ status: 0, code: 'TIMEOUT' }));
    xhr.timeout = 10 * 60_000;
    xhr.send(file);
  });
}
