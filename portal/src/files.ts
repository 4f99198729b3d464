import { api, ok } from './api/client';
import { ApiError } from './api/errors';

/**
 * Fetches the bytes behind a presigned link without ever putting the link in the address bar or
 * in the page: the link is asked for on each click (each request is audited), used once, dropped.
 */
async function fetchSigned(url: string): Promise<ArrayBuffer> {
  let response: Response;
  try {
    response = await fetch(url, { credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store' });
  } catch {
    throw new ApiError({ status: 0, code: navigator.onLine === false ? 'OFFLINE' : 'NETWORK' });
  }
  if (!response.ok) throw new ApiError({ status: response.status, code: 'FILE_FETCH_FAILED' });
  return response.arrayBuffer();
}

/** A result or attachment PDF as a Blob, through a fresh download link. */
export async function fileBlob(fileId: string): Promise<Blob> {
  const { url } = await ok(api.GET('/v1/files/{fileId}/download', { params: { path: { fileId } } }));
  return new Blob([await fetchSigned(url)], { type: 'application/pdf' });
}

/** A finished report as a Blob, through the fresh link its status carries. */
export async function reportBlob(reportId: string, type: string): Promise<Blob> {
  const report = await ok(api.GET('/v1/reports/{id}', { params: { path: { id: reportId } } }));
  if (!report.downloadUrl) throw new ApiError({ status: 409, code: 'REPORT_NOT_READY' });
  return new Blob([await fetchSigned(report.downloadUrl)], { type });
}

/** Saves a Blob under a file name (the browser's download). */
export function saveBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * Opens a PDF in the browser's own viewer, in a new tab whose address is a `blob:` URL of this
 * portal — never the presigned link. The tab is opened during the click (so no pop-up blocker
 * stops it) and pointed at the document once it arrived. When the browser refused the tab, the
 * document is returned so the caller can save it instead.
 */
export async function openPdf(load: () => Promise<Blob>): Promise<Blob | null> {
  const tab = window.open('', '_blank');
  try {
    const blob = await load();
    const url = URL.createObjectURL(blob);
    setTimeout(() => URL.revokeObjectURL(url), 5 * 60_000);
    if (!tab) return blob;
    tab.location.href = url;
    return null;
  } catch (error) {
    tab?.close();
    throw error;
  }
}
