import { useEffect, useRef, useState, type FormEvent } from 'react';
import { auth } from '../../api';
import { ErrorText, FormError, Loading, Notice, TextField, fieldError, useAction } from '../../components/ui';
import { Link, useQuery } from '../../lib/router';
import { AuthLayout, PASSWORD_RULE } from './AuthLayout';

export function ForgotPasswordPage() {
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState<string | null>(null);
  const a = useAction(async () => {
    const r = await auth.forgotPassword(email.trim());
    setSent(r?.message || 'If an account uses that address, a reset link is on its way.');
  });
  return (
    <AuthLayout title="Reset your password" footer={<Link to="/login">Back to log in</Link>}>
      {sent ? (
        <Notice testid="forgot-sent">{sent}</Notice>
      ) : (
        <form
          noValidate
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            void a.run();
          }}
        >
          <TextField label="Email" name="email" type="email" testid="forgot-email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} error={fieldError(a.error, 'email')} />
          <FormError error={a.error} fields={['email']} testid="forgot-error" />
          <button className="btn primary block" type="submit" disabled={a.pending} data-testid="forgot-submit">
            {a.pending ? 'Sending…' : 'Email me a reset link'}
          </button>
        </form>
      )}
    </AuthLayout>
  );
}

export function ResetPasswordPage() {
  const token = useQuery().get('token') ?? '';
  const [pw, setPw] = useState('');
  const [confirm, setConfirm] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const a = useAction(async () => {
    if (pw !== confirm) throw new Error('The two passwords differ.');
    const r = await auth.resetPassword(token, pw);
    setDone(r?.message || 'Your password is changed. Log in with the new one.');
  });
  if (!token) {
    return (
      <AuthLayout title="Reset your password">
        <ErrorText error="This link has no reset token. Ask for a new link." />
        <Link to="/forgot-password" className="btn">Ask for a new link</Link>
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title="Choose a new password" footer={<Link to="/login">Back to log in</Link>}>
      {done ? (
        <>
          <Notice testid="reset-done">{done}</Notice>
          <Link to="/login" className="btn primary" data-testid="reset-go-login">Log in</Link>
        </>
      ) : (
        <form
          noValidate
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            void a.run();
          }}
        >
          <TextField label="New password" name="password" type="password" testid="reset-password" autoComplete="new-password" hint={PASSWORD_RULE} value={pw} onChange={(e) => setPw(e.target.value)} error={fieldError(a.error, 'password')} />
          <TextField label="Confirm new password" name="confirm" type="password" testid="reset-confirm" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} error={confirm && confirm !== pw ? 'The two passwords differ.' : undefined} />
          <FormError error={a.error} fields={['password']} testid="reset-error" />
          <button className="btn primary block" type="submit" disabled={a.pending} data-testid="reset-submit">
            {a.pending ? 'Saving…' : 'Set new password'}
          </button>
        </form>
      )}
    </AuthLayout>
  );
}

export function VerifyEmailPage() {
  const token = useQuery().get('token') ?? '';
  const [state, setState] = useState<{ ok?: string; error?: unknown }>({});
  const once = useRef(false);
  useEffect(() => {
    if (!token || once.current) return;
    once.current = true;
    auth
      .verifyEmail(token)
      .then((r) => setState({ ok: r?.message || 'Your email address is verified.' }))
      .catch((e) => setState({ error: e }));
  }, [token]);
  return (
    <AuthLayout title="Verify your email" footer={<Link to="/dashboard">Go to your dashboard</Link>}>
      {!token ? <ErrorText error="This link has no verification token." /> : null}
      {token && !state.ok && !state.error ? <Loading label="Verifying…" /> : null}
      {state.ok ? <Notice testid="verify-email-done">{state.ok}</Notice> : null}
      <ErrorText error={state.error} testid="verify-email-error" />
    </AuthLayout>
  );
}

/** The "this wasn't me" link of a security mail: nothing happens until the person confirms (a mail
 * scanner opening the link changes nothing). */
export function SecureAccountPage() {
  const token = useQuery().get('token') ?? '';
  const [done, setDone] = useState<string | null>(null);
  const a = useAction(async () => {
    const r = await auth.secureAccount(token);
    setDone(r?.message || 'Your account is secured. Check your mail for a link to choose a new password.');
  });
  return (
    <AuthLayout title="Secure your account" footer={<Link to="/login">Back to log in</Link>}>
      {!token ? <ErrorText error="This link has no token. Use the link from the mail." /> : null}
      {done ? <Notice testid="secure-done">{done}</Notice> : null}
      {token && !done ? (
        <>
          <p>
            If you did not make the change we mailed you about, we sign out every session, undo the change where we
            can and ask you for a new password.
          </p>
          <FormError error={a.error} fields={[]} testid="secure-error" />
          <button type="button" className="btn danger block" disabled={a.pending} onClick={() => void a.run()} data-testid="secure-submit">
            {a.pending ? 'Securing…' : 'This wasn\'t me: secure my account'}
          </button>
        </>
      ) : null}
    </AuthLayout>
  );
}
