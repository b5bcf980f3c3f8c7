import { useState, type FormEvent } from 'react';
import { auth } from '../api';
import { QrCode } from './QrCode';
import { FormError, TextField, fieldError, useAction } from './ui';

/** Shows the QR code + secret, asks for the first code, calls /mfa/enable, then lists recovery codes. */
export function TotpSetup({ uri, secret, onDone, canConfirm = true }: { uri: string; secret?: string; onDone: (codes: string[]) => void; canConfirm?: boolean }) {
  const [code, setCode] = useState('');
  const enable = useAction(async () => {
    const r = await auth.mfaEnable(code, 'totp');
    onDone(r?.recovery_codes ?? r?.codes ?? []);
  });
  const secretText = secret ?? new URL(uri.replace('otpauth://', 'http://x/')).searchParams.get('secret') ?? '';
  return (
    <div className="totp-setup" data-testid="totp-setup">
      <p>Scan this code with an authenticator app (Aegis, Google Authenticator, 1Password…), then enter the 6-digit code it shows.</p>
      <QrCode value={uri} />
      <p className="hint">
        Can’t scan? Enter this secret: <code data-testid="totp-secret">{secretText}</code>
      </p>
      {canConfirm ? (
        <form
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            void enable.run();
          }}
          noValidate
        >
          <TextField label="6-digit code" name="code" testid="totp-confirm-code" inputMode="numeric" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} error={fieldError(enable.error, 'code')} />
          <FormError error={enable.error} fields={['code']} testid="totp-confirm-error" />
          <button className="btn primary" type="submit" disabled={enable.pending || !code.trim()} data-testid="totp-confirm-submit">
            {enable.pending ? 'Checking…' : 'Turn on two-step verification'}
          </button>
        </form>
      ) : null}
    </div>
  );
}

export function RecoveryCodes({ codes }: { codes: string[] }) {
  if (!codes.length) return <p className="notice" role="status" data-testid="mfa-enabled">Two-step verification is on.</p>;
  return (
    <div className="recovery" data-testid="recovery-codes">
      <p className="notice" role="status" data-testid="mfa-enabled">
        Two-step verification is on. Keep these one-time recovery codes somewhere safe: each signs you in once if you lose your device.
      </p>
      <ul className="codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ul>
      <button type="button" className="btn ghost" onClick={() => void navigator.clipboard?.writeText(codes.join('\n'))}>
        Copy codes
      </button>
    </div>
  );
}
