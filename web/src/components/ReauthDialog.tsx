// Asks for the password (or a current code) when a sensitive change answers 403 reauthentication_required,
// records it with POST /api/auth/reauthenticate and lets the client retry the change.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { auth, client } from '../api';
import { FormError, TextField, fieldError } from './ui';

export function ReauthDialog() {
  const [open, setOpen] = useState(false);
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [pending, setPending] = useState(false);
  const resolver = useRef<((ok: boolean) => void) | null>(null);

  useEffect(() => {
    client.onReauthRequired(
      () =>
        new Promise<boolean>((resolve) => {
          resolver.current?.(false);
          resolver.current = resolve;
          setSecret('');
          setError(null);
          setOpen(true);
        }),
    );
    return () => client.onReauthRequired(null);
  }, []);

  const finish = (ok: boolean) => {
    setOpen(false);
    setSecret('');
    resolver.current?.(ok);
    resolver.current = null;
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const value = secret.trim();
    if (!value) return;
    setPending(true);
    setError(null);
    try {
      await auth.reauthenticate(/^\d{6,8}$/.test(value) ? { code: value } : { password: secret });
      finish(true);
    } catch (err) {
      setError(err);
    } finally {
      setPending(false);
    }
  };

  if (!open) return null;
  return (
    <div className="lightbox reauth" role="dialog" aria-modal="true" aria-labelledby="reauth-title" data-testid="reauth-dialog" onKeyDown={(e) => e.key === 'Escape' && finish(false)}>
      <form className="panel narrow" noValidate onSubmit={(e) => void submit(e)}>
        <h2 id="reauth-title">Confirm it is you</h2>
        <p>This change needs your password (or a code from your authenticator app).</p>
        <TextField label="Password or code" name="password" type="password" testid="reauth-password" autoComplete="current-password" autoFocus value={secret} onChange={(e) => setSecret(e.target.value)} error={fieldError(error, 'password', 'code')} />
        <FormError error={error} fields={['password', 'code']} testid="reauth-error" />
        <div className="row gap">
          <button type="submit" className="btn primary" disabled={pending || !secret.trim()} data-testid="reauth-submit">{pending ? 'Checking…' : 'Continue'}</button>
          <button type="button" className="btn ghost" onClick={() => finish(false)} data-testid="reauth-cancel">Cancel</button>
        </div>
      </form>
    </div>
  );
}
