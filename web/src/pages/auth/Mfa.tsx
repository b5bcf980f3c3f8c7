import { useState, type FormEvent } from 'react';
import { auth, type Me } from '../../api';
import { loadPendingMfa, savePendingMfa, useAuth } from '../../auth';
import { ErrorText, FormError, Notice, TextField, fieldError, useAction } from '../../components/ui';
import { safeNext } from '../../lib/guards';
import { Link, navigate, useQuery } from '../../lib/router';
import { AuthLayout } from './AuthLayout';

export function MfaPage() {
  const q = useQuery();
  const pendingMfa = loadPendingMfa();
  const { setUser, reload } = useAuth();
  const [code, setCode] = useState('');
  const [useRecovery, setUseRecovery] = useState(false);
  const [sent, setSent] = useState<string | null>(null);
  const methods = pendingMfa?.methods ?? [];
  const hasEmail = methods.includes('email');
  const hasTotp = methods.includes('totp') || methods.length === 0;

  const verify = useAction(async () => {
    const res = await auth.verifyMfa(code, pendingMfa?.mfa_token);
    savePendingMfa(null);
    const me = (await reload()) ?? (res.user as Me);
    setUser(me);
    navigate(safeNext(q.get('next')), { replace: true });
  });
  const resend = useAction(async () => {
    const r = await auth.resendMfa(pendingMfa?.mfa_token);
    setSent(r?.message || 'A new code is on its way to your email.');
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void verify.run();
  };

  const label = useRecovery ? 'Recovery code' : hasTotp && !hasEmail ? 'Code from your authenticator app' : hasEmail && !hasTotp ? 'Code from the email we sent you' : 'Authenticator or email code';

  return (
    <AuthLayout title="Two-step verification" footer={<Link to="/login" data-testid="mfa-back">Back to log in</Link>}>
      {pendingMfa?.message ? <Notice>{pendingMfa.message}</Notice> : null}
      {!pendingMfa ? <Notice>Your login attempt is kept for a few minutes. If this fails, log in again.</Notice> : null}
      <form onSubmit={submit} noValidate data-testid="mfa-form">
        <TextField
          label={label}
          name="code"
          testid="mfa-code"
          inputMode={useRecovery ? 'text' : 'numeric'}
          autoComplete="one-time-code"
          autoFocus
          required
          value={code}
          onChange={(e) => setCode(e.target.value)}
          error={fieldError(verify.error, 'code')}
        />
        <FormError error={verify.error} fields={['code']} testid="mfa-error" />
        <button type="submit" className="btn primary block" disabled={verify.pending || !code.trim()} data-testid="mfa-submit">
          {verify.pending ? 'Checking…' : 'Verify'}
        </button>
      </form>
      <div className="row gap wrap mt">
        <button type="button" className="btn ghost" onClick={() => setUseRecovery((v) => !v)} data-testid="mfa-toggle-recovery">
          {useRecovery ? 'Use a one-time code instead' : 'Use a recovery code'}
        </button>
        {hasEmail ? (
          <button type="button" className="btn ghost" onClick={() => void resend.run()} disabled={resend.pending} data-testid="mfa-resend">
            {resend.pending ? 'Sending…' : 'Email me a new code'}
          </button>
        ) : null}
      </div>
      {sent ? <Notice testid="mfa-resent">{sent}</Notice> : null}
      <ErrorText error={resend.error} testid="mfa-resend-error" />
    </AuthLayout>
  );
}
