import { useEffect, useState } from 'react';

/** Renders an otpauth:// URI as a QR code in the browser (qrcode is loaded on demand; the secret never leaves the page). */
export function QrCode({ value, label = 'QR code for your authenticator app' }: { value: string; label?: string }) {
  const [svg, setSvg] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    import('qrcode')
      .then((m) => (m.default ?? m).toString(value, { type: 'svg', margin: 2, errorCorrectionLevel: 'M', color: { dark: '#000000', light: '#ffffff' } }))
      .then((s) => live && setSvg(s))
      .catch(() => live && setFailed(true));
    return () => {
      live = false;
    };
  }, [value]);
  if (failed) return <p className="error-text">Could not draw the QR code; type the secret into your app instead.</p>;
  return <div className="qr" role="img" aria-label={label} data-testid="totp-qr" dangerouslySetInnerHTML={svg ? { __html: svg } : undefined} />;
}
