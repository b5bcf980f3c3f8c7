import { useState, type FormEvent } from 'react';
import { auth, type MfaMethod, type RegisterResponse } from '../../api';
import { useAuth } from '../../auth';
import { RecoveryCodes, TotpSetup } from '../../components/TotpSetup';
import { FormError, Notice, SelectField, TextField, fieldError, useAction } from '../../components/ui';
import { Link, navigate } from '../../lib/router';
import { AuthLayout, PASSWORD_RULE } from './AuthLayout';

export function passwordProblem(pw: string, confirm: string): string | null {
  if (pw.length > 0 && pw.length < 15) return `At least 15 characters (${pw.length} so far).`;
  if (confirm && pw !== confirm) return 'The two passwords differ.';
  return null;
}

export function RegisterPage() {
  const { reload } = useAuth();
  const [form, setForm] = useState({ username: '', email: '', password: '', confirm: '', mfa: '' as '' | MfaMethod });
  const [done, setDone] = useState<RegisterResponse | null>(null);
  const [signedIn, setSignedIn] = useState(false);
  const [codes, setCodes] = useState<string[] | null>(null);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  const localProblem = passwordProblem(form.password, form.confirm);

  const submit = useAction(async () => {
    if (form.password !== form.confirm) throw new Error('The two passwords differ.');
    const res = await auth.register({ username: form.username.trim(), email: form.email.trim(), password: form.password, ...(form.mfa ? { mfa_method: form.mfa } : {}) });
    setDone(res);
    if (res.totp_uri) {
      // Confirming TOTP needs a session: sign in now (MFA is not active until confirmed).
      try {
        const login = await auth.login(form.username.trim(), form.password);
        if (!login.mfa_required) {
          // enrolling a second factor needs a fresh password check: the one just typed
          await auth.reauthenticate({ password: form.password });
          setSignedIn(true);
        }
      } catch {
        setSignedIn(false);
      }
    }
  });

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void submit.run();
  };

  if (done) {
    return (
      <AuthLayout title="Welcome to ShareMyShows">
        <Notice testid="register-success">{(done.message || 'Account created. Check your email to verify your address.').split(' Scan the QR')[0]}</Notice>
        {done.totp_uri && signedIn && codes === null ? <TotpSetup uri={done.totp_uri} secret={done.totp_secret} onDone={setCodes} /> : null}
        {done.totp_uri && !signedIn ? (
          <>
            <TotpSetup uri={done.totp_uri} secret={done.totp_secret} onDone={setCodes} canConfirm={false} />
            <p className="hint">Scan the code now, then log in. If the app asks for it, enter the code from your authenticator; otherwise finish under Settings → Two-step verification.</p>
          </>
        ) : null}
        {codes ? <RecoveryCodes codes={codes} /> : null}
        <div className="row gap mt">
          {signedIn ? (
            <button
              type="button"
              className="btn primary"
              data-testid="register-continue"
              onClick={async () => {
                await reload();
                navigate('/dashboard', { replace: true });
              }}
            >
              Continue to your dashboard
            </button>
          ) : (
            <Link to="/login" className="btn primary" data-testid="register-go-login">Log in</Link>
          )}
        </div>
      </AuthLayout>
    );
  }

  const fields = ['username', 'email', 'password', 'mfa_method'];
  return (
    <AuthLayout title="Create your account" footer={<>Already have an account? <Link to="/login" data-testid="link-login">Log in</Link></>}>
      <form onSubmit={onSubmit} noValidate data-testid="register-form">
        <TextField label="Username" name="username" testid="register-username" autoComplete="username" required value={form.username} onChange={set('username')} hint="3–30 letters, digits, _ . -" error={fieldError(submit.error, 'username')} />
        <TextField label="Email" name="email" testid="register-email" type="email" autoComplete="email" required value={form.email} onChange={set('email')} error={fieldError(submit.error, 'email')} />
        <TextField label="Password" name="password" testid="register-password" type="password" autoComplete="new-password" required value={form.password} onChange={set('password')} hint={PASSWORD_RULE} error={fieldError(submit.error, 'password') ?? (form.password && form.password.length < 15 ? localProblem ?? undefined : undefined)} />
        <TextField label="Confirm password" name="confirm" testid="register-confirm" type="password" autoComplete="new-password" required value={form.confirm} onChange={set('confirm')} error={form.confirm && form.password !== form.confirm ? 'The two passwords differ.' : undefined} />
        <SelectField label="Two-step verification (optional)" name="mfa_method" testid="register-mfa" value={form.mfa} onChange={set('mfa')} error={fieldError(submit.error, 'mfa_method')}>
          <option value="">Not now</option>
          <option value="totp">Authenticator app (TOTP)</option>
          <option value="email">Code by email</option>
        </SelectField>
        <FormError error={submit.error} fields={fields} testid="register-error" />
        <button type="submit" className="btn primary block" disabled={submit.pending} data-testid="register-submit">
          {submit.pending ? 'Creating…' : 'Create account'}
        </button>
      </form>
    </AuthLayout>
  );
}
