import qrcode from 'qrcode-generator';
import { describe, expect, it } from 'vitest';
import { groupSecret, isCode, normalizeCode } from '../mfa';
import { qrModules, qrPath } from './qr';

describe('QR code', () => {
  const uri = 'otpauth://totp/Clinic:dr.ana%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Clinic&algorithm=SHA1&digits=6&period=30';

  it('draws every dark module of the code once, offset by the quiet zone', () => {
    const modules = qrModules(uri);
    const reference = qrcode(0, 'M');
    reference.addData(uri, 'Byte');
    reference.make();
    expect(modules).toHaveLength(reference.getModuleCount());
    const drawn = new Set<string>();
    for (const [, x, y, w] of qrPath(modules, 4).matchAll(/M(\d+) (\d+)h(\d+)v1h-\d+z/g)) {
      for (let i = 0; i < Number(w); i += 1) {
        const key = `${Number(x) - 4 + i},${Number(y) - 4}`;
        expect(drawn.has(key)).toBe(false);
        drawn.add(key);
      }
    }
    let dark = 0;
    modules.forEach((row, y) =>
      row.forEach((isDark, x) => {
        expect(drawn.has(`${x},${y}`)).toBe(isDark);
        expect(reference.isDark(y, x)).toBe(isDark);
        if (isDark) dark += 1;
      }),
    );
    expect(drawn.size).toBe(dark);
  });

  it('reads codes as people type them and groups the secret for reading', () => {
    expect(normalizeCode(' 123 456 ')).toBe('123456');
    expect(normalizeCode('123-456')).toBe('123456');
    expect(isCode('123456')).toBe(true);
    expect(isCode('12345')).toBe(false);
    expect(isCode('12a456')).toBe(false);
    expect(groupSecret('JBSWY3DPEHPK3PXP')).toBe('JBSW Y3DP EHPK 3PXP');
    expect(groupSecret('ABCDEF')).toBe('ABCD EF');
  });
});
