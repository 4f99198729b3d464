import qrcode from 'qrcode-generator';

/** Modules of the QR code of `text` (byte mode, error correction M), row by row. */
export function qrModules(text: string): boolean[][] {
  const qr = qrcode(0, 'M');
  qr.addData(text, 'Byte');
  qr.make();
  const n = qr.getModuleCount();
  return Array.from({ length: n }, (_, row) => Array.from({ length: n }, (_, col) => qr.isDark(row, col)));
}

/** One SVG path drawing the dark modules, offset by the quiet zone. */
export function qrPath(modules: boolean[][], quiet: number): string {
  const parts: string[] = [];
  modules.forEach((row, y) => {
    let x = 0;
    while (x < row.length) {
      if (!row[x]) {
        x += 1;
        continue;
      }
      const start = x;
      while (x < row.length && row[x]) x += 1;
      parts.push(`M${start + quiet} ${y + quiet}h${x - start}v1h-${x - start}z`);
    }
  });
  return parts.join('');
}

/**
 * A QR code drawn here, in the browser (the secret it carries never leaves the page): an SVG
 * with no inline style, so the Content-Security-Policy holds.
 */
export function QrCode({ text, label, size = 184 }: { text: string; label: string; size?: number }) {
  const modules = qrModules(text);
  const quiet = 4;
  const side = modules.length + quiet * 2;
  return (
    <svg
      class="qr"
      role="img"
      aria-label={label}
      width={size}
      height={size}
      viewBox={`0 0 ${side} ${side}`}
      shape-rendering="crispEdges"
      xmlns="http://www.w3.org/2000/svg"
    >
      <rect width={side} height={side} fill="#ffffff" />
      <path d={qrPath(modules, quiet)} fill="#000000" />
    </svg>
  );
}
